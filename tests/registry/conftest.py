"""Fixtures: a real distribution registry (Debian's docker-registry) with test images pushed.

The anonymous registry is started once per session and the images are pushed
through its HTTP API; the Basic-auth and token-auth registries are further
processes over the same storage directory, so they serve the same images.
"""

from __future__ import annotations

import dataclasses
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from aiocontent._interfaces import Store
from aiocontent._local import LocalStore
from aiocontent._memory import MemoryStore
from tests._services import service_unavailable

from ._server import (
    Image,
    ProxyServer,
    RegistryProcess,
    TokenServer,
    TokenSigner,
    basic_auth_config,
    push_multi,
    push_single,
    serving,
)

TOKEN_SERVICE = "aiocontent-test-registry"
TOKEN_ISSUER = "aiocontent-test-issuer"


@dataclasses.dataclass
class Registry:
    """A running registry and the images in it."""

    process: RegistryProcess
    multi: Image
    single: Image

    @property
    def host(self) -> str:
        return self.process.host


def _start(process: RegistryProcess) -> None:
    try:
        process.start()
    except (OSError, RuntimeError) as exc:
        service_unavailable(f"docker-registry cannot run here: {exc}")


@pytest.fixture(scope="session")
def registry_storage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("registry-storage")


@pytest.fixture(scope="session")
def registry(
    tmp_path_factory: pytest.TempPathFactory, registry_storage: Path
) -> Iterator[Registry]:
    """The anonymous registry with ``test/multi:v1`` and ``test/single:v1`` pushed."""
    process = RegistryProcess(tmp_path_factory.mktemp("registry"), registry_storage)
    _start(process)
    try:
        with httpx.Client(timeout=30) as client:
            multi = push_multi(client, process.url)
            single = push_single(client, process.url)
        yield Registry(process, multi, single)
    finally:
        process.stop()


@pytest.fixture(scope="session")
def basic_registry(
    tmp_path_factory: pytest.TempPathFactory, registry: Registry, registry_storage: Path
) -> Iterator[Registry]:
    """A registry over the same storage that wants Basic credentials (htpasswd)."""
    workdir = tmp_path_factory.mktemp("registry-basic")
    process = RegistryProcess(workdir, registry_storage, basic_auth_config(workdir))
    _start(process)
    try:
        yield Registry(process, registry.multi, registry.single)
    finally:
        process.stop()


@dataclasses.dataclass
class TokenRegistry(Registry):
    tokens: TokenServer


@pytest.fixture(scope="session")
def token_registry(
    tmp_path_factory: pytest.TempPathFactory, registry: Registry, registry_storage: Path
) -> Iterator[TokenRegistry]:
    """A registry over the same storage that wants Bearer tokens from a loopback token server."""
    workdir = tmp_path_factory.mktemp("registry-token")
    try:
        signer = TokenSigner(workdir, TOKEN_ISSUER, TOKEN_SERVICE)
    except (OSError, subprocess.SubprocessError) as exc:
        service_unavailable(f"cannot make a token signing certificate: {exc}")
    tokens = TokenServer(signer)
    with serving(tokens):
        auth = {
            "token": {
                "realm": tokens.realm,
                "service": TOKEN_SERVICE,
                "issuer": TOKEN_ISSUER,
                "rootcertbundle": str(signer.cert),
            }
        }
        process = RegistryProcess(workdir, registry_storage, auth)
        _start(process)
        try:
            yield TokenRegistry(process, registry.multi, registry.single, tokens)
        finally:
            process.stop()


@pytest.fixture
def proxy(registry: Registry) -> Iterator[ProxyServer]:
    """A fresh loopback proxy in front of the anonymous registry."""
    server = ProxyServer(registry.process.port)
    with serving(server):
        yield server


@pytest.fixture
async def store() -> AsyncIterator[Store]:
    async with MemoryStore() as cs:
        yield cs


@pytest.fixture(params=["memory", "local"])
async def each_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """A MemoryStore, then a LocalStore in a temporary root."""
    if request.param == "memory":
        async with MemoryStore() as cs:
            yield cs
        return
    async with LocalStore(tmp_path / "store") as cs:
        yield cs
