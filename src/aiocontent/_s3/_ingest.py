"""The bytes of one S3 ingest under its writer: the part being filled, the upload, the object.

:class:`S3Ingest` keeps the writer's state (hash, checkpoints, buffer, the open
:class:`._parts.PartUpload`, the stored ``state`` object) and the steps that
move bytes between them: opening (a new ingest, or a stored one resumed and
re-hashed), settling everything into the data object, truncating into stored
bytes and making a verified blob visible. :class:`._writer.S3Writer` adds the
:class:`~aiocontent.Writer` contract on top.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Iterator
from typing import TYPE_CHECKING, TypeAlias

import anyio
import anyio.to_thread

from .._digest import Algorithm, Digest, Digester
from .._fileio import HASH_INLINE_MAX
from .._locks import LockToken
from .._messages import ingest_io_error, ingest_not_found, total_mismatch
from .._types import now
from .._writing import WriterState
from ._connection import Missing
from ._layout import IngestState
from ._lock import S3Lock
from ._multipart import Part
from ._parts import MIN_PART, PartUpload, server_copy

if TYPE_CHECKING:
    from ._store import S3Store

__all__ = ("S3Ingest", "absorb", "absorbed_off_loop", "hashed_off_loop")

#: What :func:`absorb` gives back: the digester including the bytes, the parts
#: they completed (each with the digester at its end) and the part being filled.
Absorbed: TypeAlias = tuple[Digester, list[tuple[bytearray, Digester]], bytearray]


def absorb(digester: Digester, buf: bytearray, view: memoryview, part: int) -> Absorbed:
    """Hash ``view`` and append it to ``buf``, cutting off every part that fills up.

    ``digester`` is left as it was (the result has a copy); ``buf`` grows in
    place and, once it holds ``part`` bytes, becomes a completed part that
    nothing touches again, so it can be sent as it is. Each byte is copied once.
    """
    hashed = digester.copy()
    full: list[tuple[bytearray, Digester]] = []
    i = 0
    while i < len(view):
        take = min(part - len(buf), len(view) - i)
        piece = view[i : i + take]
        buf += piece
        hashed.update(piece)
        i += take
        if len(buf) == part:
            full.append((buf, hashed.copy()))
            buf = bytearray()
    return hashed, full, buf


async def absorbed_off_loop(
    digester: Digester, buf: bytearray, view: memoryview, part: int
) -> Absorbed:
    """:func:`absorb`, in a worker thread unless ``view`` is small.

    The thread always runs to its end, even when the caller is cancelled (the
    cancellation is raised at the caller's next checkpoint), so the result is
    complete and the caller applies it fully.
    """
    if len(view) <= HASH_INLINE_MAX:
        return absorb(digester, buf, view, part)
    return await anyio.to_thread.run_sync(absorb, digester, buf, view, part)


def _hashed(digester: Digester, data: bytes | bytearray | memoryview) -> Digester:
    hashed = digester.copy()
    hashed.update(data)
    return hashed


async def hashed_off_loop(digester: Digester, data: bytes | bytearray | memoryview) -> Digester:
    """A copy of ``digester`` that includes ``data``, hashed off the event loop unless small."""
    if len(data) <= HASH_INLINE_MAX:
        return _hashed(digester, data)
    return await anyio.to_thread.run_sync(_hashed, digester, data)


class S3Ingest:
    """The state and data steps of an :class:`~aiocontent.S3Store` ingest (see the module)."""

    def __init__(
        self,
        store: S3Store,
        ref: str,
        alg: Algorithm,
        expected: Digest | None,
        token: LockToken,
        lock: S3Lock,
        part_size: int,
    ) -> None:
        self._store = store
        self._client = store._client
        self._alg = alg
        self._token = token
        self._lock = lock
        self._part = part_size
        self._state_key = store._layout.state(ref)
        self._data_key = store._layout.data(ref)
        self._dir = store._layout.ingest(ref)
        started = now()
        self._book = WriterState(
            ref,
            alg.digester(),
            expected=expected,
            offset=0,
            total=0,
            started_at=started,
            updated_at=started,
        )
        self._checkpoints: dict[int, Digester] = {0: self._hash.copy()}
        self._state = IngestState(ref=ref, started_at=started, updated_at=started)
        self._buf = bytearray()
        self._copy_len = 0  # bytes of the data object still to be copied into the upload
        self._flushed = 0  # bytes sent as parts of the open upload
        self._upload: PartUpload | None = None
        self._dirty = False
        self._aborted = False
        self._released = False

    @property
    def _ref(self) -> str:
        return self._book.ref

    @property
    def _expected(self) -> Digest | None:
        return self._book.expected

    @property
    def _hash(self) -> Digester:
        return self._book.digester

    @_hash.setter
    def _hash(self, digester: Digester) -> None:
        self._book.digester = digester

    @property
    def _closed(self) -> bool:
        return not self._book.open

    def _adopt(self, st: IngestState) -> None:
        """Take the stored ingest's total and times as the writer's."""
        self._state = st
        book = self._book
        book.total, book.started_at, book.updated_at = st.total, st.started_at, st.updated_at

    # ------------------------------------------------------------------ opening

    async def _open(self, desc_size: int) -> None:
        """Start a new ingest or resume the stored one (re-hashing all its bytes).

        :raises ~aiocontent.FailedPreconditionError: ``desc_size`` differs from
            the stored total (the ingest is untouched).
        """
        client = self._client
        got = await client.get(self._state_key)
        st = IngestState.loads(got[0]) if got is not None else None
        if st is None or st.ref != self._ref:
            t = now()
            self._adopt(
                IngestState(
                    ref=self._ref,
                    started_at=t,
                    updated_at=t,
                    total=max(desc_size, 0),
                    expected=self._expected,
                )
            )
            await self._put_state()
            return
        if desc_size > 0 and st.total > 0 and desc_size != st.total:
            raise total_mismatch(self._ref, st.total, desc_size)
        changed = False
        if st.total <= 0 and desc_size > 0:
            st.total, changed = desc_size, True
        if self._expected and st.expected != self._expected:
            st.expected, changed = self._expected, True
        if st.upload is not None:
            st.length = await self._recover_upload(st.upload, st.length)
            st.upload, changed = None, True
        self._adopt(st)
        if changed:
            await self._put_state()
        await self._rehash(st.length)

    async def _recover_upload(self, upload: str, length: int) -> int:
        """Complete a crashed writer's upload with its contiguous parts; the new length."""
        parts = await self._client.list_parts(self._data_key, upload)
        if parts is None:
            return length  # completed or aborted already
        usable: list[Part] = []
        for i, p in enumerate(parts, start=1):
            if p.number != i or (usable and usable[-1].size < MIN_PART):
                break
            usable.append(p)
        if not usable:
            await self._client.abort_upload(self._data_key, upload)
            return length
        try:
            await self._client.complete_upload(self._data_key, upload, usable)
        except Missing:
            return length
        return sum(p.size for p in usable)

    async def _read_back(self, length: int) -> AsyncGenerator[memoryview, None]:
        """The first ``length`` bytes of the data object, in order (fewer if it is shorter)."""
        stream = await self._client.open_stream(self._data_key, 0, 1 << 20, 8)
        pos = 0
        try:
            while pos < length and (piece := await stream.next()):
                view = memoryview(piece)[: length - pos]
                pos += len(view)
                yield view
        finally:
            stream.close()

    async def _rehash(self, length: int) -> None:
        """Read back the first ``length`` bytes of the data object and hash them."""
        head = await self._client.head(self._data_key) if length else None
        valid = min(length, head.size) if head is not None else 0
        self._dirty = valid != length or (head is not None and head.size != valid)
        tail = bytearray()
        pos = 0
        if valid:
            async with contextlib.aclosing(self._read_back(valid)) as pieces:
                async for piece in pieces:
                    start = pos - len(tail)
                    absorbed = await absorbed_off_loop(self._hash, tail, piece, self._part)
                    self._hash, full, tail = absorbed
                    for _, checkpoint in full:
                        start += self._part
                        self._checkpoints[start] = checkpoint
                    pos += len(piece)
        if pos != length:
            self._dirty = True
        self._copy_len = pos - len(tail)
        self._buf = tail
        self._state.length = pos
        self._book.offset = pos

    # ------------------------------------------------------------------ data steps

    @property
    def _offset(self) -> int:
        return self._copy_len + self._flushed + len(self._buf)

    async def _put_state(self) -> None:
        await self._client.put(self._state_key, self._state.dumps())

    @contextlib.contextmanager
    def _gone_if_missing(self) -> Iterator[None]:
        """Turn a vanished upload or part (aborted elsewhere) into ``NotFoundError``."""
        try:
            yield
        except Missing as exc:
            self._aborted = True
            raise ingest_not_found(self._ref) from exc

    def _take_buf(self) -> bytearray:
        """The part being filled, to be sent: the writer starts a new one."""
        buf, self._buf = self._buf, bytearray()
        return buf

    def _submit_data(self, body: bytearray) -> None:
        assert self._upload is not None
        self._upload.send(body)
        self._flushed += len(body)

    async def _drain(self) -> None:
        if self._upload is not None:
            with self._gone_if_missing():
                await self._upload.drain()

    async def _ensure_upload(self) -> None:
        if self._upload is not None:
            return
        upload_id = await self._client.create_upload(self._data_key)
        upload = self._upload = PartUpload(self._store, self._data_key, upload_id, self._ref)
        self._state.upload = upload_id
        try:
            await self._put_state()
        except BaseException:
            self._state.upload = None
            self._upload = None
            with anyio.CancelScope(shield=True), contextlib.suppress(OSError):
                await upload.abort()
            raise
        copy_len, self._copy_len = self._copy_len, 0
        for start in range(0, copy_len, self._part):
            upload.copy(start, min(start + self._part, copy_len))
        self._flushed = copy_len

    async def _complete(self, last: bytearray) -> int:
        """Complete the open upload (``last`` as its final part); returns the object's size."""
        upload = self._upload
        assert upload is not None
        if last:
            self._submit_data(last)
        with self._gone_if_missing():
            parts = await upload.parts(self._flushed)
            self._upload = None
            if parts:
                await upload.complete(parts)
        if parts:
            size = sum(p.size for p in parts)
        else:
            await upload.abort()
            size = self._state.length
        self._flushed = 0
        return size

    async def _settle_all(self) -> None:
        """Make the data object hold exactly the ingest's bytes and record that."""
        offset = self._offset
        if self._upload is not None:
            self._state.length = await self._complete(self._take_buf())
        elif self._dirty:
            if self._copy_len == 0:
                await self._client.put(self._data_key, self._buf)
                self._state.length = len(self._buf)
            else:
                await self._ensure_upload()
                self._state.length = await self._complete(self._take_buf())
        self._copy_len, self._buf, self._dirty = offset, bytearray(), False
        self._state.upload = None
        self._state.updated_at = self._book.updated_at
        await self._put_state()

    async def _persist(self) -> None:
        """Keep the ingest for resume: everything written becomes readable."""
        if self._aborted:
            return
        if await self._client.head(self._state_key) is None:
            self._aborted = True  # aborted by another store or host
            if self._upload is not None:
                await self._upload.abort()
            return
        await self._settle_all()

    async def _remove_ingest(self) -> None:
        if self._upload is not None:
            await self._upload.abort()
            self._upload = None
        await self._store._remove_ingest(self._ref)

    async def _truncate_stored(self, size: int, boundary: int) -> None:
        if self._upload is not None:
            self._state.length = await self._complete(bytearray())
        start = (size // self._part) * self._part
        got = await self._client.get(self._data_key, start, size) if size > start else None
        data = got[0] if got is not None else b""
        if len(data) != size - start:
            raise ingest_io_error(self._ref, f"data object is shorter than {size} bytes")
        self._buf = bytearray(data)
        self._copy_len, self._flushed = start, 0
        self._hash = await hashed_off_loop(self._checkpoints[start], data)
        self._checkpoints = {k: v for k, v in self._checkpoints.items() if k <= start}
        self._dirty = True
        self._state.length = size
        self._book.offset = size
        await self._put_state()

    async def _digest_with(self, alg: Algorithm) -> Digest:
        """Re-hash every byte of the ingest with another algorithm."""
        await self._settle_all()
        h = alg.digester()
        pos = 0
        if self._copy_len:
            async with contextlib.aclosing(self._read_back(self._copy_len)) as pieces:
                async for piece in pieces:
                    h = await hashed_off_loop(h, piece)
                    pos += len(piece)
        if pos != self._copy_len:
            raise ingest_io_error(self._ref, "data object is shorter than expected")
        return h.digest()

    async def _make_visible(self, blob_key: str, size: int, metadata: dict[str, str]) -> None:
        client = self._client
        if self._upload is None and self._copy_len == 0:
            # Every byte is in memory and was hashed there: one PUT.
            await client.put(blob_key, self._buf, metadata=metadata)
            return
        await self._settle_all()
        head = await client.head(self._data_key)
        if head is None or head.size != size:
            raise ingest_io_error(
                self._ref,
                f"data object has {'no' if head is None else head.size} bytes, expected {size}",
            )
        await server_copy(self._store, self._data_key, blob_key, size, metadata)
