"""Shared pieces of the benchmark: sizes, payloads, scratch roots, timing and memory probes."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import platform
import random
import shutil
import statistics
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

KIB: Final = 1024
MIB: Final = 1024 * KIB
GIB: Final = 1024 * MIB


@dataclasses.dataclass(frozen=True)
class Sizes:
    """The sizes of every workload (full run or ``--quick``)."""

    ingest: int  # W1, W7, W8: one blob from memory
    blobs: int  # W2, W5: number of small blobs
    blob_size: int  # W2: size of each small blob
    writers: int  # W2: concurrent writers
    read: int  # W3: blob read sequentially
    resume: int  # W4: bytes in the ingest before it is resumed
    same_size: int  # W6: the blob every task writes
    same_tasks: int  # W6: tasks writing it under one ref
    limit_bytes: int  # bytes moved by the hash / write / read limits
    fsync_samples: int  # small files fsynced for the latency limit

    @classmethod
    def full(cls) -> Sizes:
        return cls(
            ingest=GIB,
            blobs=5000,
            blob_size=4 * KIB,
            writers=64,
            read=GIB,
            resume=512 * MIB,
            same_size=4 * MIB,
            same_tasks=64,
            limit_bytes=GIB,
            fsync_samples=200,
        )

    @classmethod
    def quick(cls) -> Sizes:
        return cls(
            ingest=32 * MIB,
            blobs=200,
            blob_size=4 * KIB,
            writers=16,
            read=32 * MIB,
            resume=16 * MIB,
            same_size=1 * MIB,
            same_tasks=16,
            limit_bytes=32 * MIB,
            fsync_samples=20,
        )


def payload(size: int, seed: int = 1) -> bytes:
    """``size`` pseudo-random bytes, every MiB distinct (cheap to make, not compressible)."""
    block = random.Random(seed).randbytes(min(size, MIB))
    if size <= MIB:
        return block
    parts = []
    for off in range(0, size, MIB):
        stamp = seed.to_bytes(8, "little") + off.to_bytes(8, "little")
        parts.append(stamp + block[16 : min(MIB, size - off)])
    return b"".join(parts)


def small_blobs(count: int, size: int, seed: int = 1) -> list[bytes]:
    """``count`` distinct random blobs of ``size`` bytes."""
    rng = random.Random(seed)
    return [i.to_bytes(8, "little") + rng.randbytes(size - 8) for i in range(count)]


def sha256_digest(data: bytes | memoryview) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-quantile (0..1) of ``values`` by nearest rank."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))
    return ordered[rank]


class Clock:
    """A stopwatch: ``with Clock() as c: ...`` then ``c.seconds``."""

    seconds: float = 0.0

    def __enter__(self) -> Clock:
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._start


# --------------------------------------------------------------------------- memory


def proc_status_kib(field: str) -> int:
    """A ``/proc/self/status`` field (``VmRSS``, ``VmHWM``) in KiB, or -1 where unknown."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def reset_peak_rss() -> bool:
    """Reset this process's peak RSS (``VmHWM``); ``False`` where the kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
    except OSError:
        return False
    return True


class PeakRSS:
    """Peak RSS growth over a block: ``with PeakRSS() as p: ...`` then ``p.growth`` (bytes)."""

    growth: float = float("nan")

    def __enter__(self) -> PeakRSS:
        self._before = proc_status_kib("VmRSS")
        self._ok = reset_peak_rss() and self._before >= 0
        return self

    def __exit__(self, *exc: object) -> None:
        if self._ok:
            self.growth = float(max(0, proc_status_kib("VmHWM") - self._before) * KIB)


# --------------------------------------------------------------------------- scratch space


def prepare_scratch(path: Path) -> str | None:
    """Create ``path`` and set ``chattr +T`` on it; returns why that failed, or ``None``.

    ``+T`` makes ext4 spread the directories below over block groups, which
    keeps file creation from slowing down run after run once many files
    have been deleted.
    """
    path.mkdir(parents=True, exist_ok=True)
    chattr = shutil.which("chattr")
    if chattr is None:
        return "chattr not found"
    proc = subprocess.run([chattr, "+T", str(path)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return proc.stderr.strip() or f"chattr exited with {proc.returncode}"
    return None


#: Pause after flushing the page cache before each measurement (``--quick``: none).
SETTLE = {"seconds": 0.3}


def settle() -> None:
    """Let the disk finish what earlier steps left (writeback, discards of deleted files).

    Without it whatever runs first after a large delete is measured slower.
    """
    os.sync()
    if SETTLE["seconds"] > 0:
        time.sleep(SETTLE["seconds"])


@contextlib.contextmanager
def fresh_dir(parent: Path, name: str) -> Iterator[Path]:
    """A new empty directory under ``parent`` on a settled disk, removed afterwards."""
    path = parent / name
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    settle()
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def filesystem(path: Path) -> str:
    """The type, device and mount options of the filesystem holding ``path`` (``?`` if unknown)."""
    findmnt = shutil.which("findmnt")
    if findmnt is None:
        return "?"
    proc = subprocess.run(
        [findmnt, "-n", "-o", "FSTYPE,SOURCE,OPTIONS", "--target", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout.strip() or "?"


def machine(mode: str, repeats: int, filesystem: str) -> dict[str, object]:
    """Where and how a benchmark ran: the first lines of its report."""
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "mode": mode,
        "repeats": repeats,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "filesystem": filesystem,
    }


def drop_file(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
