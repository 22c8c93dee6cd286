"""LocalStore's on-disk layout: containerd's formats in both directions, and path safety."""

from __future__ import annotations

import hashlib
import os
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from aiocontent import (
    AlreadyExistsError,
    Descriptor,
    Digest,
    FailedPreconditionError,
    Info,
    InvalidArgumentError,
    NotFoundError,
    copy,
    with_descriptor,
    with_ref,
)
from aiocontent._local import LocalStore
from aiocontent._local._hashing import STATE_FILE
from aiocontent._local._layout import (
    format_timestamp,
    ingest_hex,
    parse_int64,
    parse_timestamp,
)
from aiocontent._sha256state import load_openssl

# ----------------------------------------------------------------------------- timestamps


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-28T23:03:08.443477576Z", datetime(2026, 11, 28, 23, 3, 8, 443477, tzinfo=UTC)),
        ("2026-11-28T23:03:08.4434+05:30", datetime(2026, 11, 28, 17, 33, 8, 443400, tzinfo=UTC)),
        ("2024-01-02T03:04:05-07:00", datetime(2024, 1, 2, 10, 4, 5, tzinfo=UTC)),
        ("2024-01-02T03:04:05Z", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2024-01-02T03:04:05.1Z", datetime(2024, 1, 2, 3, 4, 5, 100000, tzinfo=UTC)),
        ("2024-01-02T03:04:05.1234567891234Z", datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)),
        ("0001-01-01T00:00:00Z", datetime(1, 1, 1, tzinfo=UTC)),
    ],
)
def test_parse_timestamp_reads_go_rfc3339nano_in_any_offset(text: str, expected: datetime) -> None:
    parsed = parse_timestamp(text)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    "text",
    [
        "2024-01-02t03:04:05Z",
        "2024-01-02T03:04:05z",
        "2024-01-02 03:04:05Z",
        "2024-01-02T03:04:05.Z",
        "2024-01-02T03:04:05",
        "2024-01-02T03:04:05+0100",
        "2024-01-02T03:04:05+24:00",
        "2024-13-02T03:04:05Z",
        "2024-01-02T24:00:00Z",
        "2024-02-30T03:04:05Z",
        "2024-01-02T03:04:05Z\n",
        " 2024-01-02T03:04:05Z",
        "0001-01-01T00:00:00+01:00",
        "",
    ],
)
def test_parse_timestamp_rejects_what_go_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_timestamp(text)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (datetime(2024, 1, 2, 3, 4, 5, 120000, tzinfo=UTC), "2024-01-02T03:04:05.12Z"),
        (datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), "2024-01-02T03:04:05Z"),
        (datetime(2024, 1, 2, 3, 4, 5, 1, tzinfo=UTC), "2024-01-02T03:04:05.000001Z"),
        (
            datetime(2024, 1, 2, 4, 4, 5, 500000, tzinfo=timezone(timedelta(hours=1))),
            "2024-01-02T03:04:05.5Z",
        ),
        (datetime(1, 1, 1, tzinfo=UTC), "0001-01-01T00:00:00Z"),
    ],
)
def test_format_timestamp_writes_utc_with_go_trimming(value: datetime, text: str) -> None:
    assert format_timestamp(value) == text
    assert parse_timestamp(text) == value


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (b"12", 12),
        (b"+5", 5),
        (b"-3", -3),
        (b"9223372036854775807", 9223372036854775807),
        (b"9223372036854775808", 0),
        (b" 12", 0),
        (b"12\n", 0),
        (b"1_000", 0),
        (b"0x10", 0),
        (b"", 0),
    ],
)
def test_parse_int64_is_strict_and_zero_on_failure(raw: bytes, value: int) -> None:
    assert parse_int64(raw) == value


def test_ingest_folder_is_the_sha256_of_the_ref() -> None:
    assert ingest_hex("default/1/x") == hashlib.sha256(b"default/1/x").hexdigest()


def test_ingest_folder_of_a_non_utf8_ref_read_from_disk_round_trips() -> None:
    ref = b"ref-\xff".decode("utf-8", "surrogateescape")
    assert ingest_hex(ref) == hashlib.sha256(b"ref-\xff").hexdigest()


@pytest.mark.parametrize("op", ["status", "abort"])
async def test_lookup_of_a_ref_no_writer_accepts_is_not_found(tmp_path: Path, op: str) -> None:
    async with LocalStore(tmp_path) as cs:
        with pytest.raises(NotFoundError):
            await getattr(cs, op)("layer-\ud800")


