"""The conformance suite (``aiocontent.testing``) on every store in ``tests/stores.py``.

Also checks the suite itself: deliberately broken stores must fail the check
aimed at the broken behaviour.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

import aiocontent.testing
from aiocontent import Flights, Info, Status, WalkFunc
from aiocontent._locks import RefLocks
from aiocontent._memory import MemoryStore, _Blob, _MemoryWriter
from aiocontent.testing import StoreFactory, check_store
from aiocontent.testing._checks import _CHECKS
from aiocontent.testing._support import WAKE_BOUND

from .stores import STORE_FACTORIES, SiblingMemoryStore, _SharedLocks, store_params

CHECK_NAMES = tuple(
    name
    for name in aiocontent.testing.__all__
    if name.startswith("check_") and name not in {"check_store", "check_registry_metadata"}
)


@pytest.fixture(params=store_params())
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    """A factory of fresh, empty stores of each kind in ``STORE_FACTORIES``."""
    return STORE_FACTORIES[str(request.param)](tmp_path)


@pytest.mark.parametrize("check_name", CHECK_NAMES)
async def test_check(store_factory: StoreFactory, check_name: str) -> None:
    await getattr(aiocontent.testing, check_name)(store_factory)


async def test_check_store(store_factory: StoreFactory) -> None:
    await check_store(store_factory)


def test_check_store_runs_every_exported_check() -> None:
    assert sorted(check.__name__ for check in _CHECKS) == sorted(CHECK_NAMES)


def test_checks_show_the_public_module() -> None:
    assert aiocontent.testing.check_writer.__module__ == "aiocontent.testing"


# --------------------------------------------------------------------------- broken stores


def _break_truncate(mp: pytest.MonkeyPatch) -> None:
    original = _MemoryWriter.truncate

    async def truncate(self: _MemoryWriter, size: int) -> None:
        await original(self, 0)

    mp.setattr(_MemoryWriter, "truncate", truncate)


def _break_failed_commit(mp: pytest.MonkeyPatch) -> None:
    original = _MemoryWriter._commit

    def commit(self: _MemoryWriter, *args: Any) -> None:
        try:
            original(self, *args)
        except aiocontent.FailedPreconditionError:
            self._store._ingests.pop(self._ref, None)
            raise

    mp.setattr(_MemoryWriter, "_commit", commit)


def _break_walk_filters(mp: pytest.MonkeyPatch) -> None:
    original = MemoryStore.walk

    async def walk(self: MemoryStore, fn: WalkFunc, *filters: str) -> None:
        await original(self, fn)

    mp.setattr(MemoryStore, "walk", walk)


def _break_update_fieldpaths(mp: pytest.MonkeyPatch) -> None:
    original = MemoryStore.update

    async def update(self: MemoryStore, info: Info, *fieldpaths: str) -> Info:
        return await original(self, info)

    mp.setattr(MemoryStore, "update", update)


def _break_status_expected(mp: pytest.MonkeyPatch) -> None:
    original = _MemoryWriter.status

    async def status(self: _MemoryWriter) -> Status:
        st = await original(self)
        st.expected = None
        return st

    mp.setattr(_MemoryWriter, "status", status)


def _break_lock_wake(mp: pytest.MonkeyPatch) -> None:
    async def wait_unlocked(self: MemoryStore, ref: str, *, poll: float) -> None:
        await anyio.sleep(WAKE_BOUND + 0.3)

    mp.setattr(MemoryStore, "wait_unlocked", wait_unlocked)


def _break_single_flight(mp: pytest.MonkeyPatch) -> None:
    mp.setattr(MemoryStore, "flights", property(lambda self: Flights()))


def _break_label_copies(mp: pytest.MonkeyPatch) -> None:
    def info(self: _Blob, dgst: aiocontent.Digest) -> Info:
        return Info(dgst, len(self.data), self.created_at, self.updated_at, self.labels)

    mp.setattr(_Blob, "info", info)


def _break_abort(mp: pytest.MonkeyPatch) -> None:
    async def abort(self: MemoryStore, ref: str) -> None:
        await anyio.lowlevel.checkpoint()
        if ref not in self._ingests:
            raise aiocontent.NotFoundError(f'ingest ref "{ref}": not found')
        if not self._locks.is_locked(ref):
            del self._ingests[ref]

    mp.setattr(MemoryStore, "abort", abort)


BREAKAGES: dict[str, tuple[Callable[[pytest.MonkeyPatch], None], str]] = {
    "truncate-ignores-size": (_break_truncate, "check_truncate_middle"),
    "failed-commit-drops-ingest": (_break_failed_commit, "check_commit_error_state"),
    "walk-ignores-filters": (_break_walk_filters, "check_filters"),
    "update-ignores-fieldpaths": (_break_update_fieldpaths, "check_update_fieldpaths"),
    "status-without-expected": (_break_status_expected, "check_update_status"),
    "lock-release-noticed-late": (_break_lock_wake, "check_open_writer_wakes_on_release"),
    "no-shared-flights": (_break_single_flight, "check_single_flight"),
    "labels-not-copied": (_break_label_copies, "check_update_fieldpaths"),
    "abort-skips-locked-ingests": (_break_abort, "check_abort_active_writer"),
}


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
async def test_check_fails_on_a_broken_store(
    monkeypatch: pytest.MonkeyPatch, breakage: str
) -> None:
    breaks, check_name = BREAKAGES[breakage]
    check: Callable[[StoreFactory], Awaitable[None]] = getattr(aiocontent.testing, check_name)
    await check(MemoryStore)
    breaks(monkeypatch)
    with pytest.raises(AssertionError):
        await check(MemoryStore)


async def test_cross_object_check_fails_when_siblings_do_not_exclude(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await aiocontent.testing.check_cross_object_lock(SiblingMemoryStore)
    monkeypatch.setattr(_SharedLocks, "try_lock", RefLocks.try_lock)
    with pytest.raises(AssertionError, match="succeeded while another writer holds it"):
        await aiocontent.testing.check_cross_object_lock(SiblingMemoryStore)


async def test_cross_object_check_does_nothing_without_siblings() -> None:
    assert not isinstance(MemoryStore(), aiocontent.SupportsSiblings)
    await aiocontent.testing.check_cross_object_lock(MemoryStore)
