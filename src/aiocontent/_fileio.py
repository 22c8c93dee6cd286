"""The one seam between the stores and worker threads; the only user of aiofiles.

Blocking file work never runs on the event loop. It goes through a
:class:`FileIO` that each store owns:

- :meth:`FileIO.run` runs a whole logical operation (a commit's fsync, checks,
  rename and directory fsync; a writer's open or resume) as *one* call in a
  worker thread;
- :class:`DataFile` moves data chunks of an ingest, and :meth:`FileIO.pread`
  reads a blob at an offset.

Under asyncio, data chunks go through aiofiles and everything runs on the
store's own :class:`~concurrent.futures.ThreadPoolExecutor`. aiofiles cannot run
under trio, so there (and under any other anyio backend) the same functions run
through :func:`anyio.to_thread.run_sync` with the store's own
:class:`~anyio.CapacityLimiter` instead of anyio's shared default. The code
above this module is the same on both paths.

Three things keep large transfers near the machine's limits:

- reads whose bytes are already in the page cache are copied out on the event
  loop with ``preadv(RWF_NOWAIT)``, which cannot block (the kernel refuses
  rather than going to the disk); everything else takes a thread trip. The
  kernel copies straight into the ``bytes`` object handed back (one copy, as
  ``os.pread`` does), not into a buffer copied again;
- under asyncio, a large chunk is hashed on the store's executor while
  aiofiles writes it, so both cores stay busy; the write returns once both
  are done, so a writer's digest is always complete and ``Writer.digest()``
  never waits;
- while a writer's data grows, writeback of what it wrote is started every
  :data:`WRITEBACK_STEP` bytes (``sync_file_range``), so the commit's fsync
  finds little left to do.

Every call waits for its thread to finish even when the caller is cancelled
(the cancellation is delivered at the next checkpoint): a call applies fully
or, if it fails, as its function decides; a thread never outlives the await
that started it. The
executor is created on first use and shut down by :meth:`FileIO.close` once
no writer or reader still uses it.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import functools
import io
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Final, TypeAlias, TypeVar

import aiofiles.os
import aiofiles.threadpool
import anyio
import anyio.to_thread
from anyio.lowlevel import RunVar

from ._digest import Digester
from ._sha256state import keeps_gil

if TYPE_CHECKING:
    from aiofiles.threadpool.binary import AsyncFileIO

__all__ = (
    "HASH_INLINE_MAX",
    "DataFile",
    "Fault",
    "FileIO",
    "on_asyncio",
    "pread_full",
    "rollback",
    "write_all",
)

T = TypeVar("T")

#: A crash-injection hook called with a point name (see ``_local/_fault.py``).
Fault: TypeAlias = Callable[[str], None]

#: Chunks up to this size are hashed on the event loop (asyncio path); larger ones
#: in a worker thread, in parallel with their write.
HASH_INLINE_MAX: Final = 64 * 1024

#: Reads up to this size are tried from the page cache on the event loop first.
NOWAIT_MAX: Final = 4 << 20

#: Page-cache reads on the event loop yield to other tasks at least this often
#: (seconds); in between they only check for cancellation, as a yield costs
#: several microseconds, a sixth of the copy of a 1 MiB chunk.
LOOP_SLICE: Final = 0.0005

_RWF_NOWAIT: Final[int | None] = getattr(os, "RWF_NOWAIT", None)


def _load_new_bytes() -> Callable[[int], tuple[bytes, ctypes.Array[ctypes.c_char]]] | None:
    """A maker of fresh ``bytes`` of a given size plus a writable view of their storage.

    This is how ``os.pread`` builds its result (``PyBytes_FromStringAndSize``
    with no source, then a read into it); the object is not shared until it is
    returned, so filling it first is safe. ``None`` where the C API is not
    reachable (not CPython) or the layout check fails; callers then copy.
    """
    if sys.implementation.name != "cpython":
        return None
    try:
        new = ctypes.pythonapi.PyBytes_FromStringAndSize
    except AttributeError:
        return None
    new.restype = ctypes.py_object
    new.argtypes = (ctypes.c_char_p, ctypes.c_ssize_t)
    start = bytes.__basicsize__ - 1  # offsetof(PyBytesObject, ob_sval)

    def new_bytes(n: int) -> tuple[bytes, ctypes.Array[ctypes.c_char]]:
        data: bytes = new(None, n)
        return data, (ctypes.c_char * n).from_address(id(data) + start)

    probe, view = new_bytes(4)
    ctypes.memmove(view, b"\x01\x02\x03\x04", 4)
    return new_bytes if probe == b"\x01\x02\x03\x04" else None


#: Fresh ``bytes`` that a read can fill in place (CPython), else ``None``.
_new_bytes: Final = _load_new_bytes()

#: Worker threads of one store: enough to overlap hashing and writing of a few
#: writers, few enough not to crowd a small machine.
DEFAULT_WORKERS: Final = min(16, (os.cpu_count() or 1) + 4)


def on_asyncio() -> bool:
    """``True`` when the caller is an asyncio task (aiofiles can run)."""
    try:
        return asyncio.current_task() is not None
    except RuntimeError:
        return False


def write_all(raw: io.FileIO, view: memoryview) -> None:
    """Write all of ``view`` at the file position, looping over short writes.

    :raises OSError: the write failed (a zero-byte write counts as a full disk).
    """
    while view:
        n = raw.write(view)
        if not n:
            raise OSError(28, "No space left on device (zero-byte write)")
        view = view[n:]


def pread_full(fd: int, n: int, offset: int) -> bytes:
    """Up to ``n`` bytes at ``offset``; fewer only at the end of the file."""
    first = os.pread(fd, n, offset)
    if len(first) == n or not first:
        return first
    parts = [first]
    got = len(first)
    while got < n:
        more = os.pread(fd, n - got, offset + got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def rollback(raw: io.FileIO, offset: int) -> None:
    """Cut ``raw`` back to ``offset`` after a failed write (best effort)."""
    try:
        os.ftruncate(raw.fileno(), offset)
        raw.seek(offset)
    except OSError:
        pass


def _load_start_writeback() -> Callable[[int, int, int], None] | None:
    """``sync_file_range(SYNC_FILE_RANGE_WRITE)`` where the C library has it, else ``None``."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    fn.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
    fn.restype = ctypes.c_int

    def start_writeback(fd: int, offset: int, length: int) -> None:
        fn(fd, offset, length, 2)  # SYNC_FILE_RANGE_WRITE: start, do not wait

    return start_writeback


