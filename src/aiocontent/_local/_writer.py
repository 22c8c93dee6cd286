"""The writer of a :class:`~aiocontent.LocalStore` ingest, and its thread-side steps.

Each public operation is one trip to a worker thread (through
:class:`~aiocontent._fileio.FileIO`): opening or resuming an ingest, writing a
chunk (write and hash together; under asyncio large ``bytes`` chunks are
hashed behind their writes by a thread of the writer's own), truncating,
closing and committing. A cancelled operation still runs its thread to the
end, so it applies fully or not at all, and the ref is released whatever
happens.

Small-blob costs: a new ingest writes its timestamps directly (the folder is
new, there is nothing to protect); folders are created only when missing;
the ingest's files are removed by name; and the fsync of ``blobs/<alg>`` is
shared by commits running at the same time (:func:`._meta.fsync_dir`).

Commit order (SPEC.md §4.4, "the library's order"): stat and check the size,
check the digest (re-hashing for another algorithm), make ``data`` read-only
and set its times, fsync it (data and those changes in one fsync), then under
the blob's striped lock: write the labels durably (or remove stale ones),
rename into ``blobs/`` and fsync that folder; finally remove the ingest. Every
step before the rename leaves the ingest resumable; after it the blob is
complete, read-only and labelled.
"""

from __future__ import annotations

import contextlib
import errno
import io
import logging
import os
import queue
import shutil
import stat
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Final, final

import anyio
from anyio.abc import AsyncResource

from .._digest import SHA256, Algorithm, Digest, Digester, parse_digest_arg
from .._errors import (
    AlreadyExistsError,
    ContentError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
)
from .._fileio import DataFile, HashBehind
from .._locks import LockToken
from .._types import Opt, Status, check_int, now, resolve_opts
from . import _fault
from ._flock import exclusive, lock_ref, unlock_ref
from ._layout import (
    DIR_MODE,
    FILE_MODE,
    Layout,
    format_timestamp,
    read_status,
    write_file,
    write_timestamp,
)
from ._meta import Meta, fsync_dir, remove_meta, write_meta

if TYPE_CHECKING:
    from ._store import LocalStore

__all__ = ("LocalWriter", "hash_fd", "publish")

_log: Final = logging.getLogger("aiocontent")

#: Chunk size of re-hashing (resume, truncate, commit with another algorithm, verify).
HASH_CHUNK: Final = 4 << 20
#: Files from this size on are re-hashed with reading and hashing overlapped.
OVERLAP_MIN: Final = 16 << 20

#: The files of an ingest folder, removed by name before falling back to a listing.
_INGEST_FILES: Final = ("ref", "startedat", "updatedat", "total", "data")


# --------------------------------------------------------------------------- hash state cache


class _HashCache:
    """Hash states of closed writers, so that reopening in this process re-reads nothing.

    Keyed by the data file's ``(st_dev, st_ino)``; an entry is used only while
    the file's size, mtime and ctime are unchanged (another process may have
    written to it) and the algorithm matches. Bounded; shared by every store
    object of the process; used from worker threads.
    """

    MAX_ENTRIES: Final = 1024

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[int, int], tuple[tuple[int, int, int], Digester]] = (
            OrderedDict()
        )

    @staticmethod
    def _stamp(st: os.stat_result) -> tuple[int, int, int]:
        return st.st_size, st.st_mtime_ns, st.st_ctime_ns

    def put(self, st: os.stat_result, digester: Digester) -> None:
        with self._lock:
            key = (st.st_dev, st.st_ino)
            self._entries[key] = (self._stamp(st), digester.copy())
            self._entries.move_to_end(key)
            while len(self._entries) > self.MAX_ENTRIES:
                self._entries.popitem(last=False)

    def take(self, st: os.stat_result, algorithm: Algorithm) -> Digester | None:
        with self._lock:
            entry = self._entries.pop((st.st_dev, st.st_ino), None)
        if entry is None:
            return None
        stamp, digester = entry
        if stamp != self._stamp(st) or digester.algorithm != algorithm:
            return None
        return digester

    def drop(self, st: os.stat_result) -> None:
        with self._lock:
            self._entries.pop((st.st_dev, st.st_ino), None)


