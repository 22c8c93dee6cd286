"""S3Store behaviour beyond the conformance suite, against a real Ceph RADOS Gateway."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import anyio
import pytest

from aiocontent import (
    Descriptor,
    Digest,
    FailedPreconditionError,
    Info,
    InvalidArgumentError,
    UnavailableError,
    copy,
    new_reader,
    open_writer,
    read_blob,
    with_descriptor,
    with_labels,
    with_ref,
)
from aiocontent._s3 import S3Store
from aiocontent._s3._client import S3Client

from ._fixture import BUCKET, MIB, s3_factory, store_kwargs
from ._killed_writer import content
from .rgw import RGW

pytestmark = pytest.mark.ceph

ROOT = Path(__file__).resolve().parents[2]

#: For tests that mostly wait for leases to run out: the backend does not matter
#: there (the conformance suite and the other tests cover both), the seconds do.
ONE_BACKEND = pytest.mark.parametrize("anyio_backend", ["asyncio"])


def _store(rgw: RGW, prefix: str, **overrides: object) -> S3Store:
    return S3Store(BUCKET, prefix, **(store_kwargs(rgw) | overrides))


def _prefix() -> str:
    return f"t-{os.urandom(6).hex()}"


async def _keys(cs: S3Store, under: str = "") -> list[str]:
    return sorted(o.key[len(cs.prefix) :] for o in await cs._client.list_all(cs.prefix + under))


async def _uploads(cs: S3Store) -> list[tuple[str, str]]:
    return await cs._client.list_uploads(cs.prefix)


def _raw(cs: S3Store) -> S3Client:
    return cs._client


# ------------------------------------------------------------------ layout


async def test_layout_mirrors_local_store(rgw: RGW) -> None:
    async with _store(rgw, _prefix()) as cs:
        data = b"layout"
        dgst = Digest.from_bytes(data)
        w = await cs.writer(with_ref("a/b ref"))
        await w.write(data)
        await w.aclose()
        hexref = hashlib.sha256(b"a/b ref").hexdigest()
        assert await _keys(cs) == [f"ingest/{hexref}/data", f"ingest/{hexref}/state"]
        got = await _raw(cs).get(cs.prefix + f"ingest/{hexref}/state")
        assert got is not None
        state = json.loads(got[0])
        assert (state["ref"], state["length"], state["upload"]) == ("a/b ref", 6, None)
        w = await cs.writer(with_ref("a/b ref"))
        await w.commit(len(data), dgst, with_labels({"k": "v"}))
        assert await _keys(cs) == [f"blobs/sha256/{dgst.encoded}", f"meta/sha256/{dgst.encoded}"]


async def test_bad_part_size_is_invalid_argument(rgw: RGW) -> None:
    with pytest.raises(InvalidArgumentError, match="part_size 1024"):
        _store(rgw, _prefix(), part_size=1024)


# ------------------------------------------------------------------ locks across hosts


async def test_two_hosts_contend_for_one_ref(rgw: RGW) -> None:
    prefix = _prefix()
    async with _store(rgw, prefix) as host_a, _store(rgw, prefix) as host_b:
        w = await host_a.writer(with_ref("shared"))
        await w.write(b"from a")
        with pytest.raises(UnavailableError, match="ref shared locked for "):
            await host_b.writer(with_ref("shared"))
        await w.aclose()
        w2 = await host_b.writer(with_ref("shared"))
        assert (await w2.status()).offset == len(b"from a")
        await w2.aclose()


async def test_sixteen_racing_hosts_one_winner(rgw: RGW) -> None:
    prefix = _prefix()
    stores = [_store(rgw, prefix) for _ in range(16)]
    winners: list[int] = []
    losers: list[int] = []
    writers = []

    async def race(i: int) -> None:
        try:
            writers.append(await stores[i].writer(with_ref("race")))
            winners.append(i)
        except UnavailableError:
            losers.append(i)

    try:
        async with anyio.create_task_group() as tg:
            for i in range(16):
                tg.start_soon(race, i)
        assert len(winners) == 1
        assert len(losers) == 15
    finally:
        for w in writers:
            await w.aclose()
        for s in stores:
            await s.aclose()


@ONE_BACKEND
async def test_crashed_holders_lock_expires(rgw: RGW) -> None:
    async with _store(rgw, _prefix(), lock_lease=2.0) as cs:
        stale = json.dumps(
            {"ref": "r", "owner": "gone", "since": "2024-01-01T00:00:00Z", "lease": 2.0, "n": 0}
        )
        await _raw(cs).put(cs._layout.lock("r"), stale.encode())
        with pytest.raises(UnavailableError, match="ref r locked for "):
            await cs.writer(with_ref("r"))
        with anyio.fail_after(10):
            w = await open_writer(cs, with_ref("r"))
        await w.aclose()


@ONE_BACKEND
async def test_holder_renews_its_lease(rgw: RGW) -> None:
    prefix = _prefix()
    async with _store(rgw, prefix, lock_lease=2.0) as host_a, _store(rgw, prefix) as host_b:
        w = await host_a.writer(with_ref("long"))
        await anyio.sleep(5.5)  # well past the lease: only renewals keep it
        with pytest.raises(UnavailableError):
            await host_b.writer(with_ref("long"))
        await w.aclose()


# ------------------------------------------------------------------ resume


@ONE_BACKEND
async def test_writer_killed_mid_upload_resumes_in_another_process(rgw: RGW) -> None:
    prefix, ref = _prefix(), "killed"
    size, written = 14 * MIB, 12 * MIB + 12345
    command = [sys.executable, "-m", "tests.s3._killed_writer", rgw.endpoint, BUCKET, prefix]
    with anyio.fail_after(120):
        proc = await anyio.run_process(
            [*command, ref, str(size), str(written)], cwd=ROOT, check=False
        )
    assert proc.stdout.decode().strip() == "ready", proc.stderr.decode()
    assert proc.returncode == -9
    data = content(size)
    async with _store(rgw, prefix) as cs:
        with anyio.fail_after(15):  # the dead holder's lease runs out first
            w = await open_writer(cs, with_ref(ref))
        offset = (await w.status()).offset
        assert offset == 10 * MIB  # the two parts that landed; the buffered tail died
        assert w.digest() == Digest.from_bytes(data[:offset])
        await copy(w, data, size, Digest.from_bytes(data))
        assert await read_blob(cs, Descriptor(digest=Digest.from_bytes(data), size=size)) == data
        assert await _keys(cs, "ingest/") == []
        assert await _uploads(cs) == []


async def test_truncate_into_uploaded_parts_is_kept_across_hosts(rgw: RGW) -> None:
    prefix = _prefix()
    data = os.urandom(13 * MIB)
    async with _store(rgw, prefix) as host_a, _store(rgw, prefix) as host_b:
        w = await host_a.writer(with_ref("t"))
        await w.write(data)
        await w.truncate(6 * MIB + 7)
        assert w.digest() == Digest.from_bytes(data[: 6 * MIB + 7])
        await w.aclose()
        assert (await host_b.status("t")).offset == 6 * MIB + 7
        w = await host_b.writer(with_ref("t"))
        assert w.digest() == Digest.from_bytes(data[: 6 * MIB + 7])
        await copy(w, data, len(data), Digest.from_bytes(data))
        assert await read_blob(host_b, Descriptor(digest=Digest.from_bytes(data))) == data


async def test_status_from_another_host_sees_uploaded_parts(rgw: RGW) -> None:
    prefix = _prefix()
    async with _store(rgw, prefix) as host_a, _store(rgw, prefix) as host_b:
        w = await host_a.writer(with_ref("p"), with_descriptor(Descriptor(size=20 * MIB)))
        await w.write(os.urandom(11 * MIB))
        await w._drain()
        status = await host_b.status("p")
        assert (status.offset, status.total) == (10 * MIB, 20 * MIB)
        await w.aclose()
        assert (await host_b.status("p")).offset == 11 * MIB


async def test_abort_removes_every_part_and_object(rgw: RGW) -> None:
    async with _store(rgw, _prefix()) as cs:
        w = await cs.writer(with_ref("gone"))
        await w.write(os.urandom(11 * MIB))
        await w._drain()
        assert await _uploads(cs)
        await cs.abort("gone")
        assert await _keys(cs, "ingest/") == []
        assert await _uploads(cs) == []
        await w.aclose()


# ------------------------------------------------------------------ commit


async def test_blob_over_copy_limit_is_assembled_by_multipart_copy(rgw: RGW) -> None:
    # The 5 GiB single-copy limit, lowered: a 12 MiB blob takes the >5 GiB path.
    async with _store(rgw, _prefix(), max_copy_size=5 * MIB, copy_part_size=5 * MIB) as cs:
        data = os.urandom(12 * MIB + 3)
        dgst = Digest.from_bytes(data)
        w = await cs.writer(with_ref("huge"))
        await copy(w, data, len(data), dgst)
        info = await cs.info(dgst)
        assert info.size == len(data)
        head = await _raw(cs).head(cs._layout.blob(dgst))
        assert head is not None and head.etag.endswith("-3")  # three copied parts
        assert await read_blob(cs, Descriptor(digest=dgst)) == data
        assert await _uploads(cs) == []


async def test_corrupted_source_is_rejected_with_nothing_visible(rgw: RGW) -> None:
    async with _store(rgw, _prefix()) as cs:
        data = os.urandom(11 * MIB)
        corrupted = bytearray(data)
        corrupted[7 * MIB] ^= 1
        w = await cs.writer(with_ref("bad"))
        with pytest.raises(FailedPreconditionError, match="unexpected commit digest"):
            await copy(w, bytes(corrupted), len(data), Digest.from_bytes(data))
        assert await _keys(cs, "blobs/") == []
        assert await _keys(cs, "meta/") == []
        assert (await cs.status("bad")).offset == len(data)


async def test_tampered_ingest_object_is_rejected_on_resume(rgw: RGW) -> None:
    async with _store(rgw, _prefix()) as cs:
        data = os.urandom(7 * MIB)
        w = await cs.writer(with_ref("tamper"))
        await w.write(data)
        await w.aclose()
        tampered = bytearray(data)
        tampered[100] ^= 0xFF
        await _raw(cs).put(cs._layout.data("tamper"), tampered)
        w = await cs.writer(with_ref("tamper"))
        assert w.digest() == Digest.from_bytes(tampered)
        with pytest.raises(FailedPreconditionError):
            await w.commit(len(data), Digest.from_bytes(data))
        assert await _keys(cs, "blobs/") == []


async def test_reader_detects_a_corrupted_blob(rgw: RGW) -> None:
    async with _store(rgw, _prefix()) as cs:
        data = os.urandom(3 * MIB)
        dgst = Digest.from_bytes(data)
        w = await cs.writer(with_ref("r"))
        await copy(w, data, len(data), dgst)
        await _raw(cs).put(cs._layout.blob(dgst), data[:-1] + b"\0")
        ra = await cs.reader_at(Descriptor(digest=dgst))
        with pytest.raises(FailedPreconditionError, match="stored bytes hash to"):
            await new_reader(ra).read()
        await ra.aclose()


# ------------------------------------------------------------------ reading


async def test_read_at_random_offsets_match_slices(rgw: RGW) -> None:
    async with _store(rgw, _prefix()) as cs:
        data = os.urandom(2 * MIB + 17)
        dgst = Digest.from_bytes(data)
        await copy(await cs.writer(with_ref("ra")), data, len(data), dgst)
        async with await cs.reader_at(Descriptor(digest=dgst)) as ra:
            for offset, n in [(5, 10), (MIB, 300_000), (2 * MIB, 100), (17, 1), (0, 2 * MIB + 17)]:
                assert await ra.read_at(n, offset) == data[offset : offset + n]
            assert await ra.read_at(10, len(data)) == b""


async def test_sequential_reads_use_one_streaming_get(rgw: RGW) -> None:
    async with _store(rgw, _prefix()) as cs:
        data = os.urandom(4 * MIB + 5)
        dgst = Digest.from_bytes(data)
        await copy(await cs.writer(with_ref("seq")), data, len(data), dgst)
        calls: list[str] = []
        client = _raw(cs)
        original_get, original_stream = client.get, client.open_stream

        async def counting_get(*args: object, **kwargs: object) -> object:
            calls.append("get")
            return await original_get(*args, **kwargs)  # type: ignore[arg-type]

        async def counting_stream(*args: object, **kwargs: object) -> object:
            calls.append("stream")
            return await original_stream(*args, **kwargs)  # type: ignore[arg-type]

        client.get = counting_get  # type: ignore[method-assign,assignment]
        client.open_stream = counting_stream  # type: ignore[method-assign,assignment]
        async with await cs.reader_at(Descriptor(digest=dgst)) as ra:
            assert b"".join([chunk async for chunk in new_reader(ra)]) == data
        assert calls == ["stream"]


# ------------------------------------------------------------------ labels


async def test_concurrent_label_updates_from_two_hosts_lose_nothing(rgw: RGW) -> None:
    prefix = _prefix()
    async with _store(rgw, prefix) as host_a, _store(rgw, prefix) as host_b:
        data = b"labelled"
        dgst = Digest.from_bytes(data)
        await copy(await host_a.writer(with_ref("l")), data, len(data), dgst)

        async def set_label(cs: S3Store, i: int) -> None:
            await cs.update(Info(digest=dgst, labels={f"k{i}": str(i)}), f"labels.k{i}")

        async with anyio.create_task_group() as tg:
            for i in range(12):
                tg.start_soon(set_label, host_a if i % 2 else host_b, i)
        assert (await host_b.info(dgst)).labels == {f"k{i}": str(i) for i in range(12)}


async def test_factory_prefixes_do_not_overlap(rgw: RGW) -> None:
    factory = s3_factory(rgw)
    async with factory() as one, factory() as two:
        data = b"only in one"
        await copy(await one.writer(with_ref("x")), data, len(data), Digest.from_bytes(data))
        seen: list[object] = []
        await two.walk(seen.append)
        assert seen == []
