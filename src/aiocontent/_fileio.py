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

Every call waits for its thread to finish even when the caller is cancelled
(the cancellation is delivered at the next checkpoint): a call applies fully
or, if it fails, as its function decides; a thread never outlives the await
that started it. The executor is created on first use and shut down by
:meth:`FileIO.close` once no writer or reader still uses it.
"""

from __future__ import annotations

import asyncio
import functools
import io
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Final, TypeAlias, TypeVar

import aiofiles.os
import aiofiles.threadpool
import anyio
import anyio.to_thread
from anyio.lowlevel import RunVar

from ._digest import Digester

if TYPE_CHECKING:
    from aiofiles.threadpool.binary import AsyncFileIO

__all__ = (
    "HASH_INLINE_MAX",
    "DataFile",
    "Fault",
    "FileIO",
    "on_asyncio",
    "pread_full",
    "write_all",
)

T = TypeVar("T")

#: A crash-injection hook called with a point name (see ``_local/_fault.py``).
Fault: TypeAlias = Callable[[str], None]

#: Chunks up to this size are hashed on the event loop (asyncio path); larger ones
#: in a worker thread, in parallel with their write.
HASH_INLINE_MAX: Final = 64 * 1024

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


def _rollback(raw: io.FileIO, offset: int) -> None:
    """Cut ``raw`` back to ``offset`` after a failed write (best effort)."""
    try:
        os.ftruncate(raw.fileno(), offset)
        raw.seek(offset)
    except OSError:
        pass


def _write_and_hash(
    raw: io.FileIO, view: memoryview, digester: Digester, offset: int, fault: Fault | None
) -> Digester:
    """Append ``view`` and return a new digester that includes it (one thread trip).

    On failure the file is cut back to ``offset`` and the old digester is kept
    by the caller, so a write applies fully or not at all.
    """
    try:
        write_all(raw, view)
    except BaseException:
        _rollback(raw, offset)
        raise
    if fault is not None:
        fault("write:after-data")
    hashed = digester.copy()
    hashed.update(view)
    return hashed


def _hash_copy(digester: Digester, view: memoryview) -> Digester:
    hashed = digester.copy()
    hashed.update(view)
    return hashed


class FileIO:
    """A store's worker threads: an executor (asyncio) and a limiter (other backends)."""

    __slots__ = ("_closing", "_executor", "_limiter", "_users", "fault", "max_workers")

    def __init__(self, max_workers: int = DEFAULT_WORKERS, fault: Fault | None = None) -> None:
        self.max_workers = max_workers
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
        """Read up to ``n`` bytes of ``fd`` at ``offset`` in one trip (aiofiles under asyncio)."""
        if on_asyncio():
            self._users += 1
            try:
                with anyio.CancelScope(shield=True):
                    return await _apread(fd, n, offset, executor=self.executor())
            finally:
                self.release()
        return await self.run(pread_full, fd, n, offset)

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

    __slots__ = ("_afile", "_io", "raw")

    def __init__(self, fileio: FileIO, raw: io.FileIO, afile: AsyncFileIO | None) -> None:
        self._io = fileio
        self.raw = raw
        self._afile = afile

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
                _write_and_hash, self.raw, view, digester, offset, self._io.fault
            )
        with anyio.CancelScope(shield=True):
            if len(view) <= HASH_INLINE_MAX:
                await self._awrite_all(afile, view, offset)
                return _hash_copy(digester, view)
            loop = asyncio.get_running_loop()
            self._io.retain()
            try:
                hashing = loop.run_in_executor(self._io.executor(), _hash_copy, digester, view)
                written, hashed = await asyncio.gather(
                    self._awrite_all(afile, view, offset), hashing, return_exceptions=True
                )
            finally:
                self._io.release()
            if isinstance(written, BaseException):
                raise written
            if isinstance(hashed, BaseException):
                await self._io.run(_rollback, self.raw, offset)
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
            await self._io.run(_rollback, self.raw, offset)
            raise
        if self._io.fault is not None:
            self._io.fault("write:after-data")
