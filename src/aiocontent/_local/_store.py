"""LocalStore: containerd's file content store, for anyio (asyncio and trio)."""

from __future__ import annotations

import bisect
import inspect
import logging
import operator
import os
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Final

import anyio
from anyio.abc import AsyncResource

from .._digest import Digest, parse_digest_arg
from .._fileio import FileIO
from .._filters import ALWAYS, adapt_info, adapt_status, parse_all
from .._locks import RefLocks
from .._messages import closed, negative, wrong_type
from .._singleflight import Flights
from .._types import (
    Descriptor,
    Info,
    LabelUpdate,
    Opt,
    Status,
    WalkFunc,
    WriterOpt,
    check_callable,
    check_descriptor,
    check_ref,
    check_str,
    now,
    resolve_opts,
    resolve_writer_opts,
)
from . import _fault
from ._blobs import (
    delete_sync,
    info_sync,
    update_sync,
    walk_rows_sync,
)
from ._ingest import open_ingest
from ._ingest_manager import abort_sync, list_statuses_sync, prune_one_sync, status_sync
from ._layout import (
    Layout,
    ingest_hex,
    root_path,
)
from ._meta import sync_folder
from ._put import put_args, put_sync, remove_stale_temps
from ._reader import LocalReaderAt, open_blob
from ._verify import Problem, verify_blobs
from ._writer import LocalWriter

__all__ = ("LocalStore", "Problem")

_log: Final = logging.getLogger("aiocontent")

#: While ``fn`` runs long, ``walk`` lists the store again this often (seconds).
WALK_REFRESH: Final = 0.1

_ROW_DIGEST: Final = operator.itemgetter(0)


# --------------------------------------------------------------------------- the store


