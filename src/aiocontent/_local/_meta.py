"""Durable blob metadata: labels and the recorded ``updated_at``, one file per blob.

``<root>/meta/<alg>/<encoded>`` holds compact JSON,
``{"labels": {...}, "updated_at": "<RFC 3339>"}``, both keys optional; a
missing file means no labels and no recorded time. It lives outside
``blobs/``, so containerd still reads the layout.

Writes are atomic and durable: a uniquely named temporary file in the same
folder is written and fsynced, renamed over the target, and the folder is
fsynced. A reader therefore sees the old or the new file, never a mix, after
any crash. A file that would hold nothing is removed instead.

Read-modify-write (``update`` of single keys), deletes and the publishing step
of a commit run under the blob's striped lock (:func:`._flock.exclusive`), so
changes from several store objects or processes do not overwrite each other.

Everything here is synchronous and runs in worker threads.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
from datetime import datetime
from typing import Final

from ._fault import point
from ._layout import DIR_MODE, format_timestamp, parse_timestamp

__all__ = ("Meta", "read_meta", "remove_meta", "write_meta")

_log: Final = logging.getLogger("aiocontent")


class Meta:
    """The metadata of one blob."""

    __slots__ = ("labels", "updated_at")

    def __init__(self, labels: dict[str, str] | None = None, updated_at: datetime | None = None):
        self.labels: dict[str, str] = labels if labels is not None else {}
        self.updated_at = updated_at

    def encode(self) -> bytes:
        doc: dict[str, object] = {}
        if self.labels:
            doc["labels"] = self.labels
        if self.updated_at is not None:
            doc["updated_at"] = format_timestamp(self.updated_at)
        return json.dumps(doc, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()

    @property
    def empty(self) -> bool:
        return not self.labels and self.updated_at is None


def read_meta(path: str) -> Meta:
    """The metadata at ``path``; empty when the file is missing.

    A damaged file (impossible through this module's atomic writes, possible
    after disk corruption or hand edits) is logged and read as empty.
    """
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        return Meta()
    try:
        doc = json.loads(raw)
        if not isinstance(doc, dict):
            raise ValueError("not a JSON object")
        labels = doc.get("labels") or {}
        if not isinstance(labels, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
        ):
            raise ValueError("labels is not an object of strings")
        stamp = doc.get("updated_at")
        updated = parse_timestamp(stamp) if isinstance(stamp, str) else None
    except ValueError as exc:
        _log.warning("ignoring damaged label file %s: %s", path, exc)
        return Meta()
    return Meta(dict(labels), updated)


def fsync_dir(path: str) -> None:
    """fsync a folder so that renames and removals in it are durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_meta(path: str, meta: Meta) -> None:
    """Replace the metadata at ``path`` atomically and durably (or remove it when empty).

    :raises OSError: the write failed; the old file, if any, is intact.
    """
    if meta.empty:
        remove_meta(path)
        return
    folder = os.path.dirname(path)
    os.makedirs(folder, DIR_MODE, exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    try:
        try:
            view = memoryview(meta.encode())
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        point("meta:before-rename")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(folder)


def remove_meta(path: str) -> bool:
    """Remove the metadata at ``path`` durably; ``False`` when there was none."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    fsync_dir(os.path.dirname(path))
    return True
