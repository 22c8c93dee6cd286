"""Multi-process stress: 4 processes x 64 tasks on one root, with random cancellations.

Two processes run asyncio, two trio (``_stress_child.py``). The tasks mix one
contended ref, one digest under many refs and blobs of their own. Afterwards:

- every task ended with success, ``AlreadyExistsError`` or its cancellation
  (anything else fails its process);
- each digest has exactly one blob, hashing to its name, and every digest a
  task reported as committed or existing is there;
- no lock is held, no ingest belongs to a task that finished, and every
  ingest left by a cancelled task holds a prefix of its content and resumes to
  the right digest.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from aiocontent import Descriptor, Digest, write_blob
from aiocontent._local import LocalStore
from aiocontent._local._layout import ingest_hex

from . import _stress_child as child
from ._fs import blob_problems, held_locks

PROCESSES = 4
TASKS = 64
CHILD = Path(child.__file__)

pytestmark = pytest.mark.slow


@pytest.fixture
def anyio_backend() -> str:
    """The checks run on asyncio; the children run both backends."""
    return "asyncio"


def _run_all(root: Path) -> list[dict[str, str]]:
    procs = [
        subprocess.Popen(
            [sys.executable, str(CHILD), str(root), ("asyncio", "trio")[i % 2], str(i), str(TASKS)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(PROCESSES)
    ]
    lines: list[dict[str, str]] = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=90)
            assert proc.returncode == 0, err[-3000:]
            lines.extend(json.loads(line) for line in out.splitlines())
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    return lines


def _content_name(ref: str) -> str:
    return "dup" if ref.startswith("dup-") else ref


async def test_processes_and_tasks_sharing_a_root_lose_and_leak_nothing(tmp_path: Path) -> None:
    root = tmp_path / "content"
    results = _run_all(root)
    assert len(results) == PROCESSES * TASKS
    outcomes = {r["outcome"] for r in results}
    assert outcomes <= {"ok", "exists", "cancelled"}
    assert {r["ref"] for r in results} >= {"shared"}

    assert blob_problems(root) == []
    assert held_locks(root) == []
    on_disk = {
        Digest(f"{alg.name}:{entry.name}")
        for alg in (root / "blobs").iterdir()
        for entry in alg.iterdir()
    }
    finished = {Digest(r["digest"]) for r in results if r["outcome"] != "cancelled"}
    attempted = {Digest(r["digest"]) for r in results}
    assert finished <= on_disk <= attempted
    # One digest under many refs and one contended ref each gave exactly one blob.
    assert sum(1 for r in results if r["outcome"] == "ok" and r["ref"] == "shared") <= 1

    cancelled = {r["ref"]: r for r in results if r["outcome"] == "cancelled"}
    async with LocalStore(root) as cs:
        statuses = await cs.list_statuses()
        for st in statuses:
            assert st.ref in cancelled or st.ref == "shared", st.ref
        for st in statuses:
            data = child.content(_content_name(st.ref))
            left = (root / "ingest" / ingest_hex(st.ref) / "data").read_bytes()
            assert data.startswith(left), st.ref
            dgst = Digest.from_bytes(data)
            await write_blob(cs, st.ref, data, Descriptor(digest=dgst, size=len(data)))
            async with await cs.reader_at(Descriptor(digest=dgst)) as ra:
                assert await ra.read_at(len(data) + 1, 0) == data
            if st.ref in {s.ref for s in await cs.list_statuses()}:
                await cs.abort(st.ref)  # the blob existed already: nothing to resume
        assert await cs.list_statuses() == []
        assert await cs.verify() == []
    assert held_locks(root) == []
    assert blob_problems(root) == []
