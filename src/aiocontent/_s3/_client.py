"""The S3 calls :class:`~aiocontent.S3Store` makes, typed, on top of aiobotocore.

:class:`S3Client` adds the bucket and object calls and streaming reads to the
multipart calls (:mod:`._multipart`) and the connection (:mod:`._connection`):
a missing key is ``None`` or :class:`Missing`, a failed condition is
:class:`PreconditionFailed`, anything else unexpected is an :class:`OSError`
naming the operation and the key.
"""

from __future__ import annotations

import asyncio
import dataclasses
import email.utils
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from .._messages import s3_failed
from . import _bridge
from ._connection import Missing, strip_etag
from ._multipart import MultipartCalls


@dataclasses.dataclass(frozen=True)
class Head:
    """What HEAD (or a GET) says about an object."""

    size: int
    etag: str
    last_modified: datetime
    metadata: dict[str, str]


@dataclasses.dataclass(frozen=True)
class Listed:
    """One object of a listing."""

    key: str
    size: int
    etag: str
    last_modified: datetime


def _aware(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


class S3Client(MultipartCalls):
    """Every call :class:`~aiocontent.S3Store` makes on its bucket."""

    async def ensure_bucket(self) -> None:
        """Create the bucket unless it exists."""

        async def go() -> None:
            try:
                await self._do("HeadBucket", "", "head_bucket")
            except Missing:
                try:
                    await self._do("CreateBucket", "", "create_bucket")
                except OSError as exc:
                    if "BucketAlreadyOwnedByYou" not in str(exc):
                        raise

        await self._run(go())

    # -------------------------------------------------------------- objects

    async def head(self, key: str) -> Head | None:
        """HEAD ``key``; ``None`` when it does not exist."""

        async def go() -> Head | None:
            try:
                r = await self._do("HeadObject", key, "head_object", Key=key)
            except Missing:
                return None
            return Head(
                size=int(r["ContentLength"]),
                etag=strip_etag(r.get("ETag", "")),
                last_modified=_aware(r["LastModified"]),
                metadata=dict(r.get("Metadata") or {}),
            )

        return await self._run(go())

    async def get(
        self, key: str, start: int = 0, end: int | None = None
    ) -> tuple[bytes, Head, datetime] | None:
        """GET ``key`` (bytes ``start`` to ``end`` exclusive, or to its end).

        :return: the bytes, the object's head and the server's clock (``Date``);
            ``None`` when the key does not exist. A range past the end gives ``b""``.
        """

        async def go() -> tuple[bytes, Head, datetime] | None:
            kwargs: dict[str, Any] = {"Key": key}
            if start or end is not None:
                kwargs["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
            try:
                r = await self._do("GetObject", key, "get_object", **kwargs)
            except Missing:
                return None
            except EOFError:
                now = datetime.now(UTC)
                return b"", Head(0, "", now, {}), now
            async with r["Body"] as body:
                data = await body.read()
            total = int(r["ContentLength"])
            content_range = r.get("ContentRange")
            if content_range and "/" in content_range:
                total = int(content_range.rsplit("/", 1)[1])
            date = r["ResponseMetadata"].get("HTTPHeaders", {}).get("date")
            server_now = email.utils.parsedate_to_datetime(date) if date else datetime.now(UTC)
            return (
                bytes(data),
                Head(
                    size=total,
                    etag=strip_etag(r.get("ETag", "")),
                    last_modified=_aware(r["LastModified"]),
                    metadata=dict(r.get("Metadata") or {}),
                ),
                _aware(server_now),
            )

        return await self._run(go())

    async def put(
        self,
        key: str,
        body: bytes | bytearray | memoryview,
        *,
        if_none_match: bool = False,
        if_match: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> str:
        """PUT ``body`` at ``key`` and return the new ETag.

        :raises PreconditionFailed: ``if_none_match`` and the key exists, or
            ``if_match`` and the ETag differs.
        """
        kwargs: dict[str, Any] = {"Key": key, "Body": bytes(body)}
        if if_none_match:
            kwargs["IfNoneMatch"] = "*"
        if if_match is not None:
            kwargs["IfMatch"] = self.if_match(if_match)
        if metadata:
            kwargs["Metadata"] = metadata

        async def go() -> str:
            r = await self._do("PutObject", key, "put_object", **kwargs)
            return strip_etag(r.get("ETag", ""))

        return await self._run(go())

    async def delete(self, key: str) -> None:
        """DELETE ``key`` (nothing happens when it is missing)."""

        async def go() -> None:
            await self._do("DeleteObject", key, "delete_object", Key=key)

        await self._run(go())

    async def delete_many(self, keys: Sequence[str]) -> None:
        """Delete ``keys`` in batches of 1000."""

        async def go() -> None:
            for i in range(0, len(keys), 1000):
                batch = [{"Key": k} for k in keys[i : i + 1000]]
                r = await self._do(
                    "DeleteObjects",
                    keys[i],
                    "delete_objects",
                    Delete={"Objects": batch, "Quiet": True},
                )
                errors = [e for e in r.get("Errors", []) if e.get("Code") != "NoSuchKey"]
                if errors:
                    raise s3_failed("DeleteObjects", self.url(""), errors[:3])

        if keys:
            await self._run(go())

    async def list_page(
        self,
        prefix: str,
        token: str | None = None,
        delimiter: str | None = None,
        *,
        start_after: str | None = None,
        max_keys: int = 1000,
    ) -> tuple[list[Listed], list[str], str | None]:
        """One page of ListObjectsV2: objects, common prefixes and the next token.

        ``start_after`` lists only keys after it (ignored by S3 with a token);
        ``max_keys`` caps the page's entries (objects and common prefixes).
        """
        kwargs: dict[str, Any] = {"Prefix": prefix, "MaxKeys": max_keys}
        if token:
            kwargs["ContinuationToken"] = token
        elif start_after:
            kwargs["StartAfter"] = start_after
        if delimiter:
            kwargs["Delimiter"] = delimiter

        async def go() -> tuple[list[Listed], list[str], str | None]:
            r = await self._do("ListObjectsV2", prefix, "list_objects_v2", **kwargs)
            objects = [
                Listed(
                    key=o["Key"],
                    size=int(o["Size"]),
                    etag=strip_etag(o.get("ETag", "")),
                    last_modified=_aware(o["LastModified"]),
                )
                for o in r.get("Contents", [])
            ]
            prefixes = [p["Prefix"] for p in r.get("CommonPrefixes", [])]
            nxt = r.get("NextContinuationToken") if r.get("IsTruncated") else None
            return objects, prefixes, nxt

        return await self._run(go())

    async def list_all(self, prefix: str) -> list[Listed]:
        """Every object under ``prefix``."""
        out: list[Listed] = []
        token: str | None = None
        while True:
            objects, _, token = await self.list_page(prefix, token)
            out.extend(objects)
            if token is None:
                return out

    async def copy(self, src: str, dst: str, metadata: dict[str, str]) -> str:
        """Server-side CopyObject (at most 5 GiB on S3), replacing the metadata."""

        async def go() -> str:
            r = await self._do(
                "CopyObject",
                dst,
                "copy_object",
                Key=dst,
                CopySource={"Bucket": self.bucket, "Key": src},
                Metadata=metadata,
                MetadataDirective="REPLACE",
            )
            return strip_etag(r.get("CopyObjectResult", {}).get("ETag", ""))

        return await self._run(go())

    # -------------------------------------------------------------- streaming reads

    async def open_stream(self, key: str, start: int, piece: int, depth: int) -> Stream:
        """Start one GET of ``key`` from ``start`` to its end, read ahead by a pump.

        The pump, on the private loop, reads pieces of ``piece`` bytes and keeps at
        most ``depth`` of them waiting.
        """
        queue: asyncio.Queue[bytes | BaseException] | None = None

        async def pump(body: Any, q: asyncio.Queue[bytes | BaseException]) -> None:
            try:
                async with body:
                    while True:
                        buf = bytearray()
                        while len(buf) < piece:
                            chunk = await body.read(piece - len(buf))
                            if not chunk:
                                break
                            buf += chunk
                        if buf:
                            await q.put(bytes(buf))
                        if len(buf) < piece:
                            await q.put(b"")
                            return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await q.put(s3_failed("GetObject", self.url(key), exc))

        async def go() -> asyncio.Task[None]:
            nonlocal queue
            r = await self._do("GetObject", key, "get_object", Key=key, Range=f"bytes={start}-")
            queue = asyncio.Queue(maxsize=depth)
            return asyncio.get_running_loop().create_task(pump(r["Body"], queue))

        task = await self._run(go())
        assert queue is not None
        return Stream(task, queue)


class Stream:
    """The consumer side of :meth:`S3Client.open_stream`."""

    def __init__(self, task: asyncio.Task[None], queue: asyncio.Queue[bytes | BaseException]):
        self._task = task
        self._queue = queue
        self._done = False

    async def next(self) -> bytes:
        """The next piece; ``b""`` at the end.

        :raises OSError: the download failed.
        """
        if self._done:
            return b""
        item = await _bridge.call(self._queue.get())
        if isinstance(item, BaseException):
            self._done = True
            raise item
        if not item:
            self._done = True
        return item

    def close(self) -> None:
        """Stop the pump and release the connection."""
        self._done = True
        if not self._task.done():
            self._task.get_loop().call_soon_threadsafe(self._task.cancel)
