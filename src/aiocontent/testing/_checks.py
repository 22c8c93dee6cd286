"""The store conformance suite: containerd's content testsuite cases, plus ours.

Each ``check_<name>(factory)`` opens a fresh store with ``async with
factory() as cs:`` and checks one behaviour; :func:`check_store` runs them all.
Failures raise :class:`AssertionError` with a message naming the check and the
expectation; pytest is not needed. Checks of optional capabilities
(single-flight, cross-object locking) do nothing for a store without them.
"""

from __future__ import annotations

import io
import itertools
import random
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, AsyncExitStack, aclosing
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Final, Generic, NoReturn, TypeAlias, TypeVar, cast

import anyio
from anyio.abc import AsyncResource

from .._digest import SHA256, SHA512, Digest
from .._errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    UnavailableError,
)
from .._helpers import copy, open_writer, read_blob, write_blob
from .._interfaces import (
    ReaderAt,
    Store,
    SupportsPut,
    SupportsSiblings,
    SupportsSingleFlight,
    Writer,
)
from .._types import Descriptor, Info, Status, with_descriptor, with_labels, with_ref

__all__ = (
    "StoreFactory",
    "check_abort_active_writer",
    "check_closed_writer",
    "check_commit_error_state",
    "check_commit_exists",
    "check_commit_other_algorithm",
    "check_cross_object_lock",
    "check_delete",
    "check_filters",
    "check_invalid_arguments",
    "check_labels",
    "check_not_found",
    "check_open_writer_wakes_on_release",
    "check_put",
    "check_ref_forms",
    "check_ref_not_available",
    "check_resume",
    "check_resume_copy",
    "check_resume_copy_reader_at",
    "check_resume_copy_seeker",
    "check_resume_discard",
    "check_resume_totals",
    "check_resume_truncate",
    "check_single_flight",
    "check_small_blob",
    "check_store",
    "check_truncate_middle",
    "check_update_fieldpaths",
    "check_update_status",
    "check_writer",
)

#: Makes a fresh, empty store each time it is called; leaving the context closes it.
StoreFactory: TypeAlias = Callable[[], AbstractAsyncContextManager[Store]]

#: How far a store's timestamps may stray outside the window a check observed,
#: for stores whose clock is coarser than Python's (file systems, remote servers).
CLOCK_SLACK: Final = timedelta(milliseconds=50)

#: How long ``open_writer`` may take to notice that the holder released the ref.
WAKE_BOUND: Final = 1.0

_E = TypeVar("_E", bound=BaseException)
_seeds = itertools.count(1)


# --------------------------------------------------------------------------- helpers


def _fail(message: str) -> NoReturn:
    __tracebackhide__ = True
    raise AssertionError(message)


def _expect_equal(actual: object, expected: object, what: str) -> None:
    __tracebackhide__ = True
    if actual != expected:
        _fail(f"{what}: got {actual!r}, expected {expected!r}")


class _Raises(Generic[_E]):
    """``with _Raises(NotFoundError, "info of a missing blob"):`` around awaits.

    Other exceptions become an AssertionError; cancellation and other
    ``BaseException``s pass through untouched.
    """

    def __init__(self, kind: type[_E], what: str, contains: str | None = None) -> None:
        self.kind = kind
        self.what = what
        self.contains = contains
        self.value: _E | None = None

    def __enter__(self) -> _Raises[_E]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        __tracebackhide__ = True
        if exc is None:
            _fail(f"{self.what}: expected {self.kind.__name__}, nothing was raised")
        if not isinstance(exc, Exception):
            return False
        if not isinstance(exc, self.kind):
            raise AssertionError(
                f"{self.what}: expected {self.kind.__name__}, got {type(exc).__name__}: {exc}"
            ) from exc
        if self.contains is not None and self.contains not in str(exc):
            raise AssertionError(
                f"{self.what}: {type(exc).__name__} message {str(exc)!r} "
                f"does not contain {self.contains!r}"
            ) from exc
        self.value = exc
        return True


def _content(size: int) -> tuple[bytes, Digest]:
    """Reproducible pseudo-random bytes (a new sequence on each call) and their digest."""
    data = random.Random(next(_seeds)).randbytes(size)
    return data, Digest.from_bytes(data)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _check_time(value: object, low: datetime, high: datetime, what: str) -> None:
    __tracebackhide__ = True
    if not isinstance(value, datetime):
        _fail(f"{what}: {value!r} is not a datetime")
    offset = value.utcoffset()
    if offset is None or offset != timedelta(0):
        _fail(f"{what}: {value!r} is not timezone-aware UTC")
    if not low - CLOCK_SLACK <= value <= high + CLOCK_SLACK:
        _fail(
            f"{what}: {value.isoformat()} is not between {low.isoformat()} and {high.isoformat()}"
        )


async def _check_status(
    w: Writer,
    expected: Status,
    dgst: Digest,
    started: tuple[datetime, datetime],
    updated: tuple[datetime, datetime],
) -> None:
    """Compare a writer's status and digest (containerd's checkStatus, plus ``expected``)."""
    __tracebackhide__ = True
    st = await w.status()
    _expect_equal(w.digest(), dgst, f"digest() of writer {expected.ref!r}")
    _expect_equal(st.ref, expected.ref, "Status.ref")
    _expect_equal(st.offset, expected.offset, f"Status.offset of {expected.ref!r}")
    _expect_equal(st.total, expected.total, f"Status.total of {expected.ref!r}")
    _expect_equal(st.expected, expected.expected, f"Status.expected of {expected.ref!r}")
    _check_time(st.started_at, *started, f"Status.started_at of {expected.ref!r}")
    _check_time(st.updated_at, *updated, f"Status.updated_at of {expected.ref!r}")


async def _check_info(
    cs: Store,
    dgst: Digest,
    size: int,
    labels: Mapping[str, str],
    created: tuple[datetime, datetime],
    updated: tuple[datetime, datetime],
) -> Info:
    """Compare ``cs.info(dgst)`` with what a check expects (containerd's checkInfo)."""
    __tracebackhide__ = True
    info = await cs.info(dgst)
    _expect_equal(info.digest, dgst, "Info.digest")
    _expect_equal(info.size, size, f"Info.size of {dgst}")
    _check_time(info.created_at, *created, f"Info.created_at of {dgst}")
    _check_time(info.updated_at, *updated, f"Info.updated_at of {dgst}")
    _expect_equal(info.labels, dict(labels), f"Info.labels of {dgst}")
    return info


