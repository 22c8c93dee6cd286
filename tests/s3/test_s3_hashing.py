"""S3Store hashes large writes and reads in worker threads: the event loop never hashes much.

Every hashlib object the store makes is swapped for one that records, for each
update, how many bytes it hashed and on which thread. The tests run on the
in-memory S3 service, so they need no server.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.from_thread
import pytest

from aiocontent import Descriptor, FailedPreconditionError, read_blob, with_descriptor, with_ref
from aiocontent._digest import Algorithm
from aiocontent._fileio import HASH_INLINE_MAX
from aiocontent._s3 import S3ReaderAt, S3Store

from ..stores import fake_s3_factory

MIB = 1 << 20

#: ``(bytes hashed, thread id)`` of each update, oldest first.
Log = list[tuple[int, int]]


class _RecordingHash:
    """A hashlib object that logs each update; ``on_update`` runs after each one."""

    def __init__(self, inner: Any, log: Log) -> None:
        self._inner = inner
        self._log = log

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self._inner.update(data)
        self._log.append((memoryview(data).nbytes, threading.get_ident()))

    def copy(self) -> _RecordingHash:
        return _RecordingHash(self._inner.copy(), self._log)

    def hexdigest(self) -> str:
        return str(self._inner.hexdigest())


@pytest.fixture
def hash_log(monkeypatch: pytest.MonkeyPatch) -> Log:
    log: Log = []
    monkeypatch.setattr(Algorithm, "hash", lambda self: _RecordingHash(hashlib.new(self), log))
    return log


@asynccontextmanager
async def fake_store() -> AsyncIterator[S3Store]:
    async with fake_s3_factory()() as cs:
        assert isinstance(cs, S3Store)
        yield cs


def _on_loop(log: Log, loop_thread: int) -> list[int]:
    """Sizes of the updates that ran on the event loop's thread."""
    return [n for n, thread in log if thread == loop_thread]


def _desc(data: bytes) -> Descriptor:
    return Descriptor(digest=f"sha256:{hashlib.sha256(data).hexdigest()}", size=len(data))


async def test_large_writes_are_hashed_in_worker_threads(hash_log: Log) -> None:
    data = bytes(range(256)) * (24 * MIB // 256)
    loop_thread = threading.get_ident()
    async with fake_store() as cs:
        w = await cs.writer(with_ref("big"), with_descriptor(_desc(data)))
        for off in range(0, len(data), MIB):
            await w.write(data[off : off + MIB])
        assert w.digest() == _desc(data).digest
        await w.commit(len(data), _desc(data).digest)
        writer_log = list(hash_log)
        assert await read_blob(cs, _desc(data)) == data
    assert sum(n for n, _ in writer_log) >= len(data)
    assert max(_on_loop(writer_log, loop_thread), default=0) <= HASH_INLINE_MAX


async def test_resumed_ingest_is_rehashed_in_worker_threads(hash_log: Log) -> None:
    data = bytes(range(256)) * (12 * MIB // 256)
    loop_thread = threading.get_ident()
    async with fake_store() as cs:
        w = await cs.writer(with_ref("resume"), with_descriptor(_desc(data)))
        await w.write(data)
        await w.aclose()
        hash_log.clear()
        w = await cs.writer(with_ref("resume"), with_descriptor(_desc(data)))
        assert (await w.status()).offset == len(data)
        assert w.digest() == _desc(data).digest
        await w.aclose()
    assert sum(n for n, _ in hash_log) >= len(data)
    assert max(_on_loop(hash_log, loop_thread), default=0) <= HASH_INLINE_MAX


async def test_truncate_into_the_buffered_part_rehashes_in_a_worker_thread(
    hash_log: Log,
) -> None:
    data = bytes(range(256)) * (4 * MIB // 256)
    loop_thread = threading.get_ident()
    async with fake_store() as cs:
        w = await cs.writer(with_ref("cut"))
        await w.write(data)
        hash_log.clear()
        await w.truncate(3 * MIB)
        assert w.digest() == _desc(data[: 3 * MIB]).digest
        await w.aclose()
    assert sum(n for n, _ in hash_log) == 3 * MIB
    assert _on_loop(hash_log, loop_thread) == []


async def test_write_cancelled_while_its_hash_runs_applies_fully(hash_log: Log) -> None:
    head, data = b"x" * 1000, bytes(range(256)) * (2 * MIB // 256)
    loop_thread = threading.get_ident()
    hashing, cancelled = anyio.Event(), threading.Event()
    original_update = _RecordingHash.update

    def update(self: _RecordingHash, chunk: bytes | bytearray | memoryview) -> None:
        # The worker thread waits here until the task that started it is cancelled.
        original_update(self, chunk)
        if threading.get_ident() != loop_thread and not cancelled.is_set():
            anyio.from_thread.run_sync(hashing.set)
            cancelled.wait(10)

    async def cancel_while_hashing(scope: anyio.CancelScope) -> None:
        await hashing.wait()
        scope.cancel()
        cancelled.set()

    async with fake_store() as cs:
        w = await cs.writer(with_ref("cancel"))
        await w.write(head)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(_RecordingHash, "update", update)
            async with anyio.create_task_group() as tg:
                with anyio.CancelScope() as scope:
                    tg.start_soon(cancel_while_hashing, scope)
                    await w.write(data)
                    await anyio.lowlevel.checkpoint()
                    pytest.fail("the cancellation was not delivered after the write")
        assert scope.cancelled_caught and hashing.is_set()
        assert (await w.status()).offset == len(head) + len(data)
        assert w.digest() == _desc(head + data).digest
        await w.commit(len(head) + len(data), _desc(head + data).digest)
        assert await read_blob(cs, _desc(head + data)) == head + data


async def test_a_sequential_read_is_verified_in_worker_threads(hash_log: Log) -> None:
    data = bytes(range(256)) * (8 * MIB // 256)
    loop_thread = threading.get_ident()
    async with fake_store() as cs:
        w = await cs.writer(with_ref("read"), with_descriptor(_desc(data)))
        await w.write(data)
        await w.commit(len(data), _desc(data).digest)
        hash_log.clear()
        assert await read_blob(cs, _desc(data)) == data
    assert sum(n for n, _ in hash_log) >= len(data)
    assert max(_on_loop(hash_log, loop_thread), default=0) <= HASH_INLINE_MAX


async def test_a_corrupt_blob_read_off_the_loop_is_still_refused(
    hash_log: Log, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = bytes(range(256)) * (2 * MIB // 256)
    async with fake_store() as cs:
        w = await cs.writer(with_ref("bad"), with_descriptor(_desc(data)))
        await w.write(data)
        await w.commit(len(data), _desc(data).digest)
        lying = Descriptor(digest=_desc(data).digest, size=len(data))
        flipped = bytearray(data)
        flipped[-1] ^= 1
        original = S3ReaderAt._read_range

        async def corrupt(self: S3ReaderAt, n: int, offset: int) -> bytes:
            got = await original(self, n, offset)
            return bytes(flipped[offset : offset + len(got)])

        monkeypatch.setattr(S3ReaderAt, "_read_range", corrupt)
        monkeypatch.setattr(S3ReaderAt, "_read_stream", corrupt)
        with pytest.raises(FailedPreconditionError):
            await read_blob(cs, lying)
