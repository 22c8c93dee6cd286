"""Re-hashing an ingest's or a blob's file, and the hash states kept between writers.

:func:`hash_fd` hashes a file in large chunks (reading and hashing overlapped
for large files); :data:`HASHES` keeps the hash state of writers closed in this
process so that reopening their ingest re-reads nothing; :func:`save_state` and
:func:`take_state` do the same across processes with a SHA-256 state file in
the ingest folder (:data:`STATE_FILE`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import struct
import threading
from collections import OrderedDict
from typing import Final

from .._digest import SHA256, Algorithm, Digester
from .._sha256state import CTX_SIZE, digester_from_state, export_state, new_digester, state_length
from . import _fault
from ._layout import write_file

__all__ = (
    "HASHES",
    "HASH_CHUNK",
    "OVERLAP_MIN",
    "STATE_FILE",
    "drop_state",
    "hash_fd",
    "save_state",
    "take_state",
)

_log: Final = logging.getLogger("aiocontent")

#: Chunk size of re-hashing (resume, truncate, commit with another algorithm, verify).
HASH_CHUNK: Final = 4 << 20
#: Files from this size on are re-hashed with reading and hashing overlapped.
OVERLAP_MIN: Final = 16 << 20

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


# --------------------------------------------------------------------------- saved hash state

#: The ingest folder's file holding a closed writer's SHA-256 state; containerd,
#: which reads only ``ref``, ``data``, ``startedat``, ``updatedat`` and ``total``,
#: ignores it and removes it with the folder.
STATE_FILE: Final = "aiocontent-sha256state"

#: Magic, the data file's size, mtime_ns, ctime_ns, inode and device, and the
#: length of the ``updatedat`` text that follows; then the 112-byte
#: ``SHA256_CTX`` and a SHA-256 of everything before it.
_STATE_HEAD: Final = struct.Struct("<8sQqqQQH")
_STATE_MAGIC: Final = b"aiocsha1"
_STATE_MAX: Final = 1024


def _stamp(st: os.stat_result) -> tuple[int, int, int, int, int]:
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev


def _read_small(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read(_STATE_MAX)


def save_state(folder: str, st: os.stat_result, digester: Digester) -> None:
    """Save ``digester``'s state beside ``data`` (whose ``fstat`` is ``st``); best effort.

    Only a saveable SHA-256 (:mod:`aiocontent._sha256state`) that covers
    exactly ``st.st_size`` bytes is saved. The file records the data file's
    size, mtime_ns, ctime_ns, inode and device and the ``updatedat`` text, which
    :func:`take_state` checks. Not synced: a lost or torn file means a re-hash.
    """
    state = export_state(digester)
    if state is None or state_length(state) != st.st_size:
        return
    try:
        updated = _read_small(os.path.join(folder, "updatedat"))
        body = _STATE_HEAD.pack(_STATE_MAGIC, *_stamp(st), len(updated)) + updated + state
        _fault.point("close:before-hashstate")
        write_file(os.path.join(folder, STATE_FILE), body + hashlib.sha256(body).digest())
    except OSError as exc:
        _log.debug("could not save the hash state of %s: %s", folder, exc)


def drop_state(folder: str) -> None:
    """Remove a saved state (a re-initialised ingest); a missing one is fine."""
    try:
        os.unlink(os.path.join(folder, STATE_FILE))
    except FileNotFoundError:
        pass
    except OSError as exc:
        _log.debug("could not remove the hash state of %s: %s", folder, exc)


def take_state(folder: str, st: os.stat_result, algorithm: Algorithm) -> Digester | None:
    """The saved digester of ``data`` (whose ``fstat`` is ``st``), or ``None``; always consumes it.

    The file is removed before its state is used (a writer that resumes from it
    changes ``data``; a crash must not leave a state that could still look
    valid), and trusted only when it is intact and consistent and the data
    file's size, mtime_ns, ctime_ns, inode and device and the ``updatedat``
    text are those it recorded; otherwise the caller re-hashes.
    """
    path = os.path.join(folder, STATE_FILE)
    try:
        raw = _read_small(path)
        os.unlink(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        _log.debug("ignoring the hash state of %s: %s", folder, exc)
        return None
    if algorithm != SHA256:
        return None
    head, tail = _STATE_HEAD.size, CTX_SIZE + 32
    if len(raw) < head + tail:
        return None
    magic, *stamp, text_len = _STATE_HEAD.unpack_from(raw)
    body, check = raw[:-32], raw[-32:]
    if (
        magic != _STATE_MAGIC
        or len(raw) != head + text_len + tail
        or hashlib.sha256(body).digest() != check
        or tuple(stamp) != _stamp(st)
    ):
        return None
    try:
        if _read_small(os.path.join(folder, "updatedat")) != raw[head : head + text_len]:
            return None
    except OSError:
        return None
    state = body[-CTX_SIZE:]
    if state_length(state) != st.st_size:
        return None
    return digester_from_state(state)


# --------------------------------------------------------------------------- re-hashing


def hash_fd(fd: int, algorithm: Algorithm, limit: int | None = None) -> tuple[Digester, int]:
    """Hash ``fd`` from offset 0 up to ``limit`` bytes (or its end) in large chunks.

    From :data:`OVERLAP_MIN` bytes on, a helper thread reads the next chunks
    while this one hashes (both let go of the GIL), so re-hashing runs at the
    speed of the hash rather than of hash plus copy.

    :return: the digester (saveable for SHA-256 where OpenSSL allows it) and
        the number of bytes hashed.
    """
    digester = new_digester(algorithm)
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
