"""LocalStore.put returns only once its blob's folder is synced, with folder syncs batched.

The folder fsync runs in a background thread shared by every put of the
process; each put still waits for one that started after its rename (or
after it found the blob already there).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import anyio
import pytest

from aiocontent import Descriptor, Digest
from aiocontent._local import LocalStore
from aiocontent._local import _meta as meta_module


def _desc(data: bytes) -> Descriptor:
    return Descriptor(digest=Digest.from_bytes(data), size=len(data))


class _Recorder:
    """A stand-in for the folder fsync that records what each fsync covered."""

    def __init__(self, delay: float = 0.0, fail: bool = False) -> None:
        self.delay = delay
        self.fail = fail
        self.lock = threading.Lock()
        #: (folder, names present when the fsync started)
        self.covered: list[tuple[str, set[str]]] = []

    def __call__(self, path: str) -> None:
        names = set(os.listdir(path))
        with self.lock:
            self.covered.append((path, names))
        if self.delay:
            time.sleep(self.delay)
        if self.fail:
            raise OSError(5, "I/O error")

    def synced(self, folder: Path, name: str) -> bool:
        return any(path == str(folder) and name in names for path, names in self.covered)


async def test_put_returns_after_a_folder_sync_that_covers_its_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = _Recorder()
    monkeypatch.setattr(meta_module, "_fsync_dir_now", recorder)
    data = b"durable"
    async with LocalStore(tmp_path) as cs:
        await cs.put("r", data, _desc(data))
    dgst = Digest.from_bytes(data)
    assert recorder.synced(tmp_path / "blobs" / "sha256", dgst.encoded)


async def test_put_of_a_present_blob_still_waits_for_a_folder_sync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = b"already there"
    async with LocalStore(tmp_path) as cs:
        await cs.put("r", data, _desc(data))
        recorder = _Recorder()
        monkeypatch.setattr(meta_module, "_fsync_dir_now", recorder)
        await cs.put("r2", data, _desc(data))
    assert recorder.synced(tmp_path / "blobs" / "sha256", Digest.from_bytes(data).encoded)


async def test_concurrent_puts_share_folder_syncs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = _Recorder(delay=0.02)
    monkeypatch.setattr(meta_module, "_fsync_dir_now", recorder)
    blobs = [f"blob {i}".encode() for i in range(24)]
    async with LocalStore(tmp_path) as cs, anyio.create_task_group() as tg:
        for i, data in enumerate(blobs):
            tg.start_soon(cs.put, f"r{i}", data, _desc(data))
    folder = tmp_path / "blobs" / "sha256"
    assert all(recorder.synced(folder, Digest.from_bytes(d).encoded) for d in blobs)
    assert len([p for p, _ in recorder.covered if p == str(folder)]) < len(blobs)


async def test_put_whose_folder_sync_fails_raises_the_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(meta_module, "_fsync_dir_now", _Recorder(fail=True))
    data = b"unsynced"
    async with LocalStore(tmp_path) as cs:
        with pytest.raises(OSError, match="I/O error"):
            await cs.put("r", data, _desc(data))


async def test_cancelled_put_still_waits_for_its_folder_sync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = _Recorder(delay=0.05)
    monkeypatch.setattr(meta_module, "_fsync_dir_now", recorder)
    data = b"shielded"
    async with LocalStore(tmp_path) as cs:
        with anyio.move_on_after(0.01):
            await cs.put("r", data, _desc(data))
        assert recorder.synced(tmp_path / "blobs" / "sha256", Digest.from_bytes(data).encoded)
        assert (await cs.info(str(Digest.from_bytes(data)))).size == len(data)


async def test_put_without_labels_removes_stale_labels_left_by_a_crash(tmp_path: Path) -> None:
    data = b"relabelled"
    dgst = Digest.from_bytes(data)
    stale = tmp_path / "meta" / "sha256" / dgst.encoded
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b'{"labels":{"old":"1"}}')
    async with LocalStore(tmp_path) as cs:
        await cs.put("r", data, _desc(data))
        assert (await cs.info(str(dgst))).labels == {}
    assert not stale.exists()


def test_put_in_a_forked_child_does_not_wait_for_the_parents_sync_thread(tmp_path: Path) -> None:
    async def put(data: bytes) -> None:
        async with LocalStore(tmp_path) as cs:
            await cs.put("r", data, _desc(data))

    anyio.run(put, b"parent")  # the background sync thread is running now
    pid = os.fork()
    if pid == 0:  # pragma: no cover (child)
        code = 1
        signal.alarm(20)  # a put that waits forever kills the child
        try:
            anyio.run(put, b"child")
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert (tmp_path / "blobs" / "sha256" / Digest.from_bytes(b"child").encoded).is_file()
