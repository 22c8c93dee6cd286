"""Committed blobs of a :class:`~aiocontent.LocalStore`, as functions run in a worker thread.

``info``, ``update`` and ``delete`` of one blob, and the rows of ``walk``:
folder listings cached per folder while the folder is unchanged (``_listing.py``),
so a repeated walk costs a few ``stat`` calls, not one per blob.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import operator
import os
import re
import shutil
import stat
import time
from collections.abc import Callable
from datetime import datetime
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
from ._listing import FolderCache
from ._meta import META_CACHE, Meta, read_meta, remove_meta, write_meta

__all__ = (
    "WalkRow",
    "blob_entries",
    "delete_sync",
    "info_sync",
    "stat_blob",
    "update_sync",
    "valid_name",
    "walk_rows_sync",
)

_log: Final = logging.getLogger("aiocontent")

_NAME: Final = operator.attrgetter("name")
_FIRST: Final = operator.itemgetter(0)
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


#: One blob of a folder listing: its file name, digest, size and created_at.
_BlobRow: TypeAlias = tuple[str, Digest, int, datetime]

#: One blob of a walk: digest, size, created_at, updated_at and labels (``None``: none).
#: Shared by walks: the labels are copied into each :class:`Info`, never handed out.
WalkRow: TypeAlias = tuple[Digest, int, datetime, datetime, "dict[str, str] | None"]

#: ``blobs/`` -> its algorithm folders; ``blobs/<alg>`` -> its blobs;
#: ``meta/<alg>`` -> its non-empty label files. Shared by the process.
_ALGS: Final[FolderCache[tuple[str, ...]]] = FolderCache()
_BLOBS: Final[FolderCache[tuple[_BlobRow, ...]]] = FolderCache()
_METAS: Final[FolderCache[dict[str, Meta]]] = FolderCache()
#: ``blobs/`` -> (the listings a walk joined, the joined rows).
_Part: TypeAlias = tuple[tuple[_BlobRow, ...], "dict[str, Meta] | None"]
_JOINED: dict[str, tuple[list[_Part], tuple[WalkRow, ...]]] = {}
_JOINED_MAX: Final = 256


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


def _scan_algs(path: str) -> tuple[str, ...]:
    """The registered-algorithm folders of ``blobs/``, in lexical order."""
    with os.scandir(path) as it:
        entries = sorted(it, key=_NAME)
    out = []
    for entry in entries:
        if not entry.is_dir(follow_symlinks=False):
            _log.debug("walk: skipping stray entry blobs/%s", entry.name)
        elif not Algorithm(entry.name).available:
            _log.debug("walk: skipping unknown algorithm folder blobs/%s", entry.name)
        else:
            out.append(entry.name)
    return tuple(out)


def _scan_blobs(alg: str, path: str) -> tuple[_BlobRow, ...]:
    """The blobs of ``blobs/<alg>`` in lexical order (one ``lstat`` each).

    Entries are stat'ed in the folder's own order, which follows the inode
    table more closely than the lexical one does, and sorted afterwards.
    """
    check = _name_check(alg)
    out = []
    with os.scandir(path) as it:
        for entry in it:
            name = entry.name
            if not check(name) or not entry.is_file(follow_symlinks=False):
                _log.warning("walk: skipping blobs/%s/%s: not a blob", alg, name)
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # deleted meanwhile
            out.append((name, Digest(f"{alg}:{name}"), st.st_size, from_ns(st.st_mtime_ns)))
    out.sort(key=_FIRST)
    return tuple(out)


def _scan_metas(path: str) -> dict[str, Meta]:
    """The non-empty label files of ``meta/<alg>``, by name (read through :data:`META_CACHE`)."""
    out = {}
    with os.scandir(path) as it:
        for entry in it:
            if "." in entry.name or not entry.is_file(follow_symlinks=False):
                continue  # temporary copies
            with contextlib.suppress(FileNotFoundError):  # removed meanwhile
                meta = META_CACHE.get(entry.path, entry.stat(follow_symlinks=False))
                if not meta.empty:
                    out[entry.name] = meta
    return out


def _join(blobs: tuple[_BlobRow, ...], metas: dict[str, Meta] | None) -> list[WalkRow]:
    if not metas:
        return [(dgst, size, created, created, None) for _, dgst, size, created in blobs]
    out: list[WalkRow] = []
    for name, dgst, size, created in blobs:
        meta = metas.get(name)
        if meta is None:
            out.append((dgst, size, created, created, None))
        else:
            out.append((dgst, size, created, meta.updated_at or created, meta.labels or None))
    return out


def walk_rows_sync(layout: Layout) -> tuple[WalkRow, ...]:
    """Every blob of the store with its labels, in lexical (digest) order.

    Listings are reused while their folders are unchanged (see ``_listing.py``),
    so a second call returns the very same tuple when nothing changed, and
    anything another store object or process committed, deleted or labelled
    before the call is in it.
    """
    try:
        algs = _ALGS.get(layout.blobs, _scan_algs) or ()
    except (FileNotFoundError, NotADirectoryError):
        algs = ()  # removed meanwhile, or not a folder: no blobs
    parts: list[_Part] = []
    for alg in algs:
        try:
            blobs = _BLOBS.get(os.path.join(layout.blobs, alg), functools.partial(_scan_blobs, alg))
            metas = _METAS.get(os.path.join(layout.meta, alg), _scan_metas) if blobs else None
        except OSError as exc:
            _log.warning("walk: cannot list blobs/%s: %s", alg, exc)
            continue
        if blobs:
            parts.append((blobs, metas))
    hit = _JOINED.get(layout.blobs)
    if (
        hit is not None
        and len(hit[0]) == len(parts)
        and all(a is c and b is d for (a, b), (c, d) in zip(hit[0], parts, strict=True))
    ):
        return hit[1]
    rows: list[WalkRow] = []
    for blobs, metas in parts:
        rows.extend(_join(blobs, metas))
    out = tuple(rows)
    if len(_JOINED) >= _JOINED_MAX:
        _JOINED.clear()
    _JOINED[layout.blobs] = (parts, out)
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
