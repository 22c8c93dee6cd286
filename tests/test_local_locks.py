"""LocalStore ref locks across store objects and processes."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest
from anyio.abc import Process
from anyio.streams.buffered import BufferedByteReceiveStream

from aiocontent import UnavailableError, open_writer, with_ref
from aiocontent._local import LocalStore
from aiocontent._local._layout import ingest_hex

HOLD = """
import sys, anyio
from aiocontent import with_ref
from aiocontent._local import LocalStore

async def main() -> None:
    async with LocalStore(sys.argv[1]) as cs:
        w = await cs.writer(with_ref(sys.argv[2]))
        await w.write(b"held")
        print("locked", flush=True)
        await anyio.to_thread.run_sync(sys.stdin.readline)
        await w.aclose()
    print("released", flush=True)

anyio.run(main)
"""


class Holder:
    """A child process holding a ref of a LocalStore until told to release it."""

    def __init__(self, proc: Process) -> None:
        self.proc = proc
        assert proc.stdout is not None
        self._out = BufferedByteReceiveStream(proc.stdout)

    async def expect(self, line: bytes) -> None:
        with anyio.fail_after(20):
            assert await self._out.receive_until(b"\n", 1024) == line

    async def release(self) -> None:
        assert self.proc.stdin is not None
        await self.proc.stdin.send(b"go\n")
        await self.expect(b"released")


@asynccontextmanager
async def holding(root: Path, ref: str) -> AsyncIterator[Holder]:
    async with await anyio.open_process([sys.executable, "-c", HOLD, str(root), ref]) as proc:
        holder = Holder(proc)
        try:
            await holder.expect(b"locked")
            yield holder
        finally:
            if proc.returncode is None:
                proc.kill()
            await proc.wait()


async def test_ref_held_by_another_process_is_unavailable(tmp_path: Path) -> None:
    async with holding(tmp_path, "default/1/layer") as holder, LocalStore(tmp_path) as cs:
        with pytest.raises(UnavailableError, match=r"ref default/1/layer locked for .* \(since "):
            await cs.writer(with_ref("default/1/layer"))
        await holder.release()
        w = await cs.writer(with_ref("default/1/layer"))
        assert (await w.status()).offset == len(b"held")
        await w.aclose()


async def test_open_writer_waits_for_another_process(tmp_path: Path) -> None:
    async with holding(tmp_path, "r") as holder, LocalStore(tmp_path) as cs:
        got: list[float] = []

        async def wait_for_it() -> None:
            with anyio.fail_after(10):
                w = await open_writer(cs, with_ref("r"))
            got.append(anyio.current_time())
            await w.aclose()

        async with anyio.create_task_group() as tg:
            tg.start_soon(wait_for_it)
            await anyio.sleep(0.2)
            assert got == []
            released = anyio.current_time()
            await holder.release()
        assert got[0] - released < 1.5


async def test_killed_holder_leaves_no_lock(tmp_path: Path) -> None:
    async with holding(tmp_path, "r") as holder, LocalStore(tmp_path) as cs:
        holder.proc.kill()
        await holder.proc.wait()
        w = await cs.writer(with_ref("r"))
        assert (await w.status()).offset == len(b"held")
        await w.aclose()


async def test_two_objects_on_one_root_exclude_each_other(tmp_path: Path) -> None:
    async with LocalStore(tmp_path) as one, LocalStore(tmp_path) as two:
        w = await one.writer(with_ref("r"))
        with pytest.raises(UnavailableError, match="ref r locked for "):
            await two.writer(with_ref("r"))
        await w.aclose()
        w = await two.writer(with_ref("r"))
        with pytest.raises(UnavailableError, match="ref r locked for "):
            await one.writer(with_ref("r"))
        await w.aclose()


async def test_lock_is_released_when_commit_fails(tmp_path: Path) -> None:
    async with LocalStore(tmp_path) as one, LocalStore(tmp_path) as two:
        w = await one.writer(with_ref("r"))
        await w.write(b"abc")
        with pytest.raises(Exception, match="unexpected commit size"):
            await w.commit(4)
        w = await two.writer(with_ref("r"))
        await w.aclose()


async def test_wait_unlocked_wakes_at_once_on_release_here(tmp_path: Path) -> None:
    async with LocalStore(tmp_path) as cs:
        w = await cs.writer(with_ref("r"))
        async with anyio.create_task_group() as tg:
            tg.start_soon(w.aclose)
            with anyio.fail_after(1):
                await cs.wait_unlocked("r", poll=30)


async def test_wait_unlocked_polls_when_held_elsewhere(tmp_path: Path) -> None:
    async with LocalStore(tmp_path) as cs:
        start = anyio.current_time()
        await cs.wait_unlocked("r", poll=0.05)
        assert anyio.current_time() - start >= 0.04


async def test_stale_lock_file_does_not_block(tmp_path: Path) -> None:
    lock = tmp_path / "locks" / ingest_hex("r")
    lock.parent.mkdir(parents=True)
    lock.write_bytes(b"12345 2020-01-01T00:00:00Z\n")
    async with LocalStore(tmp_path) as cs:
        w = await cs.writer(with_ref("r"))
        await w.aclose()