HASHES: Final = _HashCache()


def hash_fd(fd: int, algorithm: Algorithm, limit: int | None = None) -> tuple[Digester, int]:
    """Hash ``fd`` from offset 0 up to ``limit`` bytes (or its end) in large chunks.

    From :data:`OVERLAP_MIN` bytes on, a helper thread reads the next chunks
    while this one hashes (both let go of the GIL), so re-hashing runs at the
    speed of the hash rather than of hash plus copy.

    :return: the digester and the number of bytes hashed.
    """
    digester = algorithm.digester()
    size = os.fstat(fd).st_size if limit is None else limit
    if size >= OVERLAP_MIN:
        return digester, _hash_overlapped(fd, digester, limit)
    buf = bytearray(HASH_CHUNK if limit is None else max(1, min(HASH_CHUNK, limit)))
    view = memoryview(buf)
    done = 0
    while limit is None or done < limit:
        want = len(view) if limit is None else min(len(view), limit - done)
        got = os.preadv(fd, [view[:want]], done)
        if not got:
            break
        digester.update(view[:got])
        done += got
    return digester, done


def _hash_overlapped(fd: int, digester: Digester, limit: int | None) -> int:
    """:func:`hash_fd`'s loop with reads in a helper thread; returns the bytes hashed."""
    free: queue.SimpleQueue[memoryview] = queue.SimpleQueue()
    full: queue.SimpleQueue[tuple[memoryview, int] | BaseException | None] = queue.SimpleQueue()
    for _ in range(3):
        free.put(memoryview(bytearray(HASH_CHUNK)))
    stop = threading.Event()

    def read() -> None:
        done = 0
        try:
            while not stop.is_set() and (limit is None or done < limit):
                buf = free.get()
                want = len(buf) if limit is None else min(len(buf), limit - done)
                got = os.preadv(fd, [buf[:want]], done)
                if not got:
                    break
                full.put((buf, got))
                done += got
        except BaseException as exc:  # handed to the hashing side
            full.put(exc)
            return
        full.put(None)

    reader = threading.Thread(target=read, name="aiocontent-rehash", daemon=True)
    reader.start()
    done = 0
    try:
        while (item := full.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            buf, got = item
            digester.update(buf[:got])
            done += got
            free.put(buf)
    finally:
        stop.set()
        free.put(memoryview(bytearray(0)))  # wakes a reader waiting for a buffer
        reader.join()
    return done


def _not_found_ingest(ref: str) -> NotFoundError:
    return NotFoundError(f'ingest ref "{ref}": {NotFoundError.kind_text}')


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
    return Opened(raw, -1, 0, algorithm.digester(), size, started, started)


def _resume_ingest(folder: str, ref: str, algorithm: Algorithm, size: int) -> Opened | None:
    """Resume the ingest in ``folder``; ``None`` when it is damaged (re-initialise it).

    :raises ~aiocontent.FailedPreconditionError: ``size`` differs from the stored total.
    """
    try:
        st = read_status(folder)
    except ContentError as exc:
        _log.warning("re-initialising damaged ingest %s for ref %r: %s", folder, ref, exc)
        return None
    if st.ref != ref:
        _log.warning("re-initialising ingest %s: it holds ref %r, not %r", folder, st.ref, ref)
        return None
    total = st.total
    if size > 0:
        if total > 0 and total != size:
            raise FailedPreconditionError(
                f'ingest ref "{ref}": stored total {total} differs from descriptor size '
                f"{size}: {FailedPreconditionError.kind_text}"
            )
        if total <= 0:
            write_file(os.path.join(folder, "total"), str(size).encode())
            total = size
    try:
        fd = _open_data(os.path.join(folder, "data"), os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        fst = os.fstat(fd)
        digester = HASHES.take(fst, algorithm)
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
            raise AlreadyExistsError(f"content {expected}: {AlreadyExistsError.kind_text}")
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
    hashed = algorithm.digester() if size == 0 else hash_fd(fd, algorithm, size)[0]
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
    """Close a writer: fsync and close ``data``, rewrite ``updatedat``, release the lock.

    Errors of fsync and ``updatedat`` are ignored as in containerd (the data
    stays resumable); the close error is raised after the lock is released.
    ``gone`` (the ingest was aborted) skips the bookkeeping and removes the lock file.
    """
    try:
        with contextlib.suppress(OSError):
            os.fsync(raw.fileno())
        if not gone:
            with contextlib.suppress(OSError):
                HASHES.put(os.fstat(raw.fileno()), digester)
        raw.close()
        if not gone:
            _fault.point("close:before-updatedat")
            try:
                write_timestamp(updatedat, updated_at)
            except OSError as exc:
                _log.warning("could not write %s: %s", updatedat, exc)
    finally:
        unlock_ref(lock_fd, remove=lock_path if gone else None)


def _remove_ingest(folder: str) -> None:
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


def publish(layout: Layout, src: str, dgst: Digest, labels: dict[str, str], stage: str) -> bool:
    """Publish the verified, read-only, synced file ``src`` as the blob ``dgst``.

    Under the blob's striped lock: write ``labels`` durably (or remove stale
    ones), rename ``src`` into ``blobs/<alg>/`` and fsync that folder (shared
    with concurrent publishers). Commit and put both publish through here, so
    a caller that finds the blob present never touches its labels. Fault
    points ``<stage>:after-labels`` and ``<stage>:after-rename`` are met on
    the way.

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
        else:
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
            if size > 0 and size != st.st_size:
                raise FailedPreconditionError(
                    f"unexpected commit size {st.st_size}, expected {size}: "
                    f"{FailedPreconditionError.kind_text}"
                )
            if want is not None and want.algorithm != digester.algorithm:
                digester = hash_fd(fd, want.algorithm)[0]
            dgst = digester.digest()
            if want is not None and dgst != want:
                raise FailedPreconditionError(
                    f"unexpected commit digest {dgst}, expected {want}: "
                    f"{FailedPreconditionError.kind_text}"
                )
            try:
                current = os.stat(data_path)
            except FileNotFoundError:
                current = None
            if current is None or not os.path.samestat(current, st):
                raise _not_found_ingest(ref)
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
            _remove_ingest(folder)
            raise AlreadyExistsError(f"content {dgst}: {AlreadyExistsError.kind_text}")
        made_read_only = None
        done = True
        _fault.point("commit:after-dirsync")
        _remove_ingest(folder)
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


def release_sync(raw: io.FileIO, lock_fd: int, lock_path: str | None) -> None:
    """Close ``data`` and release the file lock without touching the ingest."""
    try:
        raw.close()
    finally:
        unlock_ref(lock_fd, remove=lock_path)


# --------------------------------------------------------------------------- the writer


@final
class LocalWriter(AsyncResource):
    """The writer of one ingest of a :class:`~aiocontent.LocalStore`.

    Holds the ref (in-process and across processes) from
    :meth:`LocalStore.writer` until :meth:`aclose` or :meth:`commit`.
    """

    __slots__ = (
        "_aborted",
        "_behind",
        "_committed",
        "_digester",
        "_expected",
        "_file",
        "_guard",
        "_hexname",
        "_lock_fd",
        "_offset",
        "_open",
        "_ref",
        "_started_at",
        "_store",
        "_token",
        "_total",
        "_updated_at",
    )

    def __init__(
        self,
        store: LocalStore,
        ref: str,
        hexname: str,
        opened: Opened,
        data: DataFile,
        token: LockToken,
        expected: Digest | None,
    ) -> None:
        self._store = store
        self._ref = ref
        self._hexname = hexname
        self._file = data
        self._lock_fd = opened.lock_fd
        self._token = token
        self._expected = expected
        self._digester = opened.digester
        # Large chunks still being hashed; ``_digester`` is valid only when None.
        self._behind: HashBehind | None = None
        self._offset = opened.offset
        self._total = opened.total
        self._started_at = opened.started_at
        self._updated_at = opened.updated_at
        self._open = True
        self._committed = False
        self._aborted = False
        self._guard = anyio.ResourceGuard("using")

    def __repr__(self) -> str:
        state = "committed" if self._committed else "open" if self._open else "closed"
        return (
            f"<LocalStore writer ref={self._ref!r} offset={self._offset} total={self._total} "
            f"digest={'(hashing)' if self._behind else self._digester.digest()} {state}>"
        )

    # -- bookkeeping

    def mark_aborted(self) -> None:
        """Called by the store when ``abort`` removed this writer's ingest."""
        self._aborted = True

    def _forget(self) -> None:
        """Drop the in-process lock and registry entry (sync, cannot fail)."""
        store = self._store
        if store._writers.get(self._ref) is self:
            del store._writers[self._ref]
        store._locks.unlock(self._token)
        store._io.release()

    async def _release_gone(self) -> NotFoundError:
        """Close after the ingest was aborted; returns the error to raise."""
        self._open = False
        self._drop_behind()
        with anyio.CancelScope(shield=True):
            try:
                await self._store._io.run(
                    release_sync,
                    self._file.raw,
                    self._lock_fd,
                    self._store._layout.ref_lock_path(self._hexname),
                )
            finally:
                self._forget()
        return _not_found_ingest(self._ref)

    async def _usable(self, action: str) -> None:
        if not self._open:
            raise FailedPreconditionError(
                f"cannot {action} on closed writer for ref {self._ref!r}: "
                f"{FailedPreconditionError.kind_text}"
            )
        if self._aborted:
            raise await self._release_gone()

    # -- Writer

    async def write(self, data: bytes | bytearray | memoryview) -> int:
        """Append ``data``; applied fully or, when cancelled or failing, not at all.

        :return: the number of bytes written, ``len(data)``.
        :raises TypeError: ``data`` is not bytes-like.
        :raises ~aiocontent.FailedPreconditionError: the writer is closed or committed.
        :raises ~aiocontent.NotFoundError: the ingest was aborted (the ref is released).
        :raises anyio.BusyResourceError: another task is using this writer.
        :raises OSError: the disk refused the data (the ingest keeps its old content).
        """
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"data must be bytes-like, not {type(data).__name__}")
        with self._guard:
            await self._usable("write")
            n = data.nbytes if isinstance(data, memoryview) else len(data)
            if n == 0:
                await anyio.lowlevel.checkpoint()
                return 0
            if self._file.can_hash_behind(data):
                if self._behind is None:
                    self._behind = HashBehind(self._digester)
                await self._file.write_behind(data, self._behind, self._offset)
                self._offset += n
                self._updated_at = now()
                return n
            await self._settle()
            self._digester = await self._file.write(data, self._digester, self._offset)
            self._offset += n
            self._updated_at = now()
            return n

    async def _settle(self) -> None:
        """Wait for the chunks still being hashed; ``_digester`` is then complete."""
        behind, self._behind = self._behind, None
        if behind is not None:
            self._digester = await behind.drain()

    def _drop_behind(self) -> None:
        behind, self._behind = self._behind, None
        if behind is not None:
            behind.close()

    def digest(self) -> Digest:
        """The digest of everything written so far, resumed bytes included.

        Waits (briefly, at most a few MiB of hashing) for large chunks still
        being hashed behind their writes.
        """
        behind, self._behind = self._behind, None
        if behind is not None:
            self._digester = behind.drain_now()
        return self._digester.digest()

    async def status(self) -> Status:
        """The writer's view of the ingest, from memory; also after close or commit."""
        await anyio.lowlevel.checkpoint()
        return Status(
            ref=self._ref,
            offset=self._offset,
            total=self._total,
            expected=self._expected,
            started_at=self._started_at,
            updated_at=self._updated_at,
        )

    async def truncate(self, size: int) -> None:
        """Keep the first ``size`` bytes (``0 <= size <= offset``); all or nothing.

        :raises ~aiocontent.InvalidArgumentError: ``size`` is negative or past the offset.
        :raises ~aiocontent.FailedPreconditionError: the writer is closed or committed.
        :raises ~aiocontent.NotFoundError: the ingest was aborted (the ref is released).
        :raises anyio.BusyResourceError: another task is using this writer.
        """
        check_int(size, "truncate size")
        with self._guard:
            await self._usable("truncate")
            await self._settle()
            if not 0 <= size <= self._offset:
                raise InvalidArgumentError(
                    f"truncate size {size} of ref {self._ref!r} is out of range "
                    f"0..{self._offset}: {InvalidArgumentError.kind_text}"
                )
            self._digester = await self._store._io.run(
                truncate_sync, self._file.raw, size, self._offset, self._digester
            )
            self._offset = size

    async def commit(self, size: int = 0, expected: str = "", *opts: Opt) -> None:
        """Verify the ingest and publish it as a blob; the writer is closed afterwards.

        The ref is released whatever happens. A cancelled commit finishes its
        thread: the blob is committed or the ingest intact.

        :raises ~aiocontent.InvalidArgumentError: ``size < 0`` or ``expected``
            does not parse (the ingest stays).
        :raises ~aiocontent.FailedPreconditionError: size or digest mismatch (the
            ingest stays for resume), or the writer is already closed.
        :raises ~aiocontent.AlreadyExistsError: the blob exists; the ingest is removed.
        :raises ~aiocontent.NotFoundError: the ingest was aborted.
        :raises anyio.BusyResourceError: another task is using this writer.
        :raises OSError: syncing, the label write or the rename failed (the ingest stays).
        """
        with self._guard:
            if not self._open:
                raise FailedPreconditionError(
                    f"cannot commit on closed writer for ref {self._ref!r}: "
                    f"{FailedPreconditionError.kind_text}"
                )
            self._open = False
            store = self._store
            layout = store._layout
            ran = False
            try:
                check_int(size, "commit size")
                if size < 0:
                    raise InvalidArgumentError(
                        f"commit size {size} of ref {self._ref!r} must not be negative: "
                        f"{InvalidArgumentError.kind_text}"
                    )
                want = parse_digest_arg(expected, "expected") if expected != "" else None
                labels = resolve_opts(opts).labels
                if self._aborted:
                    raise _not_found_ingest(self._ref)
                await self._settle()
                ran = True
                # Shielded: once started, the commit runs to its end (a backend
                # may otherwise refuse to start the thread when already cancelled).
                with anyio.CancelScope(shield=True):
                    self._digester = await store._io.run(
                        commit_sync,
                        layout,
                        self._ref,
                        self._hexname,
                        self._file.raw,
                        self._lock_fd,
                        size,
                        want,
                        self._digester,
                        labels,
                    )
                self._committed = True
            except AlreadyExistsError:
                store._expected.pop(self._ref, None)
                raise
            finally:
                with anyio.CancelScope(shield=True):
                    try:
                        if not ran:
                            await store._io.run(
                                release_sync,
                                self._file.raw,
                                self._lock_fd,
                                layout.ref_lock_path(self._hexname) if self._aborted else None,
                            )
                    finally:
                        if self._committed:
                            store._expected.pop(self._ref, None)
                        self._drop_behind()
                        self._forget()

    async def aclose(self) -> None:
        """Close the writer and release the ref, keeping the ingest for resume.

        A second call, or a call after :meth:`commit`, does nothing.
        """
        if not self._open:
            await anyio.lowlevel.checkpoint()
            return
        self._open = False
        store = self._store
        with anyio.CancelScope(shield=True):
            try:
                if self._aborted:
                    self._drop_behind()
                else:
                    await self._settle()
                await store._io.run(
                    close_sync,
                    self._file.raw,
                    self._lock_fd,
                    os.path.join(store._layout.ingest_dir(self._hexname), "updatedat"),
                    self._updated_at,
                    self._digester,
                    self._aborted,
                    store._layout.ref_lock_path(self._hexname),
                )
            finally:
                self._forget()
