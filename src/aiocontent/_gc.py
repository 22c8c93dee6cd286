"""Garbage collection with containerd's semantics, over any :class:`~aiocontent.Store`.

One collection:

1. *Mark.* Read every blob, ingest and (when given) the registry metadata
   into a graph (:mod:`aiocontent._gc_graph`) and mark what the roots reach.
   Blobs created or updated within the grace period are roots themselves.
2. *Evict* (``max_size`` only). While what is marked is larger than
   ``max_size``, drop the least recently used registry image from the roots:
   its manifest is unlinked from the registry (tags included), and what only it
   reached becomes garbage. Explicit roots (``gc.root`` labels), ingests and
   recent blobs are never evicted.
3. *Mark again* (not in a dry run). Read the graph a second time and keep
   anything the second reading marks: a parent committed meanwhile keeps its
   children.
4. *Sweep.* Delete each unmarked blob after reading its info once more, and
   skip it when it has been created, labelled or used since (its
   ``updated_at`` is then inside the grace period) or labelled a root.

"Used" is the store's ``updated_at``: a commit, a label change, and every
pull that needs the blob (it updates the blob's labels even when they do not
change) set it; so do registry requests that link a stored blob again (a
manifest PUT, a mount, an upload of a blob that exists: see
``aiocontent.server._reuse``) and a pull-through cache serving one (at most
once per ``Upstream.use_interval``). Other reads do not, which keeps them free
of writes.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

import anyio

from ._digest import Digest
from ._errors import FailedPreconditionError, InvalidArgumentError, NotFoundError
from ._gc_graph import LABEL_GC_ROOT, Graph, read_graph
from ._interfaces import Store

if TYPE_CHECKING:
    from .server import RegistryMetadata

__all__ = ("GCReport", "collect_garbage")

#: Blobs deleted at once (each is a check and a delete, mostly waiting on the disk).
_SWEEPERS: Final = 8


@dataclass(frozen=True, slots=True)
class GCReport:
    """What one collection found and did.

    ``deleted`` lists the blobs removed (in a dry run: that would be removed),
    ``evicted`` the registry manifests ``max_size`` unlinked (or would unlink).
    """

    dry_run: bool
    blobs: int
    roots: int
    kept: int
    kept_bytes: int
    deleted: tuple[Digest, ...]
    deleted_bytes: int
    evicted: tuple[Digest, ...]
    #: unmarked blobs spared at the sweep because they were used meanwhile
    spared: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready values (digests as strings)."""
        return {
            "dry_run": self.dry_run,
            "blobs": self.blobs,
            "roots": self.roots,
            "kept": self.kept,
            "kept_bytes": self.kept_bytes,
            "deleted": [str(d) for d in self.deleted],
            "deleted_bytes": self.deleted_bytes,
            "evicted": [str(d) for d in self.evicted],
            "spared": self.spared,
            "seconds": round(self.seconds, 3),
        }


def _check(grace: float, max_size: int | None) -> None:
    if isinstance(grace, bool) or not isinstance(grace, int | float):
        raise TypeError(f"grace must be a number of seconds, not {type(grace).__name__}")
    if not (math.isfinite(grace) and grace >= 0):
        raise InvalidArgumentError(
            f"grace {grace!r} must be a non-negative number of seconds: invalid argument"
        )
    if max_size is not None:
        if isinstance(max_size, bool) or not isinstance(max_size, int):
            raise TypeError(f"max_size must be an int, not {type(max_size).__name__}")
        if max_size < 0:
            raise InvalidArgumentError(
                f"max_size {max_size} must not be negative: invalid argument"
            )


def _check_registry_beside(store: Store, metadata: RegistryMetadata | None) -> None:
    from ._local import LocalStore

    if metadata is None and isinstance(store, LocalStore):
        folder = store.root / "registry"
        if folder.is_dir():
            raise FailedPreconditionError(
                f"{folder} holds registry metadata whose tags and manifests are roots; "
                f"pass it as metadata= to collect this store: "
                f"{FailedPreconditionError.kind_text}"
            )


def _all_roots(graph: Graph, evicted: set[str]) -> set[str]:
    return graph.pinned | (graph.registry_roots - evicted)


def _size(graph: Graph, digests: set[str]) -> int:
    return sum(graph.nodes[d].size for d in digests)


