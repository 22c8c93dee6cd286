"""Helpers (API.md "Helpers" and "Single-flight") over MemoryStore and over plain stores."""

from __future__ import annotations

import asyncio
import io
import math
import os
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, aclosing
from pathlib import Path
from typing import BinaryIO

import aiofiles
import anyio
import pytest
from anyio.abc import AsyncResource, ByteReceiveStream
from anyio.streams.buffered import BufferedByteReceiveStream
from anyio.streams.file import FileReadStream

from aiocontent import (
    AlreadyExistsError,
    Descriptor,
    Digest,
    FailedPreconditionError,
    Info,
    InvalidArgumentError,
    NotFoundError,
    ReaderAt,
    ShortReadError,
    Source,
    Status,
    Store,
    SupportsLockWait,
    SupportsSingleFlight,
    WalkFunc,
    Writer,
    WriterOpt,
    copy,
    copy_reader,
    copy_reader_at,
    exists,
    new_reader,
    open_writer,
    read_blob,
    with_descriptor,
    with_ref,
    write_blob,
)
from aiocontent._memory import MemoryStore

DATA = bytes(range(256)) * 600  # 153,600 bytes
CHUNK = 10_000
OFFSET = 50_001
ASYNCIO_ONLY = {"aiofiles", "stream_reader"}
SOURCE_KINDS = tuple(
    pytest.param(kind, marks=pytest.mark.asyncio_only) if kind in ASYNCIO_ONLY else kind
    for kind in (
        "bytes",
        "bytearray",
        "memoryview",
        "aiofiles",
        "anyio_file",
        "stream_reader",
        "blob_reader",
        "bytesio",
        "file",
        "byte_stream",
        "async_gen",
        "reader_at",
    )
)


class Boom(Exception):
    """A source's own failure, which must propagate unchanged."""


def desc_of(data: bytes) -> Descriptor:
    return Descriptor(digest=Digest.from_bytes(data), size=len(data))


def _chunked(data: bytes, size: int = CHUNK) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


class ThinStore:
    """Only the Store methods of a store: no single-flight, no lock wait."""

    def __init__(self, inner: MemoryStore) -> None:
        self._inner = inner
        self.writer_calls = 0

    async def info(self, dgst: str) -> Info:
        return await self._inner.info(dgst)

    async def update(self, info: Info, *fieldpaths: str) -> Info:
        return await self._inner.update(info, *fieldpaths)

    async def walk(self, fn: WalkFunc, *filters: str) -> None:
        await self._inner.walk(fn, *filters)

    async def delete(self, dgst: str) -> None:
        await self._inner.delete(dgst)

    async def reader_at(self, desc: Descriptor) -> ReaderAt:
        return await self._inner.reader_at(desc)

    async def status(self, ref: str) -> Status:
        return await self._inner.status(ref)

    async def list_statuses(self, *filters: str) -> list[Status]:
        return await self._inner.list_statuses(*filters)

    async def abort(self, ref: str) -> None:
        await self._inner.abort(ref)

    async def writer(self, *opts: WriterOpt) -> Writer:
        self.writer_calls += 1
        return await self._inner.writer(*opts)


class ReaderOnlyProvider:
    """A Provider without ``info``."""

    def __init__(self, inner: MemoryStore) -> None:
        self._inner = inner
        self.opened = 0

    async def reader_at(self, desc: Descriptor) -> ReaderAt:
        self.opened += 1
        return await self._inner.reader_at(desc)


class FailingProvider:
    """A Provider that must not be used."""

    async def reader_at(self, desc: Descriptor) -> ReaderAt:
        raise AssertionError("the provider was used")


