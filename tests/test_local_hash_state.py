"""A closed ingest's SHA-256 state is saved in its folder and resumed without re-reading.

The state is OpenSSL's ``SHA256_CTX`` (through ctypes); it is trusted only while
the data file and ``updatedat`` are as recorded, and every result is checked
against :mod:`hashlib`. "A new process" is simulated by emptying the in-process
cache of hash states, except in the one test that starts a real one.
"""

from __future__ import annotations

import array
import hashlib
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiocontent import SHA256, SHA512, Descriptor, Digest, with_descriptor, with_ref
from aiocontent import _sha256state as sha_module
from aiocontent._local import LocalStore
from aiocontent._local import _ingest as ingest_module
from aiocontent._local._hashing import HASHES, STATE_FILE, hash_fd
from aiocontent._local._layout import ingest_hex
from aiocontent._sha256state import (
    OpenSSLSha256,
    digester_from_state,
    export_state,
    load_openssl,
    new_digester,
    state_length,
)

MIB = 1 << 20

needs_openssl = pytest.mark.skipif(
    load_openssl() is None, reason="OpenSSL's SHA256_* functions are not reachable here"
)


def data_of(size: int, seed: str = "state") -> bytes:
    return random.Random(f"{seed}-{size}").randbytes(size)


def sha256(data: bytes) -> Digest:
    return Digest("sha256:" + hashlib.sha256(data).hexdigest())


@pytest.fixture(autouse=True)
def new_process() -> Iterator[None]:
    """Each test starts, and can start again, without the in-process hash states."""
    HASHES._entries.clear()
    yield
    HASHES._entries.clear()


