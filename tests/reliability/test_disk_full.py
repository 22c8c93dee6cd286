"""Disk full and read-only roots: a clear error, nothing committed, the ingest resumable.

The store root lives on a small tmpfs mounted by the test (8 MiB), or is seen
through a read-only bind mount. Mounting needs root (CI runs as root); where it
is not permitted the tests skip with the reason, and fail under ``CI=true``.
"""

from __future__ import annotations

import errno
import os
import random
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from aiocontent import (
    Descriptor,
    Digest,
    Info,
    NotFoundError,
    copy,
    with_descriptor,
    with_labels,
    with_ref,
)
from aiocontent._local import LocalStore

from ._fs import blob_problems, held_locks, mounted

pytestmark = pytest.mark.tmpfs

MiB = 1 << 20
DATA = random.Random(7).randbytes(6 * MiB)
DGST = Digest.from_bytes(DATA)
LABELS = {"name": "big"}


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """An 8 MiB tmpfs, unmounted after the test whatever happens."""
    with mounted(tmp_path / "fs", "-t", "tmpfs", "-o", "size=8m,mode=0755", "tmpfs") as fs:
        yield fs


def _fill(path: Path) -> None:
    """Write ``path`` until the file system is full."""
    chunk = b"\xff" * (256 << 10)
    with path.open("wb", buffering=0) as f:
        try:
            while True:
                f.write(chunk)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    # Use up the last partial page too.
    with path.open("ab", buffering=0) as f:
        try:
            while True:
                f.write(b"\xff" * 512)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC


async def _write_until_full(cs: LocalStore, ref: str) -> int:
    """Write DATA in 1 MiB chunks until the disk refuses; returns the bytes accepted."""
    async with await cs.writer(
        with_ref(ref), with_descriptor(Descriptor(digest=DGST, size=len(DATA)))
    ) as w:
        done = 0
        with pytest.raises(OSError) as err:
            for off in range(0, len(DATA), MiB):
                await w.write(DATA[off : off + MiB])
                done += len(DATA[off : off + MiB])
        assert err.value.errno == errno.ENOSPC, err.value
        # A refused write applied not at all: the writer and the file agree.
        assert (await w.status()).offset == done
        assert w.digest() == Digest.from_bytes(DATA[:done])
    return done


async def test_ingest_out_of_space_raises_enospc_and_resumes_after_space_is_freed(
    small_fs: Path,
) -> None:
    filler = small_fs / "filler"
    filler.write_bytes(b"\0" * (3 * MiB))
    async with LocalStore(small_fs / "content") as cs:
        done = await _write_until_full(cs, "big")
        assert 0 < done < len(DATA)
        assert (await cs.status("big")).offset == done
        with pytest.raises(NotFoundError):
            await cs.info(DGST)
        filler.unlink()
        async with await cs.writer(with_ref("big")) as w:
            assert (await w.status()).offset == done
            await copy(w, DATA, len(DATA), DGST, with_labels(LABELS))
        info = await cs.info(DGST)
        assert (info.size, info.labels) == (len(DATA), LABELS)
    assert blob_problems(small_fs / "content") == []
    assert held_locks(small_fs / "content") == []


async def test_commit_on_a_full_disk_commits_nothing_and_keeps_the_ingest(small_fs: Path) -> None:
    root = small_fs / "content"
    async with LocalStore(root) as cs:
        w = await cs.writer(with_ref("labelled"))
        await w.write(DATA[: 2 * MiB])
        dgst = Digest.from_bytes(DATA[: 2 * MiB])
        _fill(small_fs / "filler")
        # The label file needs space: the commit fails before the blob appears.
        with pytest.raises(OSError) as err:
            await w.commit(2 * MiB, dgst, with_labels(LABELS))
        assert err.value.errno == errno.ENOSPC
        with pytest.raises(NotFoundError):
            await cs.info(dgst)
        assert blob_problems(root) == []
        assert (await cs.status("labelled")).offset == 2 * MiB
        (small_fs / "filler").unlink()
        async with await cs.writer(with_ref("labelled")) as w:
            assert w.digest() == dgst
            await w.commit(2 * MiB, dgst, with_labels(LABELS))
        assert (await cs.info(dgst)).labels == LABELS
    assert blob_problems(root) == []
    assert held_locks(root) == []


async def test_update_on_a_full_disk_keeps_the_old_labels(small_fs: Path) -> None:
    root = small_fs / "content"
    async with LocalStore(root) as cs:
        async with await cs.writer(with_ref("small")) as w:
            await w.write(b"small blob")
            await w.commit(0, "", with_labels({"old": "yes"}))
        dgst = Digest.from_bytes(b"small blob")
        _fill(small_fs / "filler")
        with pytest.raises(OSError) as err:
            await cs.update(Info(digest=dgst, labels={"new": "x" * 3000}))
        assert err.value.errno == errno.ENOSPC
        assert (await cs.info(dgst)).labels == {"old": "yes"}


# --------------------------------------------------------------------------- read-only root


@pytest.fixture
async def read_only_root(tmp_path: Path) -> AsyncIterator[tuple[Path, Digest]]:
    """A populated root, and a read-only bind mount of it."""
    root = tmp_path / "content"
    async with LocalStore(root) as cs:
        async with await cs.writer(with_ref("ro")) as w:
            await w.write(b"read me")
            await w.commit(0, "", with_labels({"k": "v"}))
        async with await cs.writer(with_ref("pending")) as w:
            await w.write(b"half")
    view = tmp_path / "view"
    with mounted(view, "--bind", str(root)), mounted(view, "-o", "remount,ro,bind"):
        yield view, Digest.from_bytes(b"read me")


def _is_read_only(path: Path) -> bool:
    return bool(os.statvfs(path).f_flag & os.ST_RDONLY)


async def test_read_only_root_still_serves_reads(read_only_root: tuple[Path, Digest]) -> None:
    view, dgst = read_only_root
    assert _is_read_only(view)
    async with LocalStore(view) as cs:
        info = await cs.info(dgst)
        assert (info.size, info.labels) == (7, {"k": "v"})
        async with await cs.reader_at(Descriptor(digest=dgst)) as ra:
            assert await ra.read_at(100, 0) == b"read me"
        seen: list[Digest] = []
        await cs.walk(lambda i: seen.append(i.digest))
        assert seen == [dgst]
        assert [s.ref for s in await cs.list_statuses()] == ["pending"]
        assert await cs.verify() == []


@pytest.mark.parametrize("op", ["writer", "resume", "update", "delete", "abort"])
async def test_read_only_root_refuses_writes_with_erofs(
    read_only_root: tuple[Path, Digest], op: str
) -> None:
    view, dgst = read_only_root
    async with LocalStore(view) as cs:
        with pytest.raises(OSError) as err:
            if op == "writer":
                await cs.writer(with_ref("new"))
            elif op == "resume":
                await cs.writer(with_ref("pending"))
            elif op == "update":
                await cs.update(Info(digest=dgst, labels={"k": "changed"}))
            elif op == "delete":
                await cs.delete(dgst)
            else:
                await cs.abort("pending")
        assert err.value.errno == errno.EROFS, err.value
        assert "Read-only file system" in str(err.value)
        assert (await cs.info(dgst)).labels == {"k": "v"}
        assert [s.offset for s in await cs.list_statuses()] == [4]
