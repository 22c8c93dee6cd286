"""S3Metadata: the registry metadata suite on the in-memory S3 service and on Ceph RGW.

Siblings are S3Metadata objects over sibling stores (their own S3 clients and
lock owners), as other hosts on the same bucket would be.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from aiocontent import Digest, InvalidArgumentError
from aiocontent.server import ManifestRecord, RegistryMetadata
from aiocontent.testing import StoreFactory, check_registry_metadata
from aiocontent.testing._registry_metadata import (
    _METADATA_CHECKS,
    MetadataFactory,
    SiblingOpener,
    check_metadata_concurrent_put_delete,
)

from ..s3._fixture import s3_factory
from ..stores import fake_s3_factory

Check = Callable[[MetadataFactory, SiblingOpener | None], Awaitable[None]]


def _metadata_factory(stores: StoreFactory) -> MetadataFactory:
    from aiocontent._s3 import S3Store
    from aiocontent.server import S3Metadata

    @asynccontextmanager
    async def open_metadata() -> AsyncIterator[RegistryMetadata]:
        async with stores() as store:
            assert isinstance(store, S3Store)
            yield S3Metadata(store)

    return open_metadata


@asynccontextmanager
async def _sibling(md: RegistryMetadata) -> AsyncIterator[RegistryMetadata]:
    from aiocontent._s3 import S3Store
    from aiocontent.server import S3Metadata

    assert isinstance(md, S3Metadata)
    async with md.store.sibling() as other:
        assert isinstance(other, S3Store)
        yield S3Metadata(other)


@pytest.mark.parametrize("siblings", [False, True], ids=["alone", "siblings"])
@pytest.mark.parametrize("check", _METADATA_CHECKS, ids=lambda c: c.__name__)
async def test_check_on_fake_s3(check: Check, siblings: bool) -> None:
    await check(_metadata_factory(fake_s3_factory()), _sibling if siblings else None)


@pytest.mark.ceph
async def test_suite_on_ceph_with_siblings() -> None:
    await check_registry_metadata(_metadata_factory(s3_factory()), _sibling)


async def test_create_app_keeps_s3_store_metadata_in_the_bucket() -> None:
    from aiocontent.server import S3Metadata
    from aiocontent.server._app import _default_metadata

    async with fake_s3_factory()() as store:
        metadata = _default_metadata(store)
        assert isinstance(metadata, S3Metadata)
        assert metadata.store is store


@pytest.mark.parametrize("name", ["A/b", "a//b", "a/../b", "./a", "a/", "a b", "a!b", ""])
async def test_names_outside_the_grammar_are_refused(name: str) -> None:
    from aiocontent.server import S3Metadata

    digest = Digest.from_bytes(b"x")
    async with fake_s3_factory()() as store:
        md = S3Metadata(store)  # type: ignore[arg-type]
        with pytest.raises(InvalidArgumentError, match="repository name"):
            await md.link_blob(name, digest)
        with pytest.raises(InvalidArgumentError, match="repository name"):
            await md.put_manifest(name, ManifestRecord(digest, "a/b", 1))
        assert await md.repositories() == []


async def test_keys_live_under_the_registry_prefix() -> None:
    from aiocontent.server import S3Metadata

    digest = Digest.from_bytes(b"{}")
    async with fake_s3_factory()() as store:
        md = S3Metadata(store)  # type: ignore[arg-type]
        await md.put_manifest("lib/app", ManifestRecord(digest, "a/b", 2), ["v1"])
        keys = {o.key for o in await store._client.list_all(store.prefix)}  # type: ignore[attr-defined]
        prefix = f"{store.prefix}registry/repositories/lib/app!/"  # type: ignore[attr-defined]
        assert keys == {f"{prefix}manifests/{digest}", f"{prefix}tags/v1"}


async def test_without_the_repository_lock_a_racing_delete_leaves_a_dangling_tag() -> None:
    """The lock object is what the suite's put/delete race needs (siblings on the fake S3)."""
    from aiocontent.server import S3Metadata

    class Unlocked(S3Metadata):
        @asynccontextmanager
        async def _locked(self, repo: str) -> AsyncIterator[None]:
            yield

    stores = fake_s3_factory()

    @asynccontextmanager
    async def open_unlocked() -> AsyncIterator[RegistryMetadata]:
        async with stores() as store:
            yield Unlocked(store)  # type: ignore[arg-type]

    @asynccontextmanager
    async def unlocked_sibling(md: RegistryMetadata) -> AsyncIterator[RegistryMetadata]:
        assert isinstance(md, Unlocked)
        async with md.store.sibling() as other:
            yield Unlocked(other)  # type: ignore[arg-type]

    with pytest.raises(AssertionError, match="whose record is gone"):
        for _ in range(20):
            await check_metadata_concurrent_put_delete(open_unlocked, unlocked_sibling)
