"""Progress bars on stderr and the byte streams the commands read and write.

:func:`progress_bars` gives rich bars (bytes, rate, ETA) or, when progress is
off, a stand-in that draws nothing. :class:`InputReader` feeds a file or
standard input to :func:`aiocontent.copy` without blocking the event loop for
good: regular files are read in a worker thread and can seek (so a resumed
ingest skips the written prefix), pipes and terminals are awaited until
readable (so Ctrl-C interrupts a read that would wait forever).
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Protocol

import anyio
import anyio.to_thread
from rich.console import Console
from rich.markup import escape as escape_markup
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from ._output import escape

__all__ = ("Bar", "InputReader", "OutputWriter", "progress_bars")


class Bar(Protocol):
    """One progress bar counting bytes."""

    def advance(self, n: int) -> None:
        """Add ``n`` bytes."""

    def set_completed(self, n: int) -> None:
        """Set the count of bytes done."""

    def set_total(self, total: int | None) -> None:
        """Set the expected number of bytes (``None``: unknown)."""


class _NullBar:
    def advance(self, n: int) -> None:
        pass

    def set_completed(self, n: int) -> None:
        pass

    def set_total(self, total: int | None) -> None:
        pass


class _RichBar:
    def __init__(self, progress: Progress, task: TaskID) -> None:
        self._progress = progress
        self._task = task

    def advance(self, n: int) -> None:
        self._progress.advance(self._task, n)

    def set_completed(self, n: int) -> None:
        self._progress.update(self._task, completed=n)

    def set_total(self, total: int | None) -> None:
        self._progress.update(self._task, total=total)


class Bars(Protocol):
    """Makes bars; see :func:`progress_bars`."""

    def bar(self, description: str, total: int | None = None, completed: int = 0) -> Bar:
        """A new bar labelled ``description`` (shown as plain text, escaped)."""


class _NullBars:
    def bar(self, description: str, total: int | None = None, completed: int = 0) -> Bar:
        return _NullBar()


class _RichBars:
    def __init__(self, progress: Progress) -> None:
        self._progress = progress

    def bar(self, description: str, total: int | None = None, completed: int = 0) -> Bar:
        # the description is drawn as rich markup: '[link=...]' in a ref must stay text
        label = escape_markup(escape(description))
        task = self._progress.add_task(label, total=total, completed=completed)
        return _RichBar(self._progress, task)


@contextmanager
def progress_bars(enabled: bool, *, force_terminal: bool = False) -> Iterator[Bars]:
    """Bars on stderr when ``enabled``, else bars that draw nothing.

    :param force_terminal: draw even when stderr is not a terminal (``--progress``).
    """
    if not enabled:
        yield _NullBars()
        return
    console = Console(stderr=True, force_terminal=True if force_terminal else None)
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
    with progress:
        yield _RichBars(progress)


def _fd_of(f: object) -> int | None:
    fileno = getattr(f, "fileno", None)
    if fileno is None:
        return None
    try:
        fd = fileno()
    except (OSError, ValueError, io.UnsupportedOperation):
        return None
    return fd if isinstance(fd, int) else None


class InputReader:
    """An async, progress-reporting reader over a binary file or standard input.

    It has ``async read(n)``, and ``seekable()``/``async seek(offset)`` that
    really seek only for regular files, which is how :func:`aiocontent.copy`
    resumes an ingest without re-reading the written prefix. A pipe cannot seek:
    the copy then reads and discards the prefix.
    """

    def __init__(self, f: IO[bytes], bar: Bar | None = None) -> None:
        self._f = f
        #: The bar advanced by every read.
        self.bar: Bar = bar or _NullBar()
        self._fd = _fd_of(f)
        self._regular = False
        if self._fd is not None:
            try:
                self._regular = stat.S_ISREG(os.fstat(self._fd).st_mode)
            except OSError:
                self._regular = False
        # a pipe, terminal or socket: wait until readable, then read from the descriptor
        self._poll = self._fd is not None and not self._regular
        self.bytes_read = 0

    @property
    def size(self) -> int | None:
        """The size of a regular file, else ``None``."""
        if self._fd is None or not self._regular:
            return None
        return os.fstat(self._fd).st_size

    async def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes; ``b""`` at the end of the input."""
        if n < 0:
            n = 1 << 20
        if self._poll:
            assert self._fd is not None
            try:
                await anyio.wait_readable(self._fd)
            except (OSError, ValueError, NotImplementedError):
                # a descriptor the event loop cannot poll (e.g. /dev/null): read in a thread
                self._poll = False
                return await self.read(n)
            data = os.read(self._fd, n)
        elif self._fd is not None:
            data = await anyio.to_thread.run_sync(self._f.read, n)
        else:
            data = self._f.read(n)
            await anyio.lowlevel.checkpoint()
        self.bytes_read += len(data)
        self.bar.advance(len(data))
        return data

    def seekable(self) -> bool:
        """Whether the input is a regular file (or an in-memory seekable buffer)."""
        if self._fd is not None:
            return self._regular
        try:
            return bool(self._f.seekable())
        except (OSError, ValueError):
            return False

    async def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """Move to ``offset``; only meaningful when :meth:`seekable`."""
        if not self.seekable():
            raise io.UnsupportedOperation("input is not seekable")
        pos = self._f.seek(offset, whence)
        await anyio.lowlevel.checkpoint()
        self.bar.set_completed(pos)
        return pos


class OutputWriter:
    """Writes chunks to a binary file or standard output without stalling the event loop."""

    def __init__(self, f: IO[bytes]) -> None:
        self._f = f
        self._threaded = _fd_of(f) is not None

    async def write(self, data: bytes) -> None:
        """Write all of ``data``."""
        if self._threaded:
            await anyio.to_thread.run_sync(self._f.write, data)
        else:
            self._f.write(data)
            await anyio.lowlevel.checkpoint()

    async def flush(self) -> None:
        """Flush buffered bytes to the file."""
        if self._threaded:
            await anyio.to_thread.run_sync(self._f.flush)
        else:
            self._f.flush()
