"""Registry metadata held in memory (for MemoryStore and tests)."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field

from .._digest import Digest
from ._metadata import ManifestRecord

__all__ = ("MemoryMetadata",)


@dataclass
class _Repo:
    blobs: set[Digest] = field(default_factory=set)
    manifests: dict[Digest, ManifestRecord] = field(default_factory=dict)
    tags: dict[str, Digest] = field(default_factory=dict)

    def empty(self) -> bool:
        return not (self.blobs or self.manifests or self.tags)


def _page(names: Sequence[str], last: str | None, limit: int | None) -> list[str]:
    ordered = sorted(names)
    start = bisect.bisect_right(ordered, last) if last is not None else 0
    end = len(ordered) if limit is None else start + max(limit, 0)
    return ordered[start:end]


class MemoryMetadata:
    """A :class:`~aiocontent.server.RegistryMetadata` in a process's memory.

    Every method completes without awaiting anything in between, so each is
    atomic on any anyio backend; nothing survives the process.
    """

    def __init__(self) -> None:
        self._repos: dict[str, _Repo] = {}

    def _repo(self, repo: str) -> _Repo:
        return self._repos.setdefault(repo, _Repo())

    def _drop_if_empty(self, repo: str) -> None:
        found = self._repos.get(repo)
        if found is not None and found.empty():
            del self._repos[repo]

    async def link_blob(self, repo: str, digest: Digest) -> None:
        self._repo(repo).blobs.add(Digest(digest))

    async def blob_linked(self, repo: str, digest: Digest) -> bool:
        found = self._repos.get(repo)
        return found is not None and digest in found.blobs

    async def unlink_blob(self, repo: str, digest: Digest) -> bool:
        found = self._repos.get(repo)
        if found is None or digest not in found.blobs:
            return False
        found.blobs.discard(digest)
        self._drop_if_empty(repo)
        return True

    async def put_manifest(
        self, repo: str, record: ManifestRecord, tags: Sequence[str] = ()
    ) -> None:
        entry = self._repo(repo)
        entry.manifests[record.digest] = record
        for tag in tags:
            entry.tags[tag] = record.digest

    async def manifest(self, repo: str, digest: Digest) -> ManifestRecord | None:
        found = self._repos.get(repo)
        return None if found is None else found.manifests.get(digest)

    async def delete_manifest(self, repo: str, digest: Digest) -> bool:
        found = self._repos.get(repo)
        if found is None or found.manifests.pop(digest, None) is None:
            return False
        for tag in [t for t, d in found.tags.items() if d == digest]:
            del found.tags[tag]
        self._drop_if_empty(repo)
        return True

    async def resolve_tag(self, repo: str, tag: str) -> Digest | None:
        found = self._repos.get(repo)
        return None if found is None else found.tags.get(tag)

    async def delete_tag(self, repo: str, tag: str) -> bool:
        found = self._repos.get(repo)
        if found is None or found.tags.pop(tag, None) is None:
            return False
        self._drop_if_empty(repo)
        return True

    async def tags(
        self, repo: str, *, last: str | None = None, limit: int | None = None
    ) -> list[str]:
        found = self._repos.get(repo)
        return [] if found is None else _page(list(found.tags), last, limit)

    async def manifest_digests(self, repo: str) -> list[Digest]:
        """The manifests ``repo`` holds, sorted (garbage collection lists them)."""
        found = self._repos.get(repo)
        return sorted(found.manifests) if found is not None else []

    async def repositories(self, *, last: str | None = None, limit: int | None = None) -> list[str]:
        return _page(list(self._repos), last, limit)

    async def repository_exists(self, repo: str) -> bool:
        return repo in self._repos

    async def referrers(self, repo: str, subject: Digest) -> list[ManifestRecord]:
        found = self._repos.get(repo)
        if found is None:
            return []
        return [r for r in found.manifests.values() if r.subject == subject]
