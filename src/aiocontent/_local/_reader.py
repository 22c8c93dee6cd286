"""Positional reads of one committed blob of a :class:`~aiocontent.LocalStore`."""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING, final

import anyio
from anyio.abc import AsyncResource

from .._digest import Digest
from .._messages import content_not_found, reader_closed
from .._types import check_read_at
from ._layout import Layout

if TYPE_CHECKING:
    from .._fileio import FileIO

__all__ = ("LocalReaderAt", "open_blob")


def open_blob(layout: Layout, dgst: Digest) -> tuple[int, int]:
    """Open a blob for reading; returns the descriptor and the size fixed now.

    :raises ~aiocontent.NotFoundError: no such blob (``content <dgst>: not found``).
    """
    try:
        fd = os.open(layout.blob_path(dgst), os.O_RDONLY | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise content_not_found(dgst) from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise content_not_found(dgst)
    except BaseException:
        os.close(fd)
        raise
    return fd, st.st_size


@final
class LocalReaderAt(AsyncResource):
    """``os.pread`` over one blob; the size is fixed when it opens.

    Concurrent :meth:`read_at` calls are allowed; the file is closed once the
    reader is closed and no read is in flight.
    """

    __slots__ = ("_closed", "_digest", "_fd", "_inflight", "_io", "_size")

    def __init__(self, fileio: FileIO, dgst: Digest, fd: int, size: int) -> None:
        self._io = fileio
        self._digest = dgst
        self._fd = fd
        self._size = size
        self._inflight = 0
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<LocalStore reader {self._digest} size={self._size} {state}>"

    @property
    def size(self) -> int:
        """The blob's size in bytes."""
        return self._size

    async def read_at(self, n: int, offset: int) -> bytes:
        """Up to ``n`` bytes from ``offset`` in one thread trip; ``b""`` past the end.

        :raises ~aiocontent.InvalidArgumentError: ``n`` or ``offset`` is negative.
        :raises ~aiocontent.FailedPreconditionError: the reader is closed.
        """
        check_read_at(self._digest, n, offset)
        if self._closed:
            raise reader_closed(self._digest)
        n = min(n, self._size - offset)
        if n <= 0:
            await anyio.lowlevel.checkpoint()
            return b""
        self._inflight += 1
        try:
            return await self._io.pread(self._fd, n, offset)
        finally:
            self._inflight -= 1
            if self._closed and not self._inflight:
                self._close_fd()

    def _close_fd(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)
            self._io.release()

    async def aclose(self) -> None:
        """Close the reader; calling it again does nothing."""
        if not self._closed:
            self._closed = True
            if not self._inflight:
                self._close_fd()
        await anyio.lowlevel.checkpoint()
