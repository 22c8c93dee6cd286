"""LocalStore and a real containerd daemon read and write each other's content.

containerd's content plugin keeps its local store under
``<root>/io.containerd.content.v1.content``; ``ctr`` drives the daemon. Its
metadata layer names ingests ``<namespace>/<sequence>/<name>``, where the
sequence restarts at 1 whenever the namespace has no other ingest, so a fresh
daemon's first ingest named ``half`` is ``default/1/half`` on disk.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import anyio.to_thread
import pytest

from aiocontent import Descriptor, Info, LocalStore, with_descriptor, with_labels, with_ref
from aiocontent._local._hashing import HASHES, STATE_FILE
from aiocontent._sha256state import load_openssl
from tests._services import service_unavailable

from ._daemon import ContainerdDaemon, DaemonUnavailableError, dispose, launch

pytestmark = pytest.mark.containerd

T = TypeVar("T")

MIB = 1024 * 1024

#: The blobs ingested with ``ctr``, by name: 0 B, 6 B, 1 MiB and 20 MiB.
CTR_BLOB_SIZES = {"empty": 0, "six": 6, "one-mib": MIB, "twenty-mib": 20 * MIB}

#: Size of a blob handed over half-written, and how much of it the first side writes.
HALF_TOTAL = 300_000
HALF_WRITTEN = 123_457


def blob_data(name: str, size: int) -> bytes:
    """Deterministic pseudo-random bytes for the blob called ``name``."""
    return random.Random(f"aiocontent-{name}").randbytes(size)


def sha256(data: bytes) -> str:
    """The canonical digest of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def ingest_data_path(content_root: Path, ref: str) -> Path:
    """The ``data`` file of the ingest for ``ref`` in containerd's layout."""
    return content_root / "ingest" / hashlib.sha256(ref.encode()).hexdigest() / "data"


def blob_path(content_root: Path, digest: str) -> Path:
    """Where containerd's layout keeps the committed blob ``digest``."""
    algorithm, encoded = digest.split(":", 1)
    return content_root / "blobs" / algorithm / encoded


async def in_thread(fn: Callable[[], T]) -> T:
    """Run a blocking call (a ``ctr`` or daemon command) off the event loop."""
    return await anyio.to_thread.run_sync(fn)


_GO_TIME = re.compile(
    r"(?P<base>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(?P<fraction>\d+))?(?P<zone>Z|[+-]\d\d:\d\d)"
)


def parse_go_time(text: str) -> datetime:
    """Parse a Go ``time.MarshalText`` timestamp, keeping microseconds (nanoseconds truncated)."""
    match = _GO_TIME.fullmatch(text)
    assert match is not None, f"not a Go timestamp: {text!r}"
    fraction = (match["fraction"] or "")[:6].ljust(6, "0")
    zone = "+00:00" if match["zone"] == "Z" else match["zone"]
    return datetime.fromisoformat(f"{match['base']}.{fraction}{zone}")


# --- containerd writes, LocalStore reads -------------------------------------------------


@dataclass(frozen=True)
class CtrBlobs:
    """A stopped daemon's content root holding blobs that ``ctr`` ingested."""

    content_root: Path
    blobs: dict[str, bytes]


@pytest.fixture(scope="module")
def ctr_blobs(containerd_unavailable: str | None) -> Iterator[CtrBlobs]:
    """Ingest the blobs of :data:`CTR_BLOB_SIZES` with ``ctr`` (labelled ``gc.root``), then stop."""
    if containerd_unavailable is not None:
        service_unavailable(containerd_unavailable)
    try:
        daemon = launch()
    except DaemonUnavailableError as exc:
        service_unavailable(str(exc))
    try:
        blobs: dict[str, bytes] = {}
        for name, size in CTR_BLOB_SIZES.items():
            data = blob_data(name, size)
            digest = sha256(data)
            daemon.ingest(name, data, expected_size=size, expected_digest=digest)
            daemon.label_gc_root(digest)
            blobs[digest] = data
        assert daemon.listed_digests() == set(blobs)
        daemon.stop()
        yield CtrBlobs(daemon.content_root, blobs)
    finally:
        dispose(daemon)