def _evict(graph: Graph, max_size: int) -> tuple[set[str], set[str]]:
    """Drop registry roots, least recently used first, until the marked size fits.

    :return: the dropped roots and the final mark
    """
    evicted: set[str] = set()
    marked = graph.mark(_all_roots(graph, evicted))
    if _size(graph, marked) <= max_size:
        return evicted, marked
    protected = graph.mark(graph.pinned)
    referenced = {r for d in marked for r in graph.edges(d)}
    tops = [
        d
        for d in graph.registry_roots
        if d in graph.nodes and d not in protected and d not in referenced
    ]

    def last_used(top: str) -> datetime:
        return max(graph.nodes[d].stamp for d in graph.mark([top]))

    for top in sorted(tops, key=lambda d: (last_used(d), d)):
        # the image's own manifests go with it (an index's children are linked too),
        # except those another image still reaches
        own = {d for d in graph.mark([top]) if d in graph.registry_roots} - protected
        marked = graph.mark(_all_roots(graph, evicted | own))
        evicted |= own - marked
        if _size(graph, marked) <= max_size:
            break
    return evicted, marked


async def collect_garbage(
    store: Store,
    *,
    grace: float = 3600.0,
    dry_run: bool = False,
    max_size: int | None = None,
    metadata: RegistryMetadata | None = None,
) -> GCReport:
    """Delete every blob no root reaches and nothing used within ``grace`` seconds.

    Roots are blobs labelled ``containerd.io/gc.root``, the expected digests of
    ingests, blobs created or updated within ``grace`` seconds, and, with
    ``metadata``, the registry's tags and linked manifests. Edges are the
    ``containerd.io/gc.ref.content*`` labels and the registry's manifest
    references. Ingests themselves are never removed (``prune`` does that).
    Safe to run while pulls and pushes write to the store: what they are
    writing or have just written is within the grace period, and each blob is
    checked once more just before it is deleted.

    :param store: the store to collect.
    :param grace: seconds a blob is kept after it was created, labelled or used.
    :param dry_run: find what would go, delete nothing.
    :param max_size: also evict registry images, least recently used first,
        until what is kept is at most this many bytes (only registry roots go:
        never ``gc.root``-labelled content, ingests or recent blobs).
    :param metadata: the registry metadata whose tags and manifests are roots;
        without it, only labels and ingests are.
    :return: a :class:`GCReport`.
    :raises TypeError: an argument of the wrong type.
    :raises ~aiocontent.InvalidArgumentError: negative ``grace`` or ``max_size``.
    :raises ~aiocontent.FailedPreconditionError: ``store`` is a LocalStore whose
        root holds registry metadata (``<root>/registry``, where ``aiocontent
        serve`` keeps it) and ``metadata`` is not given: without its roots the
        whole registry would be garbage.
    """
    _check(grace, max_size)
    _check_registry_beside(store, metadata)
    began = time.monotonic()
    cutoff = datetime.now(UTC) - timedelta(seconds=grace)
    graph = await read_graph(store, cutoff, metadata)
    evicted: set[str] = set()
    if max_size is not None:
        evicted, marked = _evict(graph, max_size)
    else:
        marked = graph.mark(_all_roots(graph, evicted))
    if metadata is not None and not dry_run:
        for digest in sorted(evicted):
            for repo in graph.manifest_repos.get(digest, ()):
                await metadata.delete_manifest(repo, Digest(digest))
    garbage = sorted(set(graph.nodes) - marked)
    deleted: list[Digest] = []
    spared = 0
    if garbage and not dry_run:
        again = await read_graph(store, cutoff, metadata)
        keep = again.mark(_all_roots(again, evicted))
        queue = iter([d for d in garbage if d not in keep])

        async def sweeper() -> None:
            for digest in queue:  # the sweepers share one iterator
                if await _sweep_one(store, graph, metadata, digest, cutoff):
                    deleted.append(Digest(digest))

        async with anyio.create_task_group() as tg:
            for _ in range(_SWEEPERS):
                tg.start_soon(sweeper)
        spared = len(garbage) - len(deleted)
        deleted.sort()
    else:
        deleted = [Digest(d) for d in garbage]
    gone = {str(d) for d in deleted}
    kept = set(graph.nodes) - gone
    return GCReport(
        dry_run=dry_run,
        blobs=len(graph.nodes),
        roots=len(_all_roots(graph, evicted) & graph.nodes.keys()),
        kept=len(kept),
        kept_bytes=_size(graph, kept),
        deleted=tuple(deleted),
        deleted_bytes=_size(graph, gone),
        evicted=tuple(Digest(d) for d in sorted(evicted)),
        spared=spared,
        seconds=time.monotonic() - began,
    )


async def _sweep_one(
    store: Store,
    graph: Graph,
    metadata: RegistryMetadata | None,
    digest: str,
    cutoff: datetime,
) -> bool:
    """Delete ``digest`` unless it was used or made a root since the mark; ``True`` if gone."""
    try:
        info = await store.info(digest)
    except NotFoundError:
        return False
    if max(info.created_at, info.updated_at) > cutoff or LABEL_GC_ROOT in info.labels:
        return False
    try:
        await store.delete(digest)
    except NotFoundError:
        return False
    if metadata is not None:
        for repo in graph.repositories:
            await metadata.unlink_blob(repo, Digest(digest))
    return True
