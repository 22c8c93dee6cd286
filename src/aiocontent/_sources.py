"""Sources: every kind of input the copy helpers accept, read as chunks from an offset.

A *source* is any of, recognised in this order: a bytes-like object; an object
with an async ``read(n)``; a binary file with a sync ``read(n)``; an anyio
:class:`~anyio.abc.ByteReceiveStream`; an async iterable of bytes; a
:class:`~aiocontent.ReaderAt`. To resume at a writer's offset a sequential
source is seeked (sync or async ``seek``), else read from the offset with its
``read_at``, else read and discarded up to it.

:func:`source_chunks` is the one entry point; the helpers in :mod:`._helpers`
write what it yields.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import os
from collections.abc import AsyncGenerator, AsyncIterable, Awaitable, Callable
from typing import Any, Final, Protocol, TypeAlias, cast, runtime_checkable

import anyio
import anyio.to_thread
from anyio.abc import ByteReceiveStream

from ._errors import InvalidArgumentError, ShortReadError
from ._interfaces import ReaderAt

__all__ = ("COPY_CHUNK", "AsyncReadable", "Source", "SyncReadable", "source_chunks")

#: Bytes moved per read or write while copying.
COPY_CHUNK: Final = 1 << 20

_ReadAt: TypeAlias = Callable[[int, int], Any]


@runtime_checkable
class AsyncReadable(Protocol):
    """An object with ``async read(n) -> bytes`` (aiofiles, anyio AsyncFile, StreamReader)."""

    def read(self, n: int = -1, /) -> Awaitable[bytes]: ...


@runtime_checkable
class SyncReadable(Protocol):
    """A binary file object with a blocking ``read(n) -> bytes``."""

    def read(self, n: int = -1, /) -> bytes: ...


Source: TypeAlias = (
    bytes
    | bytearray
    | memoryview
    | AsyncReadable
    | SyncReadable
    | ByteReceiveStream
    | AsyncIterable[bytes]
    | ReaderAt
)


async def _maybe_await(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value


def _is_real_file(f: object) -> bool:
    """Whether a sync reader is backed by a descriptor (so reads may block)."""
    fileno = getattr(f, "fileno", None)
    if fileno is None:
        return False
    try:
        fileno()
    except (OSError, ValueError, io.UnsupportedOperation):
        return False
    return True


def _kind(r: object) -> str:
    if isinstance(r, bytes | bytearray | memoryview):
        return "bytes"
    read = getattr(r, "read", None)
    if read is not None and callable(read):
        return "async-read" if inspect.iscoroutinefunction(read) else "read"
    if isinstance(r, ByteReceiveStream):
        return "stream"
    if isinstance(r, AsyncIterable):
        return "aiter"
    if callable(getattr(r, "read_at", None)) and hasattr(r, "size"):
        return "reader-at"
    raise TypeError(
        f"unsupported source type {type(r).__name__}: expected bytes, an object with read(), "
        "a ByteReceiveStream, an async iterable of bytes or a ReaderAt"
    )


def _short(offset: int, why: str) -> ShortReadError:
    return ShortReadError(f"cannot resume at offset {offset}: {why}: {ShortReadError.kind_text}")


async def source_chunks(r: object, offset: int = 0) -> AsyncGenerator[bytes | memoryview, None]:
    """Yield the source's bytes from ``offset`` to its end, in large chunks.

    :raises TypeError: ``r`` is no kind of source, or an iterable yields non-bytes.
    :raises ShortReadError: the source ends before ``offset``.
    """
    kind = _kind(r)
    if kind == "bytes":
        view = memoryview(cast("bytes", r)).cast("B")
        if len(view) < offset:
            raise _short(offset, f"source has only {len(view)} bytes")
        for start in range(offset, len(view), COPY_CHUNK):
            yield view[start : start + COPY_CHUNK]
        return

    if kind == "reader-at":
        ra = cast("ReaderAt", r)
        async with contextlib.aclosing(_read_at_chunks(ra.read_at, offset, ra.size)) as blocks:
            async for block in blocks:
                yield block
        return

    seeked = bool(offset) and await _try_seek(r, offset)
    read_at = getattr(r, "read_at", None)
    if offset and not seeked and callable(read_at):
        async with contextlib.aclosing(_read_at_chunks(read_at, offset, None)) as blocks:
            async for block in blocks:
                yield block
        return

    skip = 0 if seeked else offset
    empty = True
    async with contextlib.aclosing(_raw_chunks(r, kind)) as raws:
        async for raw in raws:
            if skip:
                if len(raw) <= skip:
                    skip -= len(raw)
                    continue
                yield memoryview(raw)[skip:]
                skip = 0
            else:
                yield raw
            empty = False
    if skip:
        raise _short(offset, f"source ended {skip} bytes before it")
    if seeked and empty:
        # Seeking past the end succeeds on files; nothing to read may mean the source
        # is shorter than the offset rather than exactly as long.
        end = await _seek_end(r)
        if end is not None and end < offset:
            raise _short(offset, f"source has only {end} bytes")


async def _read_at_chunks(
    read_at: _ReadAt, offset: int, size: int | None
) -> AsyncGenerator[bytes, None]:
    """``read_at`` blocks from ``offset`` to the end (``size``, when known, bounds the start).

    With no known size, a source with nothing at ``offset`` is asked for the byte
    before it, to tell "exactly as long" from "shorter".
    """
    if size is not None and size < offset:
        raise _short(offset, f"source has only {size} bytes")
    pos = offset
    while block := await _maybe_await(read_at(COPY_CHUNK, pos)):
        pos += len(block)
        yield block
    if size is None and pos == offset > 0 and not await _maybe_await(read_at(1, offset - 1)):
        raise _short(offset, "source has no byte before it")


async def _read_some(r: Any, kind: str, n: int) -> bytes:
    """One read of up to ``n`` bytes from a reader-like source (b"" at its end)."""
    if kind == "async-read":
        data = await r.read(n)
    elif _is_real_file(r):
        data = await anyio.to_thread.run_sync(r.read, n)
    else:
        data = await _maybe_await(r.read(n))
    if data is None:  # a non-blocking raw file with nothing available
        return b""
    return bytes(data) if not isinstance(data, bytes) else data


async def _raw_chunks(r: Any, kind: str) -> AsyncGenerator[bytes, None]:
    if kind in ("async-read", "read"):
        while chunk := await _read_some(r, kind, COPY_CHUNK):
            yield chunk
    elif kind == "stream":
        stream = cast("ByteReceiveStream", r)
        while True:
            try:
                chunk = await stream.receive(COPY_CHUNK)
            except anyio.EndOfStream:
                return
            yield chunk
    else:
        iterable = cast("AsyncIterable[bytes]", r)
        iterator = aiter(iterable)
        try:
            async for chunk in iterator:
                if not isinstance(chunk, bytes | bytearray | memoryview):
                    raise TypeError(f"source yielded {type(chunk).__name__}, expected bytes")
                if chunk:
                    yield bytes(chunk) if not isinstance(chunk, bytes) else chunk
        finally:
            # An iterator made here from an iterable (an ``__aiter__`` generator) is ours
            # to close; one the caller passed in (``aiter(r) is r``) stays theirs.
            aclose = getattr(iterator, "aclose", None)
            if iterator is not iterable and aclose is not None:
                with anyio.CancelScope(shield=True):
                    await aclose()


async def _try_seek(r: Any, offset: int) -> bool:
    """Seek a sequential source to ``offset``; ``False`` when it cannot seek."""
    seek = getattr(r, "seek", None)
    if seek is None or not callable(seek):
        return False
    seekable = getattr(r, "seekable", None)
    if seekable is not None and not inspect.iscoroutinefunction(seekable):
        try:
            if not seekable():
                return False
        except (OSError, ValueError):
            return False
    try:
        pos = await _maybe_await(seek(offset, os.SEEK_SET))
    except (OSError, io.UnsupportedOperation):
        return False
    if isinstance(pos, int) and pos != offset:
        raise _short(offset, f"seek reached {pos}")
    return True


async def _seek_end(r: Any) -> int | None:
    """Seek a source to its end and return that position; ``None`` when it cannot tell."""
    try:
        pos = await _maybe_await(r.seek(0, os.SEEK_END))
    except (OSError, ValueError, io.UnsupportedOperation, InvalidArgumentError):
        return None
    return pos if isinstance(pos, int) else None
