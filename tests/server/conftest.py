"""Fixtures for the in-process API tests: the app over each store, and an httpx client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from aiocontent import LocalStore, MemoryStore, Store
from aiocontent.server import create_app

from ._oci import Api

BASE_URL = "http://registry.test"


@pytest.fixture(params=["memory", "local"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """Each API test runs on a MemoryStore and on a LocalStore in ``tmp_path``."""
    if request.param == "memory":
        yield MemoryStore()
    else:
        async with LocalStore(tmp_path / "root") as local:
            yield local


def client_for(store: Store, *, read_only: bool = False) -> httpx.AsyncClient:
    """An httpx client talking to ``create_app(store)`` in process."""
    transport = httpx.ASGITransport(create_app(store, read_only=read_only))
    return httpx.AsyncClient(transport=transport, base_url=BASE_URL)


@pytest.fixture
async def client(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(store) as c:
        yield c


@pytest.fixture
def api(client: httpx.AsyncClient) -> Api:
    return Api(client)
