"""Column (d): the machine's limits, measured with plain synchronous Python.

Each function measures once; the harness keeps the best of several
repetitions, since a noisy machine only ever makes a limit look lower.
"""

from __future__ import annotations

import hashlib
import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from _util import KIB, MIB, drop_file, median, settle

CHUNK = MIB


def sha256_mb_s(data: bytes) -> float:
    """hashlib SHA-256 throughput over ``data`` in 1 MiB chunks, MB/s."""
    view = memoryview(data)
    h = hashlib.sha256()
    start = time.perf_counter()
    for off in range(0, len(view), CHUNK):
        h.update(view[off : off + CHUNK])
    h.digest()
    return len(view) / (time.perf_counter() - start) / 1e6


def write_fsync_mb_s(path: Path, data: bytes, hash_alongside: bool = False) -> float:
    """Sequential write of ``data`` in 1 MiB chunks plus one fsync, MB/s.

    With ``hash_alongside``, each chunk is also hashed in a second thread while
    it is written: the two-thread pipeline, what W1 can reach on a machine
    whose two jobs share its cores.
    """
    view = memoryview(data)
    drop_file(path)
    settle()
    h = hashlib.sha256()
    with ThreadPoolExecutor(1) as pool:
        start = time.perf_counter()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            pending: Future[None] | None = None
            for off in range(0, len(view), CHUNK):
                chunk = view[off : off + CHUNK]
                if hash_alongside:
                    if pending is not None:
                        pending.result()
                    pending = pool.submit(h.update, chunk)
                while chunk:
                    chunk = chunk[os.write(fd, chunk) :]
            if pending is not None:
                pending.result()
            os.fsync(fd)
        finally:
            os.close(fd)
        elapsed = time.perf_counter() - start
    drop_file(path)
    return len(view) / elapsed / 1e6


def walk_per_s(folder: Path) -> float:
    """A bare ``os.scandir`` + ``stat`` loop over ``folder``, entries per second."""
    n = 0
    start = time.perf_counter()
    with os.scandir(folder) as it:
        for entry in it:
            entry.stat(follow_symlinks=False)
            n += 1
    return n / (time.perf_counter() - start)


def read_mb_s(path: Path) -> float:
    """A plain Python loop reading ``path`` in 1 MiB chunks (page cache), MB/s."""
    total = 0
    start = time.perf_counter()
    with open(path, "rb", buffering=0) as f:
        while chunk := f.read(CHUNK):
            total += len(chunk)
    return total / (time.perf_counter() - start) / 1e6


def fsync_ms(directory: Path, samples: int) -> float:
    """Median latency of one fsync of a freshly written 4 KiB file, ms."""
    block = os.urandom(4 * KIB)
    times = []
    for i in range(samples):
        path = directory / f"fsync-{i}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, block)
            start = time.perf_counter()
            os.fsync(fd)
            times.append(time.perf_counter() - start)
        finally:
            os.close(fd)
    for i in range(samples):
        drop_file(directory / f"fsync-{i}")
    return median(times) * 1e3
