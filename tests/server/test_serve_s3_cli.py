"""``aiocontent serve --s3-bucket``: its options and its errors (no S3 service needed)."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from ._process import serve_to_the_end

pytestmark = pytest.mark.timeout(60)


def _serve(*args: str) -> subprocess.CompletedProcess[str]:
    return serve_to_the_end(
        *args, env={"AWS_ACCESS_KEY_ID": "nobody", "AWS_SECRET_ACCESS_KEY": "nothing"}
    )


def test_s3_options_without_a_bucket_are_a_usage_error() -> None:
    result = _serve("--s3-endpoint", "http://127.0.0.1:1")
    assert result.returncode == 2
    assert "--s3-endpoint and --s3-prefix need --s3-bucket" in result.stderr


def test_an_empty_bucket_name_is_a_usage_error() -> None:
    result = _serve("--s3-bucket", "")
    assert result.returncode == 2
    assert "--s3-bucket" in result.stderr


def test_a_bucket_out_of_reach_fails_at_startup_naming_it() -> None:
    with socket.socket() as closed:  # a loopback port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    result = _serve("--s3-bucket", "b", "--s3-endpoint", f"http://127.0.0.1:{port}")
    assert result.returncode != 0
    assert "s3://b/" in result.stderr
    assert "serving" not in result.stderr


def test_help_names_the_s3_options() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "aiocontent", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    for option in ("--s3-bucket", "--s3-endpoint", "--s3-prefix", "--s3-region", "--s3-lock-lease"):
        assert option in result.stdout


def test_a_lock_lease_under_two_seconds_is_a_usage_error() -> None:
    result = _serve("--s3-bucket", "b", "--s3-lock-lease", "1")
    assert result.returncode == 2
    assert "--s3-lock-lease" in result.stderr
