"""What a containerd daemon holds, read through ``ctr``: blobs with labels, images, leases.

``ctr content ls`` prints ``DIGEST SIZE AGE LABELS`` with the labels as
``key=value`` joined by ``,``; a value may itself hold commas (a
distribution source naming several repositories), so a piece without ``=``
continues the previous value.
"""

from __future__ import annotations

from ._daemon import ContainerdDaemon

__all__ = ("blob_labels", "disk_digests", "image_targets", "lease_ids", "parse_labels")


def parse_labels(column: str) -> dict[str, str]:
    """The labels of one ``ctr content ls`` row's last column (``-`` when none)."""
    if column == "-":
        return {}
    labels: dict[str, str] = {}
    last = ""
    for piece in column.split(","):
        key, eq, value = piece.partition("=")
        if eq:
            labels[key] = value
            last = key
        else:
            labels[last] += "," + piece
    return labels


def blob_labels(daemon: ContainerdDaemon) -> dict[str, dict[str, str]]:
    """Every blob containerd's metadata lists in the default namespace, with its labels."""
    out = daemon.ctr("content", "ls").stdout.decode()
    blobs: dict[str, dict[str, str]] = {}
    for line in out.splitlines()[1:]:
        fields = line.split()
        if fields:
            blobs[fields[0]] = parse_labels(fields[-1])
    return blobs


def image_targets(daemon: ContainerdDaemon) -> dict[str, str]:
    """Image name -> target digest (``ctr images ls``: REF TYPE DIGEST ...)."""
    out = daemon.ctr("images", "ls").stdout.decode()
    return {f[0]: f[2] for line in out.splitlines()[1:] if len(f := line.split()) >= 3}


def lease_ids(daemon: ContainerdDaemon) -> list[str]:
    out = daemon.ctr("leases", "ls", "--quiet").stdout.decode()
    return [line.strip() for line in out.splitlines() if line.strip()]


def disk_digests(daemon: ContainerdDaemon) -> set[str]:
    """The blobs in the content directory on disk, whatever the metadata says."""
    folder = daemon.content_root / "blobs" / "sha256"
    return {f"sha256:{p.name}" for p in folder.iterdir()} if folder.is_dir() else set()
