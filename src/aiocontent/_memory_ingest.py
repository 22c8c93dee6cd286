"""A :class:`~aiocontent.MemoryStore` ingest and its writer, and the blob record a commit makes.

The writer keeps its bookkeeping in a :class:`~aiocontent._writing.WriterState`;
each operation works on the store's tables after one checkpoint, so a
cancelled call has done nothing or everything.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, final

from anyio.abc import AsyncResource
from anyio.lowlevel import checkpoint

from ._digest import Digest, Digester
from ._locks import LockToken
from ._messages import content_exists, ingest_not_found
from ._types import Info, Opt, Status, check_int, now
from ._writing import WriterState, check_data, commit_args, verify_digest, verify_size

if TYPE_CHECKING:
    from ._memory import MemoryStore

__all__ = ()  # private: MemoryStore uses _Blob, _Ingest and _MemoryWriter


class _Blob:
    """A committed blob: its bytes, timestamps and labels."""

    __slots__ = ("created_at", "data", "labels", "updated_at")

    def __init__(self, data: bytes, created_at: datetime, labels: dict[str, str]) -> None:
        self.data = data
        self.created_at = created_at
        self.updated_at = created_at
        self.labels = labels

    def info(self, dgst: Digest) -> Info:
        return Info(
            digest=dgst,
            size=len(self.data),
            created_at=self.created_at,
            updated_at=self.updated_at,
            labels=dict(self.labels),
        )


class _Ingest:
    """An unfinished write under one ref; outlives its writers until commit or abort."""

    __slots__ = ("data", "expected", "ref", "started_at", "total", "updated_at")

    def __init__(self, ref: str, total: int, expected: Digest | None, started_at: datetime) -> None:
        self.ref = ref
        self.data = bytearray()
        self.total = total
        self.expected = expected
        self.started_at = started_at
        self.updated_at = started_at

    def status(self) -> Status:
        return Status(
            ref=self.ref,
            offset=len(self.data),
            total=self.total,
            expected=self.expected,
            started_at=self.started_at,
            updated_at=self.updated_at,
        )


@final
class _MemoryWriter(AsyncResource):
    """The writer of one ingest of a :class:`MemoryStore`."""

    __slots__ = ("_ingest", "_state", "_store", "_token")

    def __init__(
        self,
        store: MemoryStore,
        ingest: _Ingest,
        token: LockToken,
        digester: Digester,
        expected: Digest | None,
    ) -> None:
        self._store = store
        self._ingest = ingest
        self._token = token
        self._state = WriterState(
            ingest.ref,
            digester,
            expected=expected,
            offset=len(ingest.data),
            total=ingest.total,
            started_at=ingest.started_at,
            updated_at=ingest.updated_at,
        )

    def __repr__(self) -> str:
        return self._state.describe("MemoryStore")

    @property
    def _ref(self) -> str:
        return self._state.ref

    def _release(self) -> None:
        self._state.open = False
        self._store._locks.unlock(self._token)

    def _usable(self, action: str) -> _Ingest:
        """The ingest, or the error for a closed writer or an aborted ingest."""
        self._state.check_open(action)
        if self._store._ingests.get(self._ref) is not self._ingest:
            self._release()
            raise ingest_not_found(self._ref)
        return self._ingest

    async def write(self, data: bytes | bytearray | memoryview) -> int:
        """Append ``data``; applied fully or, when cancelled, not at all.

        :return: ``len(data)`` in bytes.
        :raises TypeError: ``data`` is not bytes-like.
        :raises ~aiocontent.FailedPreconditionError: the writer is closed or committed.
        :raises ~aiocontent.NotFoundError: the ingest was aborted (the ref is released).
        :raises anyio.BusyResourceError: another task is using this writer.
        """
        check_data(data)
        chunk = bytes(data)
        state = self._state
        with state.guard:
            await checkpoint()
            ingest = self._usable("write")
            ingest.data += chunk
            state.digester.update(chunk)
            state.moved(len(ingest.data))
            ingest.updated_at = state.updated_at
        return len(chunk)

    def digest(self) -> Digest:
        """The digest of everything written so far, resumed bytes included."""
        return self._state.digest()

    async def status(self) -> Status:
        """The writer's view of the ingest; still answers after close or commit."""
        await checkpoint()
        return self._state.status()

    async def truncate(self, size: int) -> None:
        """Keep only the first ``size`` bytes; applied fully or, when cancelled, not at all.

        :raises ~aiocontent.InvalidArgumentError: ``size`` is negative or past the offset.
        :raises ~aiocontent.FailedPreconditionError: the writer is closed or committed.
        :raises ~aiocontent.NotFoundError: the ingest was aborted (the ref is released).
        :raises anyio.BusyResourceError: another task is using this writer.
        """
        check_int(size, "truncate size")
        state = self._state
        with state.guard:
            await checkpoint()
            ingest = self._usable("truncate")
            state.check_truncate(size)
            digester = state.digester.algorithm.digester()
            del ingest.data[size:]
            digester.update(ingest.data)
            state.digester = digester
            state.moved(size)
            ingest.updated_at = state.updated_at

    async def commit(self, size: int = 0, expected: str = "", *opts: Opt) -> None:
        """Verify the ingest and store it as a blob; the writer is closed afterwards.

        The ref is released whatever happens, cancellation included; a cancelled
        commit leaves the ingest intact.

        :raises ~aiocontent.InvalidArgumentError: ``size < 0`` or ``expected``
            does not parse (the ingest stays).
        :raises ~aiocontent.FailedPreconditionError: size or digest mismatch (the
            ingest stays), or the writer is already closed.
        :raises ~aiocontent.AlreadyExistsError: the blob exists; the ingest is removed.
        :raises ~aiocontent.NotFoundError: the ingest was aborted.
        :raises anyio.BusyResourceError: another task is using this writer.
        """
        with self._state.guard:
            self._state.check_open("commit")
            try:
                await checkpoint()
                self._commit(size, expected, opts)
            finally:
                self._release()

    def _commit(self, size: int, expected: str, opts: tuple[Opt, ...]) -> None:
        size, want, labels = commit_args(self._ref, size, expected, opts)
        store, state = self._store, self._state
        if store._ingests.get(self._ref) is not self._ingest:
            raise ingest_not_found(self._ref)
        data = self._ingest.data
        verify_size(size, len(data))
        if want is not None and want.algorithm != state.digester.algorithm:
            rehashed = want.algorithm.digester()
            rehashed.update(data)
            state.digester = rehashed
        dgst = state.digest()
        verify_digest(dgst, want)
        del store._ingests[self._ref]
        if dgst in store._blobs:
            raise content_exists(dgst)
        store._blobs[dgst] = _Blob(bytes(data), now(), dict(labels))
        state.committed = True

    async def aclose(self) -> None:
        """Close the writer and release the ref, keeping the ingest for resume.

        A second call, or a call after :meth:`commit`, does nothing.
        """
        if self._state.open:
            self._release()
        await checkpoint()
