"""The ingests of a :class:`~aiocontent.LocalStore` as a whole (containerd's IngestManager).

``status``, ``list_statuses``, ``abort`` and pruning, as functions run in a
worker thread; locks are taken by the caller where needed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from datetime import datetime
from typing import Final

from .._messages import ingest_file_error, ingest_not_found
from .._types import (
    Status,
)
from ._flock import try_lock_ref, unlock_ref
from ._hashing import HASHES
from ._layout import (
    IngestFileError,
    Layout,
    ingest_hex,
    read_status,
)

__all__ = ("abort_sync", "list_statuses_sync", "prune_one_sync", "status_sync")

_log: Final = logging.getLogger("aiocontent")


def list_statuses_sync(layout: Layout) -> list[Status]:
    try:
        entries = list(os.scandir(layout.ingest))
    except (FileNotFoundError, NotADirectoryError):
        return []
    out = []
    for entry in entries:
        if not entry.is_dir(follow_symlinks=False):
            continue
        try:
            out.append(read_status(entry.path))
        except IngestFileError as exc:
            if not exc.missing:  # else vanished (committed or aborted) or being created
                _log.warning("skipping damaged ingest %s: %s", entry.path, exc)
    out.sort(key=lambda st: st.ref)
    return out


def status_sync(layout: Layout, ref: str) -> Status:
    """The status of ``ref``'s ingest read from disk.

    :raises ~aiocontent.NotFoundError: no such ingest, or one of its files is missing.
    :raises ~aiocontent.ContentError: a timestamp file does not parse.
    """
    try:
        return read_status(layout.ingest_dir(ingest_hex(ref)))
    except IngestFileError as exc:
        err = ingest_file_error(ref, exc.name, missing=exc.missing, detail=exc.detail)
        raise err from exc.__cause__ or exc


def _remove_tree(folder: str) -> None:
    """Remove ``folder`` recursively; entries vanishing meanwhile are fine."""
    for _ in range(3):
        try:
            shutil.rmtree(folder)
        except FileNotFoundError:
            if not os.path.lexists(folder):
                return
        else:
            return
    shutil.rmtree(folder)


def _drop_hash_state(folder: str) -> None:
    with contextlib.suppress(OSError):
        HASHES.drop(os.stat(os.path.join(folder, "data")))


def abort_sync(layout: Layout, ref: str, hexname: str, unlocked_here: bool) -> None:
    folder = layout.ingest_dir(hexname)
    if not os.path.isdir(folder):
        raise ingest_not_found(ref)
    _drop_hash_state(folder)
    _remove_tree(folder)
    if unlocked_here:
        lock_path = layout.ref_lock_path(hexname)
        fd = try_lock_ref(lock_path) if os.path.exists(lock_path) else None
        if fd is not None:
            unlock_ref(fd, remove=lock_path)


def prune_one_sync(layout: Layout, hexname: str, cutoff: datetime) -> bool:
    lock_path = layout.ref_lock_path(hexname)
    fd = try_lock_ref(lock_path)
    if fd is None:
        return False
    removed = False
    try:
        folder = layout.ingest_dir(hexname)
        try:
            st = read_status(folder)
        except IngestFileError as exc:
            if exc.missing:
                return False
            # damaged: pruned like an old one
        else:
            if st.updated_at > cutoff:
                return False
        _drop_hash_state(folder)
        _remove_tree(folder)
        removed = True
        return True
    finally:
        unlock_ref(fd, remove=lock_path if removed else None)
