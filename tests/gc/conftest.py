"""A MemoryStore and a LocalStore for every collection test (the registry tests' fixture)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aiocontent import LocalStore, Store
from tests.registry.conftest import each_store  # noqa: F401


@pytest.fixture
def store(each_store: Store) -> Store:  # noqa: F811
    return each_store


@pytest.fixture
async def local(tmp_path: Path) -> AsyncIterator[LocalStore]:
    async with LocalStore(tmp_path / "local") as cs:
        yield cs
