"""Column (a): aiocontent's stores through the public API only."""

from __future__ import annotations

import importlib
import math
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, cast

import anyio
from _util import Clock, PeakRSS, median, percentile

import aiocontent
from aiocontent import Descriptor, Info, Store

StoreFactory = Callable[[], AbstractAsyncContextManager[Store]]


def _public(name: str, private: str) -> Any:
    """``aiocontent.<name>`` (or, before it is exported, from ``private``), else ``None``."""
    found = getattr(aiocontent, name, None)
    if found is None:
        try:
            found = getattr(importlib.import_module(private), name, None)
        except ImportError:
            return None
    return found


def local_store(root: Path) -> StoreFactory | None:
    """A factory of ``LocalStore(root)``, or ``None`` when the package has none."""
    cls = _public("LocalStore", "aiocontent._local")
    if cls is None:
        return None
    return lambda: cast(AbstractAsyncContextManager[Store], cls(root))


def memory_store() -> StoreFactory | None:
    """A factory of ``MemoryStore()``, or ``None`` when the package has none."""
    cls = _public("MemoryStore", "aiocontent._memory")
    if cls is None:
        return None
    return lambda: cast(AbstractAsyncContextManager[Store], cls())


def describe(data: bytes, digest: str) -> Descriptor:
    return Descriptor(media_type="application/octet-stream", digest=digest, size=len(data))


async def ingest(cs: Store, data: bytes, digest: str) -> tuple[float, float]:
    """W1 (and W8): one blob from memory; (seconds, peak RSS growth in bytes)."""
    with PeakRSS() as rss, Clock() as clock:
        await aiocontent.write_blob(cs, "bench-ingest", data, describe(data, digest))
    return clock.seconds, rss.growth


async def lag_during(work: Callable[[], Awaitable[object]]) -> tuple[float, float, float]:
    """W7: lag of a 1 ms ticker while ``work`` runs; (p50, p99, max) in ms."""
    lags: list[float] = []
    done = anyio.Event()

    async def ticker() -> None:
        while not done.is_set():
            start = time.perf_counter()
            await anyio.sleep(0.001)
            lags.append(max(0.0, time.perf_counter() - start - 0.001))

    async with anyio.create_task_group() as tg:
        tg.start_soon(ticker)
        await anyio.sleep(0.01)
        try:
            await work()
        finally:
            done.set()
    if not lags:
        return math.nan, math.nan, math.nan
    return (
        percentile(lags, 0.5) * 1e3,
        percentile(lags, 0.99) * 1e3,
        max(lags) * 1e3,
    )


async def small(cs: Store, blobs: list[bytes], digests: list[str], writers: int) -> float:
    """W2: many small blobs through ``write_blob``, ``writers`` tasks; seconds."""
    todo: Iterator[int] = iter(range(len(blobs)))

    async def worker() -> None:
        for i in todo:
            data = blobs[i]
            await aiocontent.write_blob(cs, f"small-{i}", data, describe(data, digests[i]))

    with Clock() as clock:
        async with anyio.create_task_group() as tg:
            for _ in range(writers):
                tg.start_soon(worker)
    return clock.seconds


async def read(cs: Store, digest: str, size: int) -> float:
    """W3: read a blob sequentially through ``reader_at`` + ``new_reader``; seconds."""
    total = 0
    with Clock() as clock:
        async with await cs.reader_at(Descriptor(digest=digest)) as ra:
            async for chunk in aiocontent.new_reader(ra):
                total += len(chunk)
    if total != size:
        raise RuntimeError(f"read {total} bytes, want {size}")
    return clock.seconds


async def write_ingest(cs: Store, ref: str, data: bytes) -> None:
    """W4 set-up: write ``data`` to ingest ``ref`` and close the writer (keeps the ingest)."""
    async with await cs.writer(aiocontent.with_ref(ref)) as w:
        view = memoryview(data)
        for off in range(0, len(view), 1 << 20):
            await w.write(view[off : off + (1 << 20)])


async def reopen(cs: Store, ref: str, size: int) -> float:
    """W4: reopen ingest ``ref`` (resume at its end); seconds until the writer is ready."""
    with Clock() as clock:
        w = await cs.writer(aiocontent.with_ref(ref))
        status = await w.status()
    await w.aclose()
    if status.offset != size:
        raise RuntimeError(f"resumed at {status.offset}, want {size}")
    return clock.seconds


async def label(cs: Store, every: int) -> int:
    """W5 set-up: label every ``every``-th blob ``bench=yes``; returns the blob count."""
    digests: list[str] = []

    def collect(info: Info) -> None:
        digests.append(info.digest)

    await cs.walk(collect)
    for i, dgst in enumerate(digests):
        if i % every == 0:
            await cs.update(Info(digest=aiocontent.Digest(dgst), labels={"bench": "yes"}), "labels")
    return len(digests)


async def walk(cs: Store, *filters: str) -> tuple[int, float]:
    """W5: walk every blob (matching ``filters``); (blobs reported, seconds)."""
    n = 0

    def count(info: Info) -> None:
        nonlocal n
        n += 1

    with Clock() as clock:
        await cs.walk(count, *filters)
    return n, clock.seconds


async def walks(factory: StoreFactory, repeats: int, blobs: int) -> tuple[float, float]:
    """W5: ``repeats`` walks, each by a new store object, without and with the label
    filter; the median seconds of each.

    Waits first until the folders' last changes are older than LocalStore's listing
    cache margin (50 ms), as they are for any walk not right behind a write.
    """
    await anyio.sleep(0.1)
    plain: list[float] = []
    labelled: list[float] = []
    for _ in range(repeats):
        async with factory() as cs:
            n, seconds = await walk(cs)
            m, filtered = await walk(cs, "labels.bench==yes")
        if n != blobs or m != (blobs + 1) // 2:
            raise RuntimeError(f"walked {n} blobs ({m} labelled), want {blobs}")
        plain.append(seconds)
        labelled.append(filtered)
    return median(plain), median(labelled)


async def same(cs: Store, data: bytes, digest: str, tasks: int) -> float:
    """W6: ``tasks`` tasks ``write_blob`` the same blob under one ref; seconds until all return."""
    desc = describe(data, digest)
    with Clock() as clock:
        async with anyio.create_task_group() as tg:
            for _ in range(tasks):
                tg.start_soon(aiocontent.write_blob, cs, "bench-same", data, desc)
    info = await cs.info(digest)
    if info.size != len(data):
        raise RuntimeError(f"committed {info.size} bytes, want {len(data)}")
    return clock.seconds