async def _write_chunks(w: Writer, data: bytes, chunk: int) -> None:
    __tracebackhide__ = True
    for start in range(0, len(data), chunk):
        piece = data[start : start + chunk]
        n = await w.write(piece)
        if n != len(piece):
            _fail(f"short write: write() returned {n} for {len(piece)} bytes")


async def _check_ref_not_available(cs: Store, ref: str) -> None:
    """A second writer for a held ref fails with UnavailableError naming the ref."""
    __tracebackhide__ = True
    try:
        w = await cs.writer(with_ref(ref))
    except UnavailableError as exc:
        if f"ref {ref} locked for" not in str(exc):
            _fail(f"UnavailableError message {str(exc)!r} lacks 'ref {ref} locked for'")
        return
    except Exception as exc:
        raise AssertionError(
            f"writer() for locked ref {ref!r}: expected UnavailableError, "
            f"got {type(exc).__name__}: {exc}"
        ) from exc
    await w.aclose()
    _fail(f"writer() for ref {ref!r} succeeded while another writer holds it")


def _as_context_manager(obj: object, what: str) -> AbstractAsyncContextManager[Any]:
    """``obj`` itself, after checking that it is an async context manager."""
    __tracebackhide__ = True
    if not callable(getattr(obj, "__aenter__", None)) or not callable(
        getattr(obj, "__aexit__", None)
    ):
        _fail(f"{what} {type(obj).__name__} is not an async context manager")
    return cast("AbstractAsyncContextManager[Any]", obj)


async def _read_all(cs: Store, dgst: Digest) -> bytes:
    return await read_blob(cs, Descriptor(digest=dgst))


async def _snapshot(
    cs: Store,
) -> tuple[list[tuple[str, int, dict[str, str]]], list[tuple[str, int, int]]]:
    """What a store holds: blobs (digest, size, labels) and ingests (ref, offset, total)."""
    infos: list[tuple[str, int, dict[str, str]]] = []

    def collect(info: Info) -> None:
        infos.append((str(info.digest), info.size, dict(info.labels)))

    await cs.walk(collect)
    ingests = [(st.ref, st.offset, st.total) for st in await cs.list_statuses()]
    return sorted(infos, key=lambda item: item[0]), ingests


class _ReadOnly:
    """A source with only a sync ``read``: resuming must read and discard."""

    def __init__(self, data: bytes) -> None:
        self._file = io.BytesIO(data)

    def read(self, n: int = -1, /) -> bytes:
        return self._file.read(n)


class _BytesReaderAt(AsyncResource):
    """A :class:`~aiocontent.ReaderAt` over bytes, as a copy source."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    @property
    def size(self) -> int:
        return len(self._data)

    async def read_at(self, n: int, offset: int) -> bytes:
        await anyio.lowlevel.checkpoint()
        return self._data[offset : offset + n]

    async def aclose(self) -> None:
        await anyio.lowlevel.checkpoint()


# --------------------------------------------------------------------------- containerd's cases


async def check_writer(factory: StoreFactory) -> None:
    """Four writers (no descriptor, size only, digest only, both) write and commit with labels."""
    __tracebackhide__ = True
    labels = {"containerd.io/gc.root": _utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")}
    async with factory() as cs, AsyncExitStack() as stack:
        if not isinstance(cs, Store):
            _fail(f"{type(cs).__name__} lacks methods of the Store protocol")
        cases: list[tuple[bytes, Digest, Writer]] = []
        for ref, use_size, use_digest in (
            ("c1", False, False),
            ("c2", True, False),
            ("c3", False, True),
            ("c4", True, True),
        ):
            data, dgst = _content(256)
            desc = Descriptor(size=len(data) if use_size else 0, digest=dgst if use_digest else "")
            w = await open_writer(cs, with_ref(ref), with_descriptor(desc))
            stack.push_async_callback(w.aclose)
            if not isinstance(w, Writer):
                _fail(f"{type(w).__name__} lacks methods of the Writer protocol")
            st = await w.status()
            _expect_equal(st.expected, dgst if use_digest else None, f"Status.expected of {ref}")
            cases.append((data, dgst, w))
        for data, dgst, w in cases:
            await _write_chunks(w, data, 32)
            pre = _utcnow()
            await w.commit(0, "", with_labels(labels))
            post = _utcnow()
            _expect_equal(w.digest(), dgst, "digest() after commit")
            await _check_info(cs, dgst, len(data), labels, (pre, post), (pre, post))
            _expect_equal(await _read_all(cs, dgst), data, f"content of {dgst}")


async def check_update_status(factory: StoreFactory) -> None:
    """Status offset, digest and timestamps follow each write; commit applies labels."""
    __tracebackhide__ = True
    labels = {"containerd.io/gc.root": _utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")}
    data, d1 = _content(256)
    async with factory() as cs:
        pre_start = _utcnow()
        w = await open_writer(cs, with_ref("c1"), with_descriptor(Descriptor(size=256, digest=d1)))
        async with aclosing(w):
            post_start = _utcnow()
            expected = Status(ref="c1", offset=0, total=256, expected=d1)
            started = (pre_start, post_start)
            await _check_status(w, expected, Digest.from_bytes(b""), started, started)
            for end in (64, 192, 256):
                pre = _utcnow()
                await w.write(data[expected.offset : end])
                post = _utcnow()
                expected.offset = end
                await _check_status(
                    w, expected, Digest.from_bytes(data[:end]), started, (pre, post)
                )
            pre = _utcnow()
            await w.commit(0, "", with_labels(labels))
            post = _utcnow()
        await _check_info(cs, d1, 256, labels, (pre, post), (pre, post))


async def check_commit_exists(factory: StoreFactory) -> None:
    """Committing content that exists raises AlreadyExistsError and removes the ingest."""
    __tracebackhide__ = True
    data, d1 = _content(256)
    async with factory() as cs:
        await write_blob(cs, "c1", data, Descriptor(digest=d1))
        for i, expected in enumerate((d1, "")):
            ref = f"c1-commitexists-{i}"
            w = await open_writer(cs, with_ref(ref))
            async with aclosing(w):
                await w.write(data)
                with _Raises(
                    AlreadyExistsError, f"commit of existing content (expected={expected!r})"
                ):
                    await w.commit(len(data), expected)
            with _Raises(NotFoundError, f"status of {ref!r} after AlreadyExistsError"):
                await cs.status(ref)


async def check_resume(factory: StoreFactory) -> None:
    """A closed writer's ingest resumes: offset, digest and timestamps continue."""
    __tracebackhide__ = True
    ref = "cb"
    data, dgst = _content(256)
    first, second = data[:128], data[128:]
    desc = Descriptor(size=256, digest=dgst)
    async with factory() as cs:
        pre_start = _utcnow()
        w1 = await open_writer(cs, with_ref(ref), with_descriptor(desc))
        post_start = _utcnow()
        started = (pre_start, post_start)
        async with aclosing(w1):
            await w1.write(first)
            post_update = _utcnow()
            expected = Status(ref=ref, offset=128, total=256, expected=dgst)
            first_digest = Digest.from_bytes(first)
            await _check_status(w1, expected, first_digest, started, (post_start, post_update))
        w2 = await open_writer(cs, with_ref(ref), with_descriptor(desc))
        async with aclosing(w2):
            # The resumed status is the one from before the close.
            await _check_status(w2, expected, first_digest, started, (post_start, post_update))
            pre_update = _utcnow()
            await w2.write(second)
            post_update = _utcnow()
            expected.offset = 256
            await _check_status(w2, expected, dgst, started, (pre_update, post_update))
            pre = _utcnow()
            await w2.commit(0, "")
            post = _utcnow()
        await _check_info(cs, dgst, 256, {}, (pre, post), (pre, post))