# ----------------------------------------------------------------------------- containerd root

BLOB = b"hello from containerd"
BLOB_DGST = Digest.from_bytes(BLOB)
PARTIAL = b"first half|"
REST = b"second half"
INGEST_REF = "default/1/layer-sha256:0123"
INGEST_DGST = Digest.from_bytes(PARTIAL + REST)


def _containerd_root(root: Path, *, total: int | None = None) -> Path:
    """A content root laid out as containerd writes it: a blob and an active ingest."""
    blob = root / "blobs" / "sha256" / BLOB_DGST.encoded
    blob.parent.mkdir(parents=True)
    blob.write_bytes(BLOB)
    blob.chmod(0o444)
    ingest = root / "ingest" / hashlib.sha256(INGEST_REF.encode()).hexdigest()
    ingest.mkdir(parents=True)
    (ingest / "ref").write_bytes(INGEST_REF.encode())
    (ingest / "startedat").write_bytes(b"2026-11-28T23:03:08.443477576Z")
    (ingest / "updatedat").write_bytes(b"2026-11-28T23:03:08.4434+05:30")
    if total is not None:
        (ingest / "total").write_bytes(str(total).encode())
    (ingest / "data").write_bytes(PARTIAL)
    old = datetime(2020, 1, 1, tzinfo=UTC).timestamp()
    os.utime(ingest / "data", (old, old))
    return root


async def test_containerd_root_lists_its_ingest_with_utc_times(tmp_path: Path) -> None:
    async with LocalStore(_containerd_root(tmp_path)) as cs:
        [st] = await cs.list_statuses()
    assert st.ref == INGEST_REF
    assert st.offset == len(PARTIAL)
    assert st.total == 0
    assert st.expected is None
    assert st.started_at == datetime(2026, 11, 28, 23, 3, 8, 443477, tzinfo=UTC)
    assert st.updated_at == datetime(2026, 11, 28, 17, 33, 8, 443400, tzinfo=UTC)


async def test_containerd_root_status_by_ref_with_slashes(tmp_path: Path) -> None:
    async with LocalStore(_containerd_root(tmp_path)) as cs:
        st = await cs.status(INGEST_REF)
    assert st.ref == INGEST_REF
    assert st.offset == len(PARTIAL)


async def test_containerd_root_reads_and_walks_its_blob(tmp_path: Path) -> None:
    async with LocalStore(_containerd_root(tmp_path)) as cs:
        async with await cs.reader_at(Descriptor(digest=BLOB_DGST)) as ra:
            assert ra.size == len(BLOB)
            assert await ra.read_at(100, 0) == BLOB
        seen: list[Info] = []
        await cs.walk(seen.append)
        info = await cs.info(BLOB_DGST)
    assert [i.digest for i in seen] == [BLOB_DGST]
    assert info.size == len(BLOB)
    assert info.labels == {}


async def test_containerd_ingest_resumes_and_commits(tmp_path: Path) -> None:
    root = _containerd_root(tmp_path)
    async with LocalStore(root) as cs:
        w = await cs.writer(with_ref(INGEST_REF))
        st = await w.status()
        assert st.offset == len(PARTIAL)
        assert w.digest() == Digest.from_bytes(PARTIAL)
        assert st.started_at == datetime(2026, 11, 28, 23, 3, 8, 443477, tzinfo=UTC)
        await w.write(REST)
        await w.commit(len(PARTIAL + REST), INGEST_DGST)
        assert await cs.list_statuses() == []
        blob = root / "blobs" / "sha256" / INGEST_DGST.encoded
    assert blob.read_bytes() == PARTIAL + REST
    assert not (root / "ingest" / ingest_hex(INGEST_REF)).exists()


async def test_containerd_ingest_resumes_through_copy(tmp_path: Path) -> None:
    root = _containerd_root(tmp_path, total=len(PARTIAL + REST))
    async with LocalStore(root) as cs:
        desc = Descriptor(digest=INGEST_DGST, size=len(PARTIAL + REST))
        w = await cs.writer(with_ref(INGEST_REF), with_descriptor(desc))
        assert (await w.status()).total == desc.size
        await copy(w, PARTIAL + REST, desc.size, desc.digest)
        assert (await cs.info(INGEST_DGST)).size == desc.size


