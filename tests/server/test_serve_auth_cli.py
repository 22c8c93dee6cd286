"""``aiocontent serve``'s authentication options: what it refuses before it starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from ._process import serve_to_the_end as _serve

pytestmark = pytest.mark.timeout(60)


def test_htpasswd_with_an_md5_entry_is_a_usage_error_naming_the_line(tmp_path: Path) -> None:
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text("alice:$apr1$abcdefgh$0123456789abcdefghijkl\n")
    result = _serve("--root", str(tmp_path / "root"), "--htpasswd", str(htpasswd))
    assert result.returncode == 2
    assert "'--htpasswd'" in result.stderr
    assert f"{htpasswd}:1: user 'alice' has an MD5 ($apr1$) hash" in result.stderr
    assert not (tmp_path / "root").exists()


def test_missing_htpasswd_file_is_a_usage_error(tmp_path: Path) -> None:
    result = _serve("--root", str(tmp_path), "--htpasswd", str(tmp_path / "absent"))
    assert result.returncode == 2
    assert "absent" in result.stderr


@pytest.mark.parametrize("args", [("--anonymous-pull",), ("--realm", "x"), ("--pull-only", "bob")])
def test_auth_options_without_htpasswd_are_usage_errors(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    result = _serve("--root", str(tmp_path), *args)
    assert result.returncode == 2
    assert f"{args[0]} needs --htpasswd" in result.stderr


def test_token_realm_without_the_other_token_options_is_a_usage_error(tmp_path: Path) -> None:
    result = _serve("--root", str(tmp_path), "--token-realm", "http://127.0.0.1:1/token")
    assert result.returncode == 2
    assert "--token-realm also needs --token-service, --token-issuer, --token-key" in result.stderr


def test_htpasswd_and_token_options_exclude_each_other(tmp_path: Path) -> None:
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text("")
    result = _serve("--root", str(tmp_path), "--htpasswd", str(htpasswd), "--token-issuer", "x")
    assert result.returncode == 2
    assert "--htpasswd and --token-issuer exclude each other" in result.stderr


def test_token_key_that_is_a_private_key_is_a_usage_error(tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    key.write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    result = _serve(
        "--root", str(tmp_path / "root"),
        "--token-realm", "http://127.0.0.1:1/token", "--token-service", "registry",
        "--token-issuer", "issuer", "--token-key", str(key),
    )  # fmt: skip
    assert result.returncode == 2
    assert "'--token-key'" in result.stderr
    assert "a private key; give the public key instead" in result.stderr