_ResumeFn: TypeAlias = Callable[[Writer, bytes, int, int, Digest], Awaitable[None]]


async def _check_resume(factory: StoreFactory, name: str, resume: _ResumeFn) -> None:
    __tracebackhide__ = True
    async with factory() as cs:
        for i, size in enumerate((500, 5000, 50000)):
            for j, fraction in enumerate((0.0, 0.1, 0.5, 0.9, 1.0)):
                data, dgst = _content(size)
                limit = int(size * fraction)
                ref = f"ref-{i}-{j}"
                desc = Descriptor(size=size, digest=dgst)
                w = await open_writer(cs, with_ref(ref), with_descriptor(desc))
                async with aclosing(w):
                    await w.write(data[:limit])
                w = await open_writer(cs, with_ref(ref), with_descriptor(desc))
                async with aclosing(w):
                    st = await w.status()
                    _expect_equal(st.offset, limit, f"{name}: resumed offset of {ref}")
                    pre = _utcnow()
                    try:
                        await resume(w, data, limit, size, dgst)
                    except Exception as exc:
                        raise AssertionError(
                            f"{name}: resume of {ref} ({size} bytes, {limit} written) failed: "
                            f"{type(exc).__name__}: {exc}"
                        ) from exc
                    post = _utcnow()
                await _check_info(cs, dgst, size, {}, (pre, post), (pre, post))


async def _resume_truncate(w: Writer, data: bytes, written: int, size: int, dgst: Digest) -> None:
    await w.truncate(0)
    await _write_chunks(w, data, 1024)
    await w.commit(size, dgst)


async def _resume_discard(w: Writer, data: bytes, written: int, size: int, dgst: Digest) -> None:
    await _write_chunks(w, data[written:], 1024)
    await w.commit(size, dgst)


async def _resume_copy(w: Writer, data: bytes, written: int, size: int, dgst: Digest) -> None:
    await copy(w, _ReadOnly(data), size, dgst)


async def _resume_copy_seeker(
    w: Writer, data: bytes, written: int, size: int, dgst: Digest
) -> None:
    await copy(w, io.BytesIO(data), size, dgst)


async def _resume_copy_reader_at(
    w: Writer, data: bytes, written: int, size: int, dgst: Digest
) -> None:
    await copy(w, _BytesReaderAt(data), size, dgst)


async def check_resume_truncate(factory: StoreFactory) -> None:
    """Resume, then ``truncate(0)`` and write everything again."""
    __tracebackhide__ = True
    await _check_resume(factory, "check_resume_truncate", _resume_truncate)


async def check_resume_discard(factory: StoreFactory) -> None:
    """Resume and write only the bytes after the offset."""
    __tracebackhide__ = True
    await _check_resume(factory, "check_resume_discard", _resume_discard)


async def check_resume_copy(factory: StoreFactory) -> None:
    """Resume with :func:`~aiocontent.copy` from a source that can only be read."""
    __tracebackhide__ = True
    await _check_resume(factory, "check_resume_copy", _resume_copy)


async def check_resume_copy_seeker(factory: StoreFactory) -> None:
    """Resume with :func:`~aiocontent.copy` from a seekable source."""
    __tracebackhide__ = True
    await _check_resume(factory, "check_resume_copy_seeker", _resume_copy_seeker)


async def check_resume_copy_reader_at(factory: StoreFactory) -> None:
    """Resume with :func:`~aiocontent.copy` from a :class:`~aiocontent.ReaderAt` source."""
    __tracebackhide__ = True
    await _check_resume(factory, "check_resume_copy_reader_at", _resume_copy_reader_at)


async def check_small_blob(factory: StoreFactory) -> None:
    """A blob smaller than the read size reads back whole; reads at or past the end are empty."""
    __tracebackhide__ = True
    blob = b"foobar"
    dgst = Digest.from_bytes(blob)
    async with factory() as cs:
        w = await cs.writer(
            with_ref("check_small_blob"), with_descriptor(Descriptor(size=len(blob), digest=dgst))
        )
        async with aclosing(w):
            await w.write(blob)
            await w.commit(len(blob), dgst)
        ra = await cs.reader_at(Descriptor(digest=dgst))
        if not isinstance(ra, ReaderAt):
            _fail(f"{type(ra).__name__} lacks methods of the ReaderAt protocol")
        async with _as_context_manager(ra, "ReaderAt"):
            _expect_equal(ra.size, len(blob), "ReaderAt.size")
            _expect_equal(await ra.read_at(len(blob) + 1, 0), blob, "read_at(size + 1, 0)")
            _expect_equal(await ra.read_at(4, 3), blob[3:], "read_at(4, 3)")
            _expect_equal(await ra.read_at(1, len(blob)), b"", "read_at at the end")
            _expect_equal(await ra.read_at(1, len(blob) + 10), b"", "read_at past the end")
            _expect_equal(await ra.read_at(0, 0), b"", "read_at(0, 0)")
        _expect_equal(await _read_all(cs, dgst), blob, "read_blob of the small blob")