class CountingReaderAt(AsyncResource):
    """A ReaderAt over bytes that records the offsets it is read at."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self.offsets: list[int] = []

    @property
    def size(self) -> int:
        return len(self._data)

    async def read_at(self, n: int, offset: int) -> bytes:
        self.offsets.append(offset)
        await anyio.lowlevel.checkpoint()
        return self._data[offset : offset + n]

    async def aclose(self) -> None:
        await anyio.lowlevel.checkpoint()


class SyncSeekable:
    """A sync binary reader that records seeks and the bytes it hands out."""

    def __init__(self, data: bytes) -> None:
        self._f = io.BytesIO(data)
        self.seeks: list[int] = []
        self.bytes_read = 0

    def read(self, n: int = -1, /) -> bytes:
        chunk = self._f.read(n)
        self.bytes_read += len(chunk)
        return chunk

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = os.SEEK_SET, /) -> int:
        self.seeks.append(offset)
        return self._f.seek(offset, whence)


class AsyncSeekable:
    """An async reader with an async seek, recording both."""

    def __init__(self, data: bytes) -> None:
        self._f = io.BytesIO(data)
        self.seeks: list[int] = []
        self.bytes_read = 0

    async def read(self, n: int = -1, /) -> bytes:
        await anyio.lowlevel.checkpoint()
        chunk = self._f.read(n)
        self.bytes_read += len(chunk)
        return chunk

    async def seek(self, offset: int, whence: int = os.SEEK_SET, /) -> int:
        await anyio.lowlevel.checkpoint()
        self.seeks.append(offset)
        return self._f.seek(offset, whence)


class UnseekableReader:
    """A sync reader whose ``seekable()`` is False (like a pipe); counts what it hands out."""

    def __init__(self, data: bytes) -> None:
        self._f = io.BytesIO(data)
        self.bytes_read = 0
        self.seeks = 0

    def read(self, n: int = -1, /) -> bytes:
        chunk = self._f.read(n)
        self.bytes_read += len(chunk)
        return chunk

    def seekable(self) -> bool:
        return False

    def seek(self, offset: int, whence: int = os.SEEK_SET, /) -> int:
        self.seeks += 1
        raise io.UnsupportedOperation("seek")


class AsyncReadAtReader:
    """An async ``read`` and a ``read_at``, no ``seek``; counts what each hands out."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0
        self.bytes_read = 0
        self.read_at_offsets: list[int] = []
        self.bytes_read_at = 0

    async def read(self, n: int = -1, /) -> bytes:
        await anyio.lowlevel.checkpoint()
        end = len(self._data) if n < 0 else self._pos + n
        chunk = self._data[self._pos : end]
        self._pos += len(chunk)
        self.bytes_read += len(chunk)
        return chunk

    async def read_at(self, n: int, offset: int) -> bytes:
        await anyio.lowlevel.checkpoint()
        self.read_at_offsets.append(offset)
        chunk = self._data[offset : offset + n]
        self.bytes_read_at += len(chunk)
        return chunk


