"""``put``: one-step writes of small in-memory blobs (LocalStore and MemoryStore), and
``write_blob``'s use of it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from datetime import timedelta
from pathlib import Path
from typing import Final

import anyio
import pytest

from aiocontent import (
    Descriptor,
    Digest,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    ShortReadError,
    UnavailableError,
    read_blob,
    with_labels,
    with_ref,
    write_blob,
)
from aiocontent._interfaces import SupportsPut
from aiocontent._local import LocalStore
from aiocontent._local import _put as put_module
from aiocontent._memory import MemoryStore

from ._disk import sound_blobs

DATA: Final = b"a small blob for put" * 10
DGST: Final = Digest.from_bytes(DATA)
DESC: Final = Descriptor(digest=DGST, size=len(DATA))
LABELS: Final = {"containerd.io/gc.root": "x", "a": "b"}

PutStore = LocalStore | MemoryStore


@pytest.fixture(params=["local", "memory"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[PutStore]:
    cs: PutStore = LocalStore(tmp_path / "root") if request.param == "local" else MemoryStore()
    async with cs:
        yield cs


def _tmp_files(root: Path) -> list[str]:
    folder = root / "tmp"
    return sorted(os.listdir(folder)) if folder.exists() else []


# --------------------------------------------------------------------------- semantics


async def test_both_stores_offer_put(store: PutStore) -> None:
    assert isinstance(store, SupportsPut)


async def test_put_stores_the_blob_with_its_labels(store: PutStore) -> None:
    await store.put("r", DATA, DESC, with_labels(LABELS))
    info = await store.info(DGST)
    assert (info.size, info.labels) == (len(DATA), LABELS)
    assert await read_blob(store, DESC) == DATA


@pytest.mark.parametrize("kind", ["bytearray", "memoryview"])
async def test_put_accepts_mutable_buffers(store: PutStore, kind: str) -> None:
    data = bytearray(DATA) if kind == "bytearray" else memoryview(bytearray(DATA))
    await store.put("r", data, DESC)
    assert await read_blob(store, DESC) == DATA


async def test_put_creates_no_ingest(store: PutStore) -> None:
    await store.put("r", DATA, DESC)
    assert await store.list_statuses() == []


async def test_put_with_a_zero_size_checks_only_the_digest(store: PutStore) -> None:
    await store.put("r", DATA, Descriptor(digest=DGST))
    assert (await store.info(DGST)).size == len(DATA)


async def test_put_digest_mismatch_stores_nothing(store: PutStore) -> None:
    wrong = Descriptor(digest=Digest.from_bytes(b"other"), size=len(DATA))
    with pytest.raises(FailedPreconditionError, match="unexpected commit digest"):
        await store.put("r", DATA, wrong, with_labels(LABELS))
    with pytest.raises(NotFoundError):
        await store.info(wrong.digest)
    assert await store.list_statuses() == []


async def test_put_size_mismatch_stores_nothing(store: PutStore) -> None:
    with pytest.raises(FailedPreconditionError, match=f"expected {len(DATA) + 1}"):
        await store.put("r", DATA, Descriptor(digest=DGST, size=len(DATA) + 1))
    with pytest.raises(NotFoundError):
        await store.info(DGST)


async def test_put_of_an_existing_blob_returns_and_keeps_its_labels(store: PutStore) -> None:
    await store.put("r", DATA, DESC, with_labels(LABELS))
    await store.put("r2", DATA, DESC, with_labels({"other": "1"}))
    assert (await store.info(DGST)).labels == LABELS


@pytest.mark.parametrize(
    ("desc", "error"),
    [
        (Descriptor(size=len(DATA)), InvalidArgumentError),
        (Descriptor(digest=Digest("sha256:nothex"), size=len(DATA)), InvalidArgumentError),
    ],
)
async def test_put_without_a_valid_digest_raises(
    store: PutStore, desc: Descriptor, error: type[Exception]
) -> None:
    with pytest.raises(error):
        await store.put("r", DATA, desc)
    assert await store.list_statuses() == []


async def test_put_with_an_empty_ref_raises_invalid_argument(store: PutStore) -> None:
    with pytest.raises(InvalidArgumentError, match="ref"):
        await store.put("", DATA, DESC)


async def test_put_of_a_str_raises_type_error(store: PutStore) -> None:
    with pytest.raises(TypeError, match="str"):
        await store.put("r", "text", DESC)  # type: ignore[arg-type]


async def test_put_with_a_bad_label_stores_nothing(store: PutStore) -> None:
    with pytest.raises(InvalidArgumentError):
        await store.put("r", DATA, DESC, with_labels({"": "x"}))
    with pytest.raises(NotFoundError):
        await store.info(DGST)


async def test_put_on_a_closed_store_raises_failed_precondition(store: PutStore) -> None:
    await store.aclose()
    with pytest.raises(FailedPreconditionError, match="closed"):
        await store.put("r", DATA, DESC)


async def test_put_while_a_writer_holds_the_ref_raises_unavailable(store: PutStore) -> None:
    async with aclosing(await store.writer(with_ref("r"))):
        with pytest.raises(UnavailableError):
            await store.put("r", DATA, DESC)
    with pytest.raises(NotFoundError):
        await store.info(DGST)


async def test_write_blob_waits_for_the_writer_holding_the_ref(store: PutStore) -> None:
    cw = await store.writer(with_ref("r"))
    done = anyio.Event()

    async def write() -> None:
        await write_blob(store, "r", DATA, DESC)
        done.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(write)
        await anyio.sleep(0.05)
        assert not done.is_set()
        await cw.aclose()
        with anyio.fail_after(5):
            await done.wait()
    assert await read_blob(store, DESC) == DATA


async def test_concurrent_puts_of_one_digest_store_one_blob(store: PutStore) -> None:
    async with anyio.create_task_group() as tg:
        for i in range(8):
            tg.start_soon(store.put, f"r{i}", DATA, DESC)
    found: list[Digest] = []
    await store.walk(lambda info: found.append(info.digest))
    assert found == [DGST]


async def test_write_blob_of_bytes_uses_put(
    store: PutStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def no_writer(*args: object) -> None:
        raise AssertionError("writer() called")

    monkeypatch.setattr(store, "writer", no_writer)
    await write_blob(store, "r", DATA, DESC, with_labels(LABELS))
    assert (await store.info(DGST)).labels == LABELS


async def test_write_blob_by_put_removes_an_unfinished_ingest_of_its_ref(
    store: PutStore,
) -> None:
    async with await store.writer(with_ref("r")) as w:
        await w.write(DATA[:10])
    await write_blob(store, "r", DATA, DESC)
    assert await read_blob(store, DESC) == DATA
    with pytest.raises(NotFoundError):
        await store.status("r")


async def test_put_keeps_an_ingest_that_another_store_object_holds(tmp_path: Path) -> None:
    async with LocalStore(tmp_path) as cs, LocalStore(tmp_path) as other:
        w = await other.writer(with_ref("r"))
        async with aclosing(w):
            await w.write(DATA[:10])
            await cs.put("r", DATA, DESC)
            assert (await cs.status("r")).offset == 10
        assert await read_blob(cs, DESC) == DATA


async def test_write_blob_of_short_bytes_still_raises_short_read(store: PutStore) -> None:
    with pytest.raises(ShortReadError):
        await write_blob(store, "r", DATA[:-1], DESC)


async def test_write_blob_of_wrong_bytes_keeps_the_ingest_as_before(store: PutStore) -> None:
    wrong = b"X" + DATA[1:]
    with pytest.raises(FailedPreconditionError):
        await write_blob(store, "r", wrong, DESC)
    with pytest.raises(NotFoundError):
        await store.info(DGST)
    assert (await store.status("r")).offset == len(wrong)


# --------------------------------------------------------------------------- LocalStore files


async def test_local_put_is_durable_read_only_and_leaves_no_temp(tmp_path: Path) -> None:
    async with LocalStore(tmp_path) as cs:
        await cs.put("r", DATA, DESC, with_labels(LABELS))
    assert sound_blobs(tmp_path) == [DGST]
    assert _tmp_files(tmp_path) == []
    assert not (tmp_path / "ingest").exists()
    async with LocalStore(tmp_path) as cs:
        assert (await cs.info(DGST)).labels == LABELS


async def test_local_put_without_labels_removes_stale_label_file(tmp_path: Path) -> None:
    meta = tmp_path / "meta" / "sha256" / DGST.encoded
    meta.parent.mkdir(parents=True)
    meta.write_text('{"labels":{"stale":"1"}}')
    async with LocalStore(tmp_path) as cs:
        await cs.put("r", DATA, DESC)
        assert (await cs.info(DGST)).labels == {}
    assert not meta.exists()


async def test_local_put_failing_to_publish_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: object, **kwargs: object) -> bool:
        raise OSError(5, "I/O error")

    monkeypatch.setattr(put_module, "publish", fail)
    async with LocalStore(tmp_path) as cs:
        with pytest.raises(OSError, match="I/O error"):
            await cs.put("r", DATA, DESC)
    assert _tmp_files(tmp_path) == []
    assert sound_blobs(tmp_path) == []


async def test_prune_ingests_removes_stale_temporary_files(tmp_path: Path) -> None:
    meta = tmp_path / "meta" / "sha256"
    meta.mkdir(parents=True)
    (tmp_path / "tmp").mkdir()
    stale = [meta / f"{DGST.encoded}.tmp-1-abcd", tmp_path / "tmp" / "put-1-00ff"]
    fresh = [meta / f"{DGST.encoded}.tmp-2-abcd", tmp_path / "tmp" / "put-2-00ff"]
    old = time.time() - 2 * put_module.STALE_TEMP_SECONDS
    for path in stale + fresh:
        path.write_bytes(b"x")
    for path in stale:
        os.utime(path, (old, old))
    async with LocalStore(tmp_path) as cs:
        assert await cs.prune_ingests(timedelta(0)) == []
    assert [p.exists() for p in stale + fresh] == [False, False, True, True]


async def test_prune_ingests_keeps_label_files(tmp_path: Path) -> None:
    async with LocalStore(tmp_path) as cs:
        await cs.put("r", DATA, DESC, with_labels(LABELS))
        meta = tmp_path / "meta" / "sha256" / DGST.encoded
        old = time.time() - 2 * put_module.STALE_TEMP_SECONDS
        os.utime(meta, (old, old))
        await cs.prune_ingests(timedelta(0))
        assert (await cs.info(DGST)).labels == LABELS


# --------------------------------------------------------------------------- crashes

PUT = f"""
import sys, anyio
from aiocontent import Descriptor, Digest, with_labels
from aiocontent._local import LocalStore