async def check_labels(factory: StoreFactory) -> None:
    """Labels set at commit, replaced by ``update(info)`` and merged by ``labels.<key>`` paths."""
    __tracebackhide__ = True
    data, d1 = _content(256)
    async with factory() as cs:
        w = await open_writer(
            cs, with_ref("c1-checklabels"), with_descriptor(Descriptor(size=256, digest=d1))
        )
        async with aclosing(w):
            await w.write(data)
            root_time = _utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")
            labels = {"k1": "v1", "k2": "v2", "containerd.io/gc.root": root_time}
            pre_commit = _utcnow()
            await w.commit(0, "", with_labels(labels))
            post_commit = _utcnow()
        committed = (pre_commit, post_commit)
        await _check_info(cs, d1, 256, labels, committed, committed)

        labels["k1"] = "newvalue"
        del labels["k2"]
        labels["k3"] = "v3"
        info = Info(digest=d1, size=256, labels=dict(labels))
        pre = _utcnow()
        returned = await cs.update(info)
        post = _utcnow()
        _expect_equal(returned.labels, labels, "labels returned by update(info)")
        await _check_info(cs, d1, 256, labels, committed, (pre, post))

        info.labels = {"k1": "v1", "containerd.io/gc.root": root_time}
        pre = _utcnow()
        await cs.update(info, "labels.k3", "labels.k1")
        post = _utcnow()
        await _check_info(cs, d1, 256, info.labels, committed, (pre, post))


async def check_commit_error_state(factory: StoreFactory) -> None:
    """Failed commits keep (or, for AlreadyExists, drop) the ingest and always release the ref."""
    __tracebackhide__ = True
    c1, d1 = _content(256)
    _, d2 = _content(256)
    more = c1 + b"more"
    ref = "c1-commiterror-state"
    async with factory() as cs:
        await write_blob(cs, "c1", c1, Descriptor(digest=d1))

        w = await open_writer(cs, with_ref(ref))
        async with aclosing(w):
            await w.write(c1)
            await _check_ref_not_available(cs, ref)
            with _Raises(AlreadyExistsError, "commit of existing content with its digest"):
                await w.commit(len(c1), d1)

        w = await open_writer(cs, with_ref(ref))
        async with aclosing(w):
            await _check_ref_not_available(cs, ref)
            await w.write(c1)
            with _Raises(AlreadyExistsError, "commit of existing content without digest"):
                await w.commit(len(c1), "")

        w = await open_writer(cs, with_ref(ref))
        async with aclosing(w):
            await _check_ref_not_available(cs, ref)
            _expect_equal((await w.status()).offset, 0, "offset after AlreadyExistsError")
            await w.write(more)
            with _Raises(FailedPreconditionError, "commit with the wrong digest"):
                await w.commit(len(more), d2)

        w = await open_writer(cs, with_ref(ref))
        async with aclosing(w):
            await _check_ref_not_available(cs, ref)
            _expect_equal((await w.status()).offset, len(more), "offset after a wrong digest")
            with _Raises(FailedPreconditionError, "commit with the wrong size"):
                await w.commit(len(c1), "")

        w = await open_writer(cs, with_ref(ref))
        async with aclosing(w):
            await _check_ref_not_available(cs, ref)
            await w.commit(len(more), "")
        _expect_equal(await _read_all(cs, Digest.from_bytes(more)), more, "committed content")

        w = await open_writer(cs, with_ref(ref))
        async with aclosing(w):
            _expect_equal((await w.status()).offset, 0, "offset of a new ingest after commit")
            await w.write(c1)
            await _check_ref_not_available(cs, ref)
            with _Raises(AlreadyExistsError, "commit of existing content, again"):
                await w.commit(len(c1), d1)

        w = await open_writer(cs, with_ref(ref))
        async with aclosing(w):
            await _check_ref_not_available(cs, ref)
        w = await open_writer(cs, with_ref(ref))
        await w.aclose()


# --------------------------------------------------------------------------- ours


async def check_ref_not_available(factory: StoreFactory) -> None:
    """A held ref refuses a second writer with ``ref <ref> locked for``; status ignores locks."""
    __tracebackhide__ = True
    ref = "locked-ref"
    async with factory() as cs:
        w = await cs.writer(with_ref(ref))
        async with aclosing(w):
            await w.write(b"held")
            await _check_ref_not_available(cs, ref)
            _expect_equal((await cs.status(ref)).offset, 4, "status of a locked ingest")
            refs = [st.ref for st in await cs.list_statuses()]
            _expect_equal(refs, [ref], "list_statuses while the ref is locked")
        w = await cs.writer(with_ref(ref))
        async with aclosing(w):
            _expect_equal((await w.status()).offset, 4, "offset after the holder closed")


async def check_truncate_middle(factory: StoreFactory) -> None:
    """``truncate(k)`` for any ``0 <= k <= offset`` keeps the prefix and its digest."""
    __tracebackhide__ = True
    data, dgst = _content(1000)
    async with factory() as cs:
        desc = Descriptor(size=len(data), digest=dgst)
        w = await cs.writer(with_ref("truncate"), with_descriptor(desc))
        async with aclosing(w):
            await w.write(data)
            await w.truncate(400)
            _expect_equal((await w.status()).offset, 400, "offset after truncate(400)")
            _expect_equal(w.digest(), Digest.from_bytes(data[:400]), "digest after truncate(400)")
            for size in (-1, 401):
                with _Raises(InvalidArgumentError, f"truncate({size}) at offset 400"):
                    await w.truncate(size)
            _expect_equal((await w.status()).offset, 400, "offset after refused truncates")
            await w.truncate(400)
            await w.truncate(300)
        _expect_equal((await cs.status("truncate")).offset, 300, "stored offset after truncate")
        w = await cs.writer(with_ref("truncate"), with_descriptor(desc))
        async with aclosing(w):
            _expect_equal((await w.status()).offset, 300, "resumed offset after truncate(300)")
            _expect_equal(w.digest(), Digest.from_bytes(data[:300]), "resumed digest")
            await w.write(data[300:])
            await w.commit(len(data), dgst)
        _expect_equal(await _read_all(cs, dgst), data, "content after truncate and rewrite")

        # The prefix is re-hashed with the writer's algorithm.
        d512 = Digest.from_bytes(data, SHA512)
        w = await cs.writer(with_ref("truncate-512"), with_descriptor(Descriptor(digest=d512)))
        async with aclosing(w):
            await w.write(data[:700])
            await w.truncate(100)
            _expect_equal(w.digest(), Digest.from_bytes(data[:100], SHA512), "sha512 prefix")
            await w.write(data[100:])
            await w.commit(len(data), d512)
        _expect_equal((await cs.info(d512)).size, len(data), "size of the sha512 blob")


