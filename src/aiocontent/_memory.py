"""MemoryStore: a complete content store held in memory, for tests and caches.

Every operation works on in-memory tables after one checkpoint, so a cancelled
call has either done nothing or everything. Blobs, labels and ingests live as
long as the store object; ref locks come from :class:`~aiocontent._locks.RefLocks`,
so :func:`~aiocontent.open_writer` wakes as soon as a holder releases. The
ingest side (the writer and the records it works on) is in :mod:`._memory_ingest`.
"""

from __future__ import annotations

import inspect
from typing import final

from anyio.abc import AsyncResource
from anyio.lowlevel import checkpoint

from ._digest import SHA256, Digest, parse_digest_arg
from ._filters import adapt_info, adapt_status, parse_all
from ._interfaces import ReaderAt, Writer
from ._locks import RefLocks

# Re-exported: the tests reach the ingest side through this module.
from ._memory_ingest import _Blob as _Blob
from ._memory_ingest import _Ingest as _Ingest
from ._memory_ingest import _MemoryWriter as _MemoryWriter
from ._messages import (
    closed,
    content_exists,
    content_not_found,
    ingest_not_found,
    reader_closed,
    total_mismatch,
)
from ._singleflight import Flights
from ._types import (
    Descriptor,
    Info,
    LabelUpdate,
    Opt,
    Status,
    WalkFunc,
    WriterOpt,
    check_callable,
    check_descriptor,
    check_read_at,
    check_ref,
    check_str,
    now,
    put_digest,
    resolve_opts,
    resolve_writer_opts,
)
from ._writing import check_data, verify_digest, verify_size

__all__ = ("MemoryStore",)


@final
class _MemoryReaderAt(AsyncResource):
    """Positional reads over one committed blob's bytes (a snapshot taken at open)."""

    __slots__ = ("_closed", "_data", "_digest")

    def __init__(self, dgst: Digest, data: bytes) -> None:
        self._digest = dgst
        self._data = data
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<MemoryStore reader {self._digest} size={len(self._data)} {state}>"

    @property
    def size(self) -> int:
        """The blob's size in bytes."""
        return len(self._data)

    async def read_at(self, n: int, offset: int) -> bytes:
        """Up to ``n`` bytes from ``offset``; ``b""`` when ``offset >= size``.

        :raises ~aiocontent.InvalidArgumentError: ``n`` or ``offset`` is negative.
        :raises ~aiocontent.FailedPreconditionError: the reader is closed.
        """
        check_read_at(self._digest, n, offset)
        await checkpoint()
        if self._closed:
            raise reader_closed(self._digest)
        return self._data[offset : offset + n]

    async def aclose(self) -> None:
        """Close the reader; calling it again does nothing."""
        self._closed = True
        await checkpoint()


