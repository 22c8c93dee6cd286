"""Multipart uploads: an ingest's parts sent a few at a time, and server-side copies.

:class:`PartUpload` is one open upload of an ingest's ``data`` object: it
numbers the parts, keeps them on the wire (uploaded bytes, or ranges copied
server-side from the object the upload replaces), sends a failed part again
and completes the upload. :func:`server_copy` makes a completed object visible
under another key without moving its bytes through this process.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import dataclasses
from typing import TYPE_CHECKING, Final

import anyio

from .._messages import ingest_io_error, invalid, s3_failed
from . import _bridge
from ._multipart import Part

if TYPE_CHECKING:
    from ._store import S3Store

__all__ = ("MAX_COPY", "MAX_PARTS", "MIN_PART", "PartUpload", "check_limits", "server_copy")

#: S3's hard limits.
MIN_PART: Final = 5 << 20
MAX_PARTS: Final = 10_000
#: S3's limit for one CopyObject (and one UploadPartCopy range).
MAX_COPY: Final = 5 << 30


def check_limits(
    part_size: int,
    copy_part_size: int,
    max_copy_size: int,
    max_inflight: int,
    lock_lease: float,
    read_ahead: int,
) -> None:
    """Check :class:`~aiocontent.S3Store`'s sizes against S3's limits.

    :raises ~aiocontent.InvalidArgumentError: a size out of range, named in the message.
    """
    if part_size < MIN_PART or copy_part_size < MIN_PART:
        raise invalid(
            f"part_size {part_size} and copy_part_size {copy_part_size} must be at least "
            f"{MIN_PART} (S3's minimum part)"
        )
    if max_copy_size > MAX_COPY or copy_part_size > MAX_COPY or max_copy_size < 0:
        raise invalid(
            f"max_copy_size {max_copy_size} and copy_part_size {copy_part_size} must not "
            f"exceed {MAX_COPY}"
        )
    if max_inflight < 1 or lock_lease < 2 or read_ahead < 1:
        raise invalid(
            f"max_inflight {max_inflight}, read_ahead {read_ahead} must be >= 1 and "
            f"lock_lease {lock_lease} >= 2 s"
        )


@dataclasses.dataclass
class _Pending:
    """A part on the wire: its body (uploaded) or source range (copied), and its future."""

    number: int
    size: int
    body: bytearray | None
    src: tuple[int, int] | None
    fut: concurrent.futures.Future[str]


class PartUpload:
    """One open multipart upload of ``key`` for the ingest of ``ref``.

    Failures of S3 are :class:`OSError`; a part or upload that no longer
    exists (the ingest was aborted elsewhere) is :class:`~._client.Missing`,
    which the writer turns into :class:`~aiocontent.NotFoundError`.
    """

    def __init__(self, store: S3Store, key: str, upload_id: str, ref: str) -> None:
        self._store = store
        self._client = store._client
        self.key = key
        self.id = upload_id
        self._ref = ref
        self._next = 1
        self._done: list[Part] = []
        #: Uploaded parts not yet settled, oldest first.
        self.pending: collections.deque[_Pending] = collections.deque()
        self._copies: list[_Pending] = []

    def _number(self) -> int:
        number = self._next
        if number > MAX_PARTS:
            raise ingest_io_error(
                self._ref,
                f"needs more than {MAX_PARTS} parts: "
                "give the size in the descriptor or use a larger part_size",
            )
        self._next += 1
        return number

    def _upload(self, number: int, body: bytearray) -> concurrent.futures.Future[str]:
        return _bridge.submit(self._client.upload_part(self.key, self.id, number, body))

    def _copy(self, number: int, start: int, end: int) -> concurrent.futures.Future[str]:
        coro = self._client.upload_part_copy(self.key, self.id, number, self.key, start, end)
        return _bridge.submit(self._store._limited(coro))

    def send(self, body: bytearray) -> None:
        """Start uploading ``body`` as the next part; nothing may change it afterwards."""
        number = self._number()
        self.pending.append(_Pending(number, len(body), body, None, self._upload(number, body)))

    def copy(self, start: int, end: int) -> None:
        """Start copying bytes ``start..end`` of the replaced object as the next part."""
        number = self._number()
        fut = self._copy(number, start, end)
        self._copies.append(_Pending(number, end - start, None, (start, end), fut))

    async def _settle(self, p: _Pending) -> None:
        """Wait for one part; a failed one is sent again and the error raised."""
        try:
            etag = await _bridge.wait(p.fut)
        except OSError:
            if p.body is not None:
                p.fut = self._upload(p.number, p.body)
            else:
                assert p.src is not None
                p.fut = self._copy(p.number, *p.src)
            raise
        self._done.append(Part(p.number, p.size, etag))

    async def settle_oldest(self) -> None:
        """Wait for the oldest uploaded part (to keep few on the wire)."""
        await self._settle(self.pending[0])
        self.pending.popleft()

    async def drain(self) -> None:
        """Wait for every part on the wire."""
        while self.pending:
            await self.settle_oldest()
        while self._copies:
            await self._settle(self._copies[0])
            self._copies.pop(0)

    async def parts(self, expected: int) -> list[Part]:
        """Every part, in order, once all have settled.

        :raises OSError: they do not hold ``expected`` bytes.
        """
        await self.drain()
        parts = sorted(self._done, key=lambda p: p.number)
        size = sum(p.size for p in parts)
        if size != expected:
            raise ingest_io_error(self._ref, f"parts hold {size} bytes, expected {expected}")
        return parts

    async def complete(self, parts: list[Part]) -> None:
        """Complete the upload with ``parts``: the object now holds their bytes."""
        await self._client.complete_upload(self.key, self.id, parts)

    async def abort(self) -> None:
        """Abort the upload, dropping its parts (a gone upload is fine)."""
        await self._client.abort_upload(self.key, self.id)

    def futures(self) -> list[concurrent.futures.Future[str]]:
        """The futures of the parts still on the wire."""
        return [p.fut for p in (*self.pending, *self._copies)]


async def server_copy(
    store: S3Store, src: str, dst: str, size: int, metadata: dict[str, str]
) -> None:
    """Copy the ``size``-byte object ``src`` to ``dst`` inside the service.

    One CopyObject up to the store's ``max_copy_size``; beyond it a multipart
    copy in ``copy_part_size`` ranges, aborted on failure.

    :raises OSError: S3 failed, or the copy assembled the wrong size.
    """
    client = store._client
    if size <= store._max_copy_size:
        await client.copy(src, dst, metadata)
        return
    upload = await client.create_upload(dst, metadata)
    try:
        step = store._copy_part_size
        futs = [
            _bridge.submit(
                store._limited(
                    client.upload_part_copy(dst, upload, n, src, start, min(start + step, size))
                )
            )
            for n, start in enumerate(range(0, size, step), start=1)
        ]
        for fut in futs:
            await _bridge.wait(fut)
        parts = await client.list_parts(dst, upload)
        if parts is None or sum(p.size for p in parts) != size:
            raise s3_failed("UploadPartCopy", client.url(dst), f"{size} bytes assembled wrong")
        await client.complete_upload(dst, upload, parts)
    except BaseException:
        with anyio.CancelScope(shield=True), contextlib.suppress(OSError):
            await client.abort_upload(dst, upload)
        raise
