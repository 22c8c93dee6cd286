"""Fixtures: the fake upstream, and caches over the API tests' stores in front of it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from aiocontent import Store

from ._upstream import Cache, FakeUpstream


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    fake = FakeUpstream()
    try:
        yield fake
    finally:
        await fake.aclose()


@pytest.fixture
async def make_cache(upstream: FakeUpstream, store: Store) -> AsyncIterator[Callable[..., Cache]]:
    """Makes caches over ``store`` in front of ``upstream`` (options as :class:`Cache`'s)."""
    made: list[Cache] = []

    def make(**options: Any) -> Cache:
        made.append(Cache(upstream, store, **options))
        return made[-1]

    try:
        yield make
    finally:
        for cache in made:
            await cache.aclose()


@pytest.fixture
def cache(make_cache: Callable[..., Cache]) -> Cache:
    """A cache with the default tag TTL (60 s)."""
    return make_cache()
