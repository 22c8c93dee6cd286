"""Committed blobs of a :class:`~aiocontent.LocalStore`, as functions run in a worker thread.

``info``, ``update`` and ``delete`` of one blob, and the listing and
:class:`~aiocontent.Info` batches of ``walk``.
"""

from __future__ import annotations

import contextlib
import logging
import operator
import os
import re
import shutil
import stat
import time
from collections.abc import Callable
from typing import Final, TypeAlias

from .._digest import Algorithm, Digest
from .._errors import (
    InvalidArgumentError,
)
from .._messages import content_not_found
from .._types import (
    Info,
    LabelUpdate,
    now,
)
from . import _fault
from ._flock import exclusive
from ._layout import (
    Layout,
    from_ns,
)
from ._meta import META_CACHE, Meta, read_meta, remove_meta, write_meta

__all__ = (
    "blob_entries",
    "delete_sync",
    "info_sync",
    "list_blobs_sync",
    "stat_blob",
    "update_sync",
    "valid_name",
    "walk_infos_sync",
)

_log: Final = logging.getLogger("aiocontent")

#: Blobs whose info one thread trip of ``walk`` gathers.
WALK_BATCH: Final = 1024

_EMPTY_META: Final = Meta()
_NAME: Final = operator.attrgetter("name")
_NAME_CHECKS: dict[str, Callable[[str], object]] = {}


def stat_blob(layout: Layout, dgst: Digest) -> os.stat_result:
    try:
        st = os.stat(layout.blob_path(dgst))
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise content_not_found(dgst) from exc
    if not stat.S_ISREG(st.st_mode):
        raise content_not_found(dgst)
    return st


def _make_info(dgst: Digest, st: os.stat_result, meta: Meta) -> Info:
    created = from_ns(st.st_mtime_ns)
    return Info(
        digest=dgst,
        size=st.st_size,
        created_at=created,
        updated_at=meta.updated_at or created,
        labels=meta.labels,
    )


def info_sync(layout: Layout, dgst: Digest) -> Info:
    st = stat_blob(layout, dgst)
    return _make_info(dgst, st, read_meta(layout.meta_path(dgst)))


def blob_entries(layout: Layout) -> list[tuple[str, os.DirEntry[str]]]:
    """Entries of every registered-algorithm folder of ``blobs/``, in lexical order."""
    try:
        top = sorted(os.scandir(layout.blobs), key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return []
    out: list[tuple[str, os.DirEntry[str]]] = []
    for alg_entry in top:
        if not alg_entry.is_dir(follow_symlinks=False):
            _log.debug("walk: skipping stray entry blobs/%s", alg_entry.name)
            continue
        if not Algorithm(alg_entry.name).available:
            _log.debug("walk: skipping unknown algorithm folder blobs/%s", alg_entry.name)
            continue
        try:
            with os.scandir(alg_entry.path) as it:
                entries = list(it)
            entries.sort(key=_NAME)
        except OSError as exc:
            _log.warning("walk: cannot list blobs/%s: %s", alg_entry.name, exc)
            continue
        out.extend((alg_entry.name, entry) for entry in entries)
    return out


def valid_name(alg: str, name: str) -> Digest | None:
    dgst = Digest(f"{alg}:{name}")
    try:
        dgst.validate()
    except InvalidArgumentError:
        return None
    return dgst


#: What one blob of a walk needs: its digest, its entry and its metadata file's entry.
_WalkItem: TypeAlias = tuple[Digest, os.DirEntry[str], "os.DirEntry[str] | None"]


def _meta_entries(layout: Layout, alg: str) -> dict[str, os.DirEntry[str]]:
    """The metadata files of one algorithm, by name (one listing instead of an open per blob)."""
    try:
        with os.scandir(os.path.join(layout.meta, alg)) as it:
            return {e.name: e for e in it if "." not in e.name}
    except (FileNotFoundError, NotADirectoryError):
        return {}


def _name_check(alg: str) -> Callable[[str], object]:
    """A quick test that a file name is the encoded part of an ``alg`` digest.

    The same rule as :meth:`Digest.validate` for a registered algorithm: exactly
    ``2 * size`` lower-case hex digits.
    """
    check = _NAME_CHECKS.get(alg)
    if check is None:
        size = Algorithm(alg).size
        check = _NAME_CHECKS[alg] = re.compile(f"[a-f0-9]{{{2 * size}}}", re.ASCII).fullmatch
    return check


def list_blobs_sync(layout: Layout) -> list[_WalkItem]:
    out: list[_WalkItem] = []
    metas: dict[str, dict[str, os.DirEntry[str]]] = {}
    for alg, entry in blob_entries(layout):
        name = entry.name
        dgst = Digest(f"{alg}:{name}") if _name_check(alg)(name) else None
        if dgst is None or not entry.is_file(follow_symlinks=False):
            _log.warning("walk: skipping blobs/%s/%s: not a blob", alg, entry.name)
            continue
        if alg not in metas:
            metas[alg] = _meta_entries(layout, alg)
        out.append((dgst, entry, metas[alg].get(name)))
    return out


def walk_infos_sync(layout: Layout, items: list[_WalkItem]) -> list[Info]:
    """The :class:`Info` of each listed blob; blobs deleted meanwhile are skipped."""
    out = []
    for dgst, entry, meta_entry in items:
        try:
            st = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue  # deleted while walking
        if not stat.S_ISREG(st.st_mode):
            continue
        meta = _EMPTY_META
        if meta_entry is not None:
            with contextlib.suppress(FileNotFoundError):  # labels removed meanwhile
                meta = META_CACHE.get(meta_entry.path, meta_entry.stat(follow_symlinks=False))
        created = from_ns(st.st_mtime_ns)
        out.append(
            Info(
                digest=dgst,
                size=st.st_size,
                created_at=created,
                updated_at=meta.updated_at or created,
                labels=dict(meta.labels),
            )
        )
    return out


def update_sync(layout: Layout, dgst: Digest, change: LabelUpdate) -> Info:
    stat_blob(layout, dgst)  # a missing blob creates no lock file
    with exclusive(layout.meta_lock_path(dgst)):
        st = stat_blob(layout, dgst)
        meta_path = layout.meta_path(dgst)
        labels = change.apply(read_meta(meta_path).labels)
        stamp = now()
        write_meta(meta_path, Meta(labels, stamp))
    try:
        ns = time.time_ns()
        os.utime(layout.blob_path(dgst), ns=(ns, st.st_mtime_ns))
    except OSError as exc:
        _log.debug("update: could not set the access time of %s: %s", dgst, exc)
    info = _make_info(dgst, st, Meta(dict(labels), stamp))
    return info


def delete_sync(layout: Layout, dgst: Digest) -> None:
    path = layout.blob_path(dgst)
    if not os.path.lexists(path):  # a missing blob creates no lock file
        raise content_not_found(dgst)
    with exclusive(layout.meta_lock_path(dgst)):
        try:
            os.unlink(path)
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise content_not_found(dgst) from exc
        except IsADirectoryError:
            shutil.rmtree(path)
        _fault.point("delete:after-blob")
        remove_meta(layout.meta_path(dgst))
