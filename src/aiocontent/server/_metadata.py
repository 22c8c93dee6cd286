"""What a registry keeps beside the content: links, tags and the referrers index.

Manifest bodies and blobs live in the content store; a :class:`RegistryMetadata`
holds only which repository may serve which blob or manifest, the tags, and the
subject -> referrer index. Every method is atomic on its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from .._digest import Digest

__all__ = ("ManifestRecord", "RegistryMetadata")


@dataclass(frozen=True, slots=True)
class ManifestRecord:
    """A manifest a repository holds, with what the registry needs without reading it."""

    digest: Digest
    #: as stored: the body's ``mediaType``, else the PUT's ``Content-Type``
    media_type: str
    size: int
    #: ``artifactType``, else ``config.mediaType`` (what referrers report)
    artifact_type: str = ""
    subject: Digest | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)
    #: the blobs and child manifests it names
    references: tuple[Digest, ...] = ()


@runtime_checkable
class RegistryMetadata(Protocol):
    """Repositories, tags, blob links and referrers of a registry.

    Repository names and tags reach it already validated against the OCI
    grammar; an implementation may rely on that but must never let a name
    escape its own storage. Every method is atomic on its own.
    """

    async def link_blob(self, repo: str, digest: Digest) -> None:
        """Let ``repo`` serve the blob ``digest`` (idempotent)."""
        ...

    async def blob_linked(self, repo: str, digest: Digest) -> bool:
        """Whether ``repo`` may serve the blob ``digest``."""
        ...

    async def unlink_blob(self, repo: str, digest: Digest) -> bool:
        """Stop ``repo`` serving ``digest``; ``False`` if it was not linked."""
        ...

    async def put_manifest(
        self, repo: str, record: ManifestRecord, tags: Sequence[str] = ()
    ) -> None:
        """Link the manifest (and its referrer entry) durably first, then move each tag to it.

        A crash leaves every tag naming the old or the new manifest, never a missing one.
        """
        ...

    async def manifest(self, repo: str, digest: Digest) -> ManifestRecord | None:
        """The record of manifest ``digest`` in ``repo``, or ``None``."""
        ...

    async def delete_manifest(self, repo: str, digest: Digest) -> bool:
        """Unlink the manifest, the tags naming it and its referrer entry; ``False`` if absent."""
        ...

    async def resolve_tag(self, repo: str, tag: str) -> Digest | None:
        """The manifest digest ``tag`` names in ``repo``, or ``None``."""
        ...

    async def delete_tag(self, repo: str, tag: str) -> bool:
        """Remove ``tag`` (the manifest stays); ``False`` if there was none."""
        ...

    async def tags(
        self, repo: str, *, last: str | None = None, limit: int | None = None
    ) -> list[str]:
        """The tags of ``repo`` in sorted order, after ``last``, at most ``limit``."""
        ...

    async def repositories(self, *, last: str | None = None, limit: int | None = None) -> list[str]:
        """The repositories in sorted order, after ``last``, at most ``limit``."""
        ...

    async def repository_exists(self, repo: str) -> bool:
        """Whether ``repo`` holds any blob link, manifest or tag."""
        ...

    async def referrers(self, repo: str, subject: Digest) -> list[ManifestRecord]:
        """The manifests of ``repo`` whose ``subject`` is ``subject`` (any order)."""
        ...
