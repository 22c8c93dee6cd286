"""One ingest folder from a writer's side, as functions run in a worker thread.

Opening (create or resume, under the ref's cross-process lock), truncating,
closing and releasing; each is one thread trip of :class:`~aiocontent.LocalWriter`.
The commit is in :mod:`._commit`.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import stat
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from .._digest import SHA256, Algorithm, Digest, Digester
from .._messages import content_exists, total_mismatch
from .._sha256state import new_digester
from .._types import now
from . import _fault
from ._flock import lock_ref, unlock_ref
from ._hashing import HASHES, drop_state, hash_fd, save_state, take_state
from ._layout import (
    DIR_MODE,
    FILE_MODE,
    IngestFileError,
    Layout,
    format_timestamp,
    read_status,
    write_file,
    write_timestamp,
)

__all__ = ("Opened", "close_opened", "close_sync", "open_ingest", "release_sync", "truncate_sync")

_log: Final = logging.getLogger("aiocontent")


def _open_data(path: str, flags: int) -> int:
    """Open an ingest's ``data``; one left read-only by an interrupted commit is made writable."""
    try:
        return os.open(path, flags | os.O_CLOEXEC, FILE_MODE)
    except PermissionError:
        mode = stat.S_IMODE(os.stat(path).st_mode)
        os.chmod(path, mode | stat.S_IWUSR)
        return os.open(path, flags | os.O_CLOEXEC, FILE_MODE)


# --------------------------------------------------------------------------- thread side: open


@dataclass(slots=True)
class Opened:
    """What :func:`open_ingest` hands back to the event loop."""

    raw: io.FileIO
    lock_fd: int
    offset: int
    digester: Digester
    total: int
    started_at: datetime
    updated_at: datetime


def _init_ingest(
    layout: Layout, folder: str, ref: str, algorithm: Algorithm, size: int, damaged: bool
) -> Opened:
    _fault.point("writer:after-mkdir")
    started = now()
    if damaged:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(folder, "total"))
        drop_state(folder)
    write_file(os.path.join(folder, "ref"), ref.encode())
    if damaged:
        write_timestamp(os.path.join(folder, "startedat"), started)
        write_timestamp(os.path.join(folder, "updatedat"), started)
    else:
        # A new folder holds nothing to protect: plain writes, no temporary
        # file and no synchronous write (a torn file after a crash reads as a
        # damaged ingest, which the next writer re-initialises).
        stamp = format_timestamp(started).encode()
        write_file(os.path.join(folder, "startedat"), stamp)
        _fault.point("timestamp:before-rename")
        write_file(os.path.join(folder, "updatedat"), stamp)
        _fault.point("timestamp:before-rename")
    if size > 0:
        write_file(os.path.join(folder, "total"), str(size).encode())
    _fault.point("writer:after-files")
    fd = _open_data(os.path.join(folder, "data"), os.O_RDWR | os.O_CREAT)
    try:
        if damaged:
            HASHES.drop(os.fstat(fd))
            os.ftruncate(fd, 0)
        raw = open(fd, "r+b", buffering=0, closefd=True)  # noqa: SIM115
    except BaseException:
        os.close(fd)
        raise
    return Opened(raw, -1, 0, new_digester(algorithm), size, started, started)


