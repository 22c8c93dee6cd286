"""The S3 ingest writer: streams parts, resumes anywhere, commits only verified bytes.

Bytes are hashed as they are written (in a worker thread, so a large write
never stalls the event loop; each byte is copied once, into the part that is
then sent as it is) and sent as parts of a multipart upload to
``ingest/<hex>/data`` (:class:`._parts.PartUpload`; a few in flight, so memory
stays bounded: one part being filled plus ``max_inflight`` parts on the wire).
Parts of an unfinished upload cannot be read back, so whenever the bytes must
become readable (``aclose``, a truncate into uploaded bytes, commit, or a
writer resuming after a crash) the upload is completed into the ordinary
object ``ingest/<hex>/data``; a later session copies that object's whole parts
server-side (UploadPartCopy) into its own upload and re-reads only what it
must hash.

Commit checks size and digest (computed here, client side) first; only then
does anything appear under ``blobs/``: a small blob by one PUT of the bytes in
memory, a larger one by a server-side copy of the completed ingest object
(CopyObject up to ``max_copy_size``, a multipart copy beyond it).
"""

from __future__ import annotations

import concurrent.futures
import logging
from typing import Final

import anyio

from .._digest import Digest
from .._errors import AlreadyExistsError
from .._messages import content_exists, ingest_not_found, lock_lost
from .._types import Opt, Status, check_int, now
from .._writing import check_data, commit_args, verify_digest, verify_size
from ._ingest import S3Ingest, absorbed_off_loop, hashed_off_loop
from ._layout import Meta, fmt_time

_log: Final = logging.getLogger("aiocontent")


class S3Writer(S3Ingest):
    """A :class:`~aiocontent.Writer` of an :class:`~aiocontent.S3Store` ingest."""

    def __repr__(self) -> str:
        return self._book.describe("S3Store")

    async def _check_writable(self, action: str) -> None:
        if self._aborted:
            self._book.open = False
            with anyio.CancelScope(shield=True):
                await self._release()
            raise ingest_not_found(self._ref)
        self._book.check_open(action)

    async def _release(self) -> None:
        if self._released:
            return
        self._released = True
        try:
            await self._lock.release()
        finally:
            self._store._locks.unlock(self._token)
            await self._store._writer_done(self)

    # ------------------------------------------------------------------ Writer API

    async def write(self, data: bytes | bytearray | memoryview) -> int:
        """Append ``data``; returns ``len(data)``. See :class:`~aiocontent.Writer`.

        :raises TypeError: ``data`` is not bytes-like.
        :raises ~aiocontent.FailedPreconditionError: the writer is closed.
        :raises ~aiocontent.NotFoundError: the ingest was aborted (the ref is released).
        :raises OSError: S3 failed; nothing of ``data`` was applied when raised
            before it, and a part that failed in flight is sent again later.
        """
        check_data(data)
        with self._book.guard:
            await anyio.lowlevel.checkpoint()
            await self._check_writable("write")
            view = memoryview(data).cast("B")
            part = self._part
            if len(self._buf) + len(view) >= part:
                await self._ensure_upload()
            upload = self._upload
            while upload is not None and len(upload.pending) >= self._store._max_inflight:
                with self._gone_if_missing():
                    await upload.settle_oldest()
            # From here on the write applies fully: a worker thread hashing it
            # runs to its end even when the task is cancelled.
            absorbed = await absorbed_off_loop(self._hash, self._buf, view, part)
            self._hash, full, self._buf = absorbed
            for body, checkpoint in full:
                self._submit_data(body)
                self._checkpoints[self._copy_len + self._flushed] = checkpoint
            if view:
                self._dirty = True
                self._book.moved(self._book.offset + len(view))
            return len(view)

    def digest(self) -> Digest:
        """The digest of every byte written so far, resumed bytes included."""
        return self._book.digest()

    async def status(self) -> Status:
        """The ingest's status, from memory."""
        await anyio.lowlevel.checkpoint()
        return self._book.status()

    async def truncate(self, size: int) -> None:
        """Keep the first ``size`` bytes (``0 <= size <= offset``).

        :raises ~aiocontent.InvalidArgumentError: ``size`` is out of range.
        :raises ~aiocontent.FailedPreconditionError: the writer is closed.
        """
        check_int(size, "truncate size")
        with self._book.guard:
            await anyio.lowlevel.checkpoint()
            await self._check_writable("truncate")
            self._book.check_truncate(size)
            boundary = self._copy_len + self._flushed
            if size >= boundary:
                del self._buf[size - boundary :]
                self._hash = await hashed_off_loop(self._checkpoints[boundary], self._buf)
                self._dirty = True
                self._book.offset = size
                return
            with anyio.CancelScope(shield=True):
                await self._truncate_stored(size, boundary)

    async def commit(self, size: int = 0, expected: str = "", *opts: Opt) -> None:
        """Verify the ingest and make it the blob named by its digest.

        See :class:`~aiocontent.Writer`. Nothing appears under ``blobs/`` unless
        the size and the digest computed here match.
        """
        with self._book.guard:
            if not self._aborted:
                self._book.check_open("commit")
            await self._check_writable("commit")
            self._book.open = False
            try:
                await self._commit(size, expected, opts)
            except AlreadyExistsError:
                raise
            except BaseException:
                with anyio.CancelScope(shield=True):
                    try:
                        await self._persist()
                    except Exception:
                        _log.warning("could not keep ingest %r after a failed commit", self._ref)
                raise
            finally:
                with anyio.CancelScope(shield=True):
                    await self._release()

    async def _commit(self, size: int, expected: str, opts: tuple[Opt, ...]) -> None:
        size, exp, labels = commit_args(self._ref, size, expected, opts)
        await self._drain()
        offset = self._offset
        verify_size(size, offset)
        dgst = self._hash.digest()
        if exp is not None and exp.algorithm != self._alg:
            dgst = await self._digest_with(exp.algorithm)
        verify_digest(dgst, exp)
        layout = self._store._layout
        if await self._client.head(layout.blob(dgst)) is not None:
            with anyio.CancelScope(shield=True):
                await self._remove_ingest()
            raise content_exists(dgst)
        if self._lock.lost:
            raise lock_lost(self._ref)
        if await self._client.head(self._state_key) is None:
            self._aborted = True
            raise ingest_not_found(self._ref)
        with anyio.CancelScope(shield=True):
            created = now()
            meta = Meta(created_at=created, updated_at=created, labels=labels)
            await self._client.put(layout.meta(dgst), meta.dumps())
            await self._make_visible(layout.blob(dgst), offset, {"created-at": fmt_time(created)})
            try:
                await self._store._remove_ingest(self._ref)
            except OSError:
                _log.warning("committed %s but could not remove ingest %r", dgst, self._ref)

    async def aclose(self) -> None:
        """Keep the ingest for resume and release the ref; a no-op after close or commit.

        :raises OSError: S3 failed while saving the last bytes (the ref is
            released all the same; the ingest keeps what was saved before).
        """
        if self._closed:
            if self._aborted:
                with anyio.CancelScope(shield=True):
                    await self._release()
            return
        self._book.open = False
        with anyio.CancelScope(shield=True):
            try:
                await self._persist()
            finally:
                await self._release()

    async def __aenter__(self) -> S3Writer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _mark_aborted(self) -> list[concurrent.futures.Future[str]]:
        """Called by the store's ``abort``: the futures to wait for before deleting."""
        self._aborted = True
        return self._upload.futures() if self._upload is not None else []