class LocalStore(AsyncResource):
    """containerd's local content store on a directory, for asyncio and trio.

    The layout is containerd's (``blobs/<alg>/<encoded>``, ``ingest/<sha256
    hex of ref>/`` with ``ref``, ``data``, ``startedat``, ``updatedat`` and
    ``total``), so a containerd content root opens as is and ingests left here
    resume in containerd. Beyond containerd, labels and the recorded
    ``updated_at`` persist in ``meta/``, refs are also locked across store
    objects and processes (``flock`` on ``locks/``), and commits are durable
    and crash-safe: a file under ``blobs/`` always has the content its name
    says, is read-only and carries its labels.

    Usable right after construction; folders are created on first use. Use it
    as ``async with LocalStore(root) as cs:`` or call :meth:`aclose`;
    afterwards new calls raise :class:`~aiocontent.FailedPreconditionError`
    while writers and readers opened before keep working until closed.

    It offers :class:`~aiocontent.SupportsSingleFlight`,
    :class:`~aiocontent.SupportsLockWait`, :class:`~aiocontent.SupportsPut`
    and :class:`~aiocontent.SupportsSiblings`.

    :param root: the content root, for example
        ``/var/lib/containerd/io.containerd.content.v1.content``.
    :raises TypeError: ``root`` is not a ``str`` or path-like.
    :raises ~aiocontent.InvalidArgumentError: ``root`` is empty.

    .. versionadded:: 0.1
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self._root = root_path(root)
        self._layout = Layout(str(self._root))
        self._io = FileIO(fault=_fault.point if _fault.ENABLED else None)
        self._locks = RefLocks()
        self._flights = Flights()
        self._writers: dict[str, LocalWriter] = {}
        self._expected: dict[str, Digest | None] = {}
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<{type(self).__name__} {str(self._root)!r} writers={len(self._writers)} {state}>"

    @property
    def root(self) -> Path:
        """The content root, as an absolute path."""
        return self._root

    @property
    def flights(self) -> Flights:
        """This store's table of running :func:`~aiocontent.write_blob` leaders."""
        return self._flights

    def _check_open(self) -> None:
        if self._closed:
            raise closed(f"{type(self).__name__} {str(self._root)!r}")

    async def wait_unlocked(self, ref: str, *, poll: float) -> None:
        """Wait for ``ref`` to be released.

        Wakes as soon as a writer of this store object releases it; when no
        writer here holds it (another store object or process may), returns
        after ``poll`` seconds so that the caller retries.
        """
        check_str(ref, "ref")
        if self._locks.is_locked(ref):
            await self._locks.wait_unlocked(ref)
            return
        await anyio.sleep(max(0.0, poll))

    def sibling(self) -> AbstractAsyncContextManager[LocalStore]:
        """A new :class:`LocalStore` on the same root, closed when the context ends.

        It shares no in-process state with this one; their writers exclude
        each other through the file locks, like two processes.
        """
        return self._sibling()

    @asynccontextmanager
    async def _sibling(self) -> AsyncIterator[LocalStore]:
        self._check_open()
        store = LocalStore(self._root)
        try:
            yield store
        finally:
            await store.aclose()

    async def aclose(self) -> None:
        """Close the store: new calls raise :class:`~aiocontent.FailedPreconditionError`.

        Writers and readers opened before keep working until closed; the
        store's threads stop after the last of them. Calling it again does nothing.
        """
        if not self._closed:
            self._closed = True
            self._io.close()
        await anyio.lowlevel.checkpoint()

    # ------------------------------------------------------------------ Ingester

    async def writer(self, *opts: WriterOpt) -> LocalWriter:
        """Open a writer for the ref given by :func:`~aiocontent.with_ref`.

        An existing ingest for the ref (also one written by containerd) is
        resumed: offset and digest continue from its data, re-hashed in one
        worker-thread call unless a writer of this process closed it and the
        data file is unchanged. ``desc.digest`` selects the hashing algorithm
        (SHA256 when absent) and is reported as ``Status.expected``;
        ``desc.size > 0`` sets the expected total (and is stored when the
        ingest had none).

        :raises ~aiocontent.InvalidArgumentError: empty or malformed ref, or a
            ``desc.digest`` that does not validate.
        :raises ~aiocontent.UnavailableError: another writer (of this or another
            store object or process) holds the ref; the message says since when.
        :raises ~aiocontent.AlreadyExistsError: ``desc.digest`` is already committed.
        :raises ~aiocontent.FailedPreconditionError: ``desc.size`` differs from
            the total stored with the ingest (the ingest is untouched), or the
            store is closed.
        """
        wopts = resolve_writer_opts(opts)
        ref, desc = wopts.ref, wopts.desc
        expected = desc.digest or None
        self._check_open()
        token = self._locks.try_lock(ref)
        hexname = ingest_hex(ref)
        try:
            opened = await self._io.run(
                open_ingest, self._layout, ref, hexname, expected, desc.size
            )
        except BaseException:
            self._locks.unlock(token)
            raise
        self._io.retain()
        w = LocalWriter(self, ref, hexname, opened, self._io.data_file(opened.raw), token, expected)
        self._writers[ref] = w
        self._expected[ref] = expected
        try:
            await anyio.lowlevel.checkpoint_if_cancelled()
        except BaseException:
            with anyio.CancelScope(shield=True):
                await w.aclose()
            raise
        return w

    async def put(
        self, ref: str, data: bytes | bytearray | memoryview, desc: Descriptor, *opts: Opt
    ) -> None:
        """Store a small in-memory blob in one worker-thread trip, without an ingest.

        See :meth:`aiocontent.SupportsPut.put` for the contract. The bytes are
        hashed, written to a read-only file under ``<root>/tmp/``, synced and
        published exactly as a commit publishes (labels first, then the rename
        into ``blobs/<alg>/`` and a folder sync, under the blob's lock), so the
        crash guarantees are a commit's. ``ref`` is held within this store
        object for the call; its cross-process lock is taken only to remove an
        unfinished ingest left under ``ref``, as a commit would have.

        :raises TypeError: ``data`` is not bytes-like, ``desc`` not a Descriptor.
        :raises ~aiocontent.InvalidArgumentError: bad ref, missing or malformed
            digest, or a bad label.
        :raises ~aiocontent.UnavailableError: a writer of this store object holds ``ref``.
        :raises ~aiocontent.FailedPreconditionError: size or digest mismatch
            (nothing is stored), or the store is closed.
        :raises OSError: writing, syncing or publishing failed (nothing is stored).
        """
        check_ref(ref)
        dgst, view = put_args(data, desc)
        labels = resolve_opts(opts).labels
        self._check_open()
        token = self._locks.try_lock(ref)
        try:
            # Shielded like a commit: once started, the put runs to its end.
            with anyio.CancelScope(shield=True):
                await self._io.run(put_sync, self._layout, ref, dgst, view, labels)
                # The rename (ours, or another publisher's we found) is durable only
                # once its folder is synced; batched with other puts, off the workers.
                await sync_folder(self._layout.blob_dir(dgst))
        finally:
            self._locks.unlock(token)
        await anyio.lowlevel.checkpoint_if_cancelled()

    # ------------------------------------------------------------------ Provider

    async def reader_at(self, desc: Descriptor) -> LocalReaderAt:
        """Open the blob ``desc.digest`` for positional reads (only the digest is used).

        :raises ~aiocontent.NotFoundError: no such blob.
        :raises ~aiocontent.InvalidArgumentError: the digest is malformed.
        :raises ~aiocontent.FailedPreconditionError: the store is closed.
        """
        dgst = parse_digest_arg(check_descriptor(desc).digest)
        self._check_open()
        fd, size = await self._io.run(open_blob, self._layout, dgst)
        self._io.retain()
        reader = LocalReaderAt(self._io, dgst, fd, size)
        try:
            await anyio.lowlevel.checkpoint_if_cancelled()
        except BaseException:
            await reader.aclose()
            raise
        return reader

    # ------------------------------------------------------------------ Manager

    async def info(self, dgst: str) -> Info:
        """The blob's :class:`~aiocontent.Info` with its labels.

        ``created_at`` is the commit time (the blob's mtime); ``updated_at`` the
        time of the last :meth:`update`, else the commit time. Reads never move it.

        :raises ~aiocontent.NotFoundError: no such blob.
        :raises ~aiocontent.InvalidArgumentError: the digest is malformed.
        :raises ~aiocontent.FailedPreconditionError: the store is closed.
        """
        parsed = parse_digest_arg(dgst)
        self._check_open()
        return await self._io.run(info_sync, self._layout, parsed)

    async def update(self, info: Info, *fieldpaths: str) -> Info:
        """Change a blob's labels durably; see :meth:`aiocontent.Manager.update`.

        :raises ~aiocontent.InvalidArgumentError: a malformed digest, an unknown
            fieldpath or a bad label; nothing changes.
        :raises ~aiocontent.NotFoundError: no such blob.
        :raises ~aiocontent.FailedPreconditionError: the store is closed.
        """
        dgst, change = LabelUpdate.parse(info, fieldpaths)
        self._check_open()
        return await self._io.run(update_sync, self._layout, dgst, change)

    async def walk(self, fn: WalkFunc, *filters: str) -> None:
        """Call ``fn`` for each blob matching any filter, in lexical (digest) order.

        Only regular files directly inside a registered algorithm's folder whose
        names are valid digests are blobs; anything else is skipped and logged.
        A blob committed, deleted or labelled by any store object or process
        before the call is seen. The walk lists the store once (in one worker
        thread trip, reusing the listings of unchanged folders); while ``fn``
        takes long, it looks again every :data:`WALK_REFRESH` seconds, so blobs
        deleted meanwhile are skipped. A missing ``blobs/`` yields nothing. An
        exception from ``fn`` stops the walk and propagates.

        :raises ~aiocontent.InvalidArgumentError: a malformed filter.
        :raises ~aiocontent.FailedPreconditionError: the store is closed.
        """
        check_callable(fn, "fn")
        selected = parse_all(*filters)
        everything = selected is ALWAYS
        self._check_open()
        rows = await self._io.run(walk_rows_sync, self._layout)
        listed = time.monotonic()
        i, n = 0, len(rows)
        while i < n:
            dgst, size, created, updated, labels = rows[i]
            i += 1
            info = Info(dgst, size, created, updated, dict(labels) if labels else {})
            waited = False
            if everything or selected.match(adapt_info(info)):
                result = fn(info)
                if result is not None and inspect.isawaitable(result):
                    await result
                    waited = True
            if (waited or not i & 255) and i < n and time.monotonic() - listed > WALK_REFRESH:
                fresh = await self._io.run(walk_rows_sync, self._layout)
                listed = time.monotonic()
                if fresh is not rows:
                    rows, n = fresh, len(fresh)
                    i = bisect.bisect_right(rows, dgst, key=_ROW_DIGEST)

    async def delete(self, dgst: str) -> None:
        """Remove a blob and its labels.

        :raises ~aiocontent.NotFoundError: no such blob.
        :raises ~aiocontent.InvalidArgumentError: the digest is malformed.
        :raises ~aiocontent.FailedPreconditionError: the store is closed.
        """
        parsed = parse_digest_arg(dgst)
        self._check_open()
        await self._io.run(delete_sync, self._layout, parsed)

    # ------------------------------------------------------------------ IngestManager

    async def status(self, ref: str) -> Status:
        """The status of the ingest under ``ref``, read from disk (locks are ignored).

        ``expected`` is known only for ingests a writer of this store object opened.

        :raises ~aiocontent.NotFoundError: no such ingest.
        :raises ~aiocontent.ContentError: a timestamp file of the ingest is damaged.
        :raises ~aiocontent.FailedPreconditionError: the store is closed.
        """
        check_str(ref, "ref")
        self._check_open()
        st = await self._io.run(status_sync, self._layout, ref)
        if st.ref == ref:
            st.expected = self._expected.get(ref)
        return st

    async def list_statuses(self, *filters: str) -> list[Status]:
        """The statuses of the ingests matching any filter (field ``ref``), sorted by ref.

        Ingests that vanish while listing, non-folders and damaged ingests
        (logged) are skipped.

        :raises ~aiocontent.InvalidArgumentError: a malformed filter.
        :raises ~aiocontent.FailedPreconditionError: the store is closed.
        """
        selected = parse_all(*filters)
        self._check_open()
        statuses = await self._io.run(list_statuses_sync, self._layout)
        out = []
        for st in statuses:
            if selected.match(adapt_status(st)):
                st.expected = self._expected.get(st.ref)
                out.append(st)
        return out

    async def abort(self, ref: str) -> None:
        """Remove the ingest under ``ref``, even while a writer holds it.

        A writer of this store object holding it raises
        :class:`~aiocontent.NotFoundError` on its next ``write``, ``truncate`` or
        ``commit`` and releases the ref; a writer elsewhere fails at commit.

        :raises ~aiocontent.NotFoundError: no such ingest.
        :raises ~aiocontent.FailedPreconditionError: the store is closed.
        """
        check_str(ref, "ref")
        self._check_open()
        await self._io.run(
            abort_sync, self._layout, ref, ingest_hex(ref), not self._locks.is_locked(ref)
        )
        self._expected.pop(ref, None)
        w = self._writers.get(ref)
        if w is not None:
            w.mark_aborted()

    # ------------------------------------------------------------------ extras

    async def prune_ingests(self, older_than: timedelta) -> list[str]:
        """Remove the ingests not updated for ``older_than``; return their refs, sorted.

        "Updated" is ``Status.updated_at`` (the later of ``updatedat`` and the
        data's mtime). An ingest whose ref is locked (here, by another store
        object or by another process) is never removed. Temporary files a
        crash left behind (label files' ``meta/<alg>/<encoded>.tmp-*`` copies
        and :meth:`put`'s files under ``tmp/``) are removed too once they are
        an hour old, whatever ``older_than`` says; a live writer holds one for
        milliseconds.

        :raises TypeError: ``older_than`` is not a :class:`~datetime.timedelta`.
        :raises ~aiocontent.InvalidArgumentError: ``older_than`` is negative.
        :raises ~aiocontent.FailedPreconditionError: the store is closed.
        """
        if not isinstance(older_than, timedelta):
            raise wrong_type("older_than", "a timedelta", older_than)
        if older_than < timedelta(0):
            raise negative("older_than", older_than)
        self._check_open()
        statuses = await self._io.run(list_statuses_sync, self._layout)
        cutoff = now() - older_than
        pruned = []
        for st in statuses:
            if st.updated_at > cutoff or self._locks.is_locked(st.ref):
                continue
            token = self._locks.try_lock(st.ref)
            try:
                removed = await self._io.run(
                    prune_one_sync, self._layout, ingest_hex(st.ref), cutoff
                )
            finally:
                self._locks.unlock(token)
            if removed:
                self._expected.pop(st.ref, None)
                pruned.append(st.ref)
        await self._io.run(remove_stale_temps, self._layout)
        return pruned

    async def verify(self, *digests: str, quarantine: bool = False) -> list[Problem]:
        """Re-hash blobs off the event loop and report the bad ones.

        With no digests, every entry of every registered algorithm's folder is
        checked, so misnamed files are found too. With ``quarantine=True`` each
        bad entry is moved under ``<root>/quarantine/<alg>/`` (its labels beside
        it), after which ``info``/``reader_at`` raise
        :class:`~aiocontent.NotFoundError` and ``walk`` skips it.

        :return: the problems found, in lexical order of the blobs' paths.
        :raises ~aiocontent.InvalidArgumentError: a malformed digest.
        :raises ~aiocontent.NotFoundError: a named digest is not in the store
            (checked before anything is hashed).
        :raises ~aiocontent.FailedPreconditionError: the store is closed.
        """
        parsed = [parse_digest_arg(d) for d in digests]
        if not isinstance(quarantine, bool):
            raise wrong_type("quarantine", "a bool", quarantine)
        self._check_open()
        return await verify_blobs(self._io, self._layout, parsed, quarantine)
