"""Helpers over any store: copying with resume, reading, single-flight writes, waiting writers.

The sources they copy from, and how each kind resumes at a writer's offset, are
in :mod:`._sources`.
"""

from __future__ import annotations

import contextlib
import os
import random
from typing import Final, cast

import anyio
from anyio.abc import ByteReceiveStream

from ._digest import Digest, parse_digest_arg
from ._errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    ShortReadError,
    UnavailableError,
)
from ._interfaces import (
    InfoProvider,
    Ingester,
    Provider,
    ReaderAt,
    SupportsLockWait,
    SupportsPut,
    SupportsSingleFlight,
    Writer,
)
from ._sources import COPY_CHUNK, Source, source_chunks
from ._types import Descriptor, Opt, WriterOpt, resolve_writer_opts, with_descriptor, with_ref

__all__ = (
    "BlobReader",
    "Source",
    "copy",
    "copy_reader",
    "copy_reader_at",
    "exists",
    "new_reader",
    "open_writer",
    "read_blob",
    "write_blob",
)

#: Largest bytes-like source :func:`write_blob` stores through ``put`` when the store offers it.
PUT_MAX: Final = 4 << 20

# open_writer's backoff when the store cannot tell it about releases (containerd: 16 ms
# doubling; API.md caps it at 1 s).
_BACKOFF_START: Final = 0.016
_BACKOFF_MAX: Final = 1.0


async def _write_all(cw: Writer, r: object, offset: int) -> int:
    written = 0
    # aclosing: a failed or cancelled write must not leave the generators to the GC.
    async with contextlib.aclosing(source_chunks(r, offset)) as chunks:
        async for chunk in chunks:
            written += await cw.write(chunk)
    return written


async def copy_reader(cw: Writer, r: Source) -> int:
    """Copy ``r`` to its end into ``cw``, resuming at the writer's offset; no commit.

    :return: the number of bytes written (not those skipped to resume).
    :raises ShortReadError: the source ends before the writer's offset.
    """
    status = await cw.status()
    return await _write_all(cw, r, status.offset)


async def copy(cw: Writer, r: Source, size: int = 0, expected: str = "", *opts: Opt) -> None:
    """Copy ``r`` into ``cw`` from the writer's offset, then commit.

    The source is read to its end: bytes beyond ``size`` make the commit fail. An
    :class:`~aiocontent.AlreadyExistsError` from the commit counts as success.

    :raises ShortReadError: the source has fewer than ``size`` bytes.
    :raises ~aiocontent.FailedPreconditionError: size or digest mismatch at commit.
    """
    if isinstance(size, bool) or not isinstance(size, int):
        raise TypeError(f"size must be an int, not {type(size).__name__}")
    if size < 0:
        raise InvalidArgumentError(f"copy size {size} must not be negative: invalid argument")
    status = await cw.status()
    copied = await _write_all(cw, r, status.offset)
    if size and status.offset + copied < size:
        raise ShortReadError(
            f"failed to read expected number of bytes: got {status.offset + copied} "
            f"of {size}: unexpected EOF"
        )
    with contextlib.suppress(AlreadyExistsError):
        await cw.commit(size, expected, *opts)


async def copy_reader_at(cw: Writer, ra: ReaderAt, n: int) -> None:
    """Copy ``n`` bytes of ``ra``, starting at the writer's offset, into ``cw``; no commit.

    :raises ~aiocontent.InvalidArgumentError: ``n`` is negative.
    :raises ShortReadError: ``ra`` has fewer than ``n`` bytes from that offset.
    """
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n must be an int, not {type(n).__name__}")
    if n < 0:
        raise InvalidArgumentError(
            f"copy_reader_at size {n} must not be negative: {InvalidArgumentError.kind_text}"
        )
    pos = (await cw.status()).offset
    end = pos + n
    while pos < end:
        chunk = await ra.read_at(min(COPY_CHUNK, end - pos), pos)
        if not chunk:
            raise ShortReadError(
                f"failed to copy {n} bytes: source ended {end - pos} bytes early: unexpected EOF"
            )
        pos += await cw.write(chunk)