async def check_open_writer_wakes_on_release(factory: StoreFactory) -> None:
    """``open_writer`` waits for a held ref, wakes promptly on release, and can be cancelled."""
    __tracebackhide__ = True
    ref = "wake"
    async with factory() as cs:
        holder = await cs.writer(with_ref(ref))
        opened: list[tuple[float, Writer]] = []

        async def wait_for_ref() -> None:
            w = await open_writer(cs, with_ref(ref))
            opened.append((anyio.current_time(), w))

        early = False
        released = 0.0
        with anyio.move_on_after(10 + WAKE_BOUND) as guard:
            async with anyio.create_task_group() as tg:
                tg.start_soon(wait_for_ref)
                await anyio.sleep(0.05)
                early = bool(opened)
                released = anyio.current_time()
                await holder.aclose()
        if early:
            _fail("open_writer returned while another writer held the ref")
        if guard.cancelled_caught or not opened:
            _fail("open_writer did not return after the holder released the ref")
        woke, w = opened[0]
        async with aclosing(w):
            if woke - released > WAKE_BOUND:
                _fail(f"open_writer took {woke - released:.3f}s to notice the release")
            start = anyio.current_time()
            with anyio.move_on_after(0.1) as scope:
                extra = await open_writer(cs, with_ref(ref))
                await extra.aclose()
                _fail("open_writer returned while another writer held the ref")
            if not scope.cancelled_caught:
                _fail("cancelling open_writer did not end its wait")
            if anyio.current_time() - start > WAKE_BOUND:
                _fail("cancelling open_writer took too long")


async def check_not_found(factory: StoreFactory) -> None:
    """Missing blobs and ingests raise NotFoundError naming them."""
    __tracebackhide__ = True
    missing = Digest.from_bytes(b"not in the store")
    async with factory() as cs:
        with _Raises(NotFoundError, "info of a missing blob", missing):
            await cs.info(missing)
        with _Raises(NotFoundError, "reader_at of a missing blob", missing):
            await cs.reader_at(Descriptor(digest=missing))
        with _Raises(NotFoundError, "delete of a missing blob", missing):
            await cs.delete(missing)
        with _Raises(NotFoundError, "update of a missing blob", missing):
            await cs.update(Info(digest=missing, labels={"a": "b"}))
        with _Raises(NotFoundError, "status of a missing ingest"):
            await cs.status("missing-ref")
        with _Raises(NotFoundError, "abort of a missing ingest", "missing-ref"):
            await cs.abort("missing-ref")
        _expect_equal(await cs.list_statuses(), [], "list_statuses of an empty store")
        seen: list[Info] = []
        await cs.walk(seen.append)
        _expect_equal(seen, [], "walk of an empty store")


async def check_delete(factory: StoreFactory) -> None:
    """Deleting a blob removes it and its labels; committing it again starts unlabelled."""
    __tracebackhide__ = True
    data, dgst = _content(300)
    async with factory() as cs:
        await write_blob(cs, "del", data, Descriptor(digest=dgst), with_labels({"a": "1"}))
        _expect_equal((await cs.info(dgst)).labels, {"a": "1"}, "labels before delete")
        await cs.delete(dgst)
        with _Raises(NotFoundError, "info after delete"):
            await cs.info(dgst)
        with _Raises(NotFoundError, "reader_at after delete"):
            await cs.reader_at(Descriptor(digest=dgst))
        seen: list[Info] = []
        await cs.walk(seen.append)
        _expect_equal(seen, [], "walk after delete")
        await write_blob(cs, "del", data, Descriptor(digest=dgst))
        _expect_equal((await cs.info(dgst)).labels, {}, "labels after delete and re-commit")


async def check_abort_active_writer(factory: StoreFactory) -> None:
    """``abort`` removes a held ingest; the holder's next call raises NotFoundError and releases."""
    __tracebackhide__ = True
    async with factory() as cs:
        for action in ("write", "truncate", "commit"):
            ref = f"abort-{action}"
            w = await cs.writer(with_ref(ref))
            async with aclosing(w):
                await w.write(b"hello")
                await cs.abort(ref)
                with _Raises(NotFoundError, f"status after abort of {ref!r}"):
                    await cs.status(ref)
                refs = [st.ref for st in await cs.list_statuses()]
                _expect_equal(refs, [], f"list_statuses after abort of {ref!r}")
                with _Raises(NotFoundError, f"{action} after abort of {ref!r}"):
                    if action == "write":
                        await w.write(b" world")
                    elif action == "truncate":
                        await w.truncate(0)
                    else:
                        await w.commit(5, "")
                try:
                    again = await cs.writer(with_ref(ref))
                except UnavailableError as exc:
                    raise AssertionError(
                        f"{action} after abort did not release {ref!r}: {exc}"
                    ) from exc
                async with aclosing(again):
                    _expect_equal((await again.status()).offset, 0, "offset after abort")
                await cs.abort(ref)
        with _Raises(NotFoundError, "info of content whose ingest was aborted"):
            await cs.info(Digest.from_bytes(b"hello"))


async def check_filters(factory: StoreFactory) -> None:
    """``walk`` filters on digest, size and labels; ``list_statuses`` on ref; filters OR."""
    __tracebackhide__ = True
    a, da = _content(100)
    b, db = _content(1024)
    c, dc = _content(300)
    async with factory() as cs:
        await write_blob(
            cs,
            "a",
            a,
            Descriptor(digest=da),
            with_labels({"kind": "config", "containerd.io/gc.root": "now"}),
        )
        await write_blob(cs, "b", b, Descriptor(digest=db), with_labels({"kind": "layer"}))
        await write_blob(cs, "c", c, Descriptor(digest=dc))

        async def walked(*filters: str) -> set[Digest]:
            seen: set[Digest] = set()

            async def visit(info: Info) -> None:
                await anyio.lowlevel.checkpoint()
                seen.add(info.digest)

            await cs.walk(visit, *filters)
            return seen

        for filters, expected in (
            ((), {da, db, dc}),
            (("",), {da, db, dc}),
            ((f"digest=={da}",), {da}),
            (("size==1024",), {db}),
            (("size~=^[0-9]{3}$",), {da, dc}),
            (("labels.kind==layer",), {db}),
            (('labels."containerd.io/gc.root"',), {da}),
            (("labels.kind!=layer",), {da, dc}),
            (("labels.kind~=^la",), {db}),
            (("labels.kind==config", "size==300"), {da, dc}),
            (("labels.kind==config,size==100",), {da}),
            (("labels.kind==config,size==300",), set()),
        ):
            _expect_equal(await walked(*filters), expected, f"walk with filters {filters!r}")

        calls: list[Info] = []

        def stop(info: Info) -> None:
            calls.append(info)
            raise LookupError("stop the walk")

        with _Raises(LookupError, "an exception raised by the walk function"):
            await cs.walk(stop)
        _expect_equal(len(calls), 1, "walk calls after the function raised")

        for ref in ("layer-2", "config-1", "layer-1"):
            w = await cs.writer(with_ref(ref))
            async with aclosing(w):
                await w.write(ref.encode())

        async def listed(*filters: str) -> list[str]:
            return [st.ref for st in await cs.list_statuses(*filters)]

        for filters, refs in (
            ((), ["config-1", "layer-1", "layer-2"]),
            (("ref==layer-1",), ["layer-1"]),
            (("ref~=^layer-",), ["layer-1", "layer-2"]),
            (("ref==config-1", "ref==layer-2"), ["config-1", "layer-2"]),
            (("ref==nothing",), []),
        ):
            _expect_equal(await listed(*filters), refs, f"list_statuses with filters {filters!r}")
        for st in await cs.list_statuses():
            _expect_equal(st.offset, len(st.ref), f"offset of ingest {st.ref!r}")

        for bad in ("name==", "labels.", ",x", "ref==a,"):
            with _Raises(InvalidArgumentError, f"walk with malformed filter {bad!r}"):
                await cs.walk(stop, bad)
            with _Raises(InvalidArgumentError, f"list_statuses with malformed filter {bad!r}"):
                await cs.list_statuses("ref==layer-1", bad)
        _expect_equal(len(calls), 1, "walk calls with a malformed filter")


