"""Crash tests: a process ingesting through LocalStore dies at exact points; nothing is lost.

``_crash_child.py`` runs a fixed sequence (open, write, close, resume,
truncate, write, commit with labels, update, delete, a second commit,
quarantine) with ``AIOCONTENT_FAULT`` naming the point where it dies by
SIGKILL (or ``os._exit``), or the parent kills it from outside in the middle
of a write. Then a fresh store object on the same root must show:

- no file under ``blobs/`` whose content differs from its name, no partial or
  writable blob;
- no ref lock held;
- the labels of every committed blob intact (the old ones and the new one);
- exactly the steps that finished (a blob is committed at the rename, not before);
- the interrupted ingest's data a prefix of the content, resumable with
  :func:`~aiocontent.write_blob` to the right digest and labels.

The child alternates anyio backends between cases.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from aiocontent import (
    Descriptor,
    Digest,
    Info,
    NotFoundError,
    with_labels,
    with_ref,
    write_blob,
)
from aiocontent._local import LocalStore
from aiocontent._local._layout import ingest_hex

from . import _crash_child as child
from ._fs import blob_problems, held_locks

CHILD = Path(child.__file__)
OLD = Digest.from_bytes(child.OLD)
DEL = Digest.from_bytes(child.DEL)
BAD = Digest.from_bytes(child.BAD)
SMALL = Digest.from_bytes(child.SMALL)
HALF = child.SIZE // 2
BAD_NOW = Digest.from_bytes(b"X" + child.BAD[1:])

pytestmark = pytest.mark.slow


@pytest.fixture
def anyio_backend() -> str:
    """The checks run on asyncio; the child alternates between asyncio and trio."""
    return "asyncio"


@dataclass(frozen=True)
class Case:
    """Where the child dies and which steps must then be visible."""

    fault: str
    committed: bool = False
    min_offset: int = 0
    updated: bool = False
    deleted: bool = False
    small: bool = False
    quarantined: bool = False


ALL_DONE = {"committed": True, "updated": True, "deleted": True}
CASES = [
    Case("writer:after-mkdir"),
    Case("timestamp:before-rename"),  # startedat of the new ingest
    Case("timestamp:before-rename#2"),  # its updatedat
    Case("writer:after-files"),
    Case("writer:after-files@exit"),
    Case("close:before-updatedat", min_offset=HALF),
    Case("timestamp:before-rename#3", min_offset=HALF),  # updatedat at close
    Case("close:before-hashstate", min_offset=HALF),
    Case("truncate:after-truncate", min_offset=HALF),
    Case("commit:after-fsync", min_offset=child.SIZE),
    Case("meta:before-rename", min_offset=child.SIZE),  # the commit's labels
    Case("commit:after-labels", min_offset=child.SIZE),
    Case("commit:after-labels@exit", min_offset=child.SIZE),
    Case("commit:after-rename", committed=True),
    Case("commit:after-dirsync", committed=True),
    Case("commit:during-cleanup", committed=True),
    Case("commit:after-cleanup", committed=True),
    Case("meta:before-rename#2", committed=True),  # update's label write
    Case("delete:after-blob", committed=True, updated=True, deleted=True),
    Case("commit:after-fsync#2", **ALL_DONE),  # the small blob, no labels
    Case("commit:after-labels#2", **ALL_DONE),
    Case("commit:after-rename#2", small=True, **ALL_DONE),
    Case("commit:during-cleanup#2", small=True, **ALL_DONE),
    Case("quarantine:after-move", small=True, quarantined=True, **ALL_DONE),
]

#: Killed from outside after the child printed this line (in the middle of a phase).
EXTERNAL = {
    "first-half": (f"first {2 * child.CHUNK}", Case("external", min_offset=3 * child.CHUNK)),
    "second-half": (f"rest {HALF + child.CHUNK}", Case("external", min_offset=HALF)),
    "commit": (f"rest {child.SIZE - child.CHUNK}", Case("external", min_offset=child.SIZE)),
}


async def _commit(cs: LocalStore, ref: str, data: bytes, labels: dict[str, str]) -> Digest:
    await write_blob(cs, ref, data, Descriptor(digest=Digest.from_bytes(data), size=len(data)))
    dgst = Digest.from_bytes(data)
    if labels:
        await cs.update(Info(digest=dgst, labels=labels))
    return dgst


async def _prepare(root: Path) -> None:
    async with LocalStore(root) as cs:
        await _commit(cs, "old", child.OLD, child.OLD_LABELS)
        await _commit(cs, "del", child.DEL, child.DEL_LABELS)
        await _commit(cs, "bad", child.BAD, {})
    bad = root / "blobs" / "sha256" / BAD.encoded
    bad.chmod(0o644)
    with bad.open("r+b") as f:
        f.write(b"X")
    bad.chmod(0o444)


def _env(fault: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "AIOCONTENT_FAULT"}
    if fault is not None:
        env["AIOCONTENT_FAULT"] = fault
    return env


def _run_child(root: Path, backend: str, fault: str | None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CHILD), str(root), backend],
        env=_env(fault),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _kill_child_after(root: Path, backend: str, line: str) -> int:
    proc = subprocess.Popen(
        [sys.executable, str(CHILD), str(root), backend],
        env=_env(None),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        for got in proc.stdout:
            if got.strip() == line:
                os.kill(proc.pid, signal.SIGKILL)
                break
        return proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def _ingest_data(root: Path, ref: str) -> bytes | None:
    path = root / "ingest" / ingest_hex(ref) / "data"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


async def _blob(cs: LocalStore, dgst: Digest) -> tuple[bytes, dict[str, str]] | None:
    try:
        info = await cs.info(dgst)
    except NotFoundError:
        return None
    async with await cs.reader_at(Descriptor(digest=dgst)) as ra:
        return await ra.read_at(info.size + 1, 0), info.labels


async def _check_recovery(root: Path, case: Case) -> None:
    corrupt = f"{root}/blobs/sha256/{BAD.encoded} holds content hashing to {BAD_NOW}"
    assert blob_problems(root) == ([] if case.quarantined else [corrupt])
    assert held_locks(root) == []
    partial = _ingest_data(root, child.REF)
    async with LocalStore(root) as cs:
        # What finished is there, what did not is not.
        assert await _blob(cs, OLD) == (child.OLD, child.OLD_LABELS)
        labels = child.LABELS | (child.EXTRA if case.updated else {})
        got = await _blob(cs, child.DIGEST)
        assert got == ((child.DATA, labels) if case.committed else None)
        assert await _blob(cs, DEL) == (None if case.deleted else (child.DEL, child.DEL_LABELS))
        assert await _blob(cs, SMALL) == ((child.SMALL, {}) if case.small else None)
        assert (await _blob(cs, BAD) is None) == case.quarantined
        if not case.committed:
            # The interrupted ingest holds a prefix of the content, no less than was written.
            assert partial is not None or case.min_offset == 0
            if partial is not None:
                assert len(partial) >= case.min_offset
                assert child.DATA.startswith(partial)
        # Resuming (or finding the blob) gives the right content and labels.
        desc = Descriptor(digest=child.DIGEST, size=child.SIZE)
        await write_blob(cs, child.REF, io.BytesIO(child.DATA), desc, with_labels(child.LABELS))
        assert await _blob(cs, child.DIGEST) == (child.DATA, labels)
        await write_blob(cs, child.SMALL_REF, child.SMALL, Descriptor(digest=SMALL))
        assert await _blob(cs, SMALL) == (child.SMALL, {})
        # Ingests left by a crash during cleanup can be aborted; no ref stays locked.
        for st in await cs.list_statuses():
            await cs.abort(st.ref)
        for ref in (child.REF, child.SMALL_REF):
            async with await cs.writer(with_ref(ref)):
                pass
            await cs.abort(ref)
    assert held_locks(root) == []


@pytest.mark.parametrize("case", CASES, ids=[c.fault for c in CASES])
async def test_crash_at_fault_point_loses_and_corrupts_nothing(tmp_path: Path, case: Case) -> None:
    root = tmp_path / "content"
    await _prepare(root)
    backend = ("asyncio", "trio")[CASES.index(case) % 2]
    result = _run_child(root, backend, case.fault)
    want = 70 if case.fault.endswith("@exit") else -signal.SIGKILL
    assert result.returncode == want, (case.fault, result.stdout[-500:], result.stderr[-2000:])
    assert "done" not in result.stdout
    await _check_recovery(root, case)


@pytest.mark.parametrize("where", sorted(EXTERNAL))
async def test_external_sigkill_mid_write_loses_and_corrupts_nothing(
    tmp_path: Path, where: str
) -> None:
    root = tmp_path / "content"
    await _prepare(root)
    line, case = EXTERNAL[where]
    backend = "trio" if where == "second-half" else "asyncio"
    assert _kill_child_after(root, backend, line) == -signal.SIGKILL
    if where == "commit" and (root / "blobs" / "sha256" / child.DIGEST.encoded).exists():
        case = Case("external", committed=True)
    await _check_recovery(root, case)


async def test_child_without_fault_runs_to_the_end(tmp_path: Path) -> None:
    root = tmp_path / "content"
    await _prepare(root)
    result = _run_child(root, "asyncio", None)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[-1] == "done"
