"""Publishing a verified file as a blob, and the commit of an ingest (thread side).

Commit order (SPEC.md §4.4, "the library's order"): stat and check the size,
check the digest (re-hashing for another algorithm), make ``data`` read-only
and set its times, fsync it (data and those changes in one fsync), then under
the blob's striped lock: write the labels durably (or remove stale ones),
rename into ``blobs/`` and fsync that folder; finally remove the ingest. Every
step before the rename leaves the ingest resumable; after it the blob is
complete, read-only and labelled. :meth:`~aiocontent.LocalStore.put`
publishes through :func:`publish` too.
"""

from __future__ import annotations

import contextlib
import errno
import io
import logging
import os
import shutil
import stat
import time
from typing import Final

from .._digest import Digest, Digester
from .._errors import FailedPreconditionError
from .._messages import content_exists, ingest_not_found
from .._writing import verify_digest, verify_size
from . import _fault
from ._flock import exclusive, unlock_ref
from ._hashing import HASHES, hash_fd
from ._layout import (
    DIR_MODE,
    Layout,
)
from ._meta import Meta, fsync_dir, remove_meta, write_meta

__all__ = ("commit_sync", "publish")

_log: Final = logging.getLogger("aiocontent")

#: The files of an ingest folder, removed by name before falling back to a listing.
_INGEST_FILES: Final = ("ref", "startedat", "updatedat", "total", "data")


def remove_ingest_dir(folder: str) -> None:
    """Remove an ingest folder; errors are logged (the blob is already safe).

    The files an ingest holds are removed by name; only a folder that still
    holds something else (a temporary timestamp file) is listed.
    """
    first = True
    for name in _INGEST_FILES:
        path = os.path.join(folder, name)
        try:
            os.unlink(path)
        except FileNotFoundError:
            continue
        except IsADirectoryError:
            shutil.rmtree(path, ignore_errors=True)
        except OSError as exc:
            _log.warning("could not remove %s: %s", path, exc)
        if first:
            first = False
            _fault.point("commit:during-cleanup")
    try:
        os.rmdir(folder)
        return
    except FileNotFoundError:
        return
    except OSError as exc:
        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            _log.warning("could not remove ingest %s: %s", folder, exc)
            return
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return
    except OSError as exc:
        _log.warning("could not remove ingest %s: %s", folder, exc)
        return
    for i, name in enumerate(names):
        with contextlib.suppress(FileNotFoundError):
            try:
                os.unlink(os.path.join(folder, name))
            except IsADirectoryError:
                shutil.rmtree(os.path.join(folder, name), ignore_errors=True)
            except OSError as exc:
                _log.warning("could not remove %s: %s", os.path.join(folder, name), exc)
        if i == 0 and first:
            _fault.point("commit:during-cleanup")
    try:
        os.rmdir(folder)
    except FileNotFoundError:
        pass
    except OSError as exc:
        _log.warning("could not remove ingest %s: %s", folder, exc)


def publish(
    layout: Layout,
    src: str,
    dgst: Digest,
    labels: dict[str, str],
    stage: str,
    *,
    sync: bool = True,
) -> bool:
    """Publish the verified, read-only, synced file ``src`` as the blob ``dgst``.

    Under the blob's striped lock: write ``labels`` durably (or remove stale
    ones), rename ``src`` into ``blobs/<alg>/`` and, with ``sync``, fsync that
    folder (shared with concurrent publishers). Without ``sync`` the caller
    must sync the folder before it reports success, also when the blob was
    already there (another publisher may not have synced it yet). Commit and
    put both publish through here, so a caller that finds the blob present
    never touches its labels. Fault points ``<stage>:after-labels`` and
    ``<stage>:after-rename`` are met on the way.

    :return: ``False`` when the blob already exists (nothing was changed, ``src`` stays).
    :raises OSError: the label write, the rename or the folder sync failed; a
        failure before the rename leaves ``src`` in place.
    """
    target = layout.blob_path(dgst)
    blob_dir = layout.blob_dir(dgst)
    with exclusive(layout.meta_lock_path(dgst)):
        if os.path.lexists(target):
            return False
        meta_path = layout.meta_path(dgst)
        if labels:
            write_meta(meta_path, Meta(dict(labels)))
        elif os.path.lexists(meta_path):
            # Stale labels of a blob deleted or never renamed in (a crash). Checked
            # first: a failing unlink locks the folder, a failing lstat does not.
            remove_meta(meta_path)
        _fault.point(f"{stage}:after-labels")
        try:
            os.rename(src, target)
        except FileNotFoundError:
            # ``blobs/<alg>`` does not exist yet (or ``src`` vanished).
            if not os.path.lexists(src):
                raise
            os.makedirs(blob_dir, DIR_MODE, exist_ok=True)
            os.rename(src, target)
        _fault.point(f"{stage}:after-rename")
        if sync:
            fsync_dir(blob_dir)
        return True


def commit_sync(
    layout: Layout,
    ref: str,
    hexname: str,
    raw: io.FileIO,
    lock_fd: int,
    size: int,
    want: Digest | None,
    digester: Digester,
    labels: dict[str, str],
) -> Digester:
    """Verify the ingest and publish it as a blob (one thread trip); see the module docstring.

    Always closes ``data`` and releases the ref's file lock.

    :return: the digester of the blob (re-hashed when ``want`` uses another algorithm).
    :raises ~aiocontent.FailedPreconditionError: size or digest mismatch; the ingest stays.
    :raises ~aiocontent.AlreadyExistsError: the blob exists; the ingest is removed.
    :raises ~aiocontent.NotFoundError: the ingest was removed meanwhile.
    :raises OSError: fsync, stat, label write, rename or folder sync failed.
    """
    folder = layout.ingest_dir(hexname)
    data_path = os.path.join(folder, "data")
    done = False
    made_read_only: int | None = None
    try:
        fd = raw.fileno()
        st = os.fstat(fd)
        try:
            verify_size(size, st.st_size)
            if want is not None and want.algorithm != digester.algorithm:
                digester = hash_fd(fd, want.algorithm)[0]
            dgst = digester.digest()
            verify_digest(dgst, want)
            try:
                current = os.stat(data_path)
            except FileNotFoundError:
                current = None
            if current is None or not os.path.samestat(current, st):
                raise ingest_not_found(ref)
            mode = stat.S_IMODE(st.st_mode)
            os.fchmod(fd, mode & ~0o333)
            made_read_only = mode
            stamp = time.time_ns()
            os.utime(fd, ns=(stamp, stamp))
            os.fsync(fd)
            HASHES.drop(st)
        except FailedPreconditionError:
            # The data stays for a resume: keep its hash state for a quick reopen.
            HASHES.put(st, digester)
            raise
        finally:
            raw.close()
        _fault.point("commit:after-fsync")
        if not publish(layout, data_path, dgst, labels, "commit"):
            made_read_only = None
            done = True
            remove_ingest_dir(folder)
            raise content_exists(dgst)
        made_read_only = None
        done = True
        _fault.point("commit:after-dirsync")
        remove_ingest_dir(folder)
        _fault.point("commit:after-cleanup")
        return digester
    except BaseException:
        if made_read_only is not None:
            # The checks passed but publishing failed: keep the ingest resumable.
            with contextlib.suppress(OSError):
                os.chmod(data_path, made_read_only)
        raise
    finally:
        unlock_ref(lock_fd, remove=layout.ref_lock_path(hexname) if done else None)
