"""S3Store: the content store on any S3-compatible object storage."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import random
import socket
import uuid
from collections.abc import AsyncIterator, Coroutine
from contextlib import AbstractAsyncContextManager
from typing import Any, Final, Literal, TypeVar, final

import anyio
from anyio.abc import AsyncResource

from .._digest import SHA256, Digest, parse_digest_arg
from .._errors import NotFoundError
from .._interfaces import Store
from .._locks import RefLocks
from .._messages import (
    closed,
    content_exists,
    content_not_found,
    ingest_not_found,
    invalid,
)
from .._singleflight import Flights
from .._types import (
    Descriptor,
    Info,
    LabelUpdate,
    Status,
    WalkFunc,
    WriterOpt,
    check_callable,
    check_descriptor,
    check_str,
    resolve_writer_opts,
)
from . import _bridge
from ._blobs import blob_infos, gather, read_meta, update_labels
from ._client import S3Client
from ._connection import ClientConfig, require_extra
from ._ingests import ingest_dirs, remove_ingest, stored_status
from ._layout import IngestState, Layout, Meta, created_fallback
from ._lock import S3Lock
from ._parts import MAX_COPY, MAX_PARTS, check_limits
from ._reader import S3ReaderAt
from ._writer import S3Writer

__all__ = ("S3Store",)

T = TypeVar("T")

_MIB: Final = 1 << 20


@final
class S3Store(AsyncResource):
    """A complete :class:`~aiocontent.Store` in a bucket of an S3-compatible service.

    Layout under ``prefix`` (LocalStore's, as objects): ``blobs/<alg>/<encoded>``
    for committed content, ``meta/<alg>/<encoded>`` for times and labels,
    ``ingest/<sha256 of ref>/{state,data}`` for ingests and ``locks/<sha256 of
    ref>`` for ref locks. Any number of store objects, processes and hosts may
    share one bucket and prefix: ref locks are lock objects created with
    ``If-None-Match: *`` and kept alive by a lease, label updates are
    compare-and-swap on the sidecar's ETag, and an ingest left by a crashed
    writer is resumed anywhere, re-reading and re-hashing every byte.

    Requests go through aiobotocore (the ``s3`` extra), on a private asyncio loop
    in a helper thread, so the store works on asyncio and on trio alike.

    :param bucket: the bucket (created on first use with ``create_bucket=True``).
    :param prefix: a key prefix; ``"a/b"`` and ``"a/b/"`` are the same.
    :param endpoint_url: the service, e.g. ``http://127.0.0.1:7480``; ``None``
        for AWS. Credentials default to botocore's usual sources.
    :param addressing_style: ``"path"`` (Ceph, MinIO), ``"virtual"`` or ``"auto"``.
    :param checksums: botocore's ``request_checksum_calculation`` and
        ``response_checksum_validation``; ``"when_required"`` suits Ceph 16,
        which rejects the newer default checksum trailers.
    :param unquoted_if_match: send ``If-Match`` ETags without quotes (Ceph 16
        matches only that form; AWS accepts both).
    :param part_size: bytes per uploaded part (at least 5 MiB): the unit of
        buffering, so a writer holds at most ``(max_inflight + 1) * part_size``.
    :param max_inflight: parts of one writer on the wire at once.
    :param max_copy_size: the largest blob made visible with one CopyObject;
        larger ones use a multipart copy in ``copy_part_size`` ranges.
    :param lock_lease: seconds a ref lock outlives a holder that stopped renewing.
    :param session: the aiobotocore session to create the client with (default:
        one shared by the process); anything with its ``create_client`` will do.
    :raises ImportError: the ``s3`` extra is not installed (the message says
        ``pip install 'aiocontent[s3]'``).
    :raises ~aiocontent.InvalidArgumentError: a size out of S3's limits.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region_name: str = "us-east-1",
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        aws_session_token: str | None = None,
        addressing_style: Literal["path", "virtual", "auto"] = "path",
        checksums: Literal["when_required", "when_supported"] = "when_required",
        unquoted_if_match: bool = True,
        create_bucket: bool = False,
        part_size: int = 8 * _MIB,
        max_inflight: int = 3,
        max_copy_size: int = MAX_COPY,
        copy_part_size: int = 512 * _MIB,
        lock_lease: float = 30.0,
        read_ahead: int = 8,
        session: Any = None,
    ) -> None:
        require_extra()
        if not check_str(bucket, "bucket"):
            raise invalid(f"bucket must not be empty, got {bucket!r}")
        check_str(prefix, "prefix")
        check_limits(part_size, copy_part_size, max_copy_size, max_inflight, lock_lease, read_ahead)
        self._args: dict[str, Any] = {
            name: value for name, value in locals().items() if name not in ("self", "__class__")
        }
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        self.bucket = bucket
        self.prefix = prefix
        self._config = ClientConfig(
            endpoint_url=endpoint_url,
            region_name=region_name,
            access_key_id=aws_access_key_id,
            secret_access_key=aws_secret_access_key,
            session_token=aws_session_token,
            addressing_style=addressing_style,
            checksums=checksums,
            unquoted_if_match=unquoted_if_match,
            session=session,
        )
        self._client = S3Client(self._config, bucket)
        self._layout = Layout(prefix)
        self._create_bucket = create_bucket
        self._bucket_ready = not create_bucket
        self._part_size = part_size
        self._max_inflight = max_inflight
        self._max_copy_size = max_copy_size
        self._copy_part_size = copy_part_size
        self._lease = float(lock_lease)
        self._read_ahead = read_ahead
        self._locks = RefLocks()
        self._flights = Flights()
        self._writers: dict[str, S3Writer] = {}
        self._owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self._users = 1  # the store itself, plus each open writer and reader
        self._closed = False
        self._copy_sem: asyncio.Semaphore | None = None

    def __repr__(self) -> str:
        return f"S3Store(bucket={self.bucket!r}, prefix={self.prefix!r})"

    # ------------------------------------------------------------------ plumbing

    @property
    def flights(self) -> Flights:
        """Running ``write_blob`` leaders of this store object (single-flight)."""
        return self._flights

    def _limited(self, coro: Coroutine[Any, Any, T]) -> Coroutine[Any, Any, T]:
        """Bridge side: run ``coro`` under the store's copy concurrency limit."""

        async def go() -> T:
            if self._copy_sem is None:
                self._copy_sem = asyncio.Semaphore(4)
            async with self._copy_sem:
                return await coro

        return go()

    async def _ready(self) -> None:
        if self._closed:
            raise closed(repr(self))
        if not self._bucket_ready:
            await self._client.ensure_bucket()
            self._bucket_ready = True

    async def _user_done(self) -> None:
        self._users -= 1
        if self._users == 0:
            await self._client.aclose()

    async def _writer_done(self, writer: S3Writer) -> None:
        if self._writers.get(writer._ref) is writer:
            del self._writers[writer._ref]
        await self._user_done()

    async def aclose(self) -> None:
        """Close the store: new calls raise :class:`~aiocontent.FailedPreconditionError`.

        Writers and readers opened before keep working until they are closed.
        """
        if self._closed:
            return
        self._closed = True
        with anyio.CancelScope(shield=True):
            await self._user_done()

    def sibling(self) -> AbstractAsyncContextManager[Store]:
        """Another store object on the same bucket and prefix, sharing no state.

        Its writers exclude this store's writers exactly as another host's would.
        """

        @contextlib.asynccontextmanager
        async def cm() -> AsyncIterator[Store]:
            other = S3Store(**self._args)
            try:
                yield other
            finally:
                await other.aclose()

        return cm()

    async def wait_unlocked(self, ref: str, *, poll: float) -> None:
        """Wait until this store object's writer of ``ref`` is done, else ``poll`` seconds.

        A lock held by another store object or host is not announced: the caller
        retries after the poll.
        """
        check_str(ref, "ref")
        if self._locks.is_locked(ref):
            await self._locks.wait_unlocked(ref)
        else:
            await anyio.sleep(random.uniform(poll / 2, poll))

    # ------------------------------------------------------------------ blobs

    async def info(self, dgst: str) -> Info:
        """The blob's :class:`~aiocontent.Info` (one HEAD and one sidecar GET).

        :raises ~aiocontent.NotFoundError: no such blob.
        :raises ~aiocontent.InvalidArgumentError: the digest is malformed.
        """
        d = parse_digest_arg(dgst)
        await self._ready()
        head = await self._client.head(self._layout.blob(d))
        if head is None:
            raise content_not_found(d)
        meta = await self._meta(d)
        created = meta.created_at or created_fallback(head.metadata, head.last_modified)
        return Info(
            digest=d,
            size=head.size,
            created_at=created,
            updated_at=meta.updated_at or created,
            labels=dict(meta.labels),
        )

    async def _meta(self, d: Digest) -> Meta:
        return await read_meta(self._client, self._layout, d)

    async def update(self, info: Info, *fieldpaths: str) -> Info:
        """Change the blob's labels (compare-and-swap on its sidecar, so no update is lost).

        :raises ~aiocontent.InvalidArgumentError: an unknown fieldpath or a bad label.
        :raises ~aiocontent.NotFoundError: no such blob.
        """
        d, change = LabelUpdate.parse(info, fieldpaths)
        await self._ready()
        head = await self._client.head(self._layout.blob(d))
        if head is None:
            raise content_not_found(d)
        return await update_labels(self._client, self._layout, d, head, change)

    async def delete(self, dgst: str) -> None:
        """Remove the blob and its labels.

        :raises ~aiocontent.NotFoundError: no such blob.
        :raises ~aiocontent.InvalidArgumentError: the digest is malformed.
        """
        d = parse_digest_arg(dgst)
        await self._ready()
        key = self._layout.blob(d)
        if await self._client.head(key) is None:
            raise content_not_found(d)
        await self._client.delete(key)
        await self._client.delete(self._layout.meta(d))

    async def walk(self, fn: WalkFunc, *filters: str) -> None:
        """Call ``fn`` for each blob matching any filter, in key order.

        Keys under ``blobs/`` that are not valid digests are skipped (and logged).

        :raises ~aiocontent.InvalidArgumentError: a malformed filter.
        """
        from .._filters import adapt_info, parse_all

        check_callable(fn, "fn")
        flt = parse_all(*filters)
        await self._ready()
        base = self._layout.blobs()
        token: str | None = None
        while True:
            objects, _, token = await self._client.list_page(base, token)
            for info in await blob_infos(self._client, self._layout, objects, base):
                if flt.match(adapt_info(info)):
                    result = fn(info)
                    if inspect.isawaitable(result):
                        await result
            if token is None:
                return

    async def reader_at(self, desc: Descriptor) -> S3ReaderAt:
        """Open the blob ``desc.digest`` for reading (one HEAD now, GETs as read).

        :raises ~aiocontent.NotFoundError: no such blob.
        :raises ~aiocontent.InvalidArgumentError: the digest is malformed.
        """
        d = parse_digest_arg(check_descriptor(desc).digest)
        await self._ready()
        key = self._layout.blob(d)
        head = await self._client.head(key)
        if head is None:
            raise content_not_found(d)
        self._users += 1
        return S3ReaderAt(self, self._client, key, head.size, d, self._read_ahead)

    # ------------------------------------------------------------------ ingests

    async def writer(self, *opts: WriterOpt) -> S3Writer:
        """Open a writer for ``with_ref(ref)``, resuming a stored ingest.

        :raises ~aiocontent.InvalidArgumentError: empty or malformed ref, or a
            ``desc.digest`` that does not validate.
        :raises ~aiocontent.UnavailableError: another writer (of any store
            object, process or host) holds the ref.
        :raises ~aiocontent.AlreadyExistsError: ``desc.digest`` is already committed.
        :raises ~aiocontent.FailedPreconditionError: ``desc.size`` differs from
            the stored total.
        """
        wopts = resolve_writer_opts(opts)
        await self._ready()
        ref, desc = wopts.ref, wopts.desc
        alg = desc.digest.algorithm if desc.digest else SHA256
        token = self._locks.try_lock(ref)
        lock = S3Lock(self._client, self._layout.lock(ref), ref, self._owner, self._lease)
        acquired = False
        try:
            if desc.digest and await self._client.head(self._layout.blob(desc.digest)):
                raise content_exists(desc.digest)
            await lock.acquire()
            acquired = True
            part = self._part_size
            if desc.size > part * (MAX_PARTS - 1):
                part = -(-desc.size // (MAX_PARTS - 1) // _MIB) * _MIB
            w = S3Writer(self, ref, alg, desc.digest or None, token, lock, part)
            await w._open(desc.size)
        except BaseException:
            with anyio.CancelScope(shield=True):
                if acquired:
                    await lock.release()
                self._locks.unlock(token)
            raise
        self._users += 1
        self._writers[ref] = w
        return w

    async def status(self, ref: str) -> Status:
        """The ingest's status (an open writer of this store object answers from memory).

        :raises ~aiocontent.NotFoundError: no such ingest.
        """
        check_str(ref, "ref")
        await self._ready()
        w = self._writers.get(ref)
        if w is not None and not w._closed and not w._aborted:
            return await w.status()
        return await stored_status(self._client, self._layout, ref)

    async def list_statuses(self, *filters: str) -> list[Status]:
        """Statuses of the ingests whose ref matches any filter, sorted by ref.

        :raises ~aiocontent.InvalidArgumentError: a malformed filter.
        """
        from .._filters import adapt_status, parse_all

        flt = parse_all(*filters)
        await self._ready()
        dirs = await ingest_dirs(self._client, self._layout)

        async def one(d: str) -> Status | None:
            got = await self._client.get(d + "state")
            st = IngestState.loads(got[0]) if got is not None else None
            if st is None:
                return None
            try:
                return await self.status(st.ref)
            except NotFoundError:
                return None

        found = await gather([one(d) for d in dirs])
        out = [s for s in found if s is not None and flt.match(adapt_status(s))]
        return sorted(out, key=lambda s: s.ref)

    async def abort(self, ref: str) -> None:
        """Remove the ingest (its objects and unfinished uploads), even while a writer holds it.

        :raises ~aiocontent.NotFoundError: no such ingest.
        """
        check_str(ref, "ref")
        await self._ready()
        w = self._writers.get(ref)
        if w is not None:
            for fut in w._mark_aborted():
                with contextlib.suppress(Exception):
                    await _bridge.wait(fut)
        if not await self._remove_ingest(ref):
            raise ingest_not_found(ref)

    async def _remove_ingest(self, ref: str) -> bool:
        """Delete everything of the ingest; ``False`` when there was nothing."""
        return await remove_ingest(self._client, self._layout, ref)
