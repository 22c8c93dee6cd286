"""The graph garbage collection marks: blobs, their references, and the roots.

Read once per mark from the store (one :meth:`~aiocontent.Manager.walk`), the
ingests and, when given, a registry's metadata. containerd's rules:

- a blob labelled ``containerd.io/gc.root`` (any value) is a root;
- a label ``containerd.io/gc.ref.content`` or ``containerd.io/gc.ref.content.<anything>``
  is an edge to the blob its value names (values that name no blob are ignored);

and this library's, where containerd has a metadata database instead:

- a registry tag, and a manifest linked in a registry repository, is a root;
  the manifest's recorded references are edges;
- an ingest is a root for the digest it expects, when it knows it;
- a blob created or updated within the grace period is a root, so what a
  running pull or push has just written keeps what it points to.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Final, Protocol, runtime_checkable

from ._digest import Digest
from ._interfaces import Store
from ._types import Info

if TYPE_CHECKING:
    from .server import RegistryMetadata

__all__ = (
    "LABEL_GC_REF_CONTENT",
    "LABEL_GC_ROOT",
    "Graph",
    "Node",
    "SupportsManifestListing",
    "content_refs",
    "mark_used",
    "read_graph",
)

#: Marks a blob as a root.
LABEL_GC_ROOT: Final = "containerd.io/gc.root"
#: Prefix of the labels that point a blob at the blobs it needs.
LABEL_GC_REF_CONTENT: Final = "containerd.io/gc.ref.content"
#: Manifests are at most this large (the registry's limit), so larger blobs are not probed.
_MAX_MANIFEST: Final = 4 << 20
_PAGE: Final = 1000
#: Never set: "removing" it is a label update that changes nothing but ``updated_at``.
_LABEL_UNSET: Final = "aiocontent.gc.used"


def content_refs(labels: dict[str, str]) -> list[str]:
    """The digests a blob's ``gc.ref.content`` labels name, as containerd reads them."""
    out = []
    for key, value in labels.items():
        if key.startswith(LABEL_GC_REF_CONTENT):
            rest = key[len(LABEL_GC_REF_CONTENT) :]
            if not rest or rest[0] == ".":
                out.append(value)
    return out


async def mark_used(store: Store, digest: Digest) -> Info:
    """Record that ``digest`` was just used: its ``updated_at`` becomes now, labels unchanged.

    A collection spares what was used within its grace period, and its
    size-bounded mode evicts the least recently used first. One label update.

    :raises ~aiocontent.NotFoundError: the blob is gone.
    """
    return await store.update(Info(digest=digest), f"labels.{_LABEL_UNSET}")


@dataclass(slots=True)
class Node:
    """One committed blob as the collector sees it."""

    size: int
    #: when it was last created, labelled or used by a pull: ``max(created_at, updated_at)``
    stamp: datetime
    refs: list[str]
    pinned: bool  # labelled gc.root


@dataclass(slots=True)
class Graph:
    """Blobs, roots and edges at one instant."""

    nodes: dict[str, Node] = field(default_factory=dict)
    #: explicit roots that nothing may evict: gc.root labels, ingests, recent blobs
    pinned: set[str] = field(default_factory=set)
    #: registry roots (tags and linked manifests) and the repositories holding each manifest
    registry_roots: set[str] = field(default_factory=set)
    manifest_repos: dict[str, list[str]] = field(default_factory=dict)
    #: edges from registry records, beside the labels
    record_refs: dict[str, list[str]] = field(default_factory=dict)
    repositories: list[str] = field(default_factory=list)

    def edges(self, digest: str) -> Iterable[str]:
        node = self.nodes.get(digest)
        if node is not None:
            yield from node.refs
        yield from self.record_refs.get(digest, ())

    def mark(self, roots: Iterable[str]) -> set[str]:
        """Every blob reachable from ``roots`` (roots included when they are blobs)."""
        seen: set[str] = set()
        stack = [r for r in roots if r in self.nodes]
        while stack:
            digest = stack.pop()
            if digest in seen:
                continue
            seen.add(digest)
            stack.extend(d for d in self.edges(digest) if d in self.nodes and d not in seen)
        return seen


async def read_graph(store: Store, cutoff: datetime, metadata: RegistryMetadata | None) -> Graph:
    """Read the store (and ``metadata``) into a :class:`Graph`; blobs newer than ``cutoff``
    are pinned."""
    graph = Graph()

    def visit(info: Info) -> None:
        stamp = max(info.created_at, info.updated_at)
        pinned = LABEL_GC_ROOT in info.labels
        key = str(info.digest)
        graph.nodes[key] = Node(info.size, stamp, content_refs(info.labels), pinned)
        if pinned or stamp > cutoff:
            graph.pinned.add(key)

    await store.walk(visit)
    for status in await store.list_statuses():
        if status.expected is not None:
            graph.pinned.add(str(status.expected))
    if metadata is not None:
        await _read_registry(graph, metadata)
    return graph


async def _pages(fetch: _Pager) -> list[str]:
    out: list[str] = []
    while True:
        page = await fetch(out[-1] if out else None)
        out.extend(page)
        if len(page) < _PAGE:
            return out


class _Pager:
    def __init__(self, metadata: RegistryMetadata, repo: str | None) -> None:
        self.metadata = metadata
        self.repo = repo

    async def __call__(self, last: str | None) -> list[str]:
        if self.repo is None:
            return await self.metadata.repositories(last=last, limit=_PAGE)
        return await self.metadata.tags(self.repo, last=last, limit=_PAGE)


@runtime_checkable
class SupportsManifestListing(Protocol):
    """Registry metadata that can list a repository's manifests (beyond the Protocol)."""

    async def manifest_digests(self, repo: str) -> list[Digest]:
        """The digests of the manifests ``repo`` holds."""
        ...


async def _read_registry(graph: Graph, metadata: RegistryMetadata) -> None:
    """Add the registry's tags and linked manifests as roots, their references as edges.

    Metadata that lists a repository's manifests (:class:`SupportsManifestListing`:
    the local and in-memory ones do) is asked for them; with any other, every
    blob small enough to be a manifest is looked up in every repository.
    """
    graph.repositories = await _pages(_Pager(metadata, None))
    candidates = [Digest(d) for d, n in graph.nodes.items() if n.size <= _MAX_MANIFEST]
    for repo in graph.repositories:
        for tag in await _pages(_Pager(metadata, repo)):
            target = await metadata.resolve_tag(repo, tag)
            if target is not None:
                graph.registry_roots.add(str(target))
        if isinstance(metadata, SupportsManifestListing):
            linked = await metadata.manifest_digests(repo)
        else:
            linked = candidates
        for digest in linked:
            record = await metadata.manifest(repo, digest)
            if record is None:
                continue
            key = str(digest)
            graph.registry_roots.add(key)
            graph.manifest_repos.setdefault(key, []).append(repo)
            refs = graph.record_refs.setdefault(key, [])
            refs.extend(str(r) for r in record.references if str(r) not in refs)
