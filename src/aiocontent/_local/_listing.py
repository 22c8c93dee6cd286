"""Folder listings of a content root, cached per folder and validated by the folder's stat.

``walk`` reads ``blobs/``, ``blobs/<alg>/`` and ``meta/<alg>/`` through a
:class:`FolderCache`. A cached listing is reused only while the folder's
device, inode, mtime, ctime and size are those seen when it was taken: every
change a store object or process makes there (a rename into the folder, an
unlink) moves the folder's mtime, so the next walk of any process sees it.
What a listing holds about an entry needs no re-stat: committed blobs never
change in place (a new blob is a rename, a deletion an unlink) and label files
are always replaced by a rename.

Racy timestamps (as git's index handles them): the kernel stamps a folder with
a coarse clock, so two changes within one tick can leave the same mtime. A
listing is therefore kept only when the folder's last change is more than
:data:`RACY_NS` older than the moment the listing started; one taken sooner
after a change is used once and taken again by the next walk. Any change made
after a kept listing started gets a later stamp (the coarse clock lags the
real one by at most a tick), so it is always seen. This holds for local
filesystems; on a network filesystem whose timestamps come from a server's
clock, it holds only as far as that clock agrees with this machine's.

Everything here is synchronous and runs in worker threads.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Final, Generic, TypeAlias, TypeVar

__all__ = ("RACY_NS", "FolderCache")

T = TypeVar("T")

#: A listing started less than this after its folder's last change is not kept (ns).
#: Far above the kernel's coarse clock tick (1-10 ms).
RACY_NS: Final = 50_000_000

#: What identifies one state of a folder: device, inode, mtime, ctime and size.
_Key: TypeAlias = tuple[int, int, int, int, int]


def _key(st: os.stat_result) -> _Key:
    return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size)


class FolderCache(Generic[T]):
    """Values built from a folder's listing, kept while the folder is unchanged.

    Shared by the store objects of a process; used from threads. A value must
    never be changed once built: several walks share it.

    :param clock: the wall clock in nanoseconds (tests pass their own).
    :param margin_ns: see :data:`RACY_NS`.
    """

    MAX_FOLDERS: Final = 256

    def __init__(self, clock: Callable[[], int] = time.time_ns, margin_ns: int = RACY_NS) -> None:
        self._clock = clock
        self._margin = margin_ns
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[_Key, T]] = {}

    def get(self, path: str, build: Callable[[str], T]) -> T | None:
        """The value of the folder ``path``: cached, or ``build(path)`` taken now.

        :return: ``None`` when ``path`` does not exist or is not a folder.
        :raises OSError: ``build`` failed (nothing is cached).
        """
        try:
            before = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            self.forget(path)
            return None
        key = _key(before)
        with self._lock:
            hit = self._entries.get(path)
        if hit is not None and hit[0] == key:
            return hit[1]
        started = self._clock()
        value = build(path)
        try:
            after = os.stat(path)
        except OSError:
            after = None
        changed = max(before.st_mtime_ns, before.st_ctime_ns)
        if after is not None and _key(after) == key and started - changed > self._margin:
            with self._lock:
                if len(self._entries) >= self.MAX_FOLDERS:
                    self._entries.clear()
                self._entries[path] = (key, value)
        else:
            self.forget(path)
        return value

    def forget(self, path: str) -> None:
        """Drop what is cached for ``path``."""
        with self._lock:
            self._entries.pop(path, None)
