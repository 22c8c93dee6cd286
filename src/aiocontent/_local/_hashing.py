"""Re-hashing an ingest's or a blob's file, and the hash states kept between writers.

:func:`hash_fd` hashes a file in large chunks (reading and hashing overlapped
for large files); :data:`HASHES` keeps the hash state of writers closed in this
process so that reopening their ingest re-reads nothing.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections import OrderedDict
from typing import Final

from .._digest import Algorithm, Digester

__all__ = ("HASHES", "HASH_CHUNK", "OVERLAP_MIN", "hash_fd")

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
