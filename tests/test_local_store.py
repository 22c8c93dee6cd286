"""LocalStore behaviour beyond the conformance suite: persistence, resume, lifecycle, I/O seam."""

from __future__ import annotations

import json
import os
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import pytest

from aiocontent import (
    AlreadyExistsError,
    Descriptor,
    Digest,
    FailedPreconditionError,
    Flights,
    Info,
    InvalidArgumentError,
    NotFoundError,
    Store,
    SupportsLockWait,
    SupportsSiblings,
    SupportsSingleFlight,
    with_descriptor,
    with_labels,
    with_ref,
)
from aiocontent._fileio import FileIO
from aiocontent._local import LocalStore
from aiocontent._local import _commit as commit_module
from aiocontent._local import _ingest as ingest_module
from aiocontent._local import _meta as meta_module
from aiocontent._local._hashing import HASHES
from aiocontent._local._layout import format_timestamp, ingest_hex
from aiocontent._local._writer import LocalWriter

DATA = b"hello, local store"
DGST = Digest.from_bytes(DATA)


async def _commit(
    cs: LocalStore, data: bytes = DATA, labels: dict[str, str] | None = None
) -> Digest:
    w = await cs.writer(with_ref(f"commit-{Digest.from_bytes(data)}"))
    await w.write(data)
    await w.commit(len(data), "", *([with_labels(labels)] if labels else []))
    return w.digest()


# ----------------------------------------------------------------------------- the object