class MemoryStore(AsyncResource):
    """A complete :class:`~aiocontent.Store` held in memory, for tests and caches.

    It keeps labels, resumable ingests (a writer closed without committing keeps
    its data, and a new writer for the same ref continues at its offset) and ref
    locks. It also offers the optional capabilities
    :class:`~aiocontent.SupportsSingleFlight`,
    :class:`~aiocontent.SupportsLockWait` (:func:`~aiocontent.open_writer`
    wakes as soon as the holder of a ref releases it) and
    :class:`~aiocontent.SupportsPut`.

    Use it as ``async with MemoryStore() as cs:`` or close it with
    :meth:`aclose`; afterwards new calls raise
    :class:`~aiocontent.FailedPreconditionError` while writers opened before
    keep working.

    .. versionadded:: 0.1
    """

    def __init__(self) -> None:
        self._blobs: dict[Digest, _Blob] = {}
        self._ingests: dict[str, _Ingest] = {}
        self._locks = RefLocks()
        self._flights = Flights()
        self._closed = False

    def __repr__(self) -> str:
        size = sum(len(blob.data) for blob in self._blobs.values())
        locked = sum(1 for ref in self._ingests if self._locks.is_locked(ref))
        state = "closed" if self._closed else "open"
        return (
            f"<{type(self).__name__} blobs={len(self._blobs)} bytes={size} "
            f"ingests={len(self._ingests)} locked={locked} {state}>"
        )

    def _check_open(self) -> None:
        if self._closed:
            raise closed(type(self).__name__)

    @property
    def flights(self) -> Flights:
        """This store's table of running :func:`~aiocontent.write_blob` leaders."""
        return self._flights

    async def wait_unlocked(self, ref: str, *, poll: float) -> None:
        """Return as soon as no writer of this store holds ``ref``.

        Locks live in this object, so ``poll`` is not needed and ignored.
        """
        check_str(ref, "ref")
        await self._locks.wait_unlocked(ref)

    async def aclose(self) -> None:
        """Close the store: new calls raise :class:`~aiocontent.FailedPreconditionError`.

        Writers opened before keep working until they are closed. Calling it
        again does nothing.
        """
        self._closed = True
        await checkpoint()

    # ------------------------------------------------------------------ Provider

    async def reader_at(self, desc: Descriptor) -> ReaderAt:
        """Open the blob ``desc.digest`` for positional reads.

        :raises ~aiocontent.NotFoundError: no such blob.
        :raises ~aiocontent.InvalidArgumentError: the digest is malformed.
        :raises ~aiocontent.FailedPreconditionError: the store is closed.
        """
        dgst = parse_digest_arg(check_descriptor(desc).digest)
        await checkpoint()
        self._check_open()
        blob = self._blobs.get(dgst)
        if blob is None:
            raise content_not_found(dgst)
        return _MemoryReaderAt(dgst, blob.data)

    # ------------------------------------------------------------------ Manager

    async def info(self, dgst: str) -> Info:
        """The blob's :class:`~aiocontent.Info`, with a copy of its labels.

        :raises ~aiocontent.NotFoundError: no such blob.
        :raises ~aiocontent.InvalidArgumentError: the digest is malformed.
        :raises ~aiocontent.FailedPreconditionError: the store is closed.
        """
        parsed = parse_digest_arg(dgst)
        await checkpoint()
        self._check_open()
        blob = self._blobs.get(parsed)
        if blob is None:
            raise content_not_found(parsed)
        return blob.info(parsed)

    async def update(self, info: Info, *fieldpaths: str) -> Info:
        """Change a blob's labels; see :meth:`aiocontent.Manager.update`.

        :raises ~aiocontent.InvalidArgumentError: a malformed digest, an unknown
            fieldpath or a bad label; nothing changes.
        :raises ~aiocontent.NotFoundError: no such blob.
        :raises ~aiocontent.FailedPreconditionError: the store is closed.
        """
        dgst, change = LabelUpdate.parse(info, fieldpaths)
        await checkpoint()
        self._check_open()
        blob = self._blobs.get(dgst)
        if blob is None:
            raise content_not_found(dgst)
        labels = change.apply(blob.labels)
        blob.labels = labels
        blob.updated_at = now()
        return blob.info(dgst)

    async def walk(self, fn: WalkFunc, *filters: str) -> None:
        """Call ``fn`` for each blob matching any filter, in digest order.

        Blobs deleted while walking are skipped. An exception from ``fn`` stops
        the walk and propagates.

        :raises ~aiocontent.InvalidArgumentError: a malformed filter.
        :raises ~aiocontent.FailedPreconditionError: the store is closed.
        """
        check_callable(fn, "fn")
        selected = parse_all(*filters)
        await checkpoint()
        self._check_open()
        for dgst in sorted(self._blobs):
            blob = self._blobs.get(dgst)
            if blob is None:
                continue
            info = blob.info(dgst)
            if selected.match(adapt_info(info)):
                result = fn(info)
                if inspect.isawaitable(result):
                    await result

    async def delete(self, dgst: str) -> None:
        """Remove a blob and its labels.

        :raises ~aiocontent.NotFoundError: no such blob.
        :raises ~aiocontent.InvalidArgumentError: the digest is malformed.
        :raises ~aiocontent.FailedPreconditionError: the store is closed.
        """
        parsed = parse_digest_arg(dgst)
        await checkpoint()
        self._check_open()
        if self._blobs.pop(parsed, None) is None:
            raise content_not_found(parsed)

    # ------------------------------------------------------------------ IngestManager

    async def status(self, ref: str) -> Status:
        """The status of the ingest under ``ref`` (locks are ignored).

        :raises ~aiocontent.NotFoundError: no such ingest.
        :raises ~aiocontent.FailedPreconditionError: the store is closed.
        """
        check_str(ref, "ref")
        await checkpoint()
        self._check_open()
        ingest = self._ingests.get(ref)
        if ingest is None:
            raise ingest_not_found(ref)
        return ingest.status()

    async def list_statuses(self, *filters: str) -> list[Status]:
        """The statuses of the ingests matching any filter (field ``ref``), sorted by ref.

        :raises ~aiocontent.InvalidArgumentError: a malformed filter.
        :raises ~aiocontent.FailedPreconditionError: the store is closed.
        """
        selected = parse_all(*filters)
        await checkpoint()
        self._check_open()
        statuses = (self._ingests[ref].status() for ref in sorted(self._ingests))
        return [st for st in statuses if selected.match(adapt_status(st))]

    async def abort(self, ref: str) -> None:
        """Remove the ingest under ``ref``, even while a writer holds it.

        That writer's later ``write``, ``truncate`` and ``commit`` raise
        :class:`~aiocontent.NotFoundError` and release the ref.

        :raises ~aiocontent.NotFoundError: no such ingest.
        :raises ~aiocontent.FailedPreconditionError: the store is closed.
        """
        check_str(ref, "ref")
        await checkpoint()
        self._check_open()
        if self._ingests.pop(ref, None) is None:
            raise ingest_not_found(ref)

    async def put(
        self, ref: str, data: bytes | bytearray | memoryview, desc: Descriptor, *opts: Opt
    ) -> None:
        """Store a small blob at once, without an ingest (:class:`~aiocontent.SupportsPut`).

        Size and digest are checked first; a mismatch stores nothing. An
        existing blob is success and keeps its labels. An unfinished ingest
        under ``ref`` (no writer holds it) is removed, as a commit would have.

        :raises TypeError: ``data`` is not bytes-like or ``desc`` not a Descriptor.
        :raises ~aiocontent.InvalidArgumentError: bad ref, missing or malformed
            digest, or a bad label.
        :raises ~aiocontent.UnavailableError: a writer of this store holds ``ref``.
        :raises ~aiocontent.FailedPreconditionError: size or digest mismatch, or
            the store is closed.
        """
        check_ref(ref)
        check_data(data)
        dgst = put_digest(desc)
        labels = resolve_opts(opts).labels
        await checkpoint()
        self._check_open()
        self._locks.unlock(self._locks.try_lock(ref))
        if dgst in self._blobs:
            self._ingests.pop(ref, None)
            return
        raw = bytes(data) if not isinstance(data, memoryview) else data.cast("B").tobytes()
        verify_size(desc.size, len(raw))
        verify_digest(Digest.from_bytes(raw, dgst.algorithm), dgst)
        self._blobs[dgst] = _Blob(raw, now(), dict(labels))
        self._ingests.pop(ref, None)

    # ------------------------------------------------------------------ Ingester

    async def writer(self, *opts: WriterOpt) -> Writer:
        """Open a writer for the ref given by :func:`~aiocontent.with_ref`.

        An existing ingest for the ref is resumed: offset and digest continue
        from its data. ``desc.digest`` selects the hashing algorithm (SHA256
        when absent) and is reported as ``Status.expected``; ``desc.size > 0``
        sets the expected total.

        :raises ~aiocontent.InvalidArgumentError: empty or malformed ref, or a
            ``desc.digest`` that does not validate.
        :raises ~aiocontent.UnavailableError: another writer holds the ref.
        :raises ~aiocontent.AlreadyExistsError: ``desc.digest`` is already committed.
        :raises ~aiocontent.FailedPreconditionError: ``desc.size`` differs from
            the total stored with the ingest (the ingest is untouched), or the
            store is closed.
        """
        wopts = resolve_writer_opts(opts)
        ref, desc = wopts.ref, wopts.desc
        expected = desc.digest or None
        await checkpoint()
        self._check_open()
        token = self._locks.try_lock(ref)
        try:
            if expected is not None and expected in self._blobs:
                raise content_exists(expected)
            ingest = self._ingests.get(ref)
            if ingest is None:
                ingest = self._ingests[ref] = _Ingest(ref, desc.size, expected, now())
            else:
                if desc.size > 0:
                    if ingest.total > 0 and ingest.total != desc.size:
                        raise total_mismatch(ref, ingest.total, desc.size)
                    ingest.total = desc.size
                ingest.expected = expected
            digester = (expected.algorithm if expected is not None else SHA256).digester()
            digester.update(ingest.data)
            return _MemoryWriter(self, ingest, token, digester, expected)
        except BaseException:
            self._locks.unlock(token)
            raise