class SeekableReadAtReader(AsyncReadAtReader):
    """Like :class:`AsyncReadAtReader`, with an async ``seek`` that records its offsets."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.seeks: list[int] = []

    async def seek(self, offset: int, whence: int = os.SEEK_SET, /) -> int:
        await anyio.lowlevel.checkpoint()
        assert whence == os.SEEK_SET
        self.seeks.append(offset)
        self._pos = offset
        return offset


class CountingIterable:
    """An async iterable of chunks that counts bytes produced and may fail midway."""

    def __init__(self, data: bytes, *, fail_after: int | None = None, delay: float = 0.0) -> None:
        self._chunks = _chunked(data)
        self._fail_after = fail_after
        self._delay = delay
        self.bytes_read = 0
        self.started = anyio.Event()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        self.started.set()
        for i, chunk in enumerate(self._chunks):
            if self._fail_after is not None and i == self._fail_after:
                raise Boom("source failed")
            await anyio.sleep(self._delay)
            self.bytes_read += len(chunk)
            yield chunk


def _open_sync(path: Path) -> BinaryIO:
    return path.open("rb")  # closed by the caller's exit stack


async def _async_gen(data: bytes) -> AsyncGenerator[bytes, None]:
    for chunk in _chunked(data):
        await anyio.lowlevel.checkpoint()
        yield chunk


async def open_source(
    kind: str, data: bytes, tmp_path: Path, stack: AsyncExitStack, backend: str
) -> Source:
    """A source of ``kind`` holding ``data``; cleanup goes on ``stack``."""
    assert kind not in ASYNCIO_ONLY or backend == "asyncio", "deselected by conftest"
    path = tmp_path / "source.bin"
    if kind in ("aiofiles", "anyio_file", "file"):
        path.write_bytes(data)
    if kind == "bytes":
        return data
    if kind == "bytearray":
        return bytearray(data)
    if kind == "memoryview":
        return memoryview(data)
    if kind == "aiofiles":
        return await stack.enter_async_context(aiofiles.open(path, "rb"))
    if kind == "anyio_file":
        return await stack.enter_async_context(await anyio.open_file(path, "rb"))
    if kind == "stream_reader":
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        reader.feed_eof()
        return reader
    if kind in ("blob_reader", "reader_at"):
        source_store = MemoryStore()
        await write_blob(source_store, "source", data, desc_of(data))
        ra = await source_store.reader_at(desc_of(data))
        stack.push_async_callback(ra.aclose)
        return new_reader(ra) if kind == "blob_reader" else ra
    if kind == "bytesio":
        return io.BytesIO(data)
    if kind == "file":
        return stack.enter_context(_open_sync(path))
    if kind == "byte_stream":
        send, receive = anyio.create_memory_object_stream[bytes](math.inf)
        for chunk in _chunked(data):
            send.send_nowait(chunk)
        send.close()
        stream = BufferedByteReceiveStream(receive)
        stack.push_async_callback(stream.aclose)
        return stream
    if kind == "async_gen":
        gen = _async_gen(data)
        stack.push_async_callback(gen.aclose)
        return gen
    raise AssertionError(kind)


async def blob(cs: MemoryStore, data: bytes) -> bytes:
    return await read_blob(cs, Descriptor(digest=Digest.from_bytes(data)))


async def start_ingest(cs: MemoryStore, ref: str, data: bytes) -> None:
    """Leave an ingest holding ``data`` under ``ref`` (closed, resumable)."""
    async with aclosing(await cs.writer(with_ref(ref))) as cw:
        await cw.write(data)


# --- source kinds ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", SOURCE_KINDS)
async def test_copy_from_each_source_kind(kind: str, tmp_path: Path, anyio_backend: str) -> None:
    cs = MemoryStore()
    async with AsyncExitStack() as stack:
        src = await open_source(kind, DATA, tmp_path, stack, anyio_backend)
        cw = await cs.writer(with_ref("r"), with_descriptor(desc_of(DATA)))
        await copy(cw, src, len(DATA), Digest.from_bytes(DATA))
    assert await blob(cs, DATA) == DATA


@pytest.mark.parametrize("kind", SOURCE_KINDS)
async def test_copy_resumes_each_source_kind(kind: str, tmp_path: Path, anyio_backend: str) -> None:
    cs = MemoryStore()
    await start_ingest(cs, "r", DATA[:OFFSET])
    async with AsyncExitStack() as stack:
        src = await open_source(kind, DATA, tmp_path, stack, anyio_backend)
        cw = await cs.writer(with_ref("r"))
        assert (await cw.status()).offset == OFFSET
        await copy(cw, src, len(DATA), Digest.from_bytes(DATA))
    assert await blob(cs, DATA) == DATA


@pytest.mark.parametrize("kind", SOURCE_KINDS)
async def test_write_blob_from_each_source_kind(
    kind: str, tmp_path: Path, anyio_backend: str
) -> None:
    cs = MemoryStore()
    async with AsyncExitStack() as stack:
        src = await open_source(kind, DATA, tmp_path, stack, anyio_backend)
        await write_blob(cs, "r", src, desc_of(DATA))
    assert await blob(cs, DATA) == DATA


@pytest.mark.parametrize(
    "kind", ["bytes", "bytesio", "async_gen", "reader_at", "byte_stream", "blob_reader"]
)
async def test_source_shorter_than_offset_raises_short_read(
    kind: str, tmp_path: Path, anyio_backend: str
) -> None:
    cs = MemoryStore()
    await start_ingest(cs, "r", DATA[:OFFSET])
    async with AsyncExitStack() as stack:
        src = await open_source(kind, DATA[: OFFSET - 1], tmp_path, stack, anyio_backend)
        async with aclosing(await cs.writer(with_ref("r"))) as cw:
            with pytest.raises(ShortReadError):
                await copy_reader(cw, src)
    assert (await cs.status("r")).offset == OFFSET


async def test_source_exactly_as_long_as_offset_copies_nothing() -> None:
    cs = MemoryStore()
    await start_ingest(cs, "r", DATA[:OFFSET])
    async with aclosing(await cs.writer(with_ref("r"))) as cw:
        assert await copy_reader(cw, SyncSeekable(DATA[:OFFSET])) == 0


async def test_unsupported_source_type_raises_type_error() -> None:
    cs = MemoryStore()
    async with aclosing(await cs.writer(with_ref("r"))) as cw:
        with pytest.raises(TypeError):
            await copy_reader(cw, "text is not a source")  # type: ignore[arg-type]


async def test_async_iterable_of_str_raises_type_error() -> None:
    async def text() -> AsyncGenerator[str, None]:
        yield "abc"

    cs = MemoryStore()
    source = text()
    async with aclosing(await cs.writer(with_ref("r"))) as cw:
        with pytest.raises(TypeError):
            await copy_reader(cw, source)  # type: ignore[arg-type]
    await source.aclose()


class ClosingIterable:
    """An async iterable whose iterators record that they were closed."""

    def __init__(self) -> None:
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            while True:
                await anyio.lowlevel.checkpoint()
                yield b"chunk"
        finally:
            self.closed = True


async def test_iterator_made_from_an_iterable_is_closed_when_the_copy_fails() -> None:
    cs = MemoryStore()
    src = ClosingIterable()
    async with aclosing(await cs.writer(with_ref("r"))) as cw:
        await cs.abort("r")
        with pytest.raises(NotFoundError):
            await copy_reader(cw, src)
        assert src.closed


# --- resume order ------------------------------------------------------------------------


async def test_resume_seeks_a_sync_seekable_source() -> None:
    cs = MemoryStore()
    await start_ingest(cs, "r", DATA[:OFFSET])
    src = SyncSeekable(DATA)
    async with aclosing(await cs.writer(with_ref("r"))) as cw:
        await copy_reader(cw, src)
    assert src.seeks == [OFFSET]
    assert src.bytes_read == len(DATA) - OFFSET


async def test_resume_seeks_an_async_seekable_source() -> None:
    cs = MemoryStore()
    await start_ingest(cs, "r", DATA[:OFFSET])
    src = AsyncSeekable(DATA)
    async with aclosing(await cs.writer(with_ref("r"))) as cw:
        await copy_reader(cw, src)
    assert src.seeks == [OFFSET]
    assert src.bytes_read == len(DATA) - OFFSET


async def test_no_seek_at_offset_zero() -> None:
    cs = MemoryStore()
    src = SyncSeekable(DATA)
    async with aclosing(await cs.writer(with_ref("r"))) as cw:
        await copy_reader(cw, src)
    assert src.seeks == []


async def test_resume_reads_a_reader_at_from_the_offset() -> None:
    cs = MemoryStore()
    await start_ingest(cs, "r", DATA[:OFFSET])
    src = CountingReaderAt(DATA)
    async with aclosing(await cs.writer(with_ref("r"))) as cw:
        await copy_reader(cw, src)
    assert src.offsets[0] == OFFSET
    assert min(src.offsets) == OFFSET


async def test_resume_reads_an_unseekable_async_reader_from_the_offset_with_read_at() -> None:
    cs = MemoryStore()
    await start_ingest(cs, "r", DATA[:OFFSET])
    src = AsyncReadAtReader(DATA)
    cw = await cs.writer(with_ref("r"))
    await copy(cw, src, len(DATA), Digest.from_bytes(DATA))
    assert src.bytes_read == 0  # nothing read and discarded
    assert src.read_at_offsets[0] == OFFSET
    assert src.bytes_read_at == len(DATA) - OFFSET
    assert await blob(cs, DATA) == DATA


async def test_resume_prefers_seek_to_read_at() -> None:
    cs = MemoryStore()
    await start_ingest(cs, "r", DATA[:OFFSET])
    src = SeekableReadAtReader(DATA)
    async with aclosing(await cs.writer(with_ref("r"))) as cw:
        assert await copy_reader(cw, src) == len(DATA) - OFFSET
    assert src.seeks == [OFFSET]
    assert src.read_at_offsets == []
    assert src.bytes_read == len(DATA) - OFFSET


async def test_read_at_is_not_used_at_offset_zero() -> None:
    cs = MemoryStore()
    src = AsyncReadAtReader(DATA)
    async with aclosing(await cs.writer(with_ref("r"))) as cw:
        assert await copy_reader(cw, src) == len(DATA)
    assert src.read_at_offsets == []
    assert src.bytes_read == len(DATA)


async def test_read_at_source_shorter_than_offset_raises_short_read() -> None:
    cs = MemoryStore()
    await start_ingest(cs, "r", DATA[:OFFSET])
    src = AsyncReadAtReader(DATA[: OFFSET - 1])
    async with aclosing(await cs.writer(with_ref("r"))) as cw:
        with pytest.raises(ShortReadError, match=f"offset {OFFSET}"):
            await copy_reader(cw, src)
    assert src.bytes_read == 0
    assert (await cs.status("r")).offset == OFFSET


async def test_read_at_source_exactly_as_long_as_offset_copies_nothing() -> None:
    cs = MemoryStore()
    await start_ingest(cs, "r", DATA[:OFFSET])
    src = AsyncReadAtReader(DATA[:OFFSET])
    async with aclosing(await cs.writer(with_ref("r"))) as cw:
        assert await copy_reader(cw, src) == 0
    assert src.bytes_read == 0


async def test_resume_seeks_an_anyio_file_read_stream(tmp_path: Path) -> None:
    cs = MemoryStore()
    await start_ingest(cs, "r", DATA[:OFFSET])
    path = tmp_path / "source.bin"
    path.write_bytes(DATA)
    async with await FileReadStream.from_path(path) as src:
        seeks: list[int] = []
        original = src.seek

        async def seek(position: int, whence: int = os.SEEK_SET) -> int:
            seeks.append(position)
            return await original(position, whence)

        src.seek = seek  # type: ignore[method-assign]
        cw = await cs.writer(with_ref("r"))
        await copy(cw, src, len(DATA), Digest.from_bytes(DATA))
    assert seeks == [OFFSET]
    assert await blob(cs, DATA) == DATA


async def test_resume_discards_from_a_non_seekable_iterator() -> None:
    cs = MemoryStore()
    await start_ingest(cs, "r", DATA[:OFFSET])
    src = CountingIterable(DATA)
    cw = await cs.writer(with_ref("r"))
    await copy(cw, src, len(DATA))
    assert src.bytes_read == len(DATA)
    assert await blob(cs, DATA) == DATA


async def test_resume_discards_when_seekable_says_no() -> None:
    cs = MemoryStore()
    await start_ingest(cs, "r", DATA[:OFFSET])
    src = UnseekableReader(DATA)
    cw = await cs.writer(with_ref("r"))
    await copy(cw, src, len(DATA))
    assert src.seeks == 0
    assert src.bytes_read == len(DATA)
    assert await blob(cs, DATA) == DATA


# --- copy, copy_reader, copy_reader_at ---------------------------------------------------


async def test_copy_commits_with_size_and_digest() -> None:
    cs = MemoryStore()
    cw = await cs.writer(with_ref("r"))
    await copy(cw, DATA, len(DATA), Digest.from_bytes(DATA))
    assert (await cs.info(Digest.from_bytes(DATA))).size == len(DATA)
    assert await cs.list_statuses() == []


async def test_copy_short_source_raises_short_read() -> None:
    cs = MemoryStore()
    cw = await cs.writer(with_ref("r"))
    with pytest.raises(ShortReadError):
        await copy(cw, DATA[:-1], len(DATA))
    await cw.aclose()
    assert (await cs.status("r")).offset == len(DATA) - 1


async def test_copy_longer_source_fails_at_commit() -> None:
    cs = MemoryStore()
    cw = await cs.writer(with_ref("r"))
    with pytest.raises(FailedPreconditionError):
        await copy(cw, DATA + b"x", len(DATA))
    assert (await cs.status("r")).offset == len(DATA) + 1


async def test_copy_digest_mismatch_fails_at_commit() -> None:
    cs = MemoryStore()
    cw = await cs.writer(with_ref("r"))
    with pytest.raises(FailedPreconditionError):
        await copy(cw, DATA, 0, Digest.from_bytes(b"other"))
    assert (await cs.status("r")).offset == len(DATA)


async def test_copy_already_exists_at_commit_is_success() -> None:
    cs = MemoryStore()
    await write_blob(cs, "first", DATA, desc_of(DATA))
    cw = await cs.writer(with_ref("second"))
    await copy(cw, DATA, len(DATA), Digest.from_bytes(DATA))
    assert await cs.list_statuses() == []


async def test_copy_negative_size_raises_invalid_argument() -> None:
    cs = MemoryStore()
    async with aclosing(await cs.writer(with_ref("r"))) as cw:
        with pytest.raises(InvalidArgumentError):
            await copy(cw, DATA, -1)


async def test_copy_reader_returns_bytes_written_not_skipped() -> None:
    cs = MemoryStore()
    await start_ingest(cs, "r", DATA[:OFFSET])
    async with aclosing(await cs.writer(with_ref("r"))) as cw:
        assert await copy_reader(cw, DATA) == len(DATA) - OFFSET
        assert cw.digest() == Digest.from_bytes(DATA)


async def test_copy_reader_does_not_commit() -> None:
    cs = MemoryStore()
    async with aclosing(await cs.writer(with_ref("r"))) as cw:
        await copy_reader(cw, DATA)
    assert (await cs.status("r")).offset == len(DATA)
    assert not await exists(cs, desc_of(DATA))


async def test_copy_reader_at_copies_from_the_writer_offset() -> None:
    cs = MemoryStore()
    await start_ingest(cs, "r", DATA[:OFFSET])
    src = CountingReaderAt(DATA)
    async with aclosing(await cs.writer(with_ref("r"))) as cw:
        await copy_reader_at(cw, src, len(DATA) - OFFSET)
        assert cw.digest() == Digest.from_bytes(DATA)
    assert src.offsets[0] == OFFSET


async def test_copy_reader_at_copies_only_n_bytes() -> None:
    cs = MemoryStore()
    async with aclosing(await cs.writer(with_ref("r"))) as cw:
        await copy_reader_at(cw, CountingReaderAt(DATA), 1000)
        assert cw.digest() == Digest.from_bytes(DATA[:1000])


async def test_copy_reader_at_negative_raises_invalid_argument() -> None:
    cs = MemoryStore()
    async with aclosing(await cs.writer(with_ref("r"))) as cw:
        with pytest.raises(InvalidArgumentError, match="-1"):
            await copy_reader_at(cw, CountingReaderAt(DATA), -1)


async def test_copy_reader_at_short_raises_short_read() -> None:
    cs = MemoryStore()
    await start_ingest(cs, "r", DATA[:OFFSET])
    async with aclosing(await cs.writer(with_ref("r"))) as cw:
        with pytest.raises(ShortReadError):
            await copy_reader_at(cw, CountingReaderAt(DATA), len(DATA) - OFFSET + 1)


# --- new_reader --------------------------------------------------------------------------


async def _reader(data: bytes) -> tuple[MemoryStore, ReaderAt]:
    cs = MemoryStore()
    await write_blob(cs, "r", data, desc_of(data))
    return cs, await cs.reader_at(desc_of(data))


async def test_new_reader_receive_returns_chunks_then_end_of_stream() -> None:
    _, ra = await _reader(DATA)
    reader = new_reader(ra)
    assert await reader.receive(100) == DATA[:100]
    assert await reader.receive(100) == DATA[100:200]
    await reader.seek(0, os.SEEK_END)
    with pytest.raises(anyio.EndOfStream):
        await reader.receive()


async def test_new_reader_is_a_byte_receive_stream() -> None:
    _, ra = await _reader(b"abc")
    assert isinstance(new_reader(ra), ByteReceiveStream)


async def test_new_reader_async_iteration_yields_whole_blob() -> None:
    _, ra = await _reader(DATA)
    parts = [chunk async for chunk in new_reader(ra)]
    assert b"".join(parts) == DATA


async def test_new_reader_read_n_and_read_all() -> None:
    _, ra = await _reader(DATA)
    reader = new_reader(ra)
    assert await reader.read(10) == DATA[:10]
    assert await reader.read() == DATA[10:]
    assert await reader.read() == b""
    assert await reader.read(5) == b""


@pytest.mark.parametrize(
    ("offset", "whence", "position"),
    [(5, os.SEEK_SET, 5), (3, os.SEEK_CUR, 13), (-2, os.SEEK_CUR, 8), (-4, os.SEEK_END, 96)],
)
async def test_new_reader_seek(offset: int, whence: int, position: int) -> None:
    data = bytes(range(100))
    _, ra = await _reader(data)
    reader = new_reader(ra)
    await reader.read(10)
    assert await reader.seek(offset, whence) == position
    assert await reader.read(3) == data[position : position + 3]


@pytest.mark.parametrize(("offset", "whence"), [(200, os.SEEK_SET), (1, os.SEEK_END)])
async def test_new_reader_seek_past_end_then_read_returns_empty(offset: int, whence: int) -> None:
    _, ra = await _reader(bytes(100))
    reader = new_reader(ra)
    assert await reader.seek(offset, whence) > 100
    assert await reader.read(10) == b""
    assert await reader.read() == b""


@pytest.mark.parametrize(("offset", "whence"), [(-1, os.SEEK_SET), (-101, os.SEEK_END), (0, 7)])
async def test_new_reader_bad_seek_raises_invalid_argument(offset: int, whence: int) -> None:
    _, ra = await _reader(bytes(100))
    with pytest.raises(InvalidArgumentError):
        await new_reader(ra).seek(offset, whence)


async def test_new_reader_aclose_closes_the_reader_at() -> None:
    src = CountingReaderAt(b"abc")
    closed: list[bool] = []

    async def aclose() -> None:
        closed.append(True)

    src.aclose = aclose  # type: ignore[method-assign]
    async with new_reader(src):
        pass
    assert closed == [True]


# --- read_blob ---------------------------------------------------------------------------


async def test_read_blob_reads_the_whole_blob() -> None:
    cs = MemoryStore()
    await write_blob(cs, "r", DATA, desc_of(DATA))
    assert await read_blob(cs, desc_of(DATA)) == DATA


async def test_read_blob_uses_matching_desc_data_without_the_provider() -> None:
    data = b"{}"
    desc = Descriptor(digest=Digest.from_bytes(data), size=2, data=data)
    assert await read_blob(FailingProvider(), desc) == data


@pytest.mark.parametrize(
    "desc",
    [
        Descriptor(digest=Digest.from_bytes(b"{}"), size=3, data=b"{}"),
        Descriptor(digest=Digest.from_bytes(b"{}"), size=2, data=b"[]"),
        Descriptor(digest="sha256:bad", size=2, data=b"{}"),
    ],
)
async def test_read_blob_ignores_mismatching_desc_data(desc: Descriptor) -> None:
    with pytest.raises(AssertionError, match="provider was used"):
        await read_blob(FailingProvider(), desc)


async def test_read_blob_missing_raises_not_found() -> None:
    with pytest.raises(NotFoundError):
        await read_blob(MemoryStore(), desc_of(b"missing"))


# --- exists ------------------------------------------------------------------------------


@pytest.mark.parametrize("present", [True, False])
async def test_exists_through_info(present: bool) -> None:
    cs = MemoryStore()
    if present:
        await write_blob(cs, "r", DATA, desc_of(DATA))
    assert await exists(cs, desc_of(DATA)) is present


@pytest.mark.parametrize("present", [True, False])
async def test_exists_through_reader_at_only_provider(present: bool) -> None:
    cs = MemoryStore()
    if present:
        await write_blob(cs, "r", DATA, desc_of(DATA))
    provider = ReaderOnlyProvider(cs)
    assert await exists(provider, desc_of(DATA)) is present
    assert provider.opened == 1


@pytest.mark.parametrize("info_provider", [True, False])
async def test_exists_malformed_digest_raises_invalid_argument(info_provider: bool) -> None:
    cs = MemoryStore()
    provider = cs if info_provider else ReaderOnlyProvider(cs)
    with pytest.raises(InvalidArgumentError):
        await exists(provider, Descriptor(digest="sha256:nothex"))


# --- write_blob --------------------------------------------------------------------------


async def test_write_blob_existing_blob_returns_without_reading() -> None:
    cs = MemoryStore()
    await write_blob(cs, "first", DATA, desc_of(DATA))
    src = CountingIterable(DATA)
    await write_blob(cs, "second", src, desc_of(DATA))
    assert not src.started.is_set()
    assert await cs.list_statuses() == []


async def test_write_blob_source_exception_propagates_unchanged() -> None:
    cs = MemoryStore()
    with pytest.raises(Boom, match="source failed"):
        await write_blob(cs, "r", CountingIterable(DATA, fail_after=3), desc_of(DATA))


async def test_write_blob_failed_ingest_stays_resumable() -> None:
    cs = MemoryStore()
    with pytest.raises(Boom):
        await write_blob(cs, "r", CountingIterable(DATA, fail_after=3), desc_of(DATA))
    assert (await cs.status("r")).offset == 3 * CHUNK
    src = CountingIterable(DATA)
    await write_blob(cs, "r", src, desc_of(DATA))
    assert await blob(cs, DATA) == DATA


async def test_write_blob_closes_its_writer_after_failure() -> None:
    cs = MemoryStore()
    with pytest.raises(Boom):
        await write_blob(cs, "r", CountingIterable(DATA, fail_after=1), desc_of(DATA))
    with anyio.fail_after(1):
        async with aclosing(await cs.writer(with_ref("r"))):
            pass


async def test_write_blob_closes_its_writer_after_success() -> None:
    cs = MemoryStore()
    await write_blob(cs, "r", DATA, desc_of(DATA))
    async with aclosing(await cs.writer(with_ref("r"))) as cw:
        assert (await cw.status()).offset == 0


async def test_write_blob_wrong_content_raises_failed_precondition() -> None:
    cs = MemoryStore()
    with pytest.raises(FailedPreconditionError):
        await write_blob(cs, "r", DATA, Descriptor(digest=Digest.from_bytes(b"x"), size=0))
    assert (await cs.status("r")).offset == len(DATA)


async def test_write_blob_short_source_raises_short_read() -> None:
    cs = MemoryStore()
    with pytest.raises(ShortReadError):
        await write_blob(cs, "r", DATA[:-1], desc_of(DATA))


async def test_write_blob_non_descriptor_raises_type_error() -> None:
    with pytest.raises(TypeError):
        await write_blob(MemoryStore(), "r", DATA, {"digest": "x"})  # type: ignore[arg-type]


# --- open_writer -------------------------------------------------------------------------


async def _wake_delay(cs: Store, hold: float) -> tuple[float, bool]:
    """Hold ref "r", start open_writer, release after ``hold`` s; return (wake delay, early)."""
    holder = await cs.writer(with_ref("r"))
    released_at = math.inf
    woke_at = 0.0

    async def wait() -> None:
        nonlocal woke_at
        cw = await open_writer(cs, with_ref("r"))
        woke_at = time.monotonic()
        await cw.aclose()

    async with anyio.create_task_group() as tg:
        tg.start_soon(wait)
        await anyio.sleep(hold)
        released_at = time.monotonic()
        await holder.aclose()
    return woke_at - released_at, woke_at < released_at


async def test_open_writer_wakes_soon_after_release() -> None:
    delay, early = await _wake_delay(MemoryStore(), 0.2)
    assert not early
    assert delay < 0.5


async def test_open_writer_without_lock_wait_polls_with_backoff() -> None:
    thin = ThinStore(MemoryStore())
    assert not isinstance(thin, SupportsLockWait)
    delay, early = await _wake_delay(thin, 0.2)
    assert not early
    assert delay < 1.0
    assert thin.writer_calls > 2


async def test_open_writer_cancelled_by_fail_after() -> None:
    cs = MemoryStore()
    async with aclosing(await cs.writer(with_ref("r"))):
        with pytest.raises(TimeoutError), anyio.fail_after(0.1):
            await open_writer(cs, with_ref("r"))


async def test_open_writer_free_ref_opens_at_once() -> None:
    cs = MemoryStore()
    with anyio.fail_after(1):
        async with aclosing(await open_writer(cs, with_ref("r"))) as cw:
            assert (await cw.status()).ref == "r"


async def test_open_writer_empty_ref_raises_invalid_argument() -> None:
    with pytest.raises(InvalidArgumentError):
        await open_writer(MemoryStore(), with_ref(""))


async def test_open_writer_existing_blob_raises_already_exists() -> None:
    cs = MemoryStore()
    await write_blob(cs, "r", DATA, desc_of(DATA))
    with pytest.raises(AlreadyExistsError):
        await open_writer(cs, with_ref("other"), with_descriptor(desc_of(DATA)))


# --- single-flight -----------------------------------------------------------------------


async def _write_all(
    cs: Store, sources: Sequence[CountingIterable], stagger: Callable[[int], bool]
) -> list[BaseException | None]:
    """Run write_blob for each source (refs differ); return each call's exception or None."""
    results: list[BaseException | None] = [None] * len(sources)

    async def one(i: int) -> None:
        try:
            await write_blob(cs, f"ref-{i}", sources[i], desc_of(DATA))
        except Exception as exc:
            results[i] = exc

    async with anyio.create_task_group() as tg:
        for i in range(len(sources)):
            tg.start_soon(one, i)
            if stagger(i):
                await sources[i].started.wait()
    return results


