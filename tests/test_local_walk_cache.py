"""LocalStore.walk's cached folder listings never hide a change.

A listing is reused only while its folder is unchanged and was taken well
after the folder's last change (racy timestamps); these tests make changes
from other processes, other store objects and plain file operations right
after a walk, within the same second and usually within the same clock tick.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Final

import anyio
import pytest

from aiocontent import Descriptor, Digest, Info
from aiocontent._local import LocalStore
from aiocontent._local import _store as store_module
from aiocontent._local._listing import RACY_NS, FolderCache

PUT: Final = """
import sys, anyio
from aiocontent import Descriptor, Digest
from aiocontent._local import LocalStore

async def main():
    data = sys.argv[2].encode()
    async with LocalStore(sys.argv[1]) as cs:
        await cs.put("child", data, Descriptor(digest=Digest.from_bytes(data), size=len(data)))

anyio.run(main)
"""

DELETE: Final = """
import sys, anyio
from aiocontent._local import LocalStore

async def main():
    async with LocalStore(sys.argv[1]) as cs:
        await cs.delete(sys.argv[2])

anyio.run(main)
"""


def _desc(data: bytes) -> Descriptor:
    return Descriptor(digest=Digest.from_bytes(data), size=len(data))


async def _put(cs: LocalStore, data: bytes, ref: str = "r") -> Digest:
    desc = _desc(data)
    await cs.put(ref, data, desc)
    return desc.digest


async def _walk(cs: LocalStore, *filters: str) -> list[Info]:
    seen: list[Info] = []
    await cs.walk(seen.append, *filters)
    return seen


async def _digests(cs: LocalStore) -> list[str]:
    return [str(info.digest) for info in await _walk(cs)]


# ----------------------------------------------------------------------------- other processes


async def test_walk_sees_a_blob_another_process_committed_right_after_it(tmp_path: Path) -> None:
    async with LocalStore(tmp_path) as cs:
        first = await _put(cs, b"first")
        assert await _digests(cs) == [first]
        await anyio.run_process([sys.executable, "-c", PUT, str(tmp_path), "second"])
        assert sorted(await _digests(cs)) == sorted([first, Digest.from_bytes(b"second")])


async def test_walk_drops_a_blob_another_process_deleted_right_after_it(tmp_path: Path) -> None:
    async with LocalStore(tmp_path) as cs:
        keep = await _put(cs, b"keep")
        gone = await _put(cs, b"gone")
        assert sorted(await _digests(cs)) == sorted([keep, gone])
        await anyio.run_process([sys.executable, "-c", DELETE, str(tmp_path), gone])
        assert await _digests(cs) == [keep]


# ----------------------------------------------------------------------------- other store objects


async def test_walk_sees_labels_another_store_object_set_right_after_it(tmp_path: Path) -> None:
    async with LocalStore(tmp_path) as cs, LocalStore(tmp_path) as other:
        dgst = await _put(cs, b"labelled")
        assert [i.labels for i in await _walk(cs)] == [{}]
        await other.update(Info(digest=dgst, labels={"a": "1"}), "labels")
        assert [i.labels for i in await _walk(cs)] == [{"a": "1"}]
        assert [i.digest for i in await _walk(cs, "labels.a==1")] == [dgst]
        await other.update(Info(digest=dgst, labels={}), "labels")
        assert [i.labels for i in await _walk(cs)] == [{}]


async def test_walk_reports_a_recommitted_blob_with_its_new_creation_time(tmp_path: Path) -> None:
    async with LocalStore(tmp_path) as cs, LocalStore(tmp_path) as other:
        dgst = await _put(cs, b"again")
        [before] = await _walk(cs)
        await other.delete(dgst)
        await anyio.sleep(0.01)
        await _put(other, b"again")
        [after] = await _walk(cs)
        assert after.created_at == (await other.info(dgst)).created_at
        assert after.created_at > before.created_at


async def test_walk_hands_out_labels_the_caller_may_change(tmp_path: Path) -> None:
    async with LocalStore(tmp_path) as cs:
        dgst = await _put(cs, b"mine")
        await cs.update(Info(digest=dgst, labels={"a": "1"}), "labels")
        for info in await _walk(cs):
            info.labels["a"] = "changed"
        assert [i.labels for i in await _walk(cs)] == [{"a": "1"}]


# ----------------------------------------------------------------------------- racy timestamps


async def test_walk_sees_files_renamed_in_within_the_same_clock_tick(tmp_path: Path) -> None:
    # A rename made straight after a walk usually leaves the folder with the
    # same coarse mtime the walk saw: only the racy-timestamp margin catches it.
    async with LocalStore(tmp_path) as cs:
        await _put(cs, b"seed")
        folder = tmp_path / "blobs" / "sha256"
        expected = await _digests(cs)
        for i in range(25):
            data = f"tick {i}".encode()
            hexdigest = hashlib.sha256(data).hexdigest()
            staged = tmp_path / f"staged-{i}"
            staged.write_bytes(data)
            await _digests(cs)
            os.rename(staged, folder / hexdigest)
            expected.append(f"sha256:{hexdigest}")
            assert await _digests(cs) == sorted(expected)


def _counting(build: Callable[[str], list[str]]) -> tuple[list[int], Callable[[str], list[str]]]:
    calls = [0]

    def counted(path: str) -> list[str]:
        calls[0] += 1
        return build(path)

    return calls, counted


def test_listing_taken_within_the_margin_of_a_change_is_taken_again(tmp_path: Path) -> None:
    mtime = os.stat(tmp_path).st_mtime_ns
    ctime = os.stat(tmp_path).st_ctime_ns
    cache: FolderCache[list[str]] = FolderCache(clock=lambda: max(mtime, ctime) + RACY_NS // 2)
    calls, build = _counting(os.listdir)
    cache.get(str(tmp_path), build)
    cache.get(str(tmp_path), build)
    assert calls == [2]


def test_listing_taken_well_after_a_change_is_reused_until_the_folder_changes(
    tmp_path: Path,
) -> None:
    cache: FolderCache[list[str]] = FolderCache(clock=lambda: 2**62)
    calls, build = _counting(os.listdir)
    assert cache.get(str(tmp_path), build) == []
    assert cache.get(str(tmp_path), build) == []
    assert calls == [1]
    (tmp_path / "new").write_bytes(b"")
    assert cache.get(str(tmp_path), build) == ["new"]
    assert calls == [2]


def test_listing_of_a_missing_folder_is_none_and_not_built(tmp_path: Path) -> None:
    cache: FolderCache[list[str]] = FolderCache()
    calls, build = _counting(os.listdir)
    assert cache.get(str(tmp_path / "missing"), build) is None
    assert calls == [0]


# ----------------------------------------------------------------------------- slow callbacks


async def test_walk_with_a_slow_callback_skips_a_blob_deleted_meanwhile(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(store_module, "WALK_REFRESH", 0.0)
    async with LocalStore(tmp_path) as cs, LocalStore(tmp_path) as other:
        digests = sorted([await _put(cs, bytes([i]) * 8, f"r{i}") for i in range(3)])
        seen: list[str] = []

        async def visit(info: Info) -> None:
            seen.append(str(info.digest))
            if len(seen) == 1:
                await other.delete(digests[1])

        await cs.walk(visit)
        assert seen == [digests[0], digests[2]]


async def test_walk_of_a_root_whose_blobs_is_a_file_yields_nothing(tmp_path: Path) -> None:
    (tmp_path / "blobs").write_bytes(b"not a folder")
    async with LocalStore(tmp_path) as cs:
        assert await _walk(cs) == []
