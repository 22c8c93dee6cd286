"""Cross-process locks of a content root: ``flock`` on files under ``<root>/locks/``.

A ref is locked by a non-blocking ``flock(LOCK_EX | LOCK_NB)`` on
``locks/<sha256 hex of ref>``, held for the writer's lifetime. ``flock`` (not
POSIX ``fcntl`` locks) conflicts between two descriptors of one process too,
so two store objects in one process exclude each other like two processes;
the kernel drops the lock when its holder dies, so a crash leaves none behind.
The holder writes its pid and lock time into the file, so that a refused
caller can say since when the ref is held.

A lock file may be removed by the holder (after a commit or an abort): every
taker checks, after locking, that the path still names the file it locked,
and starts over otherwise.

``meta.<xx>`` files are blocking, short-lived locks striped by digest prefix:
they serialise label changes, deletes and the publishing step of commits.

Everything here is synchronous and runs in worker threads.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from datetime import UTC, datetime

from .._messages import ref_locked
from ._layout import DIR_MODE, format_timestamp, parse_timestamp

__all__ = ("exclusive", "lock_ref", "try_lock_ref", "unlock_ref")

_LOCK_MODE = 0o644


def _open_locked(path: str, flags: int) -> int | None:
    """Open and ``flock`` ``path``; ``None`` when the non-blocking lock is refused."""
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, _LOCK_MODE)
        except FileNotFoundError:
            os.makedirs(os.path.dirname(path), DIR_MODE, exist_ok=True)
            continue
        try:
            fcntl.flock(fd, flags)
        except BlockingIOError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        except BaseException:
            os.close(fd)
            raise
        if same:
            return fd
        # The previous holder removed the file after we opened it: start over.
        os.close(fd)


def _holder_since(path: str) -> datetime | None:
    try:
        with open(path, "rb") as f:
            _pid, _, stamp = f.read(128).decode("ascii").strip().partition(" ")
        return parse_timestamp(stamp)
    except (OSError, ValueError):
        return None


def lock_ref(path: str, ref: str) -> int:
    """Take the cross-process lock of ``ref`` at ``path`` without waiting.

    :return: the descriptor holding the lock; pass it to :func:`unlock_ref`.
    :raises ~aiocontent.UnavailableError: another store object or process holds it;
        the message says since when.
    """
    fd = _open_locked(path, fcntl.LOCK_EX | fcntl.LOCK_NB)
    if fd is None:
        since = _holder_since(path)
        now = datetime.now(UTC)
        if since is None:
            since = now
        elapsed = max(0.0, (now - since).total_seconds())
        raise ref_locked(ref, since, elapsed)
    try:
        stamp = f"{os.getpid()} {format_timestamp(datetime.now(UTC))}\n".encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, stamp, 0)
    except OSError:
        pass  # the holder note is informative only
    return fd


def try_lock_ref(path: str) -> int | None:
    """Like :func:`lock_ref` but returns ``None`` when held (no note written)."""
    return _open_locked(path, fcntl.LOCK_EX | fcntl.LOCK_NB)


def unlock_ref(fd: int, remove: str | None = None) -> None:
    """Release a ref lock; with ``remove``, delete its file first (while still held)."""
    if remove is not None:
        with contextlib.suppress(OSError):
            os.unlink(remove)
    os.close(fd)


@contextlib.contextmanager
def exclusive(path: str) -> Iterator[None]:
    """Hold the blocking lock ``path`` (created if needed) for the block."""
    fd = _open_locked(path, fcntl.LOCK_EX)
    assert fd is not None
    try:
        yield
    finally:
        os.close(fd)
