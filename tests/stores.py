"""The stores every conformance test runs on, by name.

Each entry of :data:`STORE_FACTORIES` maps a name to a *factory maker*: given
pytest's ``tmp_path`` it returns a :data:`~aiocontent.testing.StoreFactory` (a
callable giving a fresh, empty store as an async context manager on each call).
Add a store by adding an entry, e.g. for a file store::

    "local": lambda tmp_path: per_directory(tmp_path, LocalStore),

``tests/test_conformance.py`` picks every entry up.
"""

from __future__ import annotations

import importlib.util
import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, Final, TypeAlias

import anyio
import pytest

from aiocontent import LocalStore, Store, UnavailableError
from aiocontent._digest import Digest
from aiocontent._locks import LockToken, RefLocks
from aiocontent._memory import MemoryStore, _Blob, _Ingest
from aiocontent.testing import StoreFactory

from ._services import service_unavailable
from .s3._fixture import BUCKET, MIB, s3_factory

__all__ = (
    "STORE_FACTORIES",
    "STORE_MARKS",
    "FactoryMaker",
    "SiblingMemoryStore",
    "fake_s3_factory",
    "per_directory",
    "store_params",
)

FactoryMaker: TypeAlias = Callable[[Path], StoreFactory]


def per_directory(
    tmp_path: Path, open_store: Callable[[Path], AbstractAsyncContextManager[Store]]
) -> StoreFactory:
    """A factory giving ``open_store(root)`` for a new, empty ``root`` on each call.

    The roots are numbered directories under ``tmp_path``, created by the store.
    """
    counter = itertools.count()

    def factory() -> AbstractAsyncContextManager[Store]:
        return open_store(tmp_path / f"store-{next(counter)}")

    return factory


class _SharedState:
    """What sibling store objects share: the contents and a table of held refs."""

    def __init__(self) -> None:
        self.blobs: dict[Digest, _Blob] = {}
        self.ingests: dict[str, _Ingest] = {}
        self.held: set[str] = set()


class _SharedLocks(RefLocks):
    """Ref locks of one store object that also exclude its siblings (like ``flock``)."""

    def __init__(self, held: set[str]) -> None:
        super().__init__()
        self.shared = held

    def try_lock(self, ref: str) -> LockToken:
        if ref in self.shared and not self.is_locked(ref):
            raise UnavailableError(f"ref {ref} locked for 0s (by a sibling): unavailable")
        token = super().try_lock(ref)
        self.shared.add(ref)
        return token

    def unlock(self, token: LockToken) -> None:
        if self.holder(token.ref) is token:
            self.shared.discard(token.ref)
        super().unlock(token)


class SiblingMemoryStore(MemoryStore):
    """A MemoryStore whose :meth:`sibling` objects share contents but not in-process state.

    A test double for the ``SupportsSiblings`` capability: siblings exclude each
    other's writers as processes sharing a store root would, and a sibling only
    learns about a release by polling.
    """

    def __init__(self, shared: _SharedState | None = None) -> None:
        super().__init__()
        self._shared = shared if shared is not None else _SharedState()
        self._blobs = self._shared.blobs
        self._ingests = self._shared.ingests
        self._locks = _SharedLocks(self._shared.held)

    def sibling(self) -> SiblingMemoryStore:
        """Another store object over the same contents."""
        return SiblingMemoryStore(self._shared)

    async def wait_unlocked(self, ref: str, *, poll: float) -> None:
        """Wake on a release here; poll for one by a sibling."""
        if self._locks.is_locked(ref):
            await super().wait_unlocked(ref, poll=poll)
        elif ref in self._shared.held:
            await anyio.sleep(poll)
        else:
            await anyio.lowlevel.checkpoint()


def fake_s3_factory(**overrides: Any) -> StoreFactory:
    """Fresh, empty S3Stores on an in-memory S3 service (``tests/s3/_fake_client.py``).

    One service per factory; each call gives a store under a new prefix of one
    bucket, and its siblings share the service, as hosts share a real one.
    Needs only aiobotocore (for botocore's errors), not a server.
    """
    if importlib.util.find_spec("aiobotocore") is None:
        service_unavailable("aiobotocore is not installed (pip install 'aiocontent[s3]')")
    from aiocontent._s3 import S3Store

    from .s3._fake_client import FakeS3

    service = FakeS3()
    counter = itertools.count()

    @asynccontextmanager
    async def open_store() -> AsyncIterator[Store]:
        kwargs: dict[str, Any] = {
            "session": service.session(),
            "create_bucket": True,
            "part_size": 5 * MIB,
            "lock_lease": 3.0,
        }
        store = S3Store(BUCKET, f"fake-{next(counter)}", **(kwargs | overrides))
        try:
            yield store
        finally:
            await store.aclose()

    return open_store


STORE_FACTORIES: Final[dict[str, FactoryMaker]] = {
    "memory": lambda tmp_path: MemoryStore,
    "memory-siblings": lambda tmp_path: SiblingMemoryStore,
    "local": lambda tmp_path: per_directory(tmp_path, LocalStore),
    "s3": lambda tmp_path: s3_factory(),
    "s3-fake": lambda tmp_path: fake_s3_factory(),
}

#: Marks of the stores that need an outside service: ``-m "not ceph"`` leaves them
#: out, and ``conftest.py`` gives them the longer timeout of service tests.
STORE_MARKS: Final[dict[str, pytest.MarkDecorator]] = {"s3": pytest.mark.ceph}


def store_params() -> list[Any]:
    """The names of :data:`STORE_FACTORIES` as fixture params (``pytest.param``), with marks."""
    return [pytest.param(name, marks=STORE_MARKS.get(name, ())) for name in sorted(STORE_FACTORIES)]
