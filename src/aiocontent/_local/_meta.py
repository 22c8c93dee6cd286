"""Durable blob metadata: labels and the recorded ``updated_at``, one file per blob.

``<root>/meta/<alg>/<encoded>`` holds compact JSON,
``{"labels": {...}, "updated_at": "<RFC 3339>"}``, both keys optional; a
missing file means no labels and no recorded time. It lives outside
``blobs/``, so containerd still reads the layout.

Writes are atomic and durable: a uniquely named temporary file in the same
folder is written and fsynced, renamed over the target, and the folder is
fsynced. A reader therefore sees the old or the new file, never a mix, after
any crash. A file that would hold nothing is removed instead.

Read-modify-write (``update`` of single keys), deletes and the publishing step
of a commit run under the blob's striped lock (:func:`._flock.exclusive`), so
changes from several store objects or processes do not overwrite each other.

Everything here is synchronous and runs in worker threads, except
:func:`sync_folder`, which a put awaits on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Final

import anyio

from .._fileio import on_asyncio
from ._fault import point
from ._layout import DIR_MODE, format_timestamp, parse_timestamp

__all__ = (
    "META_CACHE",
    "Meta",
    "MetaCache",
    "fsync_dir",
    "read_meta",
    "remove_meta",
    "replace_file",
    "sync_folder",
    "write_meta",
)

_log: Final = logging.getLogger("aiocontent")


class Meta:
    """The metadata of one blob."""

    __slots__ = ("labels", "updated_at")

    def __init__(self, labels: dict[str, str] | None = None, updated_at: datetime | None = None):
        self.labels: dict[str, str] = labels if labels is not None else {}
        self.updated_at = updated_at

    def encode(self) -> bytes:
        doc: dict[str, object] = {}
        if self.labels:
            doc["labels"] = self.labels
        if self.updated_at is not None:
            doc["updated_at"] = format_timestamp(self.updated_at)
        return json.dumps(doc, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()

    @property
    def empty(self) -> bool:
        return not self.labels and self.updated_at is None


def read_meta(path: str) -> Meta:
    """The metadata at ``path``; empty when the file is missing.

    A damaged file (impossible through this module's atomic writes, possible
    after disk corruption or hand edits) is logged and read as empty.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return Meta()
    try:
        parts = []
        while part := os.read(fd, 1 << 16):
            parts.append(part)
    finally:
        os.close(fd)
    try:
        doc = json.loads(b"".join(parts))
        if not isinstance(doc, dict):
            raise ValueError("not a JSON object")
        labels = doc.get("labels") or {}
        if not isinstance(labels, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
        ):
            raise ValueError("labels is not an object of strings")
        stamp = doc.get("updated_at")
        updated = parse_timestamp(stamp) if isinstance(stamp, str) else None
    except ValueError as exc:
        _log.warning("ignoring damaged label file %s: %s", path, exc)
        return Meta()
    return Meta(dict(labels), updated)


class MetaCache:
    """Parsed metadata files, keyed by path and checked against the file's stat.

    An entry is used only while the file's inode, size, mtime and ctime are
    unchanged, so a change by any store object or process (always a rename of
    a new file) is seen. Bounded; shared by the process; used from threads.
    """

    MAX_ENTRIES: Final = 1 << 16

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[tuple[int, int, int, int], Meta]] = {}

    def get(self, path: str, st: os.stat_result) -> Meta:
        """The metadata at ``path``, whose current stat is ``st`` (read on a miss)."""
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        with self._lock:
            hit = self._entries.get(path)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        meta = read_meta(path)
        with self._lock:
            if len(self._entries) >= self.MAX_ENTRIES:
                self._entries.clear()
            self._entries[path] = (stamp, meta)
        return meta


#: The process's cache of metadata files (``walk`` reads through it).
META_CACHE: Final = MetaCache()


