"""Collections of an S3Store whose registry metadata is in its bucket (on the fake S3)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from aiocontent import Digest, Store
from aiocontent._gc_graph import SupportsManifestListing
from aiocontent.gc import collect_garbage
from aiocontent.server import ManifestRecord, S3Metadata
from tests.stores import fake_s3_factory

from ._population import present, put
from .test_registry_roots import MANIFEST, push


class CountingMetadata(S3Metadata):
    """S3Metadata counting the manifest records looked up."""

    lookups = 0

    async def manifest(self, repo: str, digest: Digest) -> ManifestRecord | None:
        self.lookups += 1
        return await super().manifest(repo, digest)


@pytest.fixture
async def s3() -> AsyncIterator[Store]:
    async with fake_s3_factory()() as store:
        yield store


def metadata_of(store: Store) -> CountingMetadata:
    from aiocontent._s3 import S3Store

    assert isinstance(store, S3Store)
    return CountingMetadata(store)


async def test_s3_metadata_lists_a_repositorys_manifests(s3: Store) -> None:
    metadata = metadata_of(s3)
    digests = sorted(Digest.from_bytes(f"m{i}".encode()) for i in range(3))
    for digest in digests:
        await metadata.put_manifest("team/app", ManifestRecord(digest, MANIFEST, 2), ["t"])
    await metadata.put_manifest("team/app-b", ManifestRecord(digests[0], MANIFEST, 2))
    assert isinstance(metadata, SupportsManifestListing)
    assert await metadata.manifest_digests("team/app") == digests
    assert await metadata.manifest_digests("team/app-b") == digests[:1]
    assert await metadata.manifest_digests("team/none") == []


async def test_collection_with_s3_metadata_keeps_its_manifests_and_collects_the_rest(
    s3: Store,
) -> None:
    metadata = metadata_of(s3)
    tagged = await push(s3, metadata, "team/app", "tagged", ("v1",))
    untagged = await push(s3, metadata, "team/app", "untagged", ())
    deleted = await push(s3, metadata, "team/old", "deleted", ("v1",))
    await metadata.delete_manifest("team/old", Digest(deleted[0]))
    orphan = await put(s3, b"uploaded, never referenced")
    await metadata.link_blob("team/app", Digest(orphan))
    report = await collect_garbage(s3, grace=0, metadata=metadata)
    assert {str(d) for d in report.deleted} == {*deleted, orphan}
    for digest in [*tagged, *untagged]:
        assert await present(s3, digest)
    assert not await metadata.blob_linked("team/app", Digest(orphan))
    # the two linked manifests were looked up once per mark, not every blob in every repository
    assert metadata.lookups == 2 * 2
