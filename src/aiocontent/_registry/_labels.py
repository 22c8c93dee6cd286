"""The labels a pull writes, named and numbered exactly as containerd 1.6 names them.

containerd labels a parent with one ``containerd.io/gc.ref.content.*`` key per
child its children handler returns, *before* any platform filter: an index is
labelled with every manifest it lists, pulled or not, so pulling a second
platform writes the same keys again instead of replacing the first. The key
depends on the child's media type (``config``, ``m.``, ``l.`` or the bare
prefix), and a prefix ending in ``.`` takes a counter of its own: the n-th
layer is ``l.<n>``, the n-th manifest of an index ``m.<n>``.

``containerd.io/distribution.source.<host>`` names the host *without* its
port (Go's ``url.URL.Hostname``), the value is the sorted, de-duplicated,
comma-joined set of repositories.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from .._digest import Digest
from .._interfaces import Store
from .._types import Descriptor, Info
from . import _media

__all__ = (
    "LABEL_DISTRIBUTION_SOURCE",
    "LABEL_GC_REF_CONTENT",
    "child_gc_labels",
    "label_used",
    "merge_sources",
    "source_label_key",
)

#: Prefix of the labels a parent uses to point at its children.
LABEL_GC_REF_CONTENT: Final = "containerd.io/gc.ref.content"
#: Prefix of ``<prefix>.<host>=<repo>[,<repo>...]``: where a blob was pulled from.
LABEL_DISTRIBUTION_SOURCE: Final = "containerd.io/distribution.source"

_KNOWN_CONFIGS: Final = frozenset(
    {
        _media.DOCKER_CONFIG,
        _media.OCI_CONFIG,
        "application/vnd.containerd.container.criu.checkpoint.criu.tar",
        "application/vnd.containerd.container.checkpoint.config.v1+proto",
    }
)
_DOCKER_LAYERS: Final = frozenset(
    {
        "application/vnd.docker.image.rootfs.diff.tar",
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "application/vnd.docker.image.rootfs.diff.tar.zstd",
        "application/vnd.docker.image.rootfs.foreign.diff.tar",
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    }
)


def _is_layer(media_type: str) -> bool:
    if media_type.startswith("application/vnd.oci.image.layer."):
        return True
    return media_type.partition("+")[0] in _DOCKER_LAYERS


def _key_prefix(media_type: str) -> str:
    if media_type in _KNOWN_CONFIGS:
        return f"{LABEL_GC_REF_CONTENT}.config"
    if media_type in _media.MANIFEST_TYPES:
        return f"{LABEL_GC_REF_CONTENT}.m."
    if _is_layer(media_type):
        return f"{LABEL_GC_REF_CONTENT}.l."
    return f"{LABEL_GC_REF_CONTENT}."


def child_gc_labels(children: Iterable[Descriptor]) -> dict[str, str]:
    """The ``gc.ref.content`` labels a parent gets for ``children``, in their listed order.

    A manifest's children are its config then its layers; an index's, its
    manifests. Each prefix counts its own children from 0; a prefix that does
    not end in ``.`` (``config``) is written bare for its first child and
    numbered from its second (``config1``), as containerd does.
    """
    counters: dict[str, int] = {}
    labels: dict[str, str] = {}
    for child in children:
        prefix = _key_prefix(child.media_type)
        n = counters.get(prefix, 0)
        counters[prefix] = n + 1
        key = f"{prefix}{n}" if n > 0 or prefix.endswith(".") else prefix
        labels[key] = str(child.digest)
    return labels


def source_label_key(host: str) -> str:
    """``containerd.io/distribution.source.<host without port>`` for a ``host[:port]``.

    ``[::1]:5000`` gives ``::1``, as Go's ``Hostname`` strips the brackets too.
    """
    if host.startswith("["):
        name = host[1:].partition("]")[0]
    else:
        name = host.rpartition(":")[0] if ":" in host else host
    return f"{LABEL_DISTRIBUTION_SOURCE}.{name}"


def merge_sources(existing: str, repo: str) -> str:
    """Add ``repo`` to a distribution-source value: sorted, no duplicates, comma-joined."""
    return ",".join(sorted({r for r in existing.split(",") if r} | {repo}))


async def label_used(store: Store, digest: Digest, labels: Mapping[str, str]) -> None:
    """Set ``labels`` on a committed blob, adding to its distribution sources.

    Always updates the blob, even when nothing changes (one of ``labels`` is
    then written again; an empty ``labels`` writes nothing), so that its
    ``updated_at`` says it was just used: a garbage collection spares what was
    used within its grace period, and its size-bounded mode evicts the least
    recently used first.

    :raises ~aiocontent.NotFoundError: the blob is gone (collected meanwhile).
    """
    info = await store.info(digest)
    changed: dict[str, str] = {}
    for key, value in labels.items():
        if key.startswith(LABEL_DISTRIBUTION_SOURCE + "."):
            value = merge_sources(info.labels.get(key, ""), value)
        if info.labels.get(key) != value:
            changed[key] = value
    if not changed:
        if not labels:
            return
        key = next(iter(labels))
        changed = {key: info.labels[key]}
    await store.update(Info(digest=digest, labels=changed), *(f"labels.{k}" for k in changed))
