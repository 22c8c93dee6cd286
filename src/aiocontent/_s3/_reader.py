"""Reading committed blobs from S3: one streaming GET for sequential reads, ranges otherwise.

A read at the position where the previous one ended (or a first read from 0
that does not take the whole blob) starts a single GET from there to the end;
a pump on the private loop reads ahead a few MiB while the caller consumes, so
network and hashing overlap. Any other read is a ranged GET of at least
``block`` bytes, kept in a small cache so that many small reads cost few
requests. A blob read sequentially from 0 to its end is checked against its
digest on the way.
"""

from __future__ import annotations

import collections
from typing import TYPE_CHECKING, Final

import anyio

from .._digest import Digest
from .._messages import content_corrupt, reader_closed
from .._types import check_read_at
from ._client import S3Client, Stream
from ._ingest import hashed_off_loop

if TYPE_CHECKING:
    from ._store import S3Store

_PIECE: Final = 1 << 20
_BLOCK: Final = 256 << 10
_CACHED_BLOCKS: Final = 4


class S3ReaderAt:
    """A :class:`~aiocontent.ReaderAt` over one blob of an :class:`~aiocontent.S3Store`."""

    def __init__(
        self, store: S3Store, client: S3Client, key: str, size: int, dgst: Digest, depth: int
    ) -> None:
        self._store = store
        self._client = client
        self._key = key
        self._size = size
        self._dgst = dgst
        self._depth = depth
        self._stream: Stream | None = None
        self._stream_pos = 0
        self._leftover = b""
        self._next = 0
        self._verify = dgst.algorithm.digester() if dgst.algorithm.available else None
        self._verified_to = 0
        self._lock = anyio.Lock()
        self._cache: collections.OrderedDict[int, bytes] = collections.OrderedDict()
        self._closed = False

    @property
    def size(self) -> int:
        """The blob's size, fixed when the reader was opened."""
        return self._size

    async def read_at(self, n: int, offset: int) -> bytes:
        """Up to ``n`` bytes from ``offset`` (fewer only at the end; ``b""`` past it).

        :raises ~aiocontent.InvalidArgumentError: ``n`` or ``offset`` is negative.
        :raises ~aiocontent.FailedPreconditionError: the reader is closed, or a
            sequential read of the whole blob did not hash to its digest.
        :raises OSError: S3 failed.
        """
        check_read_at(self._dgst, n, offset)
        if self._closed:
            raise reader_closed(self._dgst)
        n = min(n, self._size - offset)
        if n <= 0:
            await anyio.lowlevel.checkpoint()
            return b""
        async with self._lock:
            if (self._stream is not None and offset == self._stream_pos) or (
                offset == self._next and (offset > 0 or n < self._size)
            ):
                data = await self._read_stream(n, offset)
            else:
                data = await self._read_range(n, offset)
            self._next = offset + len(data)
            await self._check(offset, data)
            return data

    async def _check(self, offset: int, data: bytes) -> None:
        """Hash ``data`` into the running check if it continues it (off the loop unless small)."""
        if self._verify is None or offset != self._verified_to:
            return
        self._verify = await hashed_off_loop(self._verify, data)
        self._verified_to += len(data)
        if self._verified_to == self._size and self._verify.digest() != self._dgst:
            raise content_corrupt(self._dgst, self._verify.digest(), f"s3 key {self._key}")

    async def _read_stream(self, n: int, offset: int) -> bytes:
        if self._stream is None or offset != self._stream_pos:
            self._close_stream()
            self._stream = await self._client.open_stream(self._key, offset, _PIECE, self._depth)
            self._stream_pos = offset
        parts: list[bytes] = []
        want = n
        try:
            if self._leftover:
                take = self._leftover[:want]
                self._leftover = self._leftover[want:]
                parts.append(take)
                want -= len(take)
            while want > 0:
                piece = await self._stream.next()
                if not piece:
                    break
                if len(piece) > want:
                    self._leftover = piece[want:]
                    piece = piece[:want]
                parts.append(piece)
                want -= len(piece)
        except BaseException:
            self._close_stream()
            raise
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        self._stream_pos = offset + len(data)
        if len(data) < n:
            self._close_stream()
        return data

    async def _read_range(self, n: int, offset: int) -> bytes:
        for start, block in self._cache.items():
            if start <= offset and offset + n <= start + len(block):
                self._cache.move_to_end(start)
                return block[offset - start : offset - start + n]
        end = min(self._size, offset + max(n, _BLOCK))
        got = await self._client.get(self._key, offset, end)
        data = got[0] if got is not None else b""
        if n < len(data):
            self._cache[offset] = data
            while len(self._cache) > _CACHED_BLOCKS:
                self._cache.popitem(last=False)
        return data[:n]

    def _close_stream(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        self._leftover = b""

    async def aclose(self) -> None:
        """Stop any read-ahead and release the store. Calling it again does nothing."""
        if self._closed:
            return
        self._closed = True
        self._close_stream()
        self._cache.clear()
        with anyio.CancelScope(shield=True):
            await self._store._user_done()

    async def __aenter__(self) -> S3ReaderAt:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
