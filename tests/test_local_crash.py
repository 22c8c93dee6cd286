"""LocalStore after a process dies (SIGKILL) mid-ingest or mid-commit.

Children run as separate interpreters; ``AIOCONTENT_FAULT`` makes them die at a
named point (see ``aiocontent/_local/_fault.py``). Afterwards every file under
``blobs/`` must hash to its name, be read-only and carry its labels, and the
same copy must resume and commit.
"""

from __future__ import annotations

import hashlib
import io
import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Final

import anyio
import pytest

from aiocontent import Descriptor, Digest, copy, with_descriptor, with_labels, with_ref, write_blob
from aiocontent._local import LocalStore

from ._disk import sound_blobs

MIB: Final = 1 << 20
CHUNKS: Final = 64


def _chunk(i: int) -> bytes:
    return hashlib.sha512(str(i).encode()).digest() * (MIB // 64)


BIG: Final = b"".join(_chunk(i) for i in range(CHUNKS))
BIG_DESC: Final = Descriptor(digest=Digest.from_bytes(BIG), size=len(BIG))

INGEST = f"""
import hashlib, sys, anyio
from aiocontent import Descriptor, Digest, with_descriptor, with_ref
from aiocontent._local import LocalStore

def chunk(i):
    return hashlib.sha512(str(i).encode()).digest() * {MIB // 64}

async def main():
    root, backend_stop = sys.argv[1], int(sys.argv[2])
    desc = Descriptor(digest=Digest(sys.argv[3]), size={len(BIG)})
    cs = LocalStore(root)
    w = await cs.writer(with_ref("default/1/big"), with_descriptor(desc))
    for i in range({CHUNKS}):
        await w.write(chunk(i))
        if i + 1 == backend_stop:
            print("mid", flush=True)
            await anyio.sleep(60)

anyio.run(main, backend=sys.argv[4])
"""

SMALL: Final = b"small blob with labels"
SMALL_DGST: Final = Digest.from_bytes(SMALL)
LABELS: Final = {"containerd.io/gc.root": "x", "a": "b"}

COMMIT = f"""
import sys, anyio
from aiocontent import Digest, with_labels, with_ref
from aiocontent._local import LocalStore

async def main():
    async with LocalStore(sys.argv[1]) as cs:
        w = await cs.writer(with_ref("small"))
        await w.write({SMALL!r})
        await w.aclose()
        w = await cs.writer(with_ref("small"))
        await w.commit({len(SMALL)}, Digest({SMALL_DGST!r}), with_labels({LABELS!r}))
    print("committed", flush=True)

anyio.run(main, backend=sys.argv[2])
"""


def _child_env(fault: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("AIOCONTENT_FAULT", None)
    if fault:
        env["AIOCONTENT_FAULT"] = fault
    return env


_OTHER: Final = {"asyncio": "trio", "trio": "asyncio"}


@pytest.mark.parametrize("child_backend", ["asyncio", "trio"])
def test_killed_64mib_ingest_resumes_and_commits(tmp_path: Path, child_backend: str) -> None:
    with subprocess.Popen(
        [sys.executable, "-c", INGEST, str(tmp_path), "24", BIG_DESC.digest, child_backend],
        stdout=subprocess.PIPE,
        env=_child_env(None),
    ) as proc:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"mid\n"
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    async def resume() -> None:
        async with LocalStore(tmp_path) as cs:
            w = await cs.writer(with_ref("default/1/big"), with_descriptor(BIG_DESC))
            st = await w.status()
            assert (st.offset, st.total) == (24 * MIB, len(BIG))
            await copy(w, io.BytesIO(BIG), BIG_DESC.size, BIG_DESC.digest)
            assert (await cs.info(BIG_DESC.digest)).size == len(BIG)
            assert await cs.list_statuses() == []

    anyio.run(resume, backend=_OTHER[child_backend])
    assert sound_blobs(tmp_path) == [BIG_DESC.digest]


@pytest.mark.parametrize("child_backend", ["asyncio", "trio"])
def test_death_between_write_and_hash_resumes_from_the_data(
    tmp_path: Path, child_backend: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-c", INGEST, str(tmp_path), "0", BIG_DESC.digest, child_backend],
        env=_child_env("write:after-data#10"),
        capture_output=True,
    )
    assert result.returncode == -signal.SIGKILL, result.stderr.decode()

    async def resume() -> None:
        async with LocalStore(tmp_path) as cs:
            w = await cs.writer(with_ref("default/1/big"), with_descriptor(BIG_DESC))
            assert (await w.status()).offset == 10 * MIB
            assert w.digest() == Digest.from_bytes(BIG[: 10 * MIB])
            await copy(w, io.BytesIO(BIG), BIG_DESC.size, BIG_DESC.digest)

    anyio.run(resume, backend=_OTHER[child_backend])
    assert sound_blobs(tmp_path) == [BIG_DESC.digest]


COMMIT_POINTS: Final = [
    "writer:after-mkdir",
    "writer:after-files",
    "timestamp:before-rename",
    "write:after-data",
    "close:before-updatedat",
    "commit:after-fsync",
    "meta:before-rename",
    "commit:after-labels",
    "commit:after-rename",
    "commit:after-dirsync",
    "commit:during-cleanup",
    "commit:after-cleanup",
]


@pytest.mark.parametrize("point", COMMIT_POINTS)
def test_death_at_a_commit_point_leaves_a_consistent_root(tmp_path: Path, point: str) -> None:
    backend = "trio" if COMMIT_POINTS.index(point) % 2 else "asyncio"
    result = subprocess.run(
        [sys.executable, "-c", COMMIT, str(tmp_path), backend],
        env=_child_env(point),
        capture_output=True,
    )
    assert result.returncode == -signal.SIGKILL, result.stderr.decode()
    blobs = sound_blobs(tmp_path)

    async def recover() -> None:
        async with LocalStore(tmp_path) as cs:
            if blobs:
                assert (await cs.info(SMALL_DGST)).labels == LABELS
            desc = Descriptor(digest=SMALL_DGST, size=len(SMALL))
            await write_blob(cs, "small", SMALL, desc, with_labels(LABELS))
            assert (await cs.info(SMALL_DGST)).labels == LABELS
            await cs.prune_ingests(timedelta(0))
            assert await cs.list_statuses() == []

    anyio.run(recover, backend=backend)
    assert sound_blobs(tmp_path) == [SMALL_DGST]


def test_unset_fault_lets_the_child_commit(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", COMMIT, str(tmp_path), "asyncio"],
        env=_child_env(None),
        capture_output=True,
    )
    assert result.stdout == b"committed\n", result.stderr.decode()
    assert sound_blobs(tmp_path) == [SMALL_DGST]
