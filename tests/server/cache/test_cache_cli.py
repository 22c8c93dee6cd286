"""``aiocontent serve --upstream`` as a command: its options, their errors, credentials."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from aiocontent import InvalidArgumentError
from aiocontent.server import Upstream
from tests.registry._server import (
    PASSWORD,
    USER,
    basic_auth_config,
    push_single,
)

from .._process import serving
from ..test_serve_cli import _serve
from ._upstream import docker_registry

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize(
    "url", ["ftp://127.0.0.1:5000", "http://127.0.0.1:5000/v2/", "http://u:p@127.0.0.1:5000"]
)
def test_an_upstream_url_that_is_not_a_registry_origin_is_refused(url: str) -> None:
    with pytest.raises(InvalidArgumentError, match="upstream URL"):
        Upstream(url)


def test_a_negative_tag_ttl_is_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="tag_ttl -1"):
        Upstream("http://127.0.0.1:5000", tag_ttl=-1)


def test_serve_with_an_unusable_upstream_is_a_usage_error(tmp_path: Path) -> None:
    result = _serve("--root", str(tmp_path), "--upstream", "http://127.0.0.1:5000/path")
    assert result.returncode == 2
    assert "http://127.0.0.1:5000/path" in result.stderr


def test_upstream_credentials_without_an_upstream_are_a_usage_error(tmp_path: Path) -> None:
    result = _serve("--root", str(tmp_path), "--upstream-credentials", "user:pass")
    assert result.returncode == 2
    assert "--upstream-credentials needs --upstream" in result.stderr


def test_credentials_without_a_colon_are_a_usage_error(tmp_path: Path) -> None:
    result = _serve(
        "--root",
        str(tmp_path),
        "--upstream",
        "http://127.0.0.1:5000",
        "--upstream-credentials",
        "x",
    )
    assert result.returncode == 2
    assert "USER:PASS" in result.stderr


@pytest.mark.registry
def test_credentials_from_a_file_open_an_upstream_that_wants_them(tmp_path: Path) -> None:
    with docker_registry(tmp_path, basic_auth_config(tmp_path)) as upstream:
        with httpx.Client(auth=(USER, PASSWORD), timeout=30) as client:
            image = push_single(client, upstream.url, "private/app")
        creds = tmp_path / "creds"
        creds.write_text(f"{USER}:{PASSWORD}\n")
        args = ["--quiet", "--upstream", upstream.url, "--upstream-credentials", str(creds)]
        with serving(tmp_path / "root", "asyncio", args=args) as cache:
            response = httpx.get(
                f"{cache.url}/v2/private/app/manifests/v1",
                headers={"Accept": image.root_type},
                timeout=30,
            )
    assert response.status_code == 200, response.text
    assert response.headers["docker-content-digest"] == image.root
