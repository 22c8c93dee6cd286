"""A MemoryStore and a LocalStore for every collection test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aiocontent import LocalStore, Store
from aiocontent._memory import MemoryStore


@pytest.fixture(params=["memory", "local"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "memory":
        async with MemoryStore() as cs:
            yield cs
        return
    async with LocalStore(tmp_path / "store") as cs:
        yield cs


@pytest.fixture
async def local(tmp_path: Path) -> AsyncIterator[LocalStore]:
    async with LocalStore(tmp_path / "local") as cs:
        yield cs