async def test_walk_lists_blobs_ingested_by_ctr(ctr_blobs: CtrBlobs) -> None:
    seen: list[Info] = []
    async with LocalStore(ctr_blobs.content_root) as cs:
        await cs.walk(seen.append)
    assert {info.digest: info.size for info in seen} == {
        digest: len(data) for digest, data in ctr_blobs.blobs.items()
    }


@pytest.mark.parametrize("name", list(CTR_BLOB_SIZES))
async def test_reader_returns_the_bytes_ctr_ingested(ctr_blobs: CtrBlobs, name: str) -> None:
    data = blob_data(name, CTR_BLOB_SIZES[name])
    async with (
        LocalStore(ctr_blobs.content_root) as cs,
        await cs.reader_at(Descriptor(digest=sha256(data), size=len(data))) as ra,
    ):
        assert ra.size == len(data)
        assert await ra.read_at(len(data) + 1, 0) == data


async def test_verify_finds_blobs_ingested_by_ctr_sound(ctr_blobs: CtrBlobs) -> None:
    async with LocalStore(ctr_blobs.content_root) as cs:
        assert await cs.verify() == []


async def test_containerd_labels_do_not_cross_over(ctr_blobs: CtrBlobs) -> None:
    # The blobs carry containerd.io/gc.root in containerd's metadata database,
    # which the content directory does not hold.
    async with LocalStore(ctr_blobs.content_root) as cs:
        for digest in ctr_blobs.blobs:
            assert (await cs.info(digest)).labels == {}


@dataclass(frozen=True)
class HalfIngest:
    """A half-written ingest that ``ctr`` left in a stopped daemon's content root."""

    daemon: ContainerdDaemon
    ref: str
    data: bytes
    before: datetime
    after: datetime


@pytest.fixture
def ctr_half_ingest(containerd: ContainerdDaemon) -> HalfIngest:
    """``head -c HALF_WRITTEN FILE | ctr content ingest --expected-size HALF_TOTAL half``."""
    data = blob_data("half", HALF_TOTAL)
    before = datetime.now(UTC)
    result = containerd.ingest("half", data[:HALF_WRITTEN], expected_size=HALF_TOTAL, check=False)
    after = datetime.now(UTC)
    assert result.returncode != 0, "ctr accepted a short input"
    containerd.stop()
    return HalfIngest(containerd, "default/1/half", data, before, after)


async def test_list_statuses_shows_half_written_ctr_ingest(ctr_half_ingest: HalfIngest) -> None:
    async with LocalStore(ctr_half_ingest.daemon.content_root) as cs:
        statuses = await cs.list_statuses()
    assert [(st.ref, st.offset, st.total) for st in statuses] == [
        (ctr_half_ingest.ref, HALF_WRITTEN, HALF_TOTAL)
    ]


@pytest.mark.parametrize(
    ("daemon_utc_offset", "suffix"),
    [(0, "Z"), (5 * 60 + 45, "+05:45"), (-(9 * 60 + 30), "-09:30")],
    ids=["utc", "east", "west"],
)
async def test_ctr_ingest_times_in_daemon_zone_read_as_utc(
    ctr_half_ingest: HalfIngest, suffix: str
) -> None:
    folder = ingest_data_path(ctr_half_ingest.daemon.content_root, ctr_half_ingest.ref).parent
    started_text = (folder / "startedat").read_text()
    assert started_text.endswith(suffix), f"daemon wrote {started_text!r}"
    async with LocalStore(ctr_half_ingest.daemon.content_root) as cs:
        (status,) = await cs.list_statuses()
    assert status.started_at == parse_go_time(started_text)
    for moment in (status.started_at, status.updated_at):
        assert moment.utcoffset() == timedelta(0)
        assert ctr_half_ingest.before <= moment <= ctr_half_ingest.after


