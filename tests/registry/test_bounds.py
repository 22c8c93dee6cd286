"""Every untrusted read is capped before it is read: tokens, manifests, encodings, blob sizes.

The caps are proven by counting the bytes the fake registry handed out (its
bodies are lazy streams the client pulls from), never by measuring memory.
"""

from __future__ import annotations

import itertools
import zlib
from typing import Final

import httpx
import pytest

from aiocontent import (
    Descriptor,
    FailedPreconditionError,
    NotFoundError,
    ReaderAt,
    read_blob,
    write_blob,
)
from aiocontent._memory import MemoryStore
from aiocontent._registry import _media
from aiocontent._registry._body import DECODE_STEP, Decoder
from aiocontent.registry import RegistryError

from ._fake import (
    CONFIG,
    FakeRegistry,
    chunks,
    desc,
    digest_of,
    gzip_bomb,
    gzipped,
    index_for,
    manifest_for,
    pull_from,
)

MiB: Final = 1 << 20
#: The most one read of the client takes past a cap: one chunk of the fake's stream.
CHUNK: Final = 64 << 10
BOMB: Final = gzip_bomb(64 * MiB)


def endless() -> itertools.repeat[bytes]:
    return itertools.repeat(b"x" * CHUNK)


def challenge_then_token(fake: FakeRegistry, token: httpx.Response) -> None:
    """Manifests want a Bearer token; the token endpoint answers ``token``."""
    fake.routes[fake.url("manifests", "v1")] = lambda _: httpx.Response(
        401, headers={"WWW-Authenticate": 'Bearer realm="http://auth.test/token"'}
    )
    fake.routes["auth.test/token"] = lambda _: token


async def test_token_answer_is_read_no_further_than_1_mib(store: MemoryStore) -> None:
    fake = FakeRegistry()
    challenge_then_token(fake, httpx.Response(200, stream=fake.stream(endless())))
    with pytest.raises(RegistryError, match="larger than 1048576 bytes"):
        await pull_from(fake, store)
    assert MiB <= fake.sent <= MiB + CHUNK


async def test_token_gzip_bomb_is_decoded_no_further_than_1_mib(store: MemoryStore) -> None:
    fake = FakeRegistry()
    body = fake.stream(chunks(BOMB))
    challenge_then_token(
        fake, httpx.Response(200, stream=body, headers={"Content-Encoding": "gzip"})
    )
    with pytest.raises(RegistryError, match=r"token request.*larger than 1048576 bytes"):
        await pull_from(fake, store)
    assert fake.sent <= 2 * (16 << 10)  # a thousandth of the cap, in 16 KiB chunks


async def test_manifest_is_read_no_further_than_4_mib(store: MemoryStore) -> None:
    fake = FakeRegistry()
    fake.routes[fake.url("manifests", "v1")] = lambda _: httpx.Response(
        200, stream=fake.stream(endless())
    )
    with pytest.raises(RegistryError, match="manifest v1 is larger than 4194304 bytes"):
        await pull_from(fake, store)
    assert 4 * MiB <= fake.sent <= 4 * MiB + CHUNK


async def test_manifest_gzip_bomb_is_decoded_no_further_than_4_mib(store: MemoryStore) -> None:
    fake = FakeRegistry()
    fake.routes[fake.url("manifests", "v1")] = lambda _: httpx.Response(
        200, stream=fake.stream(chunks(BOMB)), headers={"Content-Encoding": "gzip"}
    )
    with pytest.raises(RegistryError, match="larger than 4194304 bytes"):
        await pull_from(fake, store)
    assert fake.sent <= 2 * (16 << 10)


async def test_manifest_announced_over_the_cap_is_not_read(store: MemoryStore) -> None:
    fake = FakeRegistry()
    fake.routes[fake.url("manifests", "v1")] = lambda _: httpx.Response(
        200, stream=fake.stream(endless()), headers={"Content-Length": str(5 * MiB)}
    )
    with pytest.raises(RegistryError, match="larger than 4194304 bytes"):
        await pull_from(fake, store)
    assert fake.sent == 0


async def test_index_entry_is_read_no_further_than_its_size(store: MemoryStore) -> None:
    fake = FakeRegistry()
    manifest = fake.image(b"layer")
    wanted = Descriptor(media_type=manifest.media_type, digest=manifest.digest, size=10)
    entry = wanted.to_dict() | {"platform": {"os": "linux", "architecture": "amd64"}}
    fake.manifest(index_for(entry), _media.OCI_INDEX, "v1")
    fake.routes[fake.url("manifests", str(manifest.digest))] = lambda _: httpx.Response(
        200, stream=fake.stream(endless())
    )
    with pytest.raises(FailedPreconditionError, match="more than its size 10"):
        await pull_from(fake, store)
    assert fake.sent <= CHUNK