#: Starts writing a range of dirty pages to the disk without waiting (Linux).
_start_writeback: Final = _load_start_writeback()

#: A writer's data is handed to the disk in steps of this size while it is
#: written (``sync_file_range``), so the fsync of the commit finds little left:
#: the disk works while the rest is hashed and written.
WRITEBACK_STEP: Final = 16 << 20


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to start writing ``length`` bytes at ``offset`` back (best effort)."""
    if _start_writeback is not None and length > 0:
        _start_writeback(fd, offset, length)


def _write_and_hash(
    raw: io.FileIO,
    view: memoryview,
    digester: Digester,
    offset: int,
    fault: Fault | None,
    flush_from: int,
) -> Digester:
    """Append ``view`` and return a new digester that includes it (one thread trip).

    On failure the file is cut back to ``offset`` and the old digester is kept
    by the caller, so a write applies fully or not at all. Writeback of the
    bytes from ``flush_from`` to the end of ``view`` starts too.
    """
    try:
        write_all(raw, view)
    except BaseException:
        rollback(raw, offset)
        raise
    if fault is not None:
        fault("write:after-data")
    start_writeback(raw.fileno(), flush_from, offset + len(view) - flush_from)
    hashed = digester.copy()
    hashed.update(view)
    return hashed


def _hash_copy(
    digester: Digester, view: memoryview, fd: int = -1, flush_from: int = 0, flush_to: int = 0
) -> Digester:
    """A new digester including ``view``; also starts writeback of ``flush_from..flush_to``."""
    if fd >= 0:
        start_writeback(fd, flush_from, flush_to - flush_from)
    hashed = digester.copy()
    hashed.update(view)
    return hashed


#: hashlib lets go of the GIL for updates of this many bytes or more.
_GIL_FREE_HASH: Final = 2048


def hash_inline(digester: Digester, view: memoryview) -> Digester:
    """:func:`_hash_copy` for small chunks on the event loop, keeping the GIL.

    hashlib releases the GIL for updates of 2 KiB or more; on a busy process
    taking it back costs far more than hashing a few KiB, so the chunk is fed
    in pieces small enough to be hashed without letting go. A saveable SHA-256
    (:mod:`._sha256state`) keeps the GIL for such chunks itself and takes the
    chunk in one call.
    """
    hashed = digester.copy()
    if keeps_gil(hashed):
        hashed.update(view)
        return hashed
    step = _GIL_FREE_HASH - 1
    for start in range(0, len(view), step):
        hashed.update(view[start : start + step])
    return hashed


class FileIO:
    """A store's worker threads: an executor (asyncio) and a limiter (other backends)."""

    __slots__ = (
        "_closing",
        "_executor",
        "_limiter",
        "_nowait",
        "_users",
        "_yielded",
        "fault",
        "max_workers",
    )

    def __init__(self, max_workers: int = DEFAULT_WORKERS, fault: Fault | None = None) -> None:
        self.max_workers = max_workers
        #: Whether page-cache reads on the event loop work here.
        self._nowait = True
        #: When a page-cache read last yielded to the event loop (``time.monotonic``).
        self._yielded = 0.0
        #: Called at named points of the data path when crash injection is on.
        self.fault = fault
        self._executor: ThreadPoolExecutor | None = None
        # A limiter belongs to the event loop that made it: keep one per run.
        self._limiter: RunVar[anyio.CapacityLimiter] = RunVar(f"aiocontent-limiter-{id(self)}")
        self._users = 0
        self._closing = False

    def executor(self) -> ThreadPoolExecutor:
        """The store's executor, created on first use (and again if used after close)."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=self.max_workers, thread_name_prefix="aiocontent"
            )
        return self._executor

    def _get_limiter(self) -> anyio.CapacityLimiter:
        try:
            return self._limiter.get()
        except LookupError:
            limiter = anyio.CapacityLimiter(self.max_workers)
            self._limiter.set(limiter)
            return limiter

    def retain(self) -> None:
        """Keep the threads alive for a writer or reader until :meth:`release`."""
        self._users += 1

    def release(self) -> None:
        """Undo one :meth:`retain`; the last one after :meth:`close` shuts down.

        A call that runs after :meth:`close` (through a writer or reader opened
        before) recreates the executor if needed and shuts it down again when
        it ends, so no thread outlives its last user.
        """
        self._users -= 1
        if self._closing and self._users <= 0:
            self._shutdown()

    def close(self) -> None:
        """Shut the executor down now, or when the last user releases it."""
        self._closing = True
        if self._users <= 0:
            self._shutdown()

    def _shutdown(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False)

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """Run ``fn(*args)`` in a worker thread and return its result.

        Waits for the thread even when cancelled (the cancellation is raised
        at the caller's next checkpoint), so ``fn`` always runs to its end.
        """
        self._users += 1
        try:
            if on_asyncio():
                loop = asyncio.get_running_loop()
                future = loop.run_in_executor(self.executor(), functools.partial(fn, *args))
                with anyio.CancelScope(shield=True):
                    return await future
            return await anyio.to_thread.run_sync(fn, *args, limiter=self._get_limiter())
        finally:
            self.release()

    async def pread(self, fd: int, n: int, offset: int) -> bytes:
        """Read up to ``n`` bytes of ``fd`` at ``offset``.

        Bytes already in the page cache are copied out on the event loop with
        ``RWF_NOWAIT``, which never blocks: the kernel refuses instead of going
        to the disk. Anything else takes one trip to a worker thread (aiofiles
        under asyncio). A cached read checks for cancellation, and yields to
        other tasks once :data:`LOOP_SLICE` has passed since the last time.
        """
        cached = self._pread_cached(fd, n, offset)
        if cached is not None:
            if time.monotonic() - self._yielded < LOOP_SLICE:
                await anyio.lowlevel.checkpoint_if_cancelled()
            else:
                await anyio.lowlevel.checkpoint()
                self._yielded = time.monotonic()
            return cached
        if on_asyncio():
            self._users += 1
            try:
                with anyio.CancelScope(shield=True):
                    return await _apread(fd, n, offset, executor=self.executor())
            finally:
                self.release()
        return await self.run(pread_full, fd, n, offset)

    def _pread_cached(self, fd: int, n: int, offset: int) -> bytes | None:
        """All ``n`` bytes at ``offset`` if the page cache has them, else ``None``; never blocks.

        The kernel copies into the object returned (see :func:`_load_new_bytes`).
        """
        if _RWF_NOWAIT is None or not self._nowait or n > NOWAIT_MAX or n <= 0:
            return None
        data: bytes | None = None
        target: ctypes.Array[ctypes.c_char] | bytearray
        if _new_bytes is not None and n > 1:  # size 1 may be a shared object
            data, target = _new_bytes(n)
        else:
            target = bytearray(n)
        try:
            got = os.preadv(fd, [target], offset, _RWF_NOWAIT)
        except BlockingIOError:
            return None
        except OSError as exc:
            if exc.errno in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                self._nowait = False  # this kernel or file system cannot do it
            return None  # the thread path reads again and reports real errors
        if got < n:
            return None  # partly cached, or at the end: let the thread path decide
        return bytes(target) if data is None else data

    def data_file(self, raw: io.FileIO) -> DataFile:
        """Wrap an open, unbuffered ingest ``data`` file (aiofiles under asyncio)."""
        afile = None
        if on_asyncio():
            afile = aiofiles.threadpool.wrap(
                raw, loop=asyncio.get_running_loop(), executor=self.executor()
            )
        return DataFile(self, raw, afile)


_apread = aiofiles.os.wrap(pread_full)


class DataFile:
    """An ingest's open ``data`` file, written at its file position.

    ``raw`` is the underlying unbuffered :class:`io.FileIO`; whole-operation
    functions run through :meth:`FileIO.run` use it directly.
    """

    __slots__ = ("_afile", "_flushed", "_io", "raw")

    def __init__(self, fileio: FileIO, raw: io.FileIO, afile: AsyncFileIO | None) -> None:
        self._io = fileio
        self.raw = raw
        self._afile = afile
        # Bytes before this offset were handed to the disk (writeback started).
        self._flushed = 0

    def _flush_from(self, offset: int) -> int:
        """Where writeback should start from when the data before ``offset`` is due, or ``offset``.

        Writeback starts once :data:`WRITEBACK_STEP` bytes have gathered.
        """
        if offset < self._flushed:
            self._flushed = offset  # truncated meanwhile
        if offset - self._flushed < WRITEBACK_STEP:
            return offset
        start, self._flushed = self._flushed, offset
        return start

    async def write(
        self, data: bytes | bytearray | memoryview, digester: Digester, offset: int
    ) -> Digester:
        """Append ``data`` at ``offset`` (the file position) and hash it.

        Returns a new :class:`Digester` that includes ``data``; ``digester``
        itself is left unchanged. Applies fully or not at all: on failure the
        file is cut back to ``offset``. Under asyncio the chunk goes through
        aiofiles and large chunks are hashed in a second thread meanwhile;
        otherwise writing and hashing are one thread trip.

        :raises OSError: the write failed.
        """
        view = memoryview(data)
        if view.ndim != 1 or view.itemsize != 1:
            view = view.cast("B")
        afile = self._afile
        if afile is None or not on_asyncio():
            return await self._io.run(
                _write_and_hash,
                self.raw,
                view,
                digester,
                offset,
                self._io.fault,
                self._flush_from(offset + len(view)),
            )
        with anyio.CancelScope(shield=True):
            if len(view) <= HASH_INLINE_MAX:
                await self._awrite_all(afile, view, offset)
                return hash_inline(digester, view)
            loop = asyncio.get_running_loop()
            self._io.retain()
            try:
                # Writeback of what earlier writes put in the file starts meanwhile.
                flush_from = self._flush_from(offset)
                hashing = loop.run_in_executor(
                    self._io.executor(),
                    _hash_copy,
                    digester,
                    view,
                    self.raw.fileno(),
                    flush_from,
                    offset,
                )
                written, hashed = await asyncio.gather(
                    self._awrite_all(afile, view, offset), hashing, return_exceptions=True
                )
            finally:
                self._io.release()
            if isinstance(written, BaseException):
                raise written
            if isinstance(hashed, BaseException):
                await self._io.run(rollback, self.raw, offset)
                raise hashed
        assert isinstance(hashed, Digester)
        return hashed

    async def _awrite_all(self, afile: AsyncFileIO, view: memoryview, offset: int) -> None:
        try:
            while view:
                n = await afile.write(view)
                if not n:
                    raise OSError(28, "No space left on device (zero-byte write)")
                view = view[n:]
        except BaseException:
            await self._io.run(rollback, self.raw, offset)
            raise
        if self._io.fault is not None:
            self._io.fault("write:after-data")
