"""Column (c): the loop a user writes by hand today with asyncio and aiofiles.

Data moves in 64 KiB chunks through ``aiofiles``; hashlib runs on the event
loop; a blob is fsynced and renamed into place (without a directory fsync,
like containerd 1.6). Every awaited call is one trip to the loop's default
executor. Runs under asyncio only (aiofiles does not run under trio).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import aiofiles
import aiofiles.os
import anyio
from _util import KIB, MIB, Clock

CHUNK = 64 * KIB

_fsync = aiofiles.os.wrap(os.fsync)


def _blob_path(root: Path, hexdigest: str) -> Path:
    return root / "blobs" / "sha256" / hexdigest


async def ensure_dirs(root: Path) -> None:
    await aiofiles.os.makedirs(root / "blobs" / "sha256", exist_ok=True)
    await aiofiles.os.makedirs(root / "tmp", exist_ok=True)


async def write_blob(root: Path, name: str, data: bytes, expected: str) -> None:
    """Write ``data`` to a temporary file, hashing on the loop, fsync, check, rename."""
    view = memoryview(data)
    tmp = root / "tmp" / name
    h = hashlib.sha256()
    async with aiofiles.open(tmp, "wb") as f:
        for off in range(0, len(view), CHUNK):
            chunk = view[off : off + CHUNK]
            h.update(chunk)
            await f.write(chunk)
        await f.flush()
        await _fsync(f.fileno())
    got = "sha256:" + h.hexdigest()
    if got != expected:
        raise RuntimeError(f"digest mismatch: {got} != {expected}")
    await aiofiles.os.rename(tmp, _blob_path(root, h.hexdigest()))


async def ingest(root: Path, data: bytes, expected: str) -> float:
    """W1: one blob from memory; seconds."""
    await ensure_dirs(root)
    with Clock() as clock:
        await write_blob(root, "ingest", data, expected)
    return clock.seconds


async def small(root: Path, blobs: list[bytes], digests: list[str], writers: int) -> float:
    """W2: many small blobs, ``writers`` tasks pulling from one list; seconds."""
    await ensure_dirs(root)
    todo: Iterator[int] = iter(range(len(blobs)))

    async def worker() -> None:
        for i in todo:
            await write_blob(root, f"small-{i}", blobs[i], digests[i])

    with Clock() as clock:
        async with anyio.create_task_group() as tg:
            for _ in range(writers):
                tg.start_soon(worker)
    return clock.seconds


async def read(path: Path) -> float:
    """W3: read a file sequentially with aiofiles in 1 MiB chunks; seconds."""
    total = 0
    with Clock() as clock:
        async with aiofiles.open(path, "rb", buffering=0) as f:
            while chunk := await f.read(MIB):
                total += len(chunk)
    return clock.seconds


async def resume(path: Path, size: int) -> float:
    """W4: reopen a partial file and re-hash it (64 KiB reads) to continue; seconds."""
    with Clock() as clock:
        h = hashlib.sha256()
        total = 0
        async with aiofiles.open(path, "rb") as f:
            while chunk := await f.read(CHUNK):
                h.update(chunk)
                total += len(chunk)
        async with aiofiles.open(path, "ab") as f:
            pass
    if total != size:
        raise RuntimeError(f"resumed at {total}, want {size}")
    return clock.seconds


async def walk(root: Path) -> tuple[int, float]:
    """W5: list the blob folder and stat every entry; (entries, seconds)."""
    folder = root / "blobs" / "sha256"
    n = 0
    with Clock() as clock:
        for name in await aiofiles.os.listdir(folder):
            await aiofiles.os.stat(folder / name)
            n += 1
    return n, clock.seconds


async def same(root: Path, data: bytes, expected: str, tasks: int) -> float:
    """W6: ``tasks`` tasks each write and rename the same blob (no coordination); seconds."""
    await ensure_dirs(root)
    with Clock() as clock:
        async with anyio.create_task_group() as tg:
            for i in range(tasks):
                tg.start_soon(write_blob, root, f"same-{i}", data, expected)
    return clock.seconds