class BlobReader(ByteReceiveStream):
    """A sequential reader over a :class:`~aiocontent.ReaderAt`, made by :func:`new_reader`.

    A :class:`~anyio.abc.ByteReceiveStream` (``receive``; ``async for chunk in
    reader``) that also has ``read(n)`` and ``seek(offset, whence)``. Seeking
    past the end is allowed; the next read returns ``b""``. :meth:`aclose`
    closes the underlying reader.
    """

    def __init__(self, ra: ReaderAt, chunk_size: int = COPY_CHUNK) -> None:
        self._ra = ra
        self._pos = 0
        self._chunk = chunk_size

    @property
    def size(self) -> int:
        """The blob's size."""
        return self._ra.size

    def tell(self) -> int:
        """The current position."""
        return self._pos

    async def receive(self, max_bytes: int = COPY_CHUNK) -> bytes:
        """The next chunk of at most ``max_bytes``.

        :raises anyio.EndOfStream: at the end of the blob.
        """
        data = await self.read(max_bytes)
        if not data and max_bytes:
            raise anyio.EndOfStream
        return data

    async def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes (all that is left when ``n < 0``); ``b""`` at the end."""
        if n < 0:
            n = max(self._ra.size - self._pos, 0)
            parts = []
            while n > 0:
                part = await self._ra.read_at(n, self._pos)
                if not part:
                    break
                self._pos += len(part)
                n -= len(part)
                parts.append(part)
            return b"".join(parts)
        data = await self._ra.read_at(n, self._pos)
        self._pos += len(data)
        return data

    async def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """Move the position, like :meth:`io.IOBase.seek`; returns the new position.

        :raises ~aiocontent.InvalidArgumentError: the result would be negative or
            ``whence`` is unknown.
        """
        if whence == os.SEEK_SET:
            pos = offset
        elif whence == os.SEEK_CUR:
            pos = self._pos + offset
        elif whence == os.SEEK_END:
            pos = self._ra.size + offset
        else:
            raise InvalidArgumentError(f"invalid whence {whence!r}: invalid argument")
        if pos < 0:
            raise InvalidArgumentError(f"negative seek position {pos}: invalid argument")
        self._pos = pos
        await anyio.lowlevel.checkpoint()
        return pos

    async def aclose(self) -> None:
        """Close the underlying :class:`~aiocontent.ReaderAt`."""
        await self._ra.aclose()


def new_reader(ra: ReaderAt) -> BlobReader:
    """A sequential :class:`BlobReader` over ``ra``, starting at offset 0."""
    return BlobReader(ra)


def _desc_data_ok(desc: Descriptor) -> bool:
    data = desc.data
    if data is None or len(data) != desc.size:
        return False
    try:
        desc.digest.validate()
    except InvalidArgumentError:
        return False
    return Digest.from_bytes(data, desc.digest.algorithm) == desc.digest


async def read_blob(provider: Provider, desc: Descriptor) -> bytes:
    """The whole blob ``desc`` names.

    Uses ``desc.data`` when it has ``desc.size`` bytes hashing to ``desc.digest``;
    otherwise reads the blob from ``provider``.

    :raises ~aiocontent.NotFoundError: no such blob.
    """
    if _desc_data_ok(desc):
        assert desc.data is not None
        return desc.data
    ra = await provider.reader_at(desc)
    try:
        return await BlobReader(ra).read()
    finally:
        with anyio.CancelScope(shield=True):
            await ra.aclose()


async def exists(provider: Provider | InfoProvider, desc: Descriptor) -> bool:
    """Whether the blob ``desc.digest`` is committed in ``provider``.

    Uses ``info`` when the provider has it, else opens a reader.

    :raises ~aiocontent.InvalidArgumentError: the digest is malformed.
    """
    dgst = parse_digest_arg(desc.digest)
    try:
        if isinstance(provider, InfoProvider):
            await provider.info(dgst)
        else:
            ra = await provider.reader_at(desc)
            await ra.aclose()
    except NotFoundError:
        return False
    return True


async def open_writer(cs: Ingester, *opts: WriterOpt) -> Writer:
    """Like ``cs.writer(*opts)``, but waits while another writer holds the ref.

    With a store that reports releases (:class:`~aiocontent.SupportsLockWait`)
    it wakes as soon as the holder of the same store object releases; otherwise,
    and across store objects or processes, it retries with a backoff of at most
    one second. Cancellation ends the wait.
    """
    ref = resolve_writer_opts(opts).ref
    delay = _BACKOFF_START
    while True:
        try:
            return await cs.writer(*opts)
        except UnavailableError:
            pass
        if isinstance(cs, SupportsLockWait):
            await cs.wait_unlocked(ref, poll=delay)
        else:
            await anyio.sleep(random.uniform(delay / 2, delay))
        delay = min(delay * 2, _BACKOFF_MAX)


def _puttable(cs: Ingester, r: Source, desc: Descriptor) -> bool:
    """Whether :func:`write_blob` may store ``r`` with one ``put``.

    A source whose length differs from ``desc.size`` takes the writer's path, so
    that a short source still raises :class:`ShortReadError`.
    """
    if not desc.digest or not isinstance(r, bytes | bytearray | memoryview):
        return False
    n = r.nbytes if isinstance(r, memoryview) else len(r)
    return n <= PUT_MAX and (desc.size <= 0 or n == desc.size) and isinstance(cs, SupportsPut)


async def _write_blob(
    cs: Ingester, ref: str, r: Source, desc: Descriptor, opts: tuple[Opt, ...]
) -> None:
    if _puttable(cs, r, desc):
        try:
            await cast("SupportsPut", cs).put(
                ref, cast("bytes | bytearray | memoryview", r), desc, *opts
            )
            return
        except (UnavailableError, FailedPreconditionError):
            # A writer of this store holds the ref (wait for it like any writer),
            # or the bytes do not match: the writer's path keeps them in an ingest
            # for inspection or resume and raises the same error.
            pass
    try:
        cw = await open_writer(cs, with_ref(ref), with_descriptor(desc))
    except AlreadyExistsError:
        return
    try:
        await copy(cw, r, desc.size, desc.digest, *opts)
    finally:
        with anyio.CancelScope(shield=True):
            await cw.aclose()


async def write_blob(cs: Ingester, ref: str, r: Source, desc: Descriptor, *opts: Opt) -> None:
    """Write ``r`` as the blob ``desc`` under ``ref``, verifying its size and digest.

    Returns at once, without reading ``r``, when the blob already exists. With a
    store that offers single-flight (:class:`~aiocontent.SupportsSingleFlight`),
    a call for a digest that another ``write_blob`` of the same store is writing
    waits for it and returns without reading ``r`` when that one succeeds, or
    takes over when it fails. The writer is always closed (the ingest stays for
    resume on failure) and the source's own exceptions propagate unchanged.

    A bytes-like source of at most :data:`PUT_MAX` bytes with a known digest
    goes to a store offering :class:`~aiocontent.SupportsPut` in one ``put``
    (no ingest). When a writer of the store holds ``ref``, or the bytes do not
    match ``desc``, it takes the writer's path instead: it waits for the ref,
    and a mismatch leaves the ingest as it always does.

    :raises ShortReadError: ``r`` has fewer than ``desc.size`` bytes.
    :raises ~aiocontent.FailedPreconditionError: the bytes do not match ``desc``.
    """
    if not isinstance(desc, Descriptor):
        raise TypeError(f"desc must be a Descriptor, not {type(desc).__name__}")
    if desc.digest and isinstance(cs, SupportsSingleFlight):
        async with cs.flights.lead(parse_digest_arg(desc.digest)) as must_write:
            if must_write:
                await _write_blob(cs, ref, r, desc, opts)
        return
    await _write_blob(cs, ref, r, desc, opts)
