"""The in-memory S3 service keeps S3's rules, and S3Store's multipart paths run on it.

The first half goes through :class:`~aiocontent._s3._client.S3Client` (the code
S3Store talks through), so each rule is checked as the store sees it. The second
half writes blobs larger than a part, which the conformance suite never does:
uploads, completion on close, resumption by a sibling, truncation into uploaded
parts, multipart copies. The same behaviours run against Ceph in
``test_s3_store.py``; these run on every machine.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from aiocontent import Descriptor, Digest, copy, read_blob, with_descriptor, with_ref
from aiocontent._s3 import S3Store, _bridge
from aiocontent._s3._client import S3Client
from aiocontent._s3._connection import PreconditionFailed
from aiocontent._s3._multipart import Part

from ..stores import fake_s3_factory
from ._fake_client import MIN_PART, FakeS3
from ._fake_rules import StoredObject, decode_token, encode_token, list_keys, md5, utcnow


@asynccontextmanager
async def fake_store(**overrides: Any) -> AsyncIterator[S3Store]:
    async with fake_s3_factory(**overrides)() as cs:
        assert isinstance(cs, S3Store)
        yield cs


@asynccontextmanager
async def raw_client() -> AsyncIterator[S3Client]:
    async with fake_store() as cs:
        await cs._ready()
        yield cs._client


KEYS = ["a", "b/1", "b/2", "b/3/x", "c", "d/1", "e"]


async def ingest_keys(cs: S3Store) -> list[str]:
    return [o.key for o in await cs._client.list_all(cs._layout.ingest(""))]


# ------------------------------------------------------------------ the service's rules


async def test_etag_is_the_md5_of_the_body() -> None:
    async with raw_client() as client:
        assert await client.put("k", b"body") == md5(b"body")
        head = await client.head("k")
        assert head is not None and (head.size, head.etag) == (4, md5(b"body"))


async def test_if_none_match_refuses_an_existing_key() -> None:
    async with raw_client() as client:
        await client.put("k", b"first", if_none_match=True)
        with pytest.raises(PreconditionFailed):
            await client.put("k", b"second", if_none_match=True)
        got = await client.get("k")
        assert got is not None and got[0] == b"first"


async def test_if_match_swaps_only_the_current_etag() -> None:
    async with raw_client() as client:
        old = await client.put("k", b"v1")
        new = await client.put("k", b"v2", if_match=old)
        with pytest.raises(PreconditionFailed):
            await client.put("k", b"v3", if_match=old)
        got = await client.get("k")
        assert got is not None and (got[0], got[1].etag) == (b"v2", new)


async def test_missing_keys_and_ranges_past_the_end() -> None:
    async with raw_client() as client:
        assert await client.get("missing") is None
        assert await client.head("missing") is None
        await client.put("k", b"0123456789")
        assert (await client.get("k", 3, 6) or (b"",))[0] == b"345"
        assert (await client.get("k", 10) or (b"x",))[0] == b""


async def test_metadata_keys_come_back_lower_case() -> None:
    async with raw_client() as client:
        await client.put("k", b"x", metadata={"Created-At": "now"})
        head = await client.head("k")
        assert head is not None and head.metadata == {"created-at": "now"}


async def test_completed_upload_etag_names_its_parts() -> None:
    parts_data = [os.urandom(MIN_PART), b"tail"]
    async with raw_client() as client:
        upload = await client.create_upload("big")
        for number, body in enumerate(parts_data, start=1):
            await _bridge.call(client.upload_part("big", upload, number, body))
        parts = await client.list_parts("big", upload)
        assert parts is not None and [p.size for p in parts] == [MIN_PART, 4]
        etag = await client.complete_upload("big", upload, parts)
        combined = md5(b"".join(bytes.fromhex(md5(b)) for b in parts_data))
        assert etag == f"{combined}-2"
        got = await client.get("big")
        assert got is not None and got[0] == b"".join(parts_data)
        assert await client.list_parts("big", upload) is None  # the upload is gone


async def test_completing_with_a_small_middle_part_is_refused() -> None:
    async with raw_client() as client:
        upload = await client.create_upload("big")
        await _bridge.call(client.upload_part("big", upload, 1, b"small"))
        await _bridge.call(client.upload_part("big", upload, 2, b"tail"))
        parts = await client.list_parts("big", upload)
        assert parts is not None
        with pytest.raises(OSError, match="EntityTooSmall"):
            await client.complete_upload("big", upload, parts)
        with pytest.raises(OSError, match="InvalidPart"):
            await client.complete_upload("big", upload, [Part(1, 5, "0" * 32)])
        assert await client.head("big") is None


async def test_listing_pages_through_keys_and_common_prefixes() -> None:
    async with raw_client() as client:
        keys = [f"d{i}/x" for i in range(3)] + [f"f{i}" for i in range(4)]
        for key in keys:
            await client.put(key, b"")
        assert [o.key for o in await client.list_all("")] == sorted(keys)
        objects, prefixes, token = await client.list_page("", delimiter="/")
        assert [o.key for o in objects] == [f"f{i}" for i in range(4)]
        assert (prefixes, token) == ([f"d{i}/" for i in range(3)], None)


def test_small_pages_list_every_key_and_prefix_once() -> None:
    objects = {key: StoredObject(b"", md5(b""), utcnow(), {}) for key in KEYS}
    seen: list[str] = []
    after, after_prefix, truncated = "", "", True
    while truncated:
        keys, prefixes, truncated, last = list_keys(objects, "", "/", 2, after, after_prefix)
        assert len(keys) + len(prefixes) <= 2
        seen += keys + prefixes
        after, after_prefix = decode_token(encode_token(*last))
    assert seen == ["a", "b/", "c", "d/", "e"]


async def test_unknown_parameters_are_refused() -> None:
    client = FakeS3().client()
    with pytest.raises(TypeError):
        await client.head_object(Bucket="b", Key="k", VersionId="1")  # type: ignore[call-arg]


# ------------------------------------------------------------------ S3Store, multipart


async def test_blob_larger_than_a_part_resumes_on_a_sibling() -> None:
    data = os.urandom(2 * MIN_PART + 12345)
    dgst = Digest.from_bytes(data)
    async with fake_store() as cs, cs.sibling() as other:
        w = await cs.writer(with_ref("big"), with_descriptor(Descriptor(size=len(data))))
        await w.write(data[: 2 * MIN_PART + 7])
        await w.aclose()
        resumed = await other.writer(with_ref("big"))
        assert (await resumed.status()).offset == 2 * MIN_PART + 7
        assert resumed.digest() == Digest.from_bytes(data[: 2 * MIN_PART + 7])
        await copy(resumed, data, len(data), dgst)
        assert await read_blob(cs, Descriptor(digest=dgst)) == data
        assert await ingest_keys(cs) == []
        assert await cs._client.list_uploads(cs.prefix) == []


async def test_truncate_into_uploaded_parts_keeps_the_prefix() -> None:
    data = os.urandom(2 * MIN_PART + 3)
    cut = MIN_PART + 11
    async with fake_store() as cs:
        w = await cs.writer(with_ref("t"))
        await w.write(data)
        await w.truncate(cut)
        assert w.digest() == Digest.from_bytes(data[:cut])
        await w.aclose()
        assert (await cs.status("t")).offset == cut
        w = await cs.writer(with_ref("t"))
        await copy(w, data, len(data), Digest.from_bytes(data))
        assert await read_blob(cs, Descriptor(digest=Digest.from_bytes(data))) == data


async def test_status_of_an_open_upload_counts_its_parts() -> None:
    async with fake_store() as cs, cs.sibling() as other:
        w = await cs.writer(with_ref("p"), with_descriptor(Descriptor(size=4 * MIN_PART)))
        await w.write(os.urandom(2 * MIN_PART + 1))
        await w._drain()
        status = await other.status("p")
        assert (status.offset, status.total) == (2 * MIN_PART, 4 * MIN_PART)
        await cs.abort("p")
        assert await ingest_keys(cs) == []
        assert await cs._client.list_uploads(cs.prefix) == []
        await w.aclose()


async def test_blob_over_the_copy_limit_is_assembled_from_part_copies() -> None:
    data = os.urandom(2 * MIN_PART + 3)
    dgst = Digest.from_bytes(data)
    async with fake_store(max_copy_size=MIN_PART, copy_part_size=MIN_PART) as cs:
        await copy(await cs.writer(with_ref("huge")), data, len(data), dgst)
        head = await cs._client.head(cs._layout.blob(dgst))
        assert head is not None and head.etag.endswith("-3")
        assert await read_blob(cs, Descriptor(digest=dgst)) == data
        assert await cs._client.list_uploads(cs.prefix) == []