async def check_update_fieldpaths(factory: StoreFactory) -> None:
    """``update`` fieldpaths: ``labels`` replaces, ``labels.<key>`` merges, others are refused."""
    __tracebackhide__ = True
    data, dgst = _content(128)
    async with factory() as cs:
        pre = _utcnow()
        await write_blob(
            cs, "u", data, Descriptor(digest=dgst), with_labels({"a": "1", "b": "2", "c": "3"})
        )
        post = _utcnow()
        created = (await cs.info(dgst)).created_at

        async def update(labels: dict[str, str], *paths: str) -> dict[str, str]:
            before = _utcnow()
            returned = await cs.update(Info(digest=dgst, labels=labels), *paths)
            after = _utcnow()
            info = await _check_info(
                cs, dgst, len(data), returned.labels, (pre, post), (before, after)
            )
            _expect_equal(info.created_at, created, "created_at after update")
            _expect_equal(returned.size, len(data), "size returned by update")
            return returned.labels

        merged = await update({"a": "x", "b": ""}, "labels.a", "labels.b", "labels.z")
        _expect_equal(merged, {"a": "x", "c": "3"}, "labels after merging labels.a/b/z")
        dotted = await update({"x.y": "1"}, "labels.x.y")
        _expect_equal(dotted, {"a": "x", "c": "3", "x.y": "1"}, "labels after labels.x.y")
        _expect_equal(await update({"q": "1", "e": ""}, "labels"), {"q": "1"}, "labels replaced")
        _expect_equal(await update({"r": "2"}), {"r": "2"}, "labels replaced (no fieldpaths)")
        mixed = await update({"s": "3"}, "labels.r", "labels")
        _expect_equal(mixed, {"s": "3"}, "labels replaced when mixed with labels.<key>")

        for paths in (("size",), ("labels.s", "digest"), ("Labels",), ("created_at",)):
            with _Raises(InvalidArgumentError, f"update with fieldpaths {paths!r}"):
                await cs.update(Info(digest=dgst, labels={"zzz": "1"}), *paths)
        info = await cs.info(dgst)
        _expect_equal(info.labels, {"s": "3"}, "labels after refused updates")

        info.labels["mutated"] = "yes"
        _expect_equal((await cs.info(dgst)).labels, {"s": "3"}, "labels after mutating a copy")
        returned = await cs.update(Info(digest=dgst, labels={"t": "4"}))
        returned.labels["mutated"] = "yes"
        _expect_equal((await cs.info(dgst)).labels, {"t": "4"}, "labels after mutating a copy")


async def check_invalid_arguments(factory: StoreFactory) -> None:
    """Malformed refs, digests, filters and sizes raise InvalidArgumentError and change nothing."""
    __tracebackhide__ = True
    data, dgst = _content(64)
    async with factory() as cs:
        await write_blob(cs, "blob", data, Descriptor(digest=dgst), with_labels({"k": "v"}))
        w = await cs.writer(with_ref("keep"))
        async with aclosing(w):
            await w.write(b"0123456789")
        keep_digest = Digest.from_bytes(b"0123456789")
        before = await _snapshot(cs)

        with _Raises(InvalidArgumentError, "writer() with an empty ref"):
            await cs.writer(with_ref(""))
        with _Raises(InvalidArgumentError, "writer() without a ref"):
            await cs.writer()
        with _Raises(InvalidArgumentError, "writer() with a ref containing NUL"):
            await cs.writer(with_ref("a\x00b"))
        for bad in ("sha256:nothex", "md5:d41d8cd98f00b204e9800998ecf8427e", "nocolon"):
            with _Raises(InvalidArgumentError, f"writer() with descriptor digest {bad!r}"):
                await cs.writer(with_ref("bad-desc"), with_descriptor(Descriptor(digest=bad)))
        with _Raises(NotFoundError, "status of a ref whose writer() was refused"):
            await cs.status("bad-desc")

        for bad in ("bad", "sha256:../../../etc/passwd", "sha256:" + "A" * 64, ""):
            with _Raises(InvalidArgumentError, f"info({bad!r})"):
                await cs.info(bad)
            with _Raises(InvalidArgumentError, f"reader_at with digest {bad!r}"):
                await cs.reader_at(Descriptor(digest=bad))
            with _Raises(InvalidArgumentError, f"delete({bad!r})"):
                await cs.delete(bad)
            with _Raises(InvalidArgumentError, f"update of digest {bad!r}"):
                await cs.update(Info(digest=Digest(bad), labels={"k": "x"}))
        with _Raises(InvalidArgumentError, "walk with a malformed filter"):
            await cs.walk(lambda info: None, "labels.")
        with _Raises(InvalidArgumentError, "list_statuses with a malformed filter"):
            await cs.list_statuses(",x")

        ra = await cs.reader_at(Descriptor(digest=dgst))
        async with aclosing(ra):
            for n, offset in ((-1, 0), (1, -1)):
                with _Raises(InvalidArgumentError, f"read_at({n}, {offset})"):
                    await ra.read_at(n, offset)

        w = await cs.writer(with_ref("keep"))
        async with aclosing(w):
            for size in (-1, 11):
                with _Raises(InvalidArgumentError, f"truncate({size}) at offset 10"):
                    await w.truncate(size)
            with _Raises(InvalidArgumentError, "commit(-1)"):
                await w.commit(-1)
        for bad in ("sha256:xyz", "nocolon", "md5:d41d8cd98f00b204e9800998ecf8427e"):
            w = await cs.writer(with_ref("keep"))
            async with aclosing(w):
                _expect_equal(w.digest(), keep_digest, "resumed digest after a refused commit")
                with _Raises(InvalidArgumentError, f"commit with expected {bad!r}"):
                    await w.commit(0, bad)

        _expect_equal(await _snapshot(cs), before, "store contents after invalid arguments")
        w = await cs.writer(with_ref("bad-desc"))
        await w.aclose()


