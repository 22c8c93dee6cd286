"""The writer of a :class:`~aiocontent.LocalStore` ingest.

Each public operation is one trip to a worker thread (through
:class:`~aiocontent._fileio.FileIO`): opening or resuming an ingest
(:mod:`._ingest`), writing a chunk (written and hashed together, so the
digest is complete whenever a write returns), truncating, closing and
committing (:mod:`._commit`). A cancelled operation still runs its thread to
the end, so it applies fully or not at all, and the ref is released whatever
happens. The bookkeeping every store's writer shares (ref, offset, times,
digester, closed checks) is a :class:`~aiocontent._writing.WriterState`.

Small-blob costs: a new ingest writes its timestamps directly (the folder is
new, there is nothing to protect); folders are created only when missing;
the ingest's files are removed by name; and the fsync of ``blobs/<alg>`` is
shared by commits running at the same time (:func:`._meta.fsync_dir`).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, final

import anyio
from anyio.abc import AsyncResource

from .._digest import Digest
from .._errors import AlreadyExistsError, NotFoundError
from .._fileio import DataFile
from .._locks import LockToken
from .._messages import ingest_not_found
from .._types import Opt, Status, check_int
from .._writing import WriterState, check_data, commit_args
from ._commit import commit_sync
from ._ingest import Opened, close_sync, release_sync, truncate_sync

if TYPE_CHECKING:
    from ._store import LocalStore

__all__ = ("LocalWriter",)


@final
class LocalWriter(AsyncResource):
    """The writer of one ingest of a :class:`~aiocontent.LocalStore`.

    Holds the ref (in-process and across processes) from
    :meth:`LocalStore.writer` until :meth:`aclose` or :meth:`commit`.
    """

    __slots__ = ("_aborted", "_file", "_hexname", "_lock_fd", "_state", "_store", "_token")

    def __init__(
        self,
        store: LocalStore,
        ref: str,
        hexname: str,
        opened: Opened,
        data: DataFile,
        token: LockToken,
        expected: Digest | None,
    ) -> None:
        self._store = store
        self._hexname = hexname
        self._file = data
        self._lock_fd = opened.lock_fd
        self._token = token
        self._state = WriterState(
            ref,
            opened.digester,
            expected=expected,
            offset=opened.offset,
            total=opened.total,
            started_at=opened.started_at,
            updated_at=opened.updated_at,
        )
        self._aborted = False

    def __repr__(self) -> str:
        return self._state.describe("LocalStore")

    @property
    def _ref(self) -> str:
        return self._state.ref

    # -- bookkeeping

    def mark_aborted(self) -> None:
        """Called by the store when ``abort`` removed this writer's ingest."""
        self._aborted = True

    def _forget(self) -> None:
        """Drop the in-process lock and registry entry (sync, cannot fail)."""
        store = self._store
        if store._writers.get(self._ref) is self:
            del store._writers[self._ref]
        store._locks.unlock(self._token)
        store._io.release()

    async def _release_gone(self) -> NotFoundError:
        """Close after the ingest was aborted; returns the error to raise."""
        self._state.open = False
        with anyio.CancelScope(shield=True):
            try:
                await self._store._io.run(
                    release_sync,
                    self._file.raw,
                    self._lock_fd,
                    self._store._layout.ref_lock_path(self._hexname),
                )
            finally:
                self._forget()
        return ingest_not_found(self._ref)

    async def _usable(self, action: str) -> None:
        self._state.check_open(action)
        if self._aborted:
            raise await self._release_gone()

    # -- Writer

    async def write(self, data: bytes | bytearray | memoryview) -> int:
        """Append ``data``; applied fully or, when cancelled or failing, not at all.

        :return: the number of bytes written, ``len(data)``.
        :raises TypeError: ``data`` is not bytes-like.
        :raises ~aiocontent.FailedPreconditionError: the writer is closed or committed.
        :raises ~aiocontent.NotFoundError: the ingest was aborted (the ref is released).
        :raises anyio.BusyResourceError: another task is using this writer.
        :raises OSError: the disk refused the data (the ingest keeps its old content).
        """
        check_data(data)
        state = self._state
        with state.guard:
            await self._usable("write")
            n = data.nbytes if isinstance(data, memoryview) else len(data)
            if n == 0:
                await anyio.lowlevel.checkpoint()
                return 0
            state.digester = await self._file.write(data, state.digester, state.offset)
            state.moved(state.offset + n)
            return n

    def digest(self) -> Digest:
        """The digest of everything written so far, resumed bytes included.

        Never blocks: each :meth:`write` hashes its chunk (a large one on the
        store's worker threads, alongside the file write) before it returns,
        so this only reads the hash state.
        """
        return self._state.digest()

    async def status(self) -> Status:
        """The writer's view of the ingest, from memory; also after close or commit."""
        await anyio.lowlevel.checkpoint()
        return self._state.status()

    async def truncate(self, size: int) -> None:
        """Keep the first ``size`` bytes (``0 <= size <= offset``); all or nothing.

        :raises ~aiocontent.InvalidArgumentError: ``size`` is negative or past the offset.
        :raises ~aiocontent.FailedPreconditionError: the writer is closed or committed.
        :raises ~aiocontent.NotFoundError: the ingest was aborted (the ref is released).
        :raises anyio.BusyResourceError: another task is using this writer.
        """
        check_int(size, "truncate size")
        state = self._state
        with state.guard:
            await self._usable("truncate")
            state.check_truncate(size)
            state.digester = await self._store._io.run(
                truncate_sync, self._file.raw, size, state.offset, state.digester
            )
            state.offset = size

    async def commit(self, size: int = 0, expected: str = "", *opts: Opt) -> None:
        """Verify the ingest and publish it as a blob; the writer is closed afterwards.

        The ref is released whatever happens. A cancelled commit finishes its
        thread: the blob is committed or the ingest intact.

        :raises ~aiocontent.InvalidArgumentError: ``size < 0`` or ``expected``
            does not parse (the ingest stays).
        :raises ~aiocontent.FailedPreconditionError: size or digest mismatch (the
            ingest stays for resume), or the writer is already closed.
        :raises ~aiocontent.AlreadyExistsError: the blob exists; the ingest is removed.
        :raises ~aiocontent.NotFoundError: the ingest was aborted.
        :raises anyio.BusyResourceError: another task is using this writer.
        :raises OSError: syncing, the label write or the rename failed (the ingest stays).
        """
        state = self._state
        with state.guard:
            state.check_open("commit")
            state.open = False
            store = self._store
            layout = store._layout
            ran = False
            try:
                size, want, labels = commit_args(self._ref, size, expected, opts)
                if self._aborted:
                    raise ingest_not_found(self._ref)
                ran = True
                # Shielded: once started, the commit runs to its end (a backend
                # may otherwise refuse to start the thread when already cancelled).
                with anyio.CancelScope(shield=True):
                    state.digester = await store._io.run(
                        commit_sync,
                        layout,
                        self._ref,
                        self._hexname,
                        self._file.raw,
                        self._lock_fd,
                        size,
                        want,
                        state.digester,
                        labels,
                    )
                state.committed = True
            except AlreadyExistsError:
                store._expected.pop(self._ref, None)
                raise
            finally:
                with anyio.CancelScope(shield=True):
                    try:
                        if not ran:
                            await store._io.run(
                                release_sync,
                                self._file.raw,
                                self._lock_fd,
                                layout.ref_lock_path(self._hexname) if self._aborted else None,
                            )
                    finally:
                        if state.committed:
                            store._expected.pop(self._ref, None)
                        self._forget()

    async def aclose(self) -> None:
        """Close the writer and release the ref, keeping the ingest for resume.

        A second call, or a call after :meth:`commit`, does nothing.
        """
        state = self._state
        if not state.open:
            await anyio.lowlevel.checkpoint()
            return
        state.open = False
        store = self._store
        with anyio.CancelScope(shield=True):
            try:
                await store._io.run(
                    close_sync,
                    self._file.raw,
                    self._lock_fd,
                    os.path.join(store._layout.ingest_dir(self._hexname), "updatedat"),
                    state.updated_at,
                    state.digester,
                    self._aborted,
                    store._layout.ref_lock_path(self._hexname),
                )
            finally:
                self._forget()