async def test_single_flight_reads_the_source_once() -> None:
    cs = MemoryStore()
    assert isinstance(cs, SupportsSingleFlight)
    sources = [CountingIterable(DATA, delay=0.002) for _ in range(5)]
    results = await _write_all(cs, sources, lambda i: i == 0)
    assert results == [None] * 5
    assert [src.started.is_set() for src in sources] == [True, False, False, False, False]
    assert await blob(cs, DATA) == DATA
    assert len(cs.flights) == 0


async def test_single_flight_leader_failure_propagates_and_a_follower_takes_over() -> None:
    cs = MemoryStore()
    leader = CountingIterable(DATA, fail_after=2, delay=0.002)
    followers = [CountingIterable(DATA, delay=0.002) for _ in range(3)]
    results = await _write_all(cs, [leader, *followers], lambda i: i == 0)
    assert type(results[0]) is Boom
    assert results[1:] == [None, None, None]
    assert sum(src.started.is_set() for src in followers) == 1
    assert await blob(cs, DATA) == DATA


async def test_single_flight_cancelled_leader_hands_over() -> None:
    cs = MemoryStore()
    leader = CountingIterable(DATA, delay=0.01)
    follower = CountingIterable(DATA)
    async with anyio.create_task_group() as tg:
        scope = anyio.CancelScope()

        async def lead() -> None:
            with scope:
                await write_blob(cs, "leader", leader, desc_of(DATA))

        tg.start_soon(lead)
        await leader.started.wait()
        tg.start_soon(write_blob, cs, "follower", follower, desc_of(DATA))
        await anyio.sleep(0.02)
        scope.cancel()
    assert follower.started.is_set()
    assert await blob(cs, DATA) == DATA


async def test_without_single_flight_each_call_writes_as_containerd() -> None:
    cs = MemoryStore()
    thin = ThinStore(cs)
    assert not isinstance(thin, SupportsSingleFlight)
    sources = [CountingIterable(DATA, delay=0.002) for _ in range(3)]
    results = await _write_all(thin, sources, lambda i: False)
    assert results == [None, None, None]
    assert all(src.bytes_read == len(DATA) for src in sources)
    assert await blob(cs, DATA) == DATA
    assert await cs.list_statuses() == []
