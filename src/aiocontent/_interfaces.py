"""The content store contract as runtime-checkable Protocols.

A store conforms by shape, without importing aiocontent; :mod:`aiocontent.testing`
checks that it also behaves. The lifecycle, from containerd: content is written
through a :class:`Writer` under a *ref* (an ingest), invisible to
:class:`Provider` until committed; once committed it is addressed by digest only
and the ingest no longer appears in :class:`IngestManager`.

Optional capabilities are Protocols too (``Supports*``); helpers use them when a
store has them and fall back to containerd's behaviour when it does not.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, Self, runtime_checkable

from ._digest import Digest
from ._types import Descriptor, Info, Opt, Status, WalkFunc, WriterOpt

if TYPE_CHECKING:
    from ._singleflight import Flights

__all__ = (
    "InfoProvider",
    "IngestManager",
    "Ingester",
    "Manager",
    "Provider",
    "ReaderAt",
    "Store",
    "SupportsLockWait",
    "SupportsPut",
    "SupportsSiblings",
    "SupportsSingleFlight",
    "Writer",
)


@runtime_checkable
class ReaderAt(Protocol):
    """Random access to one committed blob, like ``os.pread``.

    A reader is an async context manager (``async with await
    store.reader_at(desc) as ra:``) that calls :meth:`aclose` on exit.
    """

    @property
    def size(self) -> int:
        """The blob's size in bytes, fixed when the reader was opened."""
        ...

    async def read_at(self, n: int, offset: int) -> bytes:
        """Read up to ``n`` bytes starting at ``offset``.

        Returns fewer than ``n`` bytes only at the end of the blob, and ``b""``
        when ``offset >= size``. Concurrent calls are allowed.

        :raises ~aiocontent.InvalidArgumentError: ``n`` or ``offset`` is negative.
        """
        ...

    async def aclose(self) -> None:
        """Release the reader's resources. Calling it again does nothing."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        """Call :meth:`aclose`."""
        ...


@runtime_checkable
class Writer(Protocol):
    """Writes one ingest; :meth:`commit` turns it into a blob named by its digest.

    A writer holds its ref's lock from :meth:`Ingester.writer` until
    :meth:`aclose` or :meth:`commit`, which release it whatever happens.
    :meth:`aclose` keeps the ingest, so a later writer for the same ref resumes
    at the same offset. A writer serves one task at a time: overlapping calls
    raise :class:`anyio.BusyResourceError`. A writer is an async context
    manager that calls :meth:`aclose` on exit.
    """

    async def write(self, data: bytes | bytearray | memoryview) -> int:
        """Append ``data`` to the ingest and return the number of bytes written.

        A cancelled write applies fully or not at all.

        :raises TypeError: ``data`` is not bytes-like.
        :raises ~aiocontent.FailedPreconditionError: the writer is closed or committed.
        :raises ~aiocontent.NotFoundError: the ingest was aborted (the ref is released).
        """
        ...

    def digest(self) -> Digest:
        """The digest of everything written so far, resumed bytes included."""
        ...

    async def commit(self, size: int = 0, expected: str = "", *opts: Opt) -> None:
        """Verify the ingest and make it a blob; always leaves the writer closed.

        ``size`` 0 and ``expected`` ``""`` mean unknown. On success the blob is
        durable, the ingest is gone and the labels from
        :func:`~aiocontent.with_labels` are set. An ``expected`` of another
        algorithm than the writer's is checked by re-hashing.

        :raises ~aiocontent.InvalidArgumentError: ``size < 0`` or ``expected``
            does not parse (the ingest stays).
        :raises ~aiocontent.FailedPreconditionError: size or digest mismatch (the
            ingest stays for resume), or the writer is already closed.
        :raises ~aiocontent.AlreadyExistsError: the blob exists; the ingest is removed.
        """
        ...

    async def status(self) -> Status:
        """The ingest's status, answered from memory (also after close or commit)."""
        ...

    async def truncate(self, size: int) -> None:
        """Cut the ingest to its first ``size`` bytes (``0 <= size <= offset``).

        Afterwards the offset is ``size`` and :meth:`digest` is the digest of
        those bytes. Beyond containerd, which only accepts ``0``.

        :raises ~aiocontent.InvalidArgumentError: ``size`` is negative or past the offset.
        :raises ~aiocontent.FailedPreconditionError: the writer is closed or committed.
        """
        ...

    async def aclose(self) -> None:
        """Close the writer, keep the ingest for resume and release the ref.

        A second call, or a call after :meth:`commit`, does nothing.
        """
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        """Call :meth:`aclose`, keeping the ingest for resume unless committed."""
        ...


@runtime_checkable
class Provider(Protocol):
    """Gives read access to committed blobs."""

    async def reader_at(self, desc: Descriptor) -> ReaderAt:
        """Open the blob ``desc.digest`` (only the digest is used).

        :raises ~aiocontent.NotFoundError: no such blob.
        :raises ~aiocontent.InvalidArgumentError: the digest is malformed.
        """
        ...


@runtime_checkable
class InfoProvider(Protocol):
    """Answers what a store knows about a committed blob."""

    async def info(self, dgst: str) -> Info:
        """The blob's :class:`~aiocontent.Info`.

        :raises ~aiocontent.NotFoundError: no such blob.
        :raises ~aiocontent.InvalidArgumentError: the digest is malformed.
        """
        ...