async def check_ref_forms(factory: StoreFactory) -> None:
    """Refs with slashes, ``..``, spaces, unicode or 4 KiB of text are plain names."""
    __tracebackhide__ = True
    refs = ["a/b/c", "../../escape", "..", "with space", "ünïcödé ✓", "x" * 4096, "/abs"]
    async with factory() as cs:
        for i, ref in enumerate(refs):
            w = await cs.writer(with_ref(ref))
            async with aclosing(w):
                await w.write(bytes([i]) * (i + 1))
        statuses = await cs.list_statuses()
        _expect_equal([st.ref for st in statuses], sorted(refs), "refs listed")
        for i, ref in enumerate(refs):
            _expect_equal((await cs.status(ref)).offset, i + 1, f"offset of ref {ref[:40]!r}")
            w = await cs.writer(with_ref(ref))
            async with aclosing(w):
                await w.commit(i + 1, Digest.from_bytes(bytes([i]) * (i + 1)))
        _expect_equal(await cs.list_statuses(), [], "ingests after committing every ref")


async def check_closed_writer(factory: StoreFactory) -> None:
    """After ``aclose`` or ``commit``: write/truncate/commit fail, digest and status answer."""
    __tracebackhide__ = True
    data, dgst = _content(100)
    async with factory() as cs:
        for how in ("aclose", "commit"):
            ref = f"closed-by-{how}"
            w = await cs.writer(with_ref(ref), with_descriptor(Descriptor(size=100, digest=dgst)))
            await w.write(data)
            if how == "aclose":
                await w.aclose()
            else:
                await w.commit(100, dgst)
            with _Raises(FailedPreconditionError, f"write after {how}"):
                await w.write(b"x")
            with _Raises(FailedPreconditionError, f"truncate after {how}"):
                await w.truncate(0)
            with _Raises(FailedPreconditionError, f"commit after {how}"):
                await w.commit(100, dgst)
            await w.aclose()
            _expect_equal(w.digest(), dgst, f"digest() after {how}")
            st = await w.status()
            _expect_equal((st.ref, st.offset, st.total), (ref, 100, 100), f"status after {how}")
            # The ref was released; leaving ``async with`` closes a writer.
            again = await cs.writer(with_ref(ref))
            async with _as_context_manager(again, "Writer") as entered:
                _expect_equal(entered, again, "the writer given by async with")
            with _Raises(FailedPreconditionError, "write after leaving async with"):
                await again.write(b"x")
            if how == "aclose":
                await cs.abort(ref)
        _expect_equal((await cs.info(dgst)).size, 100, "size of the committed blob")


async def check_resume_totals(factory: StoreFactory) -> None:
    """A stored total must match ``desc.size``; an ingest without one adopts it."""
    __tracebackhide__ = True
    data, dgst = _content(200)
    async with factory() as cs:
        w = await cs.writer(with_ref("total"), with_descriptor(Descriptor(size=200)))
        async with aclosing(w):
            await w.write(data[:50])
        with _Raises(FailedPreconditionError, "resume with a different desc.size"):
            await cs.writer(with_ref("total"), with_descriptor(Descriptor(size=300)))
        st = await cs.status("total")
        _expect_equal((st.offset, st.total), (50, 200), "ingest after a refused resume")
        w = await cs.writer(with_ref("total"))
        async with aclosing(w):
            _expect_equal((await w.status()).total, 200, "total resumed without desc.size")

        w = await cs.writer(with_ref("no-total"))
        async with aclosing(w):
            _expect_equal((await w.status()).total, 0, "total without desc.size")
            await w.write(data[:50])
        w = await cs.writer(with_ref("no-total"), with_descriptor(Descriptor(size=200)))
        async with aclosing(w):
            _expect_equal((await w.status()).total, 200, "adopted total")
        _expect_equal((await cs.status("no-total")).total, 200, "stored adopted total")
        w = await cs.writer(with_ref("no-total"), with_descriptor(Descriptor(digest=dgst)))
        async with aclosing(w):
            st = await w.status()
            _expect_equal((st.offset, st.total), (50, 200), "status after adopting")
            await w.write(data[50:])
            await w.commit(200, dgst)


async def check_commit_other_algorithm(factory: StoreFactory) -> None:
    """An ``expected`` digest of another algorithm is checked by re-hashing."""
    __tracebackhide__ = True
    data, d256 = _content(500)
    d512 = Digest.from_bytes(data, SHA512)
    async with factory() as cs:
        w = await cs.writer(with_ref("rehash"))
        async with aclosing(w):
            await w.write(data)
            _expect_equal(w.digest().algorithm, SHA256, "default algorithm")
            with _Raises(FailedPreconditionError, "commit with a wrong sha512 digest"):
                await w.commit(0, Digest.from_bytes(b"other", SHA512))
        _expect_equal((await cs.status("rehash")).offset, 500, "ingest after a failed commit")
        w = await cs.writer(with_ref("rehash"))
        async with aclosing(w):
            await w.commit(500, d512)
        _expect_equal((await cs.info(d512)).size, 500, "size of the blob named by sha512")
        _expect_equal(await _read_all(cs, d512), data, "content of the sha512 blob")
        with _Raises(NotFoundError, "info of the sha256 digest of a blob committed as sha512"):
            await cs.info(d256)


async def check_single_flight(factory: StoreFactory) -> None:
    """Concurrent ``write_blob`` calls for one digest read one source; a failure hands over.

    Runs only for stores offering :class:`~aiocontent.SupportsSingleFlight`.
    """
    __tracebackhide__ = True
    async with factory() as cs:
        if not isinstance(cs, SupportsSingleFlight):
            return
        await _single_flight_round(cs, fail_first=False)
        await _single_flight_round(cs, fail_first=True)


class _SourceFailed(Exception):
    """Raised by the first source read in :func:`check_single_flight`."""


class _CountingSource:
    """An async-``read`` source that counts its reads and can fail the first read of a round."""

    def __init__(self, data: bytes, gate: anyio.Event, round_: _Round) -> None:
        self._data = data
        self._pos = 0
        self._gate = gate
        self._round = round_
        self.reads = 0

    async def read(self, n: int = -1) -> bytes:
        self.reads += 1
        await self._gate.wait()
        if self._round.failure is not None and not self._round.failed:
            self._round.failed = True
            raise self._round.failure
        end = len(self._data) if n < 0 else self._pos + n
        chunk = self._data[self._pos : end]
        self._pos += len(chunk)
        return chunk