async def test_containerd_ingest_total_mismatch_is_refused_untouched(tmp_path: Path) -> None:
    root = _containerd_root(tmp_path, total=99)
    folder = root / "ingest" / ingest_hex(INGEST_REF)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    async with LocalStore(root) as cs:
        desc = Descriptor(digest=INGEST_DGST, size=22)
        with pytest.raises(FailedPreconditionError, match="99"):
            await cs.writer(with_ref(INGEST_REF), with_descriptor(desc))
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


async def test_ingest_without_total_adopts_the_descriptor_size(tmp_path: Path) -> None:
    root = _containerd_root(tmp_path)
    async with LocalStore(root) as cs:
        desc = Descriptor(digest=INGEST_DGST, size=len(PARTIAL + REST))
        w = await cs.writer(with_ref(INGEST_REF), with_descriptor(desc))
        await w.aclose()
    total = root / "ingest" / ingest_hex(INGEST_REF) / "total"
    assert total.read_bytes() == str(len(PARTIAL + REST)).encode()


_GO_UTC = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{0,5}[1-9])?Z")


async def test_ingest_left_behind_has_containerds_five_files_and_the_hash_state(
    tmp_path: Path,
) -> None:
    ref = "default/7/with space/é"
    async with LocalStore(tmp_path) as cs:
        w = await cs.writer(with_ref(ref), with_descriptor(Descriptor(size=1234)))
        await w.write(b"abc")
        await w.aclose()
    folder = tmp_path / "ingest" / hashlib.sha256(ref.encode()).hexdigest()
    # The saved SHA-256 state (where OpenSSL's is reachable) is a file containerd does not read.
    state = [STATE_FILE] if load_openssl() is not None else []
    assert sorted(p.name for p in folder.iterdir()) == [
        *state,
        "data",
        "ref",
        "startedat",
        "total",
        "updatedat",
    ]
    assert (folder / "ref").read_bytes() == ref.encode()
    assert (folder / "data").read_bytes() == b"abc"
    assert (folder / "total").read_bytes() == b"1234"
    for name in ("startedat", "updatedat"):
        assert _GO_UTC.fullmatch((folder / name).read_bytes())


async def test_new_ingest_without_size_writes_no_total(tmp_path: Path) -> None:
    async with LocalStore(tmp_path) as cs:
        w = await cs.writer(with_ref("r"))
        await w.aclose()
    assert not (tmp_path / "ingest" / ingest_hex("r") / "total").exists()


async def test_committed_blob_is_read_only_with_commit_time(tmp_path: Path) -> None:
    async with LocalStore(tmp_path) as cs:
        w = await cs.writer(with_ref("r"))
        await w.write(BLOB)
        before = datetime.now(UTC)
        await w.commit(len(BLOB), BLOB_DGST)
        info = await cs.info(BLOB_DGST)
    path = tmp_path / "blobs" / "sha256" / BLOB_DGST.encoded
    st = path.stat()
    assert st.st_mode & 0o222 == 0
    assert info.created_at == info.updated_at
    assert before - timedelta(seconds=1) <= info.created_at <= datetime.now(UTC)


# ----------------------------------------------------------------------------- walk


async def test_walk_skips_stray_and_misnamed_entries(tmp_path: Path) -> None:
    blobs = tmp_path / "blobs"
    (blobs / "sha256").mkdir(parents=True)
    (blobs / "sha256" / BLOB_DGST.encoded).write_bytes(BLOB)
    (blobs / "sha256" / "not-a-digest").write_bytes(b"x")
    (blobs / "sha256" / ("0" * 64)).mkdir()
    (blobs / "md5").mkdir()
    (blobs / "md5" / "d41d8cd98f00b204e9800998ecf8427e").write_bytes(b"")
    (blobs / "aaa-stray-file").write_bytes(b"x")
    (blobs / "zzz-stray-file").write_bytes(b"x")
    async with LocalStore(tmp_path) as cs:
        seen: list[Info] = []
        await cs.walk(seen.append)
    assert [i.digest for i in seen] == [BLOB_DGST]


async def test_walk_of_missing_root_yields_nothing(tmp_path: Path) -> None:
    async with LocalStore(tmp_path / "absent") as cs:
        seen: list[Info] = []
        await cs.walk(seen.append)
        assert await cs.list_statuses() == []
    assert seen == []
    assert not (tmp_path / "absent").exists()


async def test_walk_lists_in_lexical_digest_order(tmp_path: Path) -> None:
    datas = [b"a", b"b", b"c", b"d"]
    async with LocalStore(tmp_path) as cs:
        for i, data in enumerate(datas):
            w = await cs.writer(with_ref(f"r{i}"))
            await w.write(data)
            await w.commit()
        seen: list[Info] = []
        await cs.walk(seen.append)
    assert [i.digest for i in seen] == sorted(Digest.from_bytes(d) for d in datas)


