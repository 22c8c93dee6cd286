"""LocalStore's fast paths give the same results as the plain ones.

Group-committed folder fsyncs, page-cache reads on the event loop, hashing
behind writes, re-hashing with overlapped reads and the walk's metadata cache.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

import anyio
import pytest

from aiocontent import Descriptor, Digest, Digester, Info, with_ref
from aiocontent import _fileio as fileio_module
from aiocontent._fileio import FileIO
from aiocontent._local import LocalStore
from aiocontent._local import _meta as meta_module
from aiocontent._local._hashing import OVERLAP_MIN, hash_fd
from aiocontent._local._writer import LocalWriter

MIB = 1 << 20


# ----------------------------------------------------------------------------- folder fsyncs


def test_concurrent_folder_syncs_each_wait_for_one_started_after_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    syncs: list[tuple[float, float]] = []

    def slow_fsync(path: str) -> None:
        start = time.monotonic()
        time.sleep(0.02)
        syncs.append((start, time.monotonic()))

    monkeypatch.setattr(meta_module, "_fsync_dir_now", slow_fsync)
    calls: list[tuple[float, float]] = []
    lock = threading.Lock()

    def caller() -> None:
        entered = time.monotonic()
        meta_module.fsync_dir(str(tmp_path))
        with lock:
            calls.append((entered, time.monotonic()))

    threads = [threading.Thread(target=caller) for _ in range(12)]
    for t in threads:
        t.start()
        time.sleep(0.003)
    for t in threads:
        t.join()
    assert len(syncs) < len(calls)
    assert all(any(entered <= s and e <= left for s, e in syncs) for entered, left in calls)


def test_failed_folder_sync_reaches_its_caller_and_the_next_one_runs_its_own(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    outcomes = iter([OSError(5, "Input/output error"), None])

    def flaky_fsync(path: str) -> None:
        outcome = next(outcomes)
        if outcome is not None:
            raise outcome

    monkeypatch.setattr(meta_module, "_fsync_dir_now", flaky_fsync)
    with pytest.raises(OSError, match="Input/output error"):
        meta_module.fsync_dir(str(tmp_path))
    meta_module.fsync_dir(str(tmp_path))


# ----------------------------------------------------------------------------- reads


@pytest.mark.parametrize(("n", "offset"), [(4, 3), (100, 8), (10, 0), (1, 9)])
async def test_page_cache_reads_equal_thread_reads(tmp_path: Path, n: int, offset: int) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"0123456789")
    fio = FileIO(max_workers=2)
    fd = os.open(path, os.O_RDONLY)
    try:
        assert await fio.pread(fd, n, offset) == b"0123456789"[offset : offset + n]
    finally:
        os.close(fd)
        fio.close()


async def test_reads_fall_back_to_a_thread_when_the_cache_would_block(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def would_block(*args: object) -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "preadv", would_block)
    path = tmp_path / "f"
    path.write_bytes(b"abcdef")
    fio = FileIO(max_workers=2)
    fd = os.open(path, os.O_RDONLY)
    try:
        assert await fio.pread(fd, 3, 2) == b"cde"
    finally:
        os.close(fd)
        fio.close()


async def test_page_cache_reads_hand_back_bytes_that_later_reads_leave_alone(
    tmp_path: Path,
) -> None:
    data = os.urandom(3 * MIB)
    path = tmp_path / "f"
    path.write_bytes(data)
    fio = FileIO(max_workers=2)
    fd = os.open(path, os.O_RDONLY)
    try:
        parts = [await fio.pread(fd, MIB, off) for off in range(0, len(data), MIB)]
        again = await fio.pread(fd, MIB, 0)
    finally:
        os.close(fd)
        fio.close()
    assert all(type(part) is bytes for part in parts)
    assert b"".join(parts) == data
    assert again == parts[0] and again is not parts[0]
    assert hash(parts[1]) == hash(data[MIB : 2 * MIB])


async def test_page_cache_reads_copy_into_a_buffer_where_bytes_cannot_be_filled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fileio_module, "_new_bytes", None)
    data = os.urandom(MIB + 5)
    path = tmp_path / "f"
    path.write_bytes(data)
    fio = FileIO(max_workers=2)
    fd = os.open(path, os.O_RDONLY)
    try:
        got = await fio.pread(fd, MIB, 5)
    finally:
        os.close(fd)
        fio.close()
    assert type(got) is bytes and got == data[5:]


async def test_a_cancelled_page_cache_read_raises_the_cancellation(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"abcdef")
    fio = FileIO(max_workers=2)
    fd = os.open(path, os.O_RDONLY)
    reached = False
    try:
        await fio.pread(fd, 3, 0)  # the next read falls inside the slice: no yield
        with anyio.CancelScope() as scope:
            scope.cancel()
            await fio.pread(fd, 3, 0)
            reached = True
    finally:
        os.close(fd)
        fio.close()
    assert scope.cancelled_caught and not reached


async def test_page_cache_reads_let_other_tasks_run_once_their_slice_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fileio_module, "LOOP_SLICE", 0.0)
    path = tmp_path / "f"
    path.write_bytes(b"x" * 4096)
    fio = FileIO(max_workers=2)
    fd = os.open(path, os.O_RDONLY)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await anyio.lowlevel.checkpoint()

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(ticker)
            await anyio.lowlevel.checkpoint()
            before = ticks
            for _ in range(20):
                await fio.pread(fd, 4096, 0)
            after = ticks
            tg.cancel_scope.cancel()
    finally:
        os.close(fd)
        fio.close()
    assert after - before >= 19


# ----------------------------------------------------------------------------- writes


async def test_large_bytes_chunks_give_the_digest_of_every_prefix(tmp_path: Path) -> None:
    chunks = [bytes([i]) * MIB for i in range(4)]
    async with LocalStore(tmp_path) as cs:
        w = await cs.writer(with_ref("big"))
        assert isinstance(w, LocalWriter)
        for i, chunk in enumerate(chunks):
            await w.write(chunk)
            assert w.digest() == Digest.from_bytes(b"".join(chunks[: i + 1]))
        await w.write(memoryview(b"tail"))
        data = b"".join(chunks) + b"tail"
        await w.commit(len(data), Digest.from_bytes(data))
        async with await cs.reader_at(Descriptor(digest=Digest.from_bytes(data))) as ra:
            assert await ra.read_at(len(data) + 1, 0) == data


async def test_large_chunks_are_hashed_off_the_loop_and_digest_never_waits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop_thread = threading.current_thread()
    hashed_on_loop: list[int] = []
    original = Digester.update

    def update(self: Digester, data: bytes | bytearray | memoryview) -> None:
        if threading.current_thread() is loop_thread:
            hashed_on_loop.append(len(memoryview(data)))
        else:
            time.sleep(0.1)  # a slow hash: whoever waits for it would notice
        original(self, data)

    monkeypatch.setattr(Digester, "update", update)
    chunks = [os.urandom(MIB) for _ in range(3)]
    expected = [hashlib.sha256(b"".join(chunks[: i + 1])).hexdigest() for i in range(3)]
    async with LocalStore(tmp_path) as cs, await cs.writer(with_ref("off-loop")) as w:
        for chunk, want in zip(chunks, expected, strict=True):
            await w.write(chunk)
            start = time.perf_counter()
            got = w.digest()
            assert time.perf_counter() - start < 0.05
            assert hashed_on_loop == []
            assert got.encoded == want


async def test_a_mutable_chunk_changed_after_its_write_keeps_the_written_digest(
    tmp_path: Path,
) -> None:
    buf = bytearray(b"a" * (2 * MIB))
    async with LocalStore(tmp_path) as cs:
        w = await cs.writer(with_ref("mutable"))
        await w.write(buf)
        buf[:] = b"b" * len(buf)
        await w.commit(2 * MIB, Digest.from_bytes(b"a" * (2 * MIB)))


async def test_a_closed_writer_resumes_after_large_chunks(tmp_path: Path) -> None:
    data = os.urandom(3 * MIB)
    async with LocalStore(tmp_path) as cs:
        w = await cs.writer(with_ref("resume"))
        await w.write(data[:MIB])
        await w.write(data[MIB : 2 * MIB])
        await w.aclose()
        w = await cs.writer(with_ref("resume"))
        assert (await w.status()).offset == 2 * MIB
        await w.write(data[2 * MIB :])
        await w.commit(len(data), Digest.from_bytes(data))


def test_overlapped_rehash_equals_hashlib(tmp_path: Path) -> None:
    data = os.urandom(OVERLAP_MIN + 3 * MIB + 7)
    path = tmp_path / "data"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    try:
        whole, n = hash_fd(fd, Digest.from_bytes(b"").algorithm)
        part, m = hash_fd(fd, Digest.from_bytes(b"").algorithm, OVERLAP_MIN + MIB)
    finally:
        os.close(fd)
    assert (whole.digest(), n) == (f"sha256:{hashlib.sha256(data).hexdigest()}", len(data))
    prefix = data[: OVERLAP_MIN + MIB]
    assert (part.digest(), m) == (f"sha256:{hashlib.sha256(prefix).hexdigest()}", len(prefix))


# ----------------------------------------------------------------------------- walk


async def test_walk_sees_labels_changed_by_another_store_object(tmp_path: Path) -> None:
    async with LocalStore(tmp_path) as cs, LocalStore(tmp_path) as other:
        w = await cs.writer(with_ref("w"))
        await w.write(b"walk me")
        await w.commit(7)
        dgst = Digest.from_bytes(b"walk me")
        for labels in ({"a": "1"}, {"a": "2", "b": "3"}, {}):
            await other.update(Info(digest=dgst, labels=labels))
            seen: list[Info] = []
            await cs.walk(seen.append)
            assert [info.labels for info in seen] == [labels]