async def main():
    async with LocalStore(sys.argv[1]) as cs:
        desc = Descriptor(digest=Digest({DGST!r}), size={len(DATA)})
        await cs.put("small", {DATA!r}, desc, with_labels({LABELS!r}))
    print("put", flush=True)

anyio.run(main, backend=sys.argv[2])
"""

PUT_POINTS: Final = [
    "put:after-data",
    "put:after-fsync",
    "meta:before-rename",
    "put:after-labels",
    "put:after-rename",
]


def _run_child(root: Path, backend: str, fault: str | None) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ)
    env.pop("AIOCONTENT_FAULT", None)
    if fault:
        env["AIOCONTENT_FAULT"] = fault
    return subprocess.run(
        [sys.executable, "-c", PUT, str(root), backend], env=env, capture_output=True
    )


@pytest.mark.parametrize("point", PUT_POINTS)
def test_death_at_a_put_point_leaves_a_consistent_root(tmp_path: Path, point: str) -> None:
    backend = "trio" if PUT_POINTS.index(point) % 2 else "asyncio"
    result = _run_child(tmp_path, backend, point)
    assert result.returncode == -signal.SIGKILL, result.stderr.decode()
    blobs = sound_blobs(tmp_path)
    assert blobs == ([DGST] if point == "put:after-rename" else [])

    async def recover() -> None:
        async with LocalStore(tmp_path) as cs:
            if blobs:
                assert (await cs.info(DGST)).labels == LABELS
            await write_blob(cs, "small", DATA, DESC, with_labels(LABELS))
            assert (await cs.info(DGST)).labels == LABELS
            assert await cs.list_statuses() == []
            for name in _tmp_files(tmp_path):
                old = time.time() - 2 * put_module.STALE_TEMP_SECONDS
                os.utime(tmp_path / "tmp" / name, (old, old))
            await cs.prune_ingests(timedelta(0))

    anyio.run(recover, backend=backend)
    assert sound_blobs(tmp_path) == [DGST]
    assert _tmp_files(tmp_path) == []


def test_unset_fault_lets_the_put_child_finish(tmp_path: Path) -> None:
    result = _run_child(tmp_path, "asyncio", None)
    assert result.stdout == b"put\n", result.stderr.decode()
    assert sound_blobs(tmp_path) == [DGST]