def _resume_ingest(folder: str, ref: str, algorithm: Algorithm, size: int) -> Opened | None:
    """Resume the ingest in ``folder``; ``None`` when it is damaged (re-initialise it).

    :raises ~aiocontent.FailedPreconditionError: ``size`` differs from the stored total.
    """
    try:
        st = read_status(folder)
    except IngestFileError as exc:
        _log.warning("re-initialising damaged ingest %s for ref %r: %s", folder, ref, exc)
        return None
    if st.ref != ref:
        _log.warning("re-initialising ingest %s: it holds ref %r, not %r", folder, st.ref, ref)
        return None
    total = st.total
    if size > 0:
        if total > 0 and total != size:
            raise total_mismatch(ref, total, size)
        if total <= 0:
            write_file(os.path.join(folder, "total"), str(size).encode())
            total = size
    try:
        fd = _open_data(os.path.join(folder, "data"), os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        fst = os.fstat(fd)
        saved = take_state(folder, fst, algorithm)  # consumed whatever is used
        digester = HASHES.take(fst, algorithm) or saved
        if digester is not None:
            offset = fst.st_size
        else:
            digester, offset = hash_fd(fd, algorithm)
        os.lseek(fd, offset, os.SEEK_SET)
        raw = open(fd, "r+b", buffering=0, closefd=True)  # noqa: SIM115
    except BaseException:
        os.close(fd)
        raise
    return Opened(raw, -1, offset, digester, total, st.started_at, st.updated_at)


def open_ingest(
    layout: Layout, ref: str, hexname: str, expected: Digest | None, size: int
) -> Opened:
    """Lock ``ref`` across processes, then create or resume its ingest (one thread trip).

    :raises ~aiocontent.UnavailableError: another store object or process holds the ref.
    :raises ~aiocontent.AlreadyExistsError: ``expected`` is already committed.
    :raises ~aiocontent.FailedPreconditionError: ``size`` differs from the stored total.
    """
    lock_fd = lock_ref(layout.ref_lock_path(hexname), ref)
    try:
        if expected is not None and os.path.lexists(layout.blob_path(expected)):
            raise content_exists(expected)
        algorithm = expected.algorithm if expected is not None else SHA256
        folder = layout.ingest_dir(hexname)
        try:
            try:
                os.mkdir(folder, DIR_MODE)
            except FileNotFoundError:
                os.makedirs(layout.root, DIR_MODE, exist_ok=True)
                os.makedirs(layout.ingest, 0o777, exist_ok=True)
                os.mkdir(folder, DIR_MODE)
        except FileExistsError:
            opened = _resume_ingest(folder, ref, algorithm, size)
            if opened is None:
                opened = _init_ingest(layout, folder, ref, algorithm, size, damaged=True)
        else:
            opened = _init_ingest(layout, folder, ref, algorithm, size, damaged=False)
        opened.lock_fd = lock_fd
        return opened
    except BaseException:
        unlock_ref(lock_fd)
        raise


def close_opened(opened: Opened) -> None:
    """Undo :func:`open_ingest` after a cancellation: close the file, release the lock."""
    try:
        opened.raw.close()
    finally:
        unlock_ref(opened.lock_fd)


# --------------------------------------------------------------------------- thread side: ops


def truncate_sync(raw: io.FileIO, size: int, offset: int, digester: Digester) -> Digester:
    """Cut ``data`` to ``size`` bytes; returns the digester of those bytes.

    The new hash is computed first, so a failure changes nothing.
    """
    if size == offset:
        return digester
    fd = raw.fileno()
    algorithm = digester.algorithm
    hashed = new_digester(algorithm) if size == 0 else hash_fd(fd, algorithm, size)[0]
    os.ftruncate(fd, size)
    _fault.point("truncate:after-truncate")
    os.lseek(fd, size, os.SEEK_SET)
    return hashed


def close_sync(
    raw: io.FileIO,
    lock_fd: int,
    updatedat: str,
    updated_at: datetime,
    digester: Digester,
    gone: bool,
    lock_path: str,
) -> None:
    """Close a writer: fsync and close ``data``, rewrite ``updatedat``, save the hash state.

    Errors of fsync and ``updatedat`` are ignored as in containerd (the data
    stays resumable); the close error is raised after the lock is released.
    The hash state is kept for this process (:data:`~._hashing.HASHES`) and,
    for SHA-256 once ``data`` is synced, saved in the folder for others
    (:func:`~._hashing.save_state`), last, once ``updatedat`` has its final
    text. ``gone`` (the ingest was aborted) skips the bookkeeping and removes
    the lock file.
    """
    try:
        synced = False
        with contextlib.suppress(OSError):
            os.fsync(raw.fileno())
            synced = True
        st = None
        if not gone:
            with contextlib.suppress(OSError):
                st = os.fstat(raw.fileno())
                HASHES.put(st, digester)
        raw.close()
        if not gone:
            _fault.point("close:before-updatedat")
            try:
                write_timestamp(updatedat, updated_at)
            except OSError as exc:
                _log.warning("could not write %s: %s", updatedat, exc)
            if st is not None and synced:  # a state must never outlive its data
                save_state(os.path.dirname(updatedat), st, digester)
    finally:
        unlock_ref(lock_fd, remove=lock_path if gone else None)


def release_sync(raw: io.FileIO, lock_fd: int, lock_path: str | None) -> None:
    """Close ``data`` and release the file lock without touching the ingest."""
    try:
        raw.close()
    finally:
        unlock_ref(lock_fd, remove=lock_path)
