"""Registry metadata as roots: tags, linked manifests and their references; eviction to a size."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest

from aiocontent import Digest, FailedPreconditionError, LocalStore, Store
from aiocontent._gc_graph import SupportsManifestListing
from aiocontent.gc import collect_garbage
from aiocontent.server import ManifestRecord, MemoryMetadata, RegistryMetadata

from ._population import present, put, put_image

MANIFEST = "application/vnd.oci.image.manifest.v1+json"


async def push(
    store: Store, metadata: RegistryMetadata, repo: str, seed: str, tags: tuple[str, ...]
) -> list[str]:
    """A manifest and two blobs, linked as a registry push leaves them (no labels)."""
    blobs = [await put(store, f"{seed} blob {i}".encode()) for i in range(2)]
    for digest in blobs:
        await metadata.link_blob(repo, Digest(digest))
    body = f"{seed} manifest".encode()
    manifest = await put(store, body)
    record = ManifestRecord(
        Digest(manifest), MANIFEST, len(body), references=tuple(Digest(d) for d in blobs)
    )
    await metadata.put_manifest(repo, record, tags)
    return [manifest, *blobs]


async def test_tagged_manifest_keeps_its_references(store: Store) -> None:
    metadata = MemoryMetadata()
    image = await push(store, metadata, "team/app", "tagged", ("v1",))
    report = await collect_garbage(store, grace=0, metadata=metadata)
    assert report.deleted == ()
    for digest in image:
        assert await present(store, digest)


async def test_untagged_linked_manifest_is_a_root(store: Store) -> None:
    metadata = MemoryMetadata()
    image = await push(store, metadata, "team/app", "untagged", ())
    report = await collect_garbage(store, grace=0, metadata=metadata)
    assert report.deleted == ()
    assert report.kept == len(image)


async def test_blob_only_linked_is_collected_and_unlinked(store: Store) -> None:
    metadata = MemoryMetadata()
    await push(store, metadata, "team/app", "keep", ("v1",))
    orphan = await put(store, b"uploaded, never referenced")
    await metadata.link_blob("team/app", Digest(orphan))
    report = await collect_garbage(store, grace=0, metadata=metadata)
    assert [str(d) for d in report.deleted] == [orphan]
    assert not await metadata.blob_linked("team/app", Digest(orphan))


async def test_deleted_manifest_lets_its_blobs_go(store: Store) -> None:
    metadata = MemoryMetadata()
    image = await push(store, metadata, "team/app", "deleted", ("v1",))
    await metadata.delete_manifest("team/app", Digest(image[0]))
    report = await collect_garbage(store, grace=0, metadata=metadata)
    assert {str(d) for d in report.deleted} == set(image)


async def test_max_size_evicts_least_recently_used_image_first(store: Store) -> None:
    metadata = MemoryMetadata()
    older = await push(store, metadata, "team/old", "older", ("v1",))
    newer = await push(store, metadata, "team/new", "newer", ("v1",))
    sizes = {d: (await store.info(d)).size for d in older + newer}
    report = await collect_garbage(
        store, grace=0, metadata=metadata, max_size=sum(sizes[d] for d in newer)
    )
    assert [str(d) for d in report.evicted] == [older[0]]
    assert {str(d) for d in report.deleted} == set(older)
    assert await metadata.resolve_tag("team/old", "v1") is None
    assert await metadata.resolve_tag("team/new", "v1") == Digest(newer[0])


async def test_max_size_never_evicts_gc_root_content(store: Store) -> None:
    metadata = MemoryMetadata()
    pinned = await put_image(store, "pinned", root=True)
    cached = await push(store, metadata, "team/cache", "cached", ("v1",))
    report = await collect_garbage(store, grace=0, metadata=metadata, max_size=0)
    assert {str(d) for d in report.deleted} == set(cached)
    assert report.kept == len(pinned.blobs) and report.kept_bytes > 0


async def test_max_size_dry_run_unlinks_nothing(store: Store) -> None:
    metadata = MemoryMetadata()
    cached = await push(store, metadata, "team/cache", "cached", ("v1",))
    report = await collect_garbage(store, grace=0, metadata=metadata, max_size=0, dry_run=True)
    assert [str(d) for d in report.evicted] == [cached[0]]
    assert await metadata.resolve_tag("team/cache", "v1") == Digest(cached[0])
    for digest in cached:
        assert await present(store, digest)


async def test_local_store_serving_a_registry_needs_its_metadata(local: LocalStore) -> None:
    digest = await put(local, b"a pushed manifest")
    (local.root / "registry").mkdir()
    with pytest.raises(FailedPreconditionError, match="registry"):
        await collect_garbage(local, grace=0)
    assert await present(local, digest)


async def test_evicting_an_index_takes_its_manifests_but_not_shared_ones(store: Store) -> None:
    metadata = MemoryMetadata()
    own = await push(store, metadata, "team/app", "own", ())
    shared = await push(store, metadata, "team/app", "shared", ())
    indexes = []
    for seed, children in (("old", [own[0], shared[0]]), ("new", [shared[0]])):
        body = f"index {seed}".encode()
        index = await put(store, body)
        record = ManifestRecord(
            Digest(index), "application/vnd.oci.image.index.v1+json", len(body),
            references=tuple(Digest(c) for c in children),
        )  # fmt: skip
        await metadata.put_manifest("team/app", record, (seed,))
        indexes.append(index)
    keep = {indexes[1], *shared}
    sizes = sum([(await store.info(d)).size for d in keep])
    report = await collect_garbage(store, grace=0, metadata=metadata, max_size=sizes)
    assert {str(d) for d in report.evicted} == {indexes[0], own[0]}
    assert {str(d) for d in report.deleted} == {indexes[0], *own}
    assert await metadata.manifest("team/app", Digest(shared[0])) is not None


class ProbedMetadata:
    """MemoryMetadata seen through the Protocol alone: its manifests cannot be listed."""

    def __init__(self, inner: MemoryMetadata) -> None:
        self.inner = inner
        self.repositories = inner.repositories
        self.tags = inner.tags
        self.resolve_tag = inner.resolve_tag
        self.manifest = inner.manifest
        self.delete_manifest = inner.delete_manifest
        self.unlink_blob = inner.unlink_blob


async def test_metadata_without_a_listing_is_probed_blob_by_blob(store: Store) -> None:
    inner = MemoryMetadata()
    untagged = await push(store, inner, "team/app", "untagged", ())
    orphan = await put(store, b"only linked")
    await inner.link_blob("team/app", Digest(orphan))
    probed = cast(RegistryMetadata, ProbedMetadata(inner))
    assert not isinstance(probed, SupportsManifestListing)
    report = await collect_garbage(store, grace=0, metadata=probed)
    assert [str(d) for d in report.deleted] == [orphan]
    assert report.kept == len(untagged)


async def test_local_metadata_lists_a_repositorys_manifests(tmp_path: Path) -> None:
    from aiocontent.server._metadata_local import LocalMetadata

    metadata = LocalMetadata(tmp_path / "registry")
    digests = sorted(Digest.from_bytes(f"m{i}".encode()) for i in range(3))
    for digest in digests:
        await metadata.put_manifest("team/app", ManifestRecord(digest, MANIFEST, 2))
    assert await metadata.manifest_digests("team/app") == digests
    assert await metadata.manifest_digests("team/none") == []
