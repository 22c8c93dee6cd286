"""What the checks share: assertions that name the expectation, content, clocks, sources.

None of it needs pytest: a failure is an :class:`AssertionError` whose message
says what was checked, what came and what was expected.
"""

from __future__ import annotations

import io
import itertools
import random
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Final, Generic, NoReturn, TypeAlias, TypeVar, cast

import anyio
from anyio.abc import AsyncResource

from .._digest import Digest
from .._errors import UnavailableError
from .._helpers import read_blob
from .._interfaces import Store, Writer
from .._types import Descriptor, Info, Status, with_ref

#: Makes a fresh, empty store each time it is called; leaving the context closes it.
StoreFactory: TypeAlias = Callable[[], AbstractAsyncContextManager[Store]]

#: How far a store's timestamps may stray outside the window a check observed,
#: for stores whose clock is coarser than Python's (file systems, remote servers).
CLOCK_SLACK: Final = timedelta(milliseconds=50)

#: How long ``open_writer`` may take to notice that the holder released the ref.
WAKE_BOUND: Final = 1.0

_E = TypeVar("_E", bound=BaseException)
_seeds = itertools.count(1)


def fail(message: str) -> NoReturn:
    __tracebackhide__ = True
    raise AssertionError(message)


def expect_equal(actual: object, expected: object, what: str) -> None:
    __tracebackhide__ = True
    if actual != expected:
        fail(f"{what}: got {actual!r}, expected {expected!r}")


class Raises(Generic[_E]):
    """``with Raises(NotFoundError, "info of a missing blob"):`` around awaits.

    Other exceptions become an AssertionError; cancellation and other
    ``BaseException``s pass through untouched.
    """

    def __init__(self, kind: type[_E], what: str, contains: str | None = None) -> None:
        self.kind = kind
        self.what = what
        self.contains = contains
        self.value: _E | None = None

    def __enter__(self) -> Raises[_E]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        __tracebackhide__ = True
        if exc is None:
            fail(f"{self.what}: expected {self.kind.__name__}, nothing was raised")
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


def content(size: int) -> tuple[bytes, Digest]:
    """Reproducible pseudo-random bytes (a new sequence on each call) and their digest."""
    data = random.Random(next(_seeds)).randbytes(size)
    return data, Digest.from_bytes(data)


def utcnow() -> datetime:
    return datetime.now(UTC)


def check_time(value: object, low: datetime, high: datetime, what: str) -> None:
    __tracebackhide__ = True
    if not isinstance(value, datetime):
        fail(f"{what}: {value!r} is not a datetime")
    offset = value.utcoffset()
    if offset is None or offset != timedelta(0):
        fail(f"{what}: {value!r} is not timezone-aware UTC")
    if not low - CLOCK_SLACK <= value <= high + CLOCK_SLACK:
        fail(f"{what}: {value.isoformat()} is not between {low.isoformat()} and {high.isoformat()}")


async def check_status(
    w: Writer,
    expected: Status,
    dgst: Digest,
    started: tuple[datetime, datetime],
    updated: tuple[datetime, datetime],
) -> None:
    """Compare a writer's status and digest (containerd's checkStatus, plus ``expected``)."""
    __tracebackhide__ = True
    st = await w.status()
    expect_equal(w.digest(), dgst, f"digest() of writer {expected.ref!r}")
    expect_equal(st.ref, expected.ref, "Status.ref")
    expect_equal(st.offset, expected.offset, f"Status.offset of {expected.ref!r}")
    expect_equal(st.total, expected.total, f"Status.total of {expected.ref!r}")
    expect_equal(st.expected, expected.expected, f"Status.expected of {expected.ref!r}")
    check_time(st.started_at, *started, f"Status.started_at of {expected.ref!r}")
    check_time(st.updated_at, *updated, f"Status.updated_at of {expected.ref!r}")


async def check_info(
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
    expect_equal(info.digest, dgst, "Info.digest")
    expect_equal(info.size, size, f"Info.size of {dgst}")
    check_time(info.created_at, *created, f"Info.created_at of {dgst}")
    check_time(info.updated_at, *updated, f"Info.updated_at of {dgst}")
    expect_equal(info.labels, dict(labels), f"Info.labels of {dgst}")
    return info


async def write_chunks(w: Writer, data: bytes, chunk: int) -> None:
    __tracebackhide__ = True
    for start in range(0, len(data), chunk):
        piece = data[start : start + chunk]
        n = await w.write(piece)
        if n != len(piece):
            fail(f"short write: write() returned {n} for {len(piece)} bytes")


async def expect_ref_unavailable(cs: Store, ref: str) -> None:
    """A second writer for a held ref fails with UnavailableError naming the ref."""
    __tracebackhide__ = True
    try:
        w = await cs.writer(with_ref(ref))
    except UnavailableError as exc:
        if f"ref {ref} locked for" not in str(exc):
            fail(f"UnavailableError message {str(exc)!r} lacks 'ref {ref} locked for'")
        return
    except Exception as exc:
        raise AssertionError(
            f"writer() for locked ref {ref!r}: expected UnavailableError, "
            f"got {type(exc).__name__}: {exc}"
        ) from exc
    await w.aclose()
    fail(f"writer() for ref {ref!r} succeeded while another writer holds it")


def as_context_manager(obj: object, what: str) -> AbstractAsyncContextManager[Any]:
    """``obj`` itself, after checking that it is an async context manager."""
    __tracebackhide__ = True
    if not callable(getattr(obj, "__aenter__", None)) or not callable(
        getattr(obj, "__aexit__", None)
    ):
        fail(f"{what} {type(obj).__name__} is not an async context manager")
    return cast("AbstractAsyncContextManager[Any]", obj)


async def read_all(cs: Store, dgst: Digest) -> bytes:
    return await read_blob(cs, Descriptor(digest=dgst))


async def snapshot(
    cs: Store,
) -> tuple[list[tuple[str, int, dict[str, str]]], list[tuple[str, int, int]]]:
    """What a store holds: blobs (digest, size, labels) and ingests (ref, offset, total)."""
    infos: list[tuple[str, int, dict[str, str]]] = []

    def collect(info: Info) -> None:
        infos.append((str(info.digest), info.size, dict(info.labels)))

    await cs.walk(collect)
    ingests = [(st.ref, st.offset, st.total) for st in await cs.list_statuses()]
    return sorted(infos, key=lambda item: item[0]), ingests


class ReadOnly:
    """A source with only a sync ``read``: resuming must read and discard."""

    def __init__(self, data: bytes) -> None:
        self._file = io.BytesIO(data)

    def read(self, n: int = -1, /) -> bytes:
        return self._file.read(n)


class BytesReaderAt(AsyncResource):
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