@pytest.fixture
def rehashes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Records the size of every re-hash a resume does (and still does it)."""
    calls: list[int] = []

    def recording(fd: int, algorithm: object, limit: int | None = None) -> object:
        calls.append(os.fstat(fd).st_size if limit is None else limit)
        return hash_fd(fd, algorithm, limit)  # type: ignore[arg-type]

    monkeypatch.setattr(ingest_module, "hash_fd", recording)
    return calls


def folder_of(root: Path, ref: str) -> Path:
    return root / "ingest" / ingest_hex(ref)


async def leave_ingest(root: Path, ref: str, data: bytes, chunk: int = MIB) -> None:
    """Write ``data`` to ingest ``ref`` and close the writer, as a process that then ends."""
    async with LocalStore(root) as cs, await cs.writer(with_ref(ref)) as w:
        for off in range(0, len(data), chunk):
            await w.write(data[off : off + chunk])
    HASHES._entries.clear()


async def resume_and_commit(root: Path, ref: str, data: bytes, written: int) -> None:
    """Resume ``ref`` (expected at ``written``), append the rest and commit with the digest."""
    async with LocalStore(root) as cs:
        async with await cs.writer(with_ref(ref)) as w:
            assert (await w.status()).offset == written
            assert w.digest() == sha256(data[:written])
            await w.write(data[written:])
            await w.commit(len(data), sha256(data))
        async with await cs.reader_at(Descriptor(digest=sha256(data))) as ra:
            assert await ra.read_at(len(data) + 1, 0) == data


# ----------------------------------------------------------------------------- the hash object


@needs_openssl
@pytest.mark.parametrize("size", [0, 1, 55, 56, 63, 64, 65, 127, 4096, 70_000, 3 * MIB + 5])
def test_openssl_sha256_equals_hashlib_at_every_split(size: int) -> None:
    data = data_of(size)
    rng = random.Random(size)
    for _ in range(4):
        cut = rng.randint(0, size)
        first = new_digester(SHA256)
        first.update(memoryview(data)[:cut])  # a read-only view of bytes
        state = export_state(first)
        assert state is not None and state_length(state) == cut
        resumed = digester_from_state(state)
        assert resumed is not None
        resumed.update(bytearray(data[cut:]))
        assert resumed.digest() == sha256(data)
        assert first.digest() == sha256(data[:cut])  # digest() does not finalise


@needs_openssl
@pytest.mark.parametrize("buffer_path", ["view-address", "get-buffer"])
def test_openssl_sha256_takes_every_kind_of_buffer(
    monkeypatch: pytest.MonkeyPatch, buffer_path: str
) -> None:
    if buffer_path == "get-buffer":
        monkeypatch.setattr(load_openssl(), "view_buf_at", None)
    words = array.array("I", range(1000))
    parts: list[bytes | bytearray | memoryview] = [
        b"bytes",
        bytearray(b"bytearray"),
        memoryview(b"read-only view")[5:],
        memoryview(bytearray(b"writable view"))[2:9],
        memoryview(words),
    ]
    lib = load_openssl()
    assert lib is not None
    hashed, expected = OpenSSLSha256(lib), hashlib.sha256()
    for part in parts:
        hashed.update(part)
        expected.update(part)
    copy = hashed.copy()
    copy.update(b"more")
    assert hashed.hexdigest() == expected.hexdigest()
    expected.update(b"more")
    assert copy.hexdigest() == expected.hexdigest()
    with pytest.raises(TypeError):
        hashed.update("text")
    with pytest.raises(BufferError):
        hashed.update(memoryview(b"not contiguous")[::2])


@needs_openssl
def test_a_state_whose_counters_disagree_is_refused() -> None:
    digester = new_digester(SHA256)
    digester.update(b"x" * 100)
    state = export_state(digester)
    assert state is not None
    bad_count = state[:32] + (101 * 8).to_bytes(4, sys.byteorder) + state[36:]
    assert state_length(bad_count) is None and digester_from_state(bad_count) is None
    assert digester_from_state(state[:-1]) is None


def test_other_algorithms_use_hashlib_and_export_nothing() -> None:
    digester = new_digester(SHA512)
    digester.update(b"abc")
    assert export_state(digester) is None
    assert digester.digest() == Digest.from_bytes(b"abc", SHA512)


# ----------------------------------------------------------------------------- resuming


@needs_openssl
@pytest.mark.parametrize(
    ("size", "written", "chunk"),
    [
        (10, 0, MIB),
        (1000, 1, 7),
        (200_000, 64, 4096),
        (200_000, 131_071, 65_536),
        (5 * MIB, 3 * MIB + 1, MIB),
    ],
)
async def test_a_new_process_resumes_from_the_saved_state_without_rehashing(
    tmp_path: Path, rehashes: list[int], size: int, written: int, chunk: int
) -> None:
    data = data_of(size)
    await leave_ingest(tmp_path, "r", data[:written], chunk)
    assert (folder_of(tmp_path, "r") / STATE_FILE).is_file()
    await resume_and_commit(tmp_path, "r", data, written)
    assert rehashes == []


@needs_openssl
async def test_the_state_file_is_consumed_when_a_writer_resumes(tmp_path: Path) -> None:
    data = data_of(1000)
    await leave_ingest(tmp_path, "r", data[:300])
    async with LocalStore(tmp_path) as cs:
        w = await cs.writer(with_ref("r"))
        assert not (folder_of(tmp_path, "r") / STATE_FILE).exists()
        await w.write(data[300:400])
        await w.truncate(200)
        await w.write(data[200:300])  # same size as saved, all in one clock tick maybe
        await w.aclose()
    HASHES._entries.clear()
    await resume_and_commit(tmp_path, "r", data, 300)


@pytest.mark.parametrize(
    "damage",
    [
        "flip-state-byte",
        "truncate-state",
        "garbage",
        "empty",
        "append-data",
        "overwrite-data-same-size-same-mtime",
        "rewrite-updatedat",
        "replace-data-file",
    ],
)
async def test_a_state_that_does_not_match_is_ignored_and_the_data_rehashed(
    tmp_path: Path, rehashes: list[int], damage: str
) -> None:
    data = data_of(300_000)
    written = 123_457
    await leave_ingest(tmp_path, "r", data[:written], 65_536)
    folder = folder_of(tmp_path, "r")
    state, dfile = folder / STATE_FILE, folder / "data"
    if load_openssl() is None:
        state.write_bytes(b"a state from a machine with OpenSSL")
    before = dfile.stat()
    if damage == "flip-state-byte":
        raw = bytearray(state.read_bytes())
        raw[len(raw) // 2] ^= 1
        state.write_bytes(raw)
    elif damage == "truncate-state":
        state.write_bytes(state.read_bytes()[:-10])
    elif damage == "garbage":
        state.write_bytes(os.urandom(250))
    elif damage == "empty":
        state.write_bytes(b"")
    elif damage == "append-data":
        with dfile.open("ab") as f:
            f.write(data[written : written + 1000])
        written += 1000
    elif damage == "overwrite-data-same-size-same-mtime":
        with dfile.open("r+b") as f:
            f.write(b"\0" * 100)  # another program changed bytes and hid the mtime change
        os.utime(dfile, ns=(before.st_atime_ns, before.st_mtime_ns))
        data = b"\0" * 100 + data[100:]
    elif damage == "rewrite-updatedat":
        (folder / "updatedat").write_text("2030-01-01T00:00:00Z")
    elif damage == "replace-data-file":
        copy = folder / "data.new"
        copy.write_bytes(dfile.read_bytes())
        os.replace(copy, dfile)
    await resume_and_commit(tmp_path, "r", data, written)
    assert rehashes == [written]
    assert not state.exists()


async def test_a_sha512_ingest_saves_no_state_and_resumes_by_rehashing(
    tmp_path: Path, rehashes: list[int]
) -> None:
    data = data_of(5000)
    digest = Digest.from_bytes(data, SHA512)
    opts = (with_ref("r"), with_descriptor(Descriptor(digest=digest)))
    async with LocalStore(tmp_path) as cs, await cs.writer(*opts) as w:
        await w.write(data[:2000])
    assert not (folder_of(tmp_path, "r") / STATE_FILE).exists()
    HASHES._entries.clear()
    async with LocalStore(tmp_path) as cs, await cs.writer(*opts) as w:
        await w.write(data[2000:])
        await w.commit(len(data), digest)
    assert rehashes == [2000]


async def test_without_openssl_nothing_is_saved_and_resume_rehashes(
    tmp_path: Path, rehashes: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sha_module, "load_openssl", lambda: None)
    data = data_of(5000)
    await leave_ingest(tmp_path, "r", data[:1234])
    assert not (folder_of(tmp_path, "r") / STATE_FILE).exists()
    await resume_and_commit(tmp_path, "r", data, 1234)
    assert rehashes == [1234]


async def test_a_state_saved_without_openssl_reachable_later_is_rehashed(
    tmp_path: Path, rehashes: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = data_of(5000)
    await leave_ingest(tmp_path, "r", data[:1234])
    monkeypatch.setattr(sha_module, "load_openssl", lambda: None)
    await resume_and_commit(tmp_path, "r", data, 1234)
    assert rehashes == [1234]


@needs_openssl
async def test_an_aborted_or_committed_ingest_leaves_no_state_behind(tmp_path: Path) -> None:
    data = data_of(1000)
    await leave_ingest(tmp_path, "gone", data)
    await leave_ingest(tmp_path, "done", data[:10])
    async with LocalStore(tmp_path) as cs:
        await cs.abort("gone")
    await resume_and_commit(tmp_path, "done", data, 10)
    assert list((tmp_path / "ingest").iterdir()) == []


@needs_openssl
def test_a_real_new_process_resumes_without_reading_the_data(tmp_path: Path) -> None:
    data = data_of(2 * MIB + 17, "child")
    written = MIB + 3
    import anyio

    anyio.run(leave_ingest, tmp_path, "r", data[:written])
    (tmp_path / "rest").write_bytes(data[written:])
    script = f"""
import anyio, aiocontent
from aiocontent._local import _ingest

def no_rehash(*args, **kwargs):
    raise AssertionError("re-hashed")

_ingest.hash_fd = no_rehash

async def main():
    async with aiocontent.LocalStore({str(tmp_path)!r}) as cs:
        w = await cs.writer(aiocontent.with_ref("r"))
        assert (await w.status()).offset == {written}
        await w.write(open({str(tmp_path / "rest")!r}, "rb").read())
        await w.commit({len(data)}, {str(sha256(data))!r})

anyio.run(main)
"""
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    blob = tmp_path / "blobs" / "sha256" / sha256(data).encoded
    assert blob.read_bytes() == data


async def test_no_state_is_saved_when_the_data_could_not_be_synced(
    tmp_path: Path, rehashes: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    data = data_of(5000)
    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", failing_fsync)
        await leave_ingest(tmp_path, "r", data[:1234])
    assert not (folder_of(tmp_path, "r") / STATE_FILE).exists()
    await resume_and_commit(tmp_path, "r", data, 1234)
    assert rehashes == [1234]