@runtime_checkable
class Ingester(Protocol):
    """Opens writers."""

    async def writer(self, *opts: WriterOpt) -> Writer:
        """Open a writer for the ref given by :func:`~aiocontent.with_ref`.

        An existing ingest for the ref is resumed. ``desc.size > 0`` from
        :func:`~aiocontent.with_descriptor` sets the expected total and
        ``desc.digest`` the expected digest (and the hashing algorithm).

        :raises ~aiocontent.InvalidArgumentError: empty or malformed ref, or a
            ``desc.digest`` that does not validate.
        :raises ~aiocontent.UnavailableError: another writer holds the ref.
        :raises ~aiocontent.AlreadyExistsError: ``desc.digest`` is already committed.
        :raises ~aiocontent.FailedPreconditionError: ``desc.size`` differs from
            the total stored with the ingest (the ingest is untouched).
        """
        ...


@runtime_checkable
class Manager(InfoProvider, Protocol):
    """Manages committed blobs: info, labels, listing and deletion."""

    async def update(self, info: Info, *fieldpaths: str) -> Info:
        """Change a blob's labels and return its new :class:`~aiocontent.Info`.

        No fieldpaths, or ``"labels"``, replaces all labels; ``"labels.<key>"``
        sets one key from ``info.labels`` (an empty or missing value removes it).
        ``updated_at`` becomes now.

        :raises ~aiocontent.InvalidArgumentError: an unknown fieldpath or a bad label.
        :raises ~aiocontent.NotFoundError: no such blob.
        """
        ...

    async def walk(self, fn: WalkFunc, *filters: str) -> None:
        """Call ``fn`` (awaiting it when it returns an awaitable) for each matching blob.

        Several filters are OR-ed. An exception from ``fn`` stops the walk.

        :raises ~aiocontent.InvalidArgumentError: a malformed filter.
        """
        ...

    async def delete(self, dgst: str) -> None:
        """Remove a blob and its labels.

        :raises ~aiocontent.NotFoundError: no such blob.
        :raises ~aiocontent.InvalidArgumentError: the digest is malformed.
        """
        ...


@runtime_checkable
class IngestManager(Protocol):
    """Manages unfinished ingests, ignoring ref locks."""

    async def status(self, ref: str) -> Status:
        """The status of the ingest under ``ref``.

        :raises ~aiocontent.NotFoundError: no such ingest.
        """
        ...

    async def list_statuses(self, *filters: str) -> list[Status]:
        """The statuses of the ingests matching any filter (field ``ref``), sorted by ref.

        Ingests that vanish while listing are skipped.

        :raises ~aiocontent.InvalidArgumentError: a malformed filter.
        """
        ...

    async def abort(self, ref: str) -> None:
        """Remove the ingest under ``ref``, even while a writer holds it.

        That writer's later ``write``, ``truncate`` and ``commit`` raise
        :class:`~aiocontent.NotFoundError` and release the ref.

        :raises ~aiocontent.NotFoundError: no such ingest.
        """
        ...


@runtime_checkable
class Store(Manager, Provider, IngestManager, Ingester, Protocol):
    """A complete content store: everything above in one object."""


@runtime_checkable
class SupportsSingleFlight(Protocol):
    """Capability: :func:`~aiocontent.write_blob` calls for one digest share one download.

    A store offers it by holding a :class:`~aiocontent.Flights` table.
    """

    @property
    def flights(self) -> Flights:
        """The store object's table of running ``write_blob`` leaders."""
        ...


@runtime_checkable
class SupportsLockWait(Protocol):
    """Capability: wait for a ref's lock to be released instead of polling."""

    async def wait_unlocked(self, ref: str, *, poll: float) -> None:
        """Return once no writer of this store object holds ``ref``.

        When a writer of this object holds it, returns as soon as that writer
        releases it. When no writer of this object holds it (so the lock is held
        elsewhere: another store object, process or host), waits up to ``poll``
        seconds, or less when the store learns of the release sooner, so that
        the caller retries without spinning.
        """
        ...


@runtime_checkable
class SupportsSiblings(Protocol):
    """Capability: open another store object over the same storage.

    Siblings share no in-process state, yet exclude each other's writers on a
    ref (as separate processes would). The conformance suite uses it to check
    cross-object locking.
    """

    def sibling(self) -> AbstractAsyncContextManager[Store]:
        """A new store object on the same storage; leaving the context closes it."""
        ...


@runtime_checkable
class SupportsPut(Protocol):
    """Capability: store a small in-memory blob in one step, without an ingest.

    :func:`~aiocontent.write_blob` uses it for bytes-like sources of a known
    digest up to a few MiB; the blob and the guarantees are those of a
    writer's commit, at a fraction of its cost.
    """

    async def put(
        self, ref: str, data: bytes | bytearray | memoryview, desc: Descriptor, *opts: Opt
    ) -> None:
        """Store ``data`` as the blob ``desc.digest`` with the labels of ``opts``.

        Checks ``len(data) == desc.size`` (when ``desc.size > 0``) and the
        digest before anything becomes visible: a mismatch stores nothing. A
        blob that already exists is success: the call returns quietly and
        leaves its labels alone (as :func:`~aiocontent.write_blob` does). On
        return the blob and its labels are durable. No ingest is created; an
        unfinished ingest under ``ref`` that no writer holds is removed, as a
        writer's commit would have removed it. ``ref`` is held like a writer's
        for the duration within this store object; a store may write the blob
        without taking the ref's locks held elsewhere (other store objects or
        processes), but never removes an ingest that is locked.

        :raises TypeError: ``data`` is not bytes-like, ``desc`` not a
            :class:`~aiocontent.Descriptor` or ``ref`` not a ``str``.
        :raises ~aiocontent.InvalidArgumentError: empty or malformed ref,
            missing or malformed ``desc.digest``, negative ``desc.size`` or a bad label.
        :raises ~aiocontent.UnavailableError: a writer of this store object
            holds ``ref`` (nothing is stored; :func:`~aiocontent.open_writer`
            waits for it).
        :raises ~aiocontent.FailedPreconditionError: the size or digest does
            not match (nothing is stored), or the store is closed.
        """
        ...
