"""One-trip writes of small in-memory blobs (:meth:`LocalStore.put`), and their clean-up.

A put verifies the bytes against the digest first, then, in the same worker
thread: writes them to a new read-only file under ``<root>/tmp/`` (outside
``blobs/`` and ``ingest/``, so containerd's walks never see it; the write sets
its times), fsyncs it, and publishes it exactly as a commit does
(:func:`._commit.publish`: labels and the rename into ``blobs/<alg>/`` under the
blob's striped lock). The folder fsync is then awaited on the event loop
(:func:`._meta.sync_folder`): a background thread batches the folder syncs of
all puts, so no worker thread waits for them. The temporary file is removed on
any failure; one left by a crash is removed by :func:`remove_stale_temps`.

Fault points, in order (see ``_fault.py``):

``put:after-data``
    the temporary file holds the bytes, not yet synced.
``put:after-fsync``
    the temporary file is read-only and synced; no label is written.
``meta:before-rename``
    as for commits, when the put has labels.
``put:after-labels``
    the labels are durable (or stale ones removed); the blob is not renamed.
``put:after-rename``
    the blob is in ``blobs/``, its folder not yet synced.

Everything here is synchronous and runs in worker threads.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import time
from typing import Final

from .._digest import Digest
from .._types import check_descriptor, put_digest
from .._writing import check_data, verify_digest, verify_size
from . import _fault
from ._commit import publish
from ._flock import try_lock_ref, unlock_ref
from ._hashing import HASHES
from ._layout import DIR_MODE, Layout, ingest_hex

__all__ = ("STALE_TEMP_SECONDS", "put_args", "put_sync", "remove_stale_temps")

#: Temporary files (of puts and label writes) older than this are left-overs of a crash.
STALE_TEMP_SECONDS: Final = 3600.0

#: Mode of a put's temporary file: read-only from its creation (before the umask).
_BLOB_MODE: Final = 0o444

#: This process's id, for temporary names (one ``getpid`` per process, not per put).
_PID: Final = [os.getpid()]
os.register_at_fork(after_in_child=lambda: _PID.__setitem__(0, os.getpid()))


def put_args(data: object, desc: object) -> tuple[Digest, bytes]:
    """Check :meth:`~aiocontent.LocalStore.put`'s arguments; the digest and an immutable copy.

    :raises TypeError: ``data`` is not bytes-like or ``desc`` not a Descriptor.
    :raises ~aiocontent.InvalidArgumentError: the digest is missing or malformed.
    :raises ~aiocontent.FailedPreconditionError: ``len(data)`` differs from ``desc.size``.
    """
    buffer = check_data(data)
    dgst = put_digest(desc)
    # bytes are kept as they are; a mutable buffer is copied so that what is
    # hashed is what is written.
    raw = buffer if isinstance(buffer, bytes) else memoryview(buffer).cast("B").tobytes()
    verify_size(check_descriptor(desc).size, len(raw))
    return dgst, raw


def put_sync(layout: Layout, ref: str, dgst: Digest, data: bytes, labels: dict[str, str]) -> bool:
    """Store ``data`` as the blob ``dgst`` with ``labels`` (one thread trip).

    Afterwards an unfinished ingest under ``ref`` is removed, as a commit would
    have, unless another store object or process holds the ref. The blob's
    folder is *not* synced: the caller awaits :func:`._meta.sync_folder` of
    ``layout.blob_dir(dgst)`` before reporting success, whatever this returns.

    :return: ``False`` when the blob already existed (its labels were not changed).
    :raises ~aiocontent.FailedPreconditionError: ``data`` does not hash to
        ``dgst``; nothing was written.
    :raises OSError: a write, sync, label write or rename failed; no blob and
        no temporary file is left.
    """
    if os.path.lexists(layout.blob_path(dgst)):
        _discard_ingest(layout, ref)
        return False
    verify_digest(Digest.from_bytes(data, dgst.algorithm), dgst)
    path = os.path.join(layout.tmp, f"put-{_PID[0]}-{secrets.token_hex(8)}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, _BLOB_MODE)
    except FileNotFoundError:
        os.makedirs(layout.tmp, DIR_MODE, exist_ok=True)
        fd = os.open(path, flags, _BLOB_MODE)
    try:
        try:
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                if not n:
                    raise OSError(28, "No space left on device (zero-byte write)")
                view = view[n:]
            _fault.point("put:after-data")
            # No utime: the write just set the times, and created_at is that mtime.
            os.fsync(fd)
        finally:
            os.close(fd)
        _fault.point("put:after-fsync")
        published = publish(layout, path, dgst, labels, "put", sync=False)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
    if not published:
        with contextlib.suppress(OSError):
            os.unlink(path)
    _discard_ingest(layout, ref)
    return published


def _discard_ingest(layout: Layout, ref: str) -> None:
    """Remove the ingest under ``ref`` unless it is locked (costs one stat when absent)."""
    hexname = ingest_hex(ref)
    folder = layout.ingest_dir(hexname)
    if not os.path.isdir(folder):
        return
    lock_path = layout.ref_lock_path(hexname)
    fd = try_lock_ref(lock_path)
    if fd is None:
        return  # a writer elsewhere is resuming it; its commit removes it
    try:
        with contextlib.suppress(OSError):
            HASHES.drop(os.stat(os.path.join(folder, "data")))
        shutil.rmtree(folder, ignore_errors=True)
    finally:
        unlock_ref(fd, remove=lock_path)


def _stale_in(folder: str, cutoff: float, is_temp: str) -> int:
    """Remove the files of ``folder`` named with ``is_temp`` and modified before ``cutoff``."""
    removed = 0
    try:
        it = os.scandir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return 0
    with it:
        for entry in it:
            if is_temp not in entry.name:
                continue
            try:
                if entry.stat(follow_symlinks=False).st_mtime >= cutoff:
                    continue
                os.unlink(entry.path)
            except (FileNotFoundError, IsADirectoryError, PermissionError):
                continue
            removed += 1
    return removed


def remove_stale_temps(layout: Layout, age: float = STALE_TEMP_SECONDS) -> int:
    """Remove temporary files a crash left behind; returns how many.

    These are puts' files under ``tmp/`` and label files' temporary copies
    ``meta/<alg>/<encoded>.tmp-*`` not modified for ``age`` seconds (a live
    writer holds one for a few milliseconds). Errors on single files are
    skipped; the next clean-up retries.
    """
    cutoff = time.time() - age
    removed = _stale_in(layout.tmp, cutoff, "put-")
    try:
        algs = [e.path for e in os.scandir(layout.meta) if e.is_dir(follow_symlinks=False)]
    except (FileNotFoundError, NotADirectoryError):
        algs = []
    for folder in algs:
        removed += _stale_in(folder, cutoff, ".tmp-")
    return removed