class TestStoreObject:
    def test_offers_store_and_every_capability(self, tmp_path: Path) -> None:
        cs = LocalStore(tmp_path)
        assert isinstance(cs, Store)
        assert isinstance(cs, SupportsSingleFlight)
        assert isinstance(cs, SupportsLockWait)
        assert isinstance(cs, SupportsSiblings)
        assert isinstance(cs.flights, Flights)
        assert cs.flights is cs.flights

    def test_root_is_an_absolute_path(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.chdir(tmp_path)
        assert LocalStore("content").root == tmp_path / "content"

    def test_empty_root_is_invalid(self) -> None:
        with pytest.raises(InvalidArgumentError):
            LocalStore("")

    def test_non_path_root_is_a_type_error(self) -> None:
        with pytest.raises(TypeError):
            LocalStore(42)  # type: ignore[arg-type]

    def test_construction_touches_nothing(self, tmp_path: Path) -> None:
        LocalStore(tmp_path / "later")
        assert not (tmp_path / "later").exists()

    async def test_new_calls_after_aclose_fail(self, tmp_path: Path) -> None:
        cs = LocalStore(tmp_path)
        await cs.aclose()
        with pytest.raises(FailedPreconditionError):
            await cs.info(DGST)
        with pytest.raises(FailedPreconditionError):
            await cs.writer(with_ref("r"))
        with pytest.raises(FailedPreconditionError):
            await cs.list_statuses()

    async def test_writer_opened_before_aclose_keeps_working(self, tmp_path: Path) -> None:
        cs = LocalStore(tmp_path)
        w = await cs.writer(with_ref("r"))
        await cs.aclose()
        await w.write(DATA)
        await w.commit(len(DATA), DGST)
        async with LocalStore(tmp_path) as again:
            assert (await again.info(DGST)).size == len(DATA)

    async def test_aclose_stops_the_threads_after_the_last_writer(self, tmp_path: Path) -> None:
        cs = LocalStore(tmp_path)
        w = await cs.writer(with_ref("r"))
        await w.write(DATA)
        await cs.aclose()
        assert cs._io._users == 1
        await w.aclose()
        assert cs._io._users == 0
        assert cs._io._executor is None

    async def test_sibling_is_another_object_on_the_same_root(self, tmp_path: Path) -> None:
        async with LocalStore(tmp_path) as cs:
            await _commit(cs)
            async with cs.sibling() as other:
                assert other is not cs
                assert isinstance(other, LocalStore)
                assert (await other.info(DGST)).size == len(DATA)


# ----------------------------------------------------------------------------- labels


class TestLabels:
    async def test_labels_survive_a_reopen(self, tmp_path: Path) -> None:
        async with LocalStore(tmp_path) as cs:
            await _commit(cs, labels={"containerd.io/gc.root": "now"})
        async with LocalStore(tmp_path) as cs:
            assert (await cs.info(DGST)).labels == {"containerd.io/gc.root": "now"}

    async def test_update_survives_a_reopen_with_its_time(self, tmp_path: Path) -> None:
        async with LocalStore(tmp_path) as cs:
            await _commit(cs, labels={"a": "1"})
            updated = await cs.update(Info(digest=DGST, labels={"b": "2"}), "labels.b")
        async with LocalStore(tmp_path) as cs:
            info = await cs.info(DGST)
        assert info.labels == {"a": "1", "b": "2"}
        assert info.updated_at == updated.updated_at
        assert info.updated_at > info.created_at

    async def test_reads_never_move_updated_at(self, tmp_path: Path) -> None:
        async with LocalStore(tmp_path) as cs:
            await _commit(cs)
            before = await cs.info(DGST)
            async with await cs.reader_at(Descriptor(digest=DGST)) as ra:
                await ra.read_at(10, 0)
            assert (await cs.info(DGST)).updated_at == before.updated_at

    async def test_commit_without_labels_clears_stale_ones(self, tmp_path: Path) -> None:
        meta = tmp_path / "meta" / "sha256" / DGST.encoded
        meta.parent.mkdir(parents=True)
        meta.write_text(json.dumps({"labels": {"stale": "yes"}}))
        async with LocalStore(tmp_path) as cs:
            await _commit(cs)
            assert (await cs.info(DGST)).labels == {}
        assert not meta.exists()

    async def test_commit_with_labels_replaces_stale_ones(self, tmp_path: Path) -> None:
        meta = tmp_path / "meta" / "sha256" / DGST.encoded
        meta.parent.mkdir(parents=True)
        meta.write_text(
            json.dumps({"labels": {"stale": "yes"}, "updated_at": "2020-01-01T00:00:00Z"})
        )
        async with LocalStore(tmp_path) as cs:
            await _commit(cs, labels={"fresh": "1"})
            info = await cs.info(DGST)
        assert info.labels == {"fresh": "1"}
        assert info.updated_at == info.created_at

    async def test_losing_commit_keeps_the_winners_labels(self, tmp_path: Path) -> None:
        async with LocalStore(tmp_path) as cs:
            await _commit(cs, labels={"first": "1"})
            w = await cs.writer(with_ref("second"))
            await w.write(DATA)
            with pytest.raises(AlreadyExistsError):
                await w.commit(len(DATA), DGST, with_labels({"second": "2"}))
            assert (await cs.info(DGST)).labels == {"first": "1"}

    async def test_delete_drops_the_labels(self, tmp_path: Path) -> None:
        async with LocalStore(tmp_path) as cs:
            await _commit(cs, labels={"a": "1"})
            await cs.delete(DGST)
            assert not (tmp_path / "meta" / "sha256" / DGST.encoded).exists()
            await _commit(cs)
            assert (await cs.info(DGST)).labels == {}

    async def test_label_file_is_compact_json(self, tmp_path: Path) -> None:
        async with LocalStore(tmp_path) as cs:
            await _commit(cs, labels={"b": "2", "a": "1"})
        raw = (tmp_path / "meta" / "sha256" / DGST.encoded).read_bytes()
        assert raw == b'{"labels":{"a":"1","b":"2"}}'

    async def test_damaged_label_file_reads_as_no_labels(self, tmp_path: Path) -> None:
        async with LocalStore(tmp_path) as cs:
            await _commit(cs, labels={"a": "1"})
            (tmp_path / "meta" / "sha256" / DGST.encoded).write_bytes(b"{not json")
            assert (await cs.info(DGST)).labels == {}

    async def test_failed_label_write_fails_the_commit_and_keeps_the_ingest(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def broken(path: str, meta: object) -> None:
            raise OSError(28, "No space left on device")

        async with LocalStore(tmp_path) as cs:
            w = await cs.writer(with_ref("r"))
            await w.write(DATA)
            with monkeypatch.context() as mp:
                mp.setattr(commit_module, "write_meta", broken)
                with pytest.raises(OSError, match="No space"):
                    await w.commit(len(DATA), DGST, with_labels({"a": "1"}))
            with pytest.raises(NotFoundError):
                await cs.info(DGST)
            data = tmp_path / "ingest" / ingest_hex("r") / "data"
            assert data.stat().st_mode & 0o200
            w = await cs.writer(with_ref("r"))
            assert (await w.status()).offset == len(DATA)
            await w.commit(len(DATA), DGST, with_labels({"a": "1"}))
            assert (await cs.info(DGST)).labels == {"a": "1"}


# ----------------------------------------------------------------------------- resume


def _backdate(folder: Path, when: datetime) -> None:
    (folder / "updatedat").write_text(format_timestamp(when))
    stamp = when.timestamp()
    os.utime(folder / "data", (stamp, stamp))


class TestResume:
    async def test_resume_after_restart_rehashes_the_data(self, tmp_path: Path) -> None:
        async with LocalStore(tmp_path) as cs:
            w = await cs.writer(with_ref("r"))
            await w.write(DATA[:5])
            await w.aclose()
        HASHES._entries.clear()
        async with LocalStore(tmp_path) as cs:
            w = await cs.writer(with_ref("r"))
            assert (await w.status()).offset == 5
            assert w.digest() == Digest.from_bytes(DATA[:5])
            await w.write(DATA[5:])
            await w.commit(len(DATA), DGST)

    async def test_resume_in_process_reuses_the_hash_state(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        async with LocalStore(tmp_path) as cs:
            w = await cs.writer(with_ref("r"))
            await w.write(DATA[:5])
            await w.aclose()

            def no_rehash(*args: object) -> None:
                raise AssertionError("re-read the data")

            monkeypatch.setattr(ingest_module, "hash_fd", no_rehash)
            w = await cs.writer(with_ref("r"))
            assert w.digest() == Digest.from_bytes(DATA[:5])
            await w.write(DATA[5:])
            await w.commit(len(DATA), DGST)

    async def test_resume_rehashes_when_another_process_extended_the_data(
        self, tmp_path: Path
    ) -> None:
        async with LocalStore(tmp_path) as cs:
            w = await cs.writer(with_ref("r"))
            await w.write(DATA[:5])
            await w.aclose()
            data = tmp_path / "ingest" / ingest_hex("r") / "data"
            data.write_bytes(data.read_bytes() + DATA[5:9])
            w = await cs.writer(with_ref("r"))
            assert (await w.status()).offset == 9
            assert w.digest() == Digest.from_bytes(DATA[:9])
            await w.aclose()

    async def test_resume_with_another_algorithm_rehashes(self, tmp_path: Path) -> None:
        want = Digest.from_bytes(DATA, "sha512")
        async with LocalStore(tmp_path) as cs:
            w = await cs.writer(with_ref("r"))
            await w.write(DATA[:5])
            await w.aclose()
            w = await cs.writer(with_ref("r"), with_descriptor(Descriptor(digest=want)))
            assert w.digest() == Digest.from_bytes(DATA[:5], "sha512")
            await w.write(DATA[5:])
            await w.commit(len(DATA), want)
            assert (await cs.info(want)).size == len(DATA)

    async def test_damaged_ingest_is_reinitialised(self, tmp_path: Path) -> None:
        async with LocalStore(tmp_path) as cs:
            w = await cs.writer(with_ref("r"), with_descriptor(Descriptor(size=99)))
            await w.write(DATA)
            await w.aclose()
            folder = tmp_path / "ingest" / ingest_hex("r")
            (folder / "startedat").unlink()
            w = await cs.writer(with_ref("r"))
            st = await w.status()
            assert (st.offset, st.total) == (0, 0)
            assert w.digest() == Digest.from_bytes(b"")
            await w.aclose()
            assert (folder / "data").read_bytes() == b""
            assert not (folder / "total").exists()

    async def test_ingest_of_another_ref_is_reinitialised(self, tmp_path: Path) -> None:
        async with LocalStore(tmp_path) as cs:
            w = await cs.writer(with_ref("r"))
            await w.write(DATA)
            await w.aclose()
            (tmp_path / "ingest" / ingest_hex("r") / "ref").write_bytes(b"other")
            w = await cs.writer(with_ref("r"))
            assert (await w.status()).offset == 0
            await w.aclose()
            assert (await cs.status("r")).ref == "r"

    async def test_failed_commit_keeps_writable_data_for_resume(self, tmp_path: Path) -> None:
        async with LocalStore(tmp_path) as cs:
            w = await cs.writer(with_ref("r"))
            await w.write(DATA)
            with pytest.raises(FailedPreconditionError):
                await w.commit(len(DATA) + 1)
            data = tmp_path / "ingest" / ingest_hex("r") / "data"
            assert data.stat().st_mode & 0o200
            w = await cs.writer(with_ref("r"))
            await w.commit(len(DATA), DGST)

    async def test_interrupted_commit_leaving_read_only_data_resumes(self, tmp_path: Path) -> None:
        async with LocalStore(tmp_path) as cs:
            w = await cs.writer(with_ref("r"))
            await w.write(DATA)
            await w.aclose()
            (tmp_path / "ingest" / ingest_hex("r") / "data").chmod(0o444)
            w = await cs.writer(with_ref("r"))
            await w.write(b"!")
            await w.commit(len(DATA) + 1, Digest.from_bytes(DATA + b"!"))


# ----------------------------------------------------------------------------- lifecycle


class TestLifecycle:
    async def test_abort_makes_the_open_writer_fail_and_release(self, tmp_path: Path) -> None:
        async with LocalStore(tmp_path) as cs:
            w = await cs.writer(with_ref("r"))
            await w.write(DATA)
            await cs.abort("r")
            with pytest.raises(NotFoundError):
                await w.write(DATA)
            w2 = await cs.writer(with_ref("r"))
            assert (await w2.status()).offset == 0
            await w2.aclose()
            await w.aclose()

    async def test_abort_by_a_sibling_fails_the_commit(self, tmp_path: Path) -> None:
        async with LocalStore(tmp_path) as cs, cs.sibling() as other:
            w = await cs.writer(with_ref("r"))
            await w.write(DATA)
            await other.abort("r")
            with pytest.raises(NotFoundError):
                await w.commit(len(DATA), DGST)
            with pytest.raises(NotFoundError):
                await cs.info(DGST)

    async def test_commit_and_abort_remove_the_lock_file(self, tmp_path: Path) -> None:
        async with LocalStore(tmp_path) as cs:
            await _commit(cs)
            w = await cs.writer(with_ref("kept"))
            await w.aclose()
            await cs.abort("kept")
        assert sorted(p.name for p in (tmp_path / "locks").iterdir() if len(p.name) == 64) == []

    async def test_prune_removes_only_old_unlocked_ingests(self, tmp_path: Path) -> None:
        old = datetime.now(UTC) - timedelta(days=3)
        async with LocalStore(tmp_path) as cs:
            for ref in ("old", "old-locked", "fresh"):
                w = await cs.writer(with_ref(ref))
                await w.write(DATA)
                await w.aclose()
            for ref in ("old", "old-locked"):
                _backdate(tmp_path / "ingest" / ingest_hex(ref), old)
            held = await cs.writer(with_ref("old-locked"))
            assert await cs.prune_ingests(timedelta(days=1)) == ["old"]
            assert [st.ref for st in await cs.list_statuses()] == ["fresh", "old-locked"]
            await held.aclose()

    async def test_prune_skips_ingests_locked_by_a_sibling(self, tmp_path: Path) -> None:
        async with LocalStore(tmp_path) as cs, cs.sibling() as other:
            w = await other.writer(with_ref("r"))
            await w.write(DATA)
            _backdate(tmp_path / "ingest" / ingest_hex("r"), datetime(2020, 1, 1, tzinfo=UTC))
            assert await cs.prune_ingests(timedelta(0)) == []
            await w.aclose()
            _backdate(tmp_path / "ingest" / ingest_hex("r"), datetime(2020, 1, 1, tzinfo=UTC))
            assert await cs.prune_ingests(timedelta(0)) == ["r"]

    async def test_prune_rejects_a_negative_age(self, tmp_path: Path) -> None:
        async with LocalStore(tmp_path) as cs:
            with pytest.raises(InvalidArgumentError):
                await cs.prune_ingests(timedelta(seconds=-1))
            with pytest.raises(TypeError):
                await cs.prune_ingests(5)  # type: ignore[arg-type]

    async def test_status_reports_expected_for_this_objects_ingests(self, tmp_path: Path) -> None:
        async with LocalStore(tmp_path) as cs:
            w = await cs.writer(with_ref("r"), with_descriptor(Descriptor(digest=DGST)))
            await w.aclose()
            assert (await cs.status("r")).expected == DGST
            async with cs.sibling() as other:
                assert (await other.status("r")).expected is None

    async def test_cancelled_write_applies_fully_or_not_at_all(self, tmp_path: Path) -> None:
        chunk = os.urandom(1 << 20)
        async with LocalStore(tmp_path) as cs:
            w = await cs.writer(with_ref("r"))
            for delay in (0, 0.0005, 0.001, 0.002):
                with anyio.move_on_after(delay):
                    await w.write(chunk)
            st = await w.status()
            await w.aclose()
            data = (tmp_path / "ingest" / ingest_hex("r") / "data").read_bytes()
            assert len(data) == st.offset
            assert w.digest() == Digest.from_bytes(data)

    async def test_cancelled_commit_commits_or_keeps_the_ingest(self, tmp_path: Path) -> None:
        async with LocalStore(tmp_path) as cs, cs.sibling() as other:
            w = await cs.writer(with_ref("r"))
            await w.write(DATA)
            with anyio.CancelScope() as scope:
                scope.cancel()
                await w.commit(len(DATA), DGST)
            assert (await cs.info(DGST)).size == len(DATA)
            w = await other.writer(with_ref("r"))
            await w.aclose()

    async def test_cancelled_writer_open_releases_the_ref(self, tmp_path: Path) -> None:
        async with LocalStore(tmp_path) as cs:
            with anyio.CancelScope() as scope:
                scope.cancel()
                await cs.writer(with_ref("r"))
            w = await cs.writer(with_ref("r"))
            await w.aclose()


# ----------------------------------------------------------------------------- the I/O seam


class TestFileIO:
    async def test_data_chunks_use_aiofiles_only_under_asyncio(
        self, tmp_path: Path, anyio_backend: str
    ) -> None:
        async with LocalStore(tmp_path) as cs:
            w = await cs.writer(with_ref("r"))
            assert isinstance(w, LocalWriter)
            assert (w._file._afile is not None) == (anyio_backend == "asyncio")
            await w.write(b"x" * (200 * 1024))
            await w.write(b"y")
            await w.commit(200 * 1024 + 1)

    async def test_executor_is_the_stores_own(self, tmp_path: Path, anyio_backend: str) -> None:
        async with LocalStore(tmp_path) as cs:
            await _commit(cs)
            made = cs._io._executor is not None
        assert made == (anyio_backend == "asyncio")

    async def test_run_returns_the_result_on_both_backends(self) -> None:
        fio = FileIO(max_workers=2)
        try:
            assert await fio.run(sum, [1, 2, 3]) == 6
        finally:
            fio.close()

    async def test_run_finishes_the_thread_when_cancelled(self) -> None:
        fio = FileIO(max_workers=2)
        done: list[int] = []

        def slow() -> None:
            import time

            time.sleep(0.05)
            done.append(1)

        try:
            with anyio.move_on_after(0.01):
                await fio.run(slow)
            assert done == [1]
        finally:
            fio.close()

    async def test_pread_reads_up_to_the_end(self, tmp_path: Path) -> None:
        path = tmp_path / "f"
        path.write_bytes(b"0123456789")
        fio = FileIO(max_workers=2)
        fd = os.open(path, os.O_RDONLY)
        try:
            assert await fio.pread(fd, 4, 3) == b"3456"
            assert await fio.pread(fd, 100, 8) == b"89"
        finally:
            os.close(fd)
            fio.close()


def test_folder_syncs_sharing_a_forgotten_folder_both_return(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    syncs = meta_module._FolderSyncs()
    for i in range(300):  # enough idle folders for finished ones to be forgotten
        syncs._state[f"/idle/{i}"] = [0, 0, 0]
    release = threading.Event()
    calls: list[str] = []

    def fsync_dir_now(path: str) -> None:
        calls.append(path)
        if len(calls) == 1:
            release.wait(5)

    monkeypatch.setattr(meta_module, "_fsync_dir_now", fsync_dir_now)
    errors: list[BaseException] = []

    def sync() -> None:
        try:
            syncs.sync(str(tmp_path))
        except BaseException as exc:
            errors.append(exc)

    first = threading.Thread(target=sync)
    first.start()
    while not calls:
        time.sleep(0.001)
    second = threading.Thread(target=sync)
    second.start()
    time.sleep(0.05)  # the second caller waits for the running fsync
    release.set()
    first.join(5)
    second.join(5)
    assert errors == []
    assert str(tmp_path) not in syncs._state