async def test_list_statuses_skips_non_folders_and_damaged_ingests(tmp_path: Path) -> None:
    async with LocalStore(tmp_path) as cs:
        w = await cs.writer(with_ref("good"))
        await w.aclose()
        (tmp_path / "ingest" / "stray-file").write_bytes(b"x")
        half = tmp_path / "ingest" / ("1" * 64)
        half.mkdir()
        (half / "ref").write_bytes(b"half")
        bad = tmp_path / "ingest" / ("2" * 64)
        bad.mkdir()
        for name, content in (("ref", b"bad"), ("data", b""), ("updatedat", b"x")):
            (bad / name).write_bytes(content)
        (bad / "startedat").write_bytes(b"yesterday")
        assert [st.ref for st in await cs.list_statuses()] == ["good"]


# ----------------------------------------------------------------------------- hostile input


HOSTILE_DIGESTS = [
    "sha256:../../../etc/passwd",
    "sha256/../../x",
    "../" + "a" * 64,
    "sha256:" + "A" * 64,
    "sha256:" + "a" * 63,
    "md5:d41d8cd98f00b204e9800998ecf8427e",
    "sha256:" + "a" * 64 + "/../..",
    "",
]


def _tree(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


@pytest.mark.parametrize("dgst", HOSTILE_DIGESTS)
async def test_malformed_digests_never_reach_the_filesystem(tmp_path: Path, dgst: str) -> None:
    root = tmp_path / "root"
    async with LocalStore(root) as cs:
        with pytest.raises(InvalidArgumentError):
            await cs.info(dgst)
        with pytest.raises(InvalidArgumentError):
            await cs.reader_at(Descriptor(digest=Digest(dgst)))
        with pytest.raises(InvalidArgumentError):
            await cs.delete(dgst)
        with pytest.raises(InvalidArgumentError):
            await cs.update(Info(digest=Digest(dgst), labels={"a": "b"}))
        with pytest.raises(InvalidArgumentError):
            await cs.verify(dgst)
        if dgst:  # an empty descriptor digest means "none given"
            with pytest.raises(InvalidArgumentError):
                await cs.writer(with_ref("r"), with_descriptor(Descriptor(digest=Digest(dgst))))
    assert _tree(tmp_path) == []


@pytest.mark.parametrize("ref", ["../../escape", "/abs/path", "a/../../b", ".", "x" * 4096])
async def test_any_ref_only_names_its_hash_folder(tmp_path: Path, ref: str) -> None:
    root = tmp_path / "root"
    async with LocalStore(root) as cs:
        w = await cs.writer(with_ref(ref))
        await w.write(b"data")
        await w.aclose()
        assert (await cs.status(ref)).offset == 4
        await cs.abort(ref)
    assert _tree(tmp_path) == ["root", "root/ingest", "root/locks"]


async def test_missing_things_raise_not_found_and_create_nothing(tmp_path: Path) -> None:
    async with LocalStore(tmp_path) as cs:
        with pytest.raises(NotFoundError):
            await cs.update(Info(digest=BLOB_DGST, labels={"a": "b"}))
        with pytest.raises(NotFoundError):
            await cs.info(BLOB_DGST)
        with pytest.raises(NotFoundError):
            await cs.delete(BLOB_DGST)
        with pytest.raises(NotFoundError, match='ingest ref "nope"'):
            await cs.abort("nope")
        with pytest.raises(NotFoundError, match="nope"):
            await cs.status("nope")
        with pytest.raises(NotFoundError, match=BLOB_DGST):
            await cs.reader_at(Descriptor(digest=BLOB_DGST))
        with pytest.raises(NotFoundError, match=BLOB_DGST):
            await cs.verify(BLOB_DGST)
    assert _tree(tmp_path) == []


async def test_commit_of_existing_blob_removes_the_ingest(tmp_path: Path) -> None:
    root = _containerd_root(tmp_path)
    async with LocalStore(root) as cs:
        w = await cs.writer(with_ref("dup"))
        await w.write(BLOB)
        with pytest.raises(AlreadyExistsError):
            await w.commit(len(BLOB), BLOB_DGST)
        with pytest.raises(NotFoundError):
            await cs.status("dup")
    assert not (root / "ingest" / ingest_hex("dup")).exists()
