"""The registry metadata suite (``aiocontent.testing``) on MemoryMetadata and LocalMetadata.

LocalMetadata runs it twice: alone, and with siblings (other objects on the
same folder, as other processes would be). Deliberately broken metadata must
fail the check aimed at what is broken.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

import aiocontent.testing
from aiocontent import Digest
from aiocontent.server import ManifestRecord, MemoryMetadata, RegistryMetadata
from aiocontent.server._metadata_local import LocalMetadata
from aiocontent.testing import check_registry_metadata
from aiocontent.testing._registry_metadata import (
    _METADATA_CHECKS,
    MetadataFactory,
    SiblingOpener,
    check_metadata_concurrent_put_delete,
    check_metadata_delete_manifest,
    check_metadata_repositories,
    check_metadata_tag_pages,
)

Check = Callable[[MetadataFactory, SiblingOpener | None], Awaitable[None]]
Maker = Callable[[Path], tuple[MetadataFactory, SiblingOpener | None]]


def _memory_factory(metadata: type[MemoryMetadata] = MemoryMetadata) -> MetadataFactory:
    @asynccontextmanager
    async def open_memory() -> AsyncIterator[RegistryMetadata]:
        yield metadata()

    return open_memory


def _local_factory(tmp_path: Path) -> MetadataFactory:
    counter = itertools.count()

    @asynccontextmanager
    async def open_local() -> AsyncIterator[RegistryMetadata]:
        yield LocalMetadata(tmp_path / f"registry-{next(counter)}")

    return open_local


@asynccontextmanager
async def _local_sibling(md: RegistryMetadata) -> AsyncIterator[RegistryMetadata]:
    assert isinstance(md, LocalMetadata)
    yield LocalMetadata(md.root)


MAKERS: dict[str, Maker] = {
    "memory": lambda tmp_path: (_memory_factory(), None),
    "local": lambda tmp_path: (_local_factory(tmp_path), None),
    "local-siblings": lambda tmp_path: (_local_factory(tmp_path), _local_sibling),
}


@pytest.fixture(params=sorted(MAKERS))
def metadata(
    request: pytest.FixtureRequest, tmp_path: Path
) -> tuple[MetadataFactory, SiblingOpener | None]:
    return MAKERS[str(request.param)](tmp_path)


@pytest.mark.parametrize("check", _METADATA_CHECKS, ids=lambda c: c.__name__)
async def test_check(
    metadata: tuple[MetadataFactory, SiblingOpener | None],
    check: Check,
) -> None:
    factory, sibling = metadata
    await check(factory, sibling)


async def test_check_registry_metadata_runs_the_suite(tmp_path: Path) -> None:
    await check_registry_metadata(_local_factory(tmp_path), _local_sibling)


def test_every_check_is_public_in_its_module() -> None:
    module = aiocontent.testing._registry_metadata
    names = {name for name in module.__all__ if name.startswith("check_metadata_")}
    assert names == {check.__name__ for check in _METADATA_CHECKS}
    assert "check_registry_metadata" in aiocontent.testing.__all__


def test_the_suite_does_not_import_starlette() -> None:
    code = (
        "import sys, aiocontent.testing, aiocontent.testing._registry_metadata; "
        "print([m for m in ('starlette', 'uvicorn', 'hypercorn', 'pytest') if m in sys.modules])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


# --------------------------------------------------------------------------- broken metadata


class _DeleteKeepsTags(MemoryMetadata):
    async def delete_manifest(self, repo: str, digest: Digest) -> bool:
        tags = {t: await self.resolve_tag(repo, t) for t in await self.tags(repo)}
        deleted = await super().delete_manifest(repo, digest)
        for tag, named in tags.items():
            if named == digest:
                self._repo(repo).tags[tag] = digest
        return deleted


class _UnsortedTags(MemoryMetadata):
    async def tags(
        self, repo: str, *, last: str | None = None, limit: int | None = None
    ) -> list[str]:
        return list(reversed(await super().tags(repo, last=last, limit=limit)))


class _KeepsEmptyRepositories(MemoryMetadata):
    def _drop_if_empty(self, repo: str) -> None:
        pass


class _UnlockedPut(MemoryMetadata):
    """Stores the record, yields, then moves the tags: a racing delete goes between."""

    async def put_manifest(
        self, repo: str, record: ManifestRecord, tags: Sequence[str] = ()
    ) -> None:
        await super().put_manifest(repo, record)
        await anyio.lowlevel.checkpoint()
        for tag in tags:
            self._repo(repo).tags[tag] = record.digest


@pytest.mark.parametrize(
    ("broken", "check"),
    [
        (_DeleteKeepsTags, check_metadata_delete_manifest),
        (_UnsortedTags, check_metadata_tag_pages),
        (_KeepsEmptyRepositories, check_metadata_repositories),
        (_UnlockedPut, check_metadata_concurrent_put_delete),
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
async def test_check_catches_broken_metadata(
    broken: type[MemoryMetadata],
    check: Check,
) -> None:
    with pytest.raises(AssertionError):
        await check(_memory_factory(broken), None)