def _fsync_dir_now(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _FolderSyncs:
    """Group commit of folder fsyncs, shared by every store object of the process.

    A caller that changed a folder (a rename, an unlink) needs an fsync of that
    folder that *started after* its change. While one fsync of a folder runs,
    later callers wait for it to end and then share the next one: N concurrent
    commits into ``blobs/sha256`` cost about two folder fsyncs instead of N,
    and every caller still returns only after a sync that covers its change.
    A failed fsync satisfies nobody: each waiter then runs its own.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        # folder -> [fsyncs started, last fsync that succeeded, running]
        self._state: dict[str, list[int]] = {}

    def sync(self, path: str) -> None:
        """Return once an fsync of ``path`` that started after this call has succeeded.

        :raises OSError: the fsync this caller ran failed.
        """
        cond = self._cond
        with cond:
            state = self._state.setdefault(path, [0, 0, 0])
            # The next fsync to start is the first one that covers our change.
            target = state[0] + 1
            while state[1] < target:
                if state[2]:
                    cond.wait()
                    continue
                state[2] = 1
                state[0] += 1
                mine = state[0]
                ok = False
                cond.release()
                try:
                    _fsync_dir_now(path)
                    ok = True
                finally:
                    cond.acquire()
                    state[2] = 0
                    if ok:
                        state[1] = max(state[1], mine)
                    cond.notify_all()
            if not state[2] and len(self._state) > 256 and self._state.get(path) is state:
                # Forget idle folders (a long-lived process may see many roots).
                # Another caller that shared this state may have forgotten it already.
                del self._state[path]


_FOLDER_SYNCS: Final = _FolderSyncs()


def fsync_dir(path: str) -> None:
    """fsync a folder so that renames and removals in it made before the call are durable.

    Concurrent calls for one folder share fsyncs (group commit), never one
    that started before the caller's change.
    """
    _FOLDER_SYNCS.sync(path)


class _BackgroundSyncs:
    """Folder fsyncs that async callers await without holding a worker thread.

    :meth:`request` queues a folder; one daemon thread (started on demand, gone
    after a second idle) takes everything queued, runs :func:`fsync_dir` for
    each folder (a sync that starts after the request, shared with the thread
    side's group commit) and reports to every requester through its callback.
    While it syncs, new requests gather, so N puts renaming into one folder
    cost a handful of folder fsyncs and keep no worker thread waiting.
    """

    IDLE_SECONDS: Final = 1.0

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Start empty; also in a forked child, whose parent's thread did not come along."""
        self._cond = threading.Condition(threading.Lock())
        self._pending: dict[str, list[Callable[[OSError | None], None]]] = {}
        self._running = False

    def request(self, path: str, done: Callable[[OSError | None], None]) -> None:
        """Call ``done(None)`` from another thread once ``path`` is synced, or with the error.

        ``done`` must not block (it only hands the result to an event loop).
        """
        with self._cond:
            self._pending.setdefault(path, []).append(done)
            if self._running:
                self._cond.notify()
                return
            self._running = True
        threading.Thread(target=self._run, name="aiocontent-folder-sync", daemon=True).start()

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._pending:
                    self._cond.wait(self.IDLE_SECONDS)
                    if not self._pending:
                        self._running = False
                        return
                batch, self._pending = self._pending, {}
            for path, waiters in batch.items():
                error: OSError | None = None
                try:
                    fsync_dir(path)
                except OSError as exc:
                    error = exc
                for done in waiters:
                    try:
                        done(error)
                    except Exception:  # a closed event loop: its caller is gone
                        _log.debug("folder sync: could not report to a caller", exc_info=True)


_BACKGROUND: Final = _BackgroundSyncs()
os.register_at_fork(after_in_child=_BACKGROUND.reset)


async def sync_folder(path: str) -> None:
    """Return once an fsync of the folder ``path`` that started after this call succeeded.

    Runs on the event loop (asyncio or trio); the fsync runs in a shared
    background thread, batched with other callers'. Waits even when cancelled
    (the cancellation is raised at the caller's next checkpoint).

    :raises OSError: the fsync failed.
    """
    event = anyio.Event()
    outcome: list[OSError | None] = []
    call_soon: Callable[[Callable[[], object]], object]
    if on_asyncio():
        call_soon = asyncio.get_running_loop().call_soon_threadsafe
    else:
        import trio  # only on the trio backend

        call_soon = trio.lowlevel.current_trio_token().run_sync_soon

    def done(error: OSError | None) -> None:
        outcome.append(error)
        call_soon(event.set)

    _BACKGROUND.request(path, done)
    with anyio.CancelScope(shield=True):
        await event.wait()
    if outcome[0] is not None:
        raise outcome[0]


def replace_file(path: str, data: bytes, tmp: str, fault: str) -> None:
    """Replace ``path`` by ``data`` atomically: ``tmp`` is written, fsynced, renamed over it.

    ``tmp`` must be a new name in the folder of ``path``; ``fault`` names the
    crash-injection point between the fsync and the rename. The folder is not
    fsynced: call :func:`fsync_dir` to make the rename durable.

    :raises OSError: the write failed; ``tmp`` is removed, the old file intact.
    """
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        point(fault)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_meta(path: str, meta: Meta) -> None:
    """Replace the metadata at ``path`` atomically and durably (or remove it when empty).

    :raises OSError: the write failed; the old file, if any, is intact.
    """
    if meta.empty:
        remove_meta(path)
        return
    folder = os.path.dirname(path)
    os.makedirs(folder, DIR_MODE, exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
    replace_file(path, meta.encode(), tmp, "meta:before-rename")
    fsync_dir(folder)


def remove_meta(path: str) -> bool:
    """Remove the metadata at ``path`` durably; ``False`` when there was none."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    fsync_dir(os.path.dirname(path))
    return True