class _Round:
    def __init__(self, failure: _SourceFailed | None) -> None:
        self.failure = failure
        self.failed = False


async def _single_flight_round(cs: Store, *, fail_first: bool) -> None:
    __tracebackhide__ = True
    what = "single-flight with a failing leader" if fail_first else "single-flight"
    tasks = 5
    data, dgst = _content(10_000)
    gate = anyio.Event()
    round_ = _Round(_SourceFailed("leader source failed") if fail_first else None)
    sources = [_CountingSource(data, gate, round_) for _ in range(tasks)]
    outcomes: list[BaseException | None] = [None] * tasks
    prefix = "sf-fail" if fail_first else "sf"

    async def run(i: int) -> None:
        try:
            await write_blob(
                cs, f"{prefix}-{i}", sources[i], Descriptor(digest=dgst, size=len(data))
            )
        except Exception as exc:
            outcomes[i] = exc

    with anyio.move_on_after(30) as guard:
        async with anyio.create_task_group() as tg:
            for i in range(tasks):
                tg.start_soon(run, i)
            await anyio.wait_all_tasks_blocked()
            gate.set()
    if guard.cancelled_caught:
        _fail(f"{what}: write_blob calls did not finish")
    read = sum(1 for source in sources if source.reads)
    failures = [exc for exc in outcomes if exc is not None]
    if fail_first:
        if len(failures) != 1 or failures[0] is not round_.failure:
            _fail(f"{what}: expected only the leader's own exception, got {failures!r}")
        _expect_equal(read, 2, f"{what}: sources read (the leader's and one follower's)")
    else:
        if failures:
            _fail(f"{what}: write_blob failed: {failures!r}")
        _expect_equal(read, 1, f"{what}: sources read")
    _expect_equal(await _read_all(cs, dgst), data, f"{what}: committed content")


async def check_cross_object_lock(factory: StoreFactory) -> None:
    """A sibling store object on the same storage respects the ref lock and waits for it.

    Runs only for stores offering :class:`~aiocontent.SupportsSiblings`.
    """
    __tracebackhide__ = True
    ref = "shared-ref"
    data, dgst = _content(100)
    async with factory() as cs:
        if not isinstance(cs, SupportsSiblings):
            return
        async with cs.sibling() as other:
            holder = await cs.writer(with_ref(ref))
            async with aclosing(holder):
                await holder.write(data[:10])
                await _check_ref_not_available(other, ref)
            # Released: the sibling gets the ref, and the lock now excludes the first store.
            opened: list[Writer] = []

            async def wait_for_ref() -> None:
                opened.append(await open_writer(other, with_ref(ref)))

            holder = await cs.writer(with_ref(ref))
            early = False
            with anyio.move_on_after(10) as guard:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(wait_for_ref)
                    await anyio.sleep(0.05)
                    early = bool(opened)
                    await holder.aclose()
            if early:
                _fail("open_writer on the sibling returned while the ref was held")
            if guard.cancelled_caught or not opened:
                _fail("open_writer on the sibling did not proceed after the release")
            w = opened[0]
            async with aclosing(w):
                _expect_equal((await w.status()).offset, 10, "sibling's resumed offset")
                await _check_ref_not_available(cs, ref)
                await w.write(data[10:])
                await w.commit(len(data), dgst)
        _expect_equal(await _read_all(cs, dgst), data, "content committed by the sibling")


async def check_put(factory: StoreFactory) -> None:
    """``put`` verifies before storing, keeps an existing blob, and ends the ref's ingest.

    Runs only for stores offering :class:`~aiocontent.SupportsPut`.
    """
    __tracebackhide__ = True
    data = b"put me" * 100
    dgst = Digest.from_bytes(data)
    desc = Descriptor(digest=dgst, size=len(data))
    async with factory() as cs:
        if not isinstance(cs, SupportsPut):
            return
        with _Raises(FailedPreconditionError, "put of bytes that do not match the digest"):
            await cs.put("put-ref", data[:-1] + b"!", desc)
        with _Raises(FailedPreconditionError, "put of bytes shorter than desc.size"):
            await cs.put("put-ref", data[:-1], Descriptor(digest=dgst, size=len(data)))
        with _Raises(NotFoundError, "info after rejected puts"):
            await cs.info(dgst)

        w = await cs.writer(with_ref("put-ref"))
        with _Raises(UnavailableError, "put while a writer holds the ref"):
            await cs.put("put-ref", data, desc)
        await w.write(data[:10])
        await w.aclose()

        await cs.put("put-ref", data, desc, with_labels({"k": "v"}))
        _expect_equal(await _read_all(cs, dgst), data, "content stored by put")
        _expect_equal((await cs.info(dgst)).labels, {"k": "v"}, "labels stored by put")
        with _Raises(NotFoundError, "status of the ref's ingest after put"):
            await cs.status("put-ref")

        await cs.put("other-ref", data, desc, with_labels({"k": "changed"}))
        _expect_equal((await cs.info(dgst)).labels, {"k": "v"}, "labels after a second put")


# --------------------------------------------------------------------------- all of them

_CHECKS: Final[tuple[Callable[[StoreFactory], Awaitable[None]], ...]] = (
    check_writer,
    check_update_status,
    check_commit_exists,
    check_resume,
    check_resume_truncate,
    check_resume_discard,
    check_resume_copy,
    check_resume_copy_seeker,
    check_resume_copy_reader_at,
    check_small_blob,
    check_labels,
    check_commit_error_state,
    check_ref_not_available,
    check_truncate_middle,
    check_open_writer_wakes_on_release,
    check_not_found,
    check_delete,
    check_abort_active_writer,
    check_filters,
    check_update_fieldpaths,
    check_invalid_arguments,
    check_ref_forms,
    check_closed_writer,
    check_resume_totals,
    check_commit_other_algorithm,
    check_single_flight,
    check_cross_object_lock,
    check_put,
)


async def check_store(factory: StoreFactory) -> None:
    """Run every check on fresh stores from ``factory``.

    :param factory: called once per check; must give a new, empty store as an
        async context manager.
    :raises AssertionError: the first failing check, named in the message.
    """
    __tracebackhide__ = True
    for check in _CHECKS:
        try:
            await check(factory)
        except AssertionError as exc:
            raise AssertionError(f"{check.__name__}: {exc}") from exc