@pytest.mark.parametrize("daemon_utc_offset", [0, -(3 * 60 + 30)], ids=["utc", "west"])
async def test_localstore_resumes_and_commits_half_written_ctr_ingest(
    ctr_half_ingest: HalfIngest,
) -> None:
    data = ctr_half_ingest.data
    digest = sha256(data)
    async with LocalStore(ctr_half_ingest.daemon.content_root) as cs:
        writer = await cs.writer(
            with_ref(ctr_half_ingest.ref),
            with_descriptor(Descriptor(digest=digest, size=len(data))),
        )
        async with writer:
            assert (await writer.status()).offset == HALF_WRITTEN
            await writer.write(data[HALF_WRITTEN:])
            await writer.commit(len(data), digest)
        assert (await cs.info(digest)).size == len(data)
        assert await cs.list_statuses() == []
    assert blob_path(ctr_half_ingest.daemon.content_root, digest).read_bytes() == data


# --- LocalStore writes, containerd reads -------------------------------------------------


async def commit_with_localstore(
    content_root: Path, data: bytes, labels: dict[str, str] | None = None
) -> str:
    """Commit ``data`` through LocalStore into a containerd content root; return its digest."""
    digest = sha256(data)
    async with LocalStore(content_root) as cs:
        writer = await cs.writer(
            with_ref("aiocontent-upload"), with_descriptor(Descriptor(digest=digest))
        )
        async with writer:
            await writer.write(data)
            await writer.commit(len(data), digest, with_labels(labels or {}))
    return digest


async def leave_localstore_half_ingest(content_root: Path, ref: str, data: bytes) -> None:
    """Write the first :data:`HALF_WRITTEN` bytes of ``data`` for ``ref`` and close the writer.

    Where OpenSSL's SHA-256 is reachable, the folder also holds the saved hash
    state, a file containerd does not know.
    """
    async with LocalStore(content_root) as cs:
        writer = await cs.writer(with_ref(ref), with_descriptor(Descriptor(size=len(data))))
        async with writer:
            await writer.write(data[:HALF_WRITTEN])
    state = ingest_data_path(content_root, ref).parent / STATE_FILE
    assert state.is_file() == (load_openssl() is not None)


@pytest.mark.parametrize("with_size", [True, False], ids=["with-size", "digest-only"])
async def test_ctr_ingest_adopts_localstore_blob_without_rewriting(
    containerd: ContainerdDaemon, tmp_path: Path, with_size: bool
) -> None:
    data = blob_data("adopt", 200_000)
    source = tmp_path / "adopt"
    source.write_bytes(data)
    digest = await commit_with_localstore(containerd.content_root, data)
    before = os.stat(blob_path(containerd.content_root, digest))
    await in_thread(
        lambda: containerd.ingest(
            "adopt", source, expected_size=len(data) if with_size else 0, expected_digest=digest
        )
    )
    after = os.stat(blob_path(containerd.content_root, digest))
    assert (after.st_ino, after.st_mtime_ns, after.st_size) == (
        before.st_ino,
        before.st_mtime_ns,
        before.st_size,
    )
    assert digest in await in_thread(containerd.listed_digests)


async def test_ctr_get_serves_adopted_localstore_blob(
    containerd: ContainerdDaemon, tmp_path: Path
) -> None:
    data = blob_data("adopt-get", 200_000)
    source = tmp_path / "adopt-get"
    source.write_bytes(data)
    digest = await commit_with_localstore(containerd.content_root, data)
    await in_thread(lambda: containerd.ingest("adopt-get", source, expected_digest=digest))
    assert await in_thread(lambda: containerd.get(digest)) == data


async def test_localstore_labels_do_not_cross_over(
    containerd: ContainerdDaemon, tmp_path: Path
) -> None:
    data = blob_data("labelled", 1000)
    source = tmp_path / "labelled"
    source.write_bytes(data)
    digest = await commit_with_localstore(
        containerd.content_root, data, {"example.com/owner": "aiocontent"}
    )
    await in_thread(lambda: containerd.ingest("labelled", source, expected_digest=digest))
    listing = (await in_thread(lambda: containerd.ctr("content", "ls"))).stdout.decode()
    (row,) = [line for line in listing.splitlines() if line.startswith(digest)]
    # Columns: digest, size, age, labels ("-" for none).
    assert re.split(r"\t+", row.rstrip())[-1] == "-"
    async with LocalStore(containerd.content_root) as cs:
        assert (await cs.info(digest)).labels == {"example.com/owner": "aiocontent"}