class CountingStore(MemoryStore):
    """A MemoryStore that records which blobs were opened for reading."""

    def __init__(self) -> None:
        super().__init__()
        self.opened: list[str] = []

    async def reader_at(self, desc: Descriptor) -> ReaderAt:
        self.opened.append(str(desc.digest))
        return await super().reader_at(desc)


@pytest.mark.parametrize(
    ("claimed", "error"), [(None, RegistryError), (100, FailedPreconditionError)]
)
async def test_index_entry_naming_a_large_stored_blob_is_not_read(
    claimed: int | None, error: type[Exception]
) -> None:
    big = b"\0" * (5 * MiB)
    async with CountingStore() as store:
        await store_blob(store, big)
        fake = FakeRegistry()
        entry = desc(_media.OCI_MANIFEST, big, platform={"os": "linux", "architecture": "amd64"})
        if claimed is not None:
            entry["size"] = claimed
        fake.manifest(index_for(entry), _media.OCI_INDEX, "v1")
        with pytest.raises(error, match=digest_of(big)):
            await pull_from(fake, store)
        assert store.opened == []
        assert fake.paths(digest_of(big)) == []


async def store_blob(store: MemoryStore, data: bytes) -> None:
    await write_blob(store, "big", data, Descriptor(digest=digest_of(data), size=len(data)))


async def test_blob_body_is_read_no_further_than_its_size(store: MemoryStore) -> None:
    fake = FakeRegistry()
    layer = b"l" * 1000
    fake.image(layer)
    fake.blob(layer, lambda _: httpx.Response(200, stream=fake.stream(endless())))
    with pytest.raises(FailedPreconditionError, match="registry sent more than its size 1000"):
        await pull_from(fake, store)
    assert fake.sent <= CHUNK
    with pytest.raises(NotFoundError):
        await store.info(digest_of(layer))
    assert [s.ref for s in await store.list_statuses() if digest_of(layer) in s.ref] == []


async def test_empty_blob_is_committed_without_a_request(store: MemoryStore) -> None:
    fake = FakeRegistry()
    fake.image(b"")
    fake.blob(b"", lambda _: httpx.Response(200, stream=fake.stream(endless())))
    await pull_from(fake, store)
    assert await read_blob(store, Descriptor(digest=digest_of(b""))) == b""
    assert fake.paths(f"/blobs/{digest_of(b'')}") == []
    assert fake.sent == 0


async def test_gzip_encoded_manifest_is_decoded(store: MemoryStore) -> None:
    fake = FakeRegistry()
    manifest = fake.image(b"layer")
    data = manifest_for(CONFIG, [b"layer"])
    fake.routes[fake.url("manifests", "v1")] = lambda _: httpx.Response(
        200,
        stream=fake.stream([gzipped(data)]),
        headers={"Content-Encoding": "gzip", "Content-Type": _media.OCI_MANIFEST},
    )
    root = await pull_from(fake, store)
    assert root == manifest
    assert await read_blob(store, root) == data


@pytest.mark.parametrize("encoding", ["br", "zstd", "gzip, gzip", "compress"])
async def test_unsupported_content_encoding_is_refused(store: MemoryStore, encoding: str) -> None:
    fake = FakeRegistry()
    fake.routes[fake.url("manifests", "v1")] = lambda _: httpx.Response(
        200, stream=fake.stream([b"{}"]), headers={"Content-Encoding": encoding}
    )
    with pytest.raises(RegistryError, match=f"unsupported Content-Encoding '{encoding}'"):
        await pull_from(fake, store)


async def test_broken_gzip_body_is_a_registry_error(store: MemoryStore) -> None:
    fake = FakeRegistry()
    fake.routes[fake.url("manifests", "v1")] = lambda _: httpx.Response(
        200, stream=fake.stream([b"not gzip at all"]), headers={"Content-Encoding": "gzip"}
    )
    with pytest.raises(RegistryError, match="does not decode as its Content-Encoding"):
        await pull_from(fake, store)


def test_decoder_decodes_a_bomb_one_bounded_step_at_a_time() -> None:
    steps = Decoder("gzip", "test").feed(BOMB[: 16 << 10])
    decoded = 0
    for step in itertools.islice(steps, 8):
        assert len(step) <= DECODE_STEP
        decoded += len(step)
    assert decoded == 8 * DECODE_STEP  # the rest was never decoded


@pytest.mark.parametrize("wbits", [zlib.MAX_WBITS, -zlib.MAX_WBITS])
def test_decoder_takes_deflate_with_and_without_zlib_header(wbits: int) -> None:
    packer = zlib.compressobj(6, zlib.DEFLATED, wbits)
    data = b"manifest " * 1000
    packed = packer.compress(data) + packer.flush()
    decoder = Decoder("deflate", "test")
    assert b"".join(b"".join(decoder.feed(part)) for part in chunks(packed, 100)) == data


def test_decoder_passes_identity_through() -> None:
    assert list(Decoder("identity", "test").feed(b"abc")) == [b"abc"]
    assert list(Decoder("", "test").feed(b"")) == []
