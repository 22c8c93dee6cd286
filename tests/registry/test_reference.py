"""Reference and platform parsing, challenge parsing and argument checks (no registry needed)."""

from __future__ import annotations

from typing import Any

import pytest

from aiocontent import Digest, InvalidArgumentError
from aiocontent._memory import MemoryStore
from aiocontent._registry._client import parse_challenge
from aiocontent.registry import Platform, parse_platform, parse_reference, pull

D = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("text", "host", "repository", "tag", "digest"),
    [
        ("alpine", "docker.io", "library/alpine", "latest", None),
        ("alpine:3.20", "docker.io", "library/alpine", "3.20", None),
        ("team/app", "docker.io", "team/app", "latest", None),
        ("localhost/app", "localhost", "app", "latest", None),
        ("127.0.0.1:5000/a/b/c:v1", "127.0.0.1:5000", "a/b/c", "v1", None),
        ("reg.example/app@" + D, "reg.example", "app", "", D),
        ("reg.example:443/app:v2@" + D, "reg.example:443", "app", "v2", D),
        ("[::1]:5000/app", "[::1]:5000", "app", "latest", None),
        ("a__b/c-d.e_f", "docker.io", "a__b/c-d.e_f", "latest", None),
    ],
)
def test_parse_reference(
    text: str, host: str, repository: str, tag: str, digest: str | None
) -> None:
    ref = parse_reference(text)
    assert (ref.host, ref.repository, ref.tag, ref.digest) == (host, repository, tag, digest)


def test_reference_object_prefers_digest() -> None:
    assert parse_reference(f"r.io/app:v1@{D}").object == D
    assert parse_reference("r.io/app:v1").object == "v1"


def test_docker_hub_api_host() -> None:
    assert parse_reference("alpine").api_host == "registry-1.docker.io"
    assert str(parse_reference("alpine")) == "docker.io/library/alpine:latest"


@pytest.mark.parametrize(
    ("text", "part"),
    [
        ("", "empty repository"),
        ("Upper/case", "'Upper'"),
        ("r.io/app:bad tag", "tag"),
        ("r.io/app@sha256:short", "digest"),
        ("r.io/app@md5:" + "a" * 32, "digest"),
        ("r.io//app", "component ''"),
        ("r.io/app:", "tag ''"),
        ("bad_host:5000/app", "host"),
        ("r.io/" + "a" * 300, "longer than"),
    ],
)
def test_malformed_reference_is_invalid_argument(text: str, part: str) -> None:
    with pytest.raises(InvalidArgumentError, match=part) as info:
        parse_reference(text)
    assert repr(text[:20])[1:-1] in str(info.value)


def test_reference_must_be_str() -> None:
    with pytest.raises(TypeError):
        parse_reference(b"alpine")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("linux/amd64", Platform("linux", "amd64")),
        ("linux/x86_64", Platform("linux", "amd64")),
        ("linux/arm64/v8", Platform("linux", "arm64")),
        ("linux/aarch64", Platform("linux", "arm64")),
        ("linux/arm", Platform("linux", "arm", "v7")),
        ("linux/arm/v6", Platform("linux", "arm", "v6")),
        ("Windows/AMD64", Platform("windows", "amd64")),
    ],
)
def test_parse_platform(text: str, expected: Platform) -> None:
    assert parse_platform(text) == expected


@pytest.mark.parametrize("text", ["", "linux/", "a/b/c/d", "linux/amd 64"])
def test_malformed_platform_is_invalid_argument(text: str) -> None:
    with pytest.raises(InvalidArgumentError, match="os/arch"):
        parse_platform(text)


@pytest.mark.parametrize(
    ("spec", "matches"),
    [
        ({"os": "linux", "architecture": "arm64"}, True),
        ({"os": "linux", "architecture": "arm64", "variant": "v8"}, True),
        ({"os": "linux", "architecture": "amd64"}, False),
        ({"os": "unknown", "architecture": "unknown"}, False),
        (None, False),
    ],
)
def test_platform_matches_index_entries(spec: dict[str, str] | None, matches: bool) -> None:
    assert parse_platform("linux/arm64").matches(spec) is matches


def test_parse_bearer_challenge() -> None:
    header = 'Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull"'
    assert parse_challenge(header) == (
        "bearer",
        {"realm": "https://auth.example/token", "service": "reg", "scope": "repository:a/b:pull"},
    )


def test_parse_basic_challenge() -> None:
    assert parse_challenge('Basic realm="x y"') == ("basic", {"realm": "x y"})


@pytest.mark.parametrize("concurrency", [0, -1])
async def test_pull_rejects_bad_concurrency(concurrency: int) -> None:
    async with MemoryStore() as cs:
        with pytest.raises(InvalidArgumentError, match=str(concurrency)):
            await pull(cs, "127.0.0.1:1/app", concurrency=concurrency, plain_http=True)


async def test_pull_rejects_malformed_reference_before_any_request() -> None:
    async with MemoryStore() as cs:
        with pytest.raises(InvalidArgumentError, match="NOPE"):
            await pull(cs, "127.0.0.1:1/NOPE", plain_http=True)
        assert await cs.list_statuses() == []


def test_digest_reference_keeps_digest_type() -> None:
    assert isinstance(parse_reference(f"r.io/app@{D}").digest, Digest)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("http_timeout", 0),
        ("http_timeout", float("nan")),
        ("retry_budget", -1.0),
        ("retry_budget", float("inf")),
        ("deadline", 0),
        ("deadline", float("nan")),
    ],
)
async def test_pull_rejects_time_limits_that_are_not_positive(option: str, value: float) -> None:
    async with MemoryStore() as cs:
        with pytest.raises(InvalidArgumentError, match=f"{option} {value!r} must be a positive"):
            kwargs: dict[str, Any] = {option: value}
            await pull(cs, "127.0.0.1:1/app", plain_http=True, **kwargs)


@pytest.mark.parametrize("option", ["http_timeout", "retry_budget", "deadline"])
async def test_pull_rejects_time_limits_that_are_not_numbers(option: str) -> None:
    async with MemoryStore() as cs:
        with pytest.raises(TypeError, match=f"{option} must be a number"):
            kwargs: dict[str, Any] = {option: "5"}
            await pull(cs, "127.0.0.1:1/app", plain_http=True, **kwargs)