async def test_ctr_ingest_completes_localstore_half_ingest(
    containerd: ContainerdDaemon, tmp_path: Path
) -> None:
    data = blob_data("resume", HALF_TOTAL)
    source = tmp_path / "resume"
    source.write_bytes(data)
    digest = sha256(data)
    await leave_localstore_half_ingest(containerd.content_root, "default/1/resume", data)
    ingest_inode = ingest_data_path(containerd.content_root, "default/1/resume").stat().st_ino
    # ctr seeks its standard input to the ingest's offset, so it reads from a file.
    await in_thread(
        lambda: containerd.ingest("resume", source, expected_size=len(data), expected_digest=digest)
    )
    assert await in_thread(lambda: containerd.get(digest)) == data
    # The ingest's own data file became the blob.
    assert blob_path(containerd.content_root, digest).stat().st_ino == ingest_inode


async def test_ctr_ingest_resumes_at_localstore_offset(
    containerd: ContainerdDaemon, tmp_path: Path
) -> None:
    data = blob_data("resume-offset", HALF_TOTAL)
    # Zeros where LocalStore already wrote: the digest only matches if ctr skips them.
    source = tmp_path / "resume-offset"
    source.write_bytes(bytes(HALF_WRITTEN) + data[HALF_WRITTEN:])
    digest = sha256(data)
    await leave_localstore_half_ingest(containerd.content_root, "default/1/resume-offset", data)
    await in_thread(
        lambda: containerd.ingest(
            "resume-offset", source, expected_size=len(data), expected_digest=digest
        )
    )
    assert await in_thread(lambda: containerd.get(digest)) == data


async def test_ctr_lists_and_commits_its_ingest_after_localstore_saved_a_hash_state(
    ctr_half_ingest: HalfIngest, tmp_path: Path
) -> None:
    daemon, data = ctr_half_ingest.daemon, ctr_half_ingest.data
    more = HALF_WRITTEN + 50_000
    async with (
        LocalStore(daemon.content_root) as cs,
        await cs.writer(with_ref(ctr_half_ingest.ref)) as writer,
    ):
        await writer.write(data[HALF_WRITTEN:more])
    folder = ingest_data_path(daemon.content_root, ctr_half_ingest.ref).parent
    assert (folder / STATE_FILE).is_file() == (load_openssl() is not None)
    await in_thread(daemon.start)
    listing = (await in_thread(lambda: daemon.ctr("content", "active"))).stdout.decode()
    rows = [re.split(r"\s+", line.strip()) for line in listing.splitlines()[1:] if line.strip()]
    assert [row[0] for row in rows] == ["half"]  # sizes are printed rounded (173.5kB)
    source = tmp_path / "half"
    source.write_bytes(data)
    digest = sha256(data)
    await in_thread(
        lambda: daemon.ingest("half", source, expected_size=len(data), expected_digest=digest)
    )
    assert await in_thread(lambda: daemon.get(digest)) == data
    assert not folder.exists()


async def test_localstore_rehashes_when_ctr_appended_after_the_state_was_saved(
    containerd: ContainerdDaemon, tmp_path: Path
) -> None:
    data = blob_data("appended", HALF_TOTAL)
    digest = sha256(data)
    ref = "default/1/appended"
    await leave_localstore_half_ingest(containerd.content_root, ref, data)
    HASHES._entries.clear()  # as a new process: only the saved state is left
    appended = 200_000
    source = tmp_path / "appended"
    source.write_bytes(data[:appended])
    # ctr resumes at LocalStore's offset, appends up to its input's end, then fails to commit.
    result = await in_thread(
        lambda: containerd.ingest("appended", source, expected_size=HALF_TOTAL, check=False)
    )
    assert result.returncode != 0, "ctr accepted a short input"
    assert ingest_data_path(containerd.content_root, ref).stat().st_size == appended
    async with LocalStore(containerd.content_root) as cs:
        writer = await cs.writer(with_ref(ref), with_descriptor(Descriptor(digest=digest)))
        async with writer:
            assert (await writer.status()).offset == appended
            assert writer.digest() == sha256(data[:appended])
            await writer.write(data[appended:])
            await writer.commit(len(data), digest)
    assert blob_path(containerd.content_root, digest).read_bytes() == data
