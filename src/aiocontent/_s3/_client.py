"""The S3 calls :class:`~aiocontent.S3Store` makes, typed, on top of aiobotocore.

Each method runs its request on the private asyncio loop (:mod:`._bridge`) and
maps S3's answers to what the store needs: a missing key is ``None`` or
:class:`Missing`, a failed condition is :class:`PreconditionFailed`, anything
else unexpected is an :class:`OSError` naming the operation and the key.
aiobotocore is imported only when a store is made (:func:`require_extra`), so
``import aiocontent`` works without the ``s3`` extra and never loads botocore.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import email.utils
import importlib
from collections.abc import Coroutine, Sequence
from datetime import UTC, datetime
from typing import Any, Final, Literal, TypeVar

from .._messages import closed, s3_failed
from . import _bridge

T = TypeVar("T")

#: Codes S3 and Ceph use for a key or an upload that does not exist.
_MISSING_CODES: Final = frozenset({"404", "NoSuchKey", "NotFound"})
_NO_UPLOAD_CODES: Final = frozenset({"NoSuchUpload"})
_PRECONDITION_CODES: Final = frozenset({"412", "PreconditionFailed"})
_RANGE_CODES: Final = frozenset({"416", "InvalidRange"})

_session: Any = None


#: What to install when the ``s3`` extra is missing.
EXTRA_HINT: Final = "pip install 'aiocontent[s3]'"


def require_extra() -> None:
    """Import aiobotocore and botocore, or say which extra installs them.

    :raises ImportError: the ``s3`` extra is not installed; the message names
        the missing module and the install command, the original error is the cause.
    """
    try:
        for name in ("botocore.config", "aiobotocore.session"):
            importlib.import_module(name)
    except ImportError as exc:
        raise ImportError(
            f"S3Store needs the s3 extra ({exc.name or 'aiobotocore'} is missing): {EXTRA_HINT}",
            name=exc.name,
        ) from exc


class Missing(Exception):
    """The key (or the multipart upload) does not exist."""


class PreconditionFailed(Exception):
    """A conditional request (``If-None-Match`` / ``If-Match``) was refused (HTTP 412)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class ClientConfig:
    """How to reach and sign requests for an S3-compatible service."""

    endpoint_url: str | None = None
    region_name: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None
    addressing_style: Literal["path", "virtual", "auto"] = "path"
    checksums: Literal["when_required", "when_supported"] = "when_required"
    max_pool_connections: int = 32
    unquoted_if_match: bool = True
    #: The aiobotocore session that creates the client; ``None``: one shared by the process.
    session: Any = None


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


@dataclasses.dataclass(frozen=True)
class Part:
    """One uploaded part of a multipart upload."""

    number: int
    size: int
    etag: str


def _code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _strip(etag: str) -> str:
    return etag.strip('"')


def _aware(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


class S3Client:
    """One aiobotocore client for one bucket, created on first use on the private loop."""

    def __init__(self, config: ClientConfig, bucket: str) -> None:
        self.config = config
        self.bucket = bucket
        self._client: Any = None
        self._closed = False

    # -------------------------------------------------------------- plumbing

    async def _make(self) -> Any:
        global _session
        if self._client is None:
            if self._closed:
                raise closed("S3 client")
            require_extra()
            from aiobotocore.session import get_session  # type: ignore[import-untyped]
            from botocore.config import Config  # type: ignore[import-untyped]

            if _session is None and self.config.session is None:
                _session = get_session()
            cfg = self.config
            session = cfg.session or _session
            self._client = await session.create_client(
                "s3",
                endpoint_url=cfg.endpoint_url,
                region_name=cfg.region_name,
                aws_access_key_id=cfg.access_key_id,
                aws_secret_access_key=cfg.secret_access_key,
                aws_session_token=cfg.session_token,
                config=Config(
                    s3={"addressing_style": cfg.addressing_style},
                    request_checksum_calculation=cfg.checksums,
                    response_checksum_validation=cfg.checksums,
                    max_pool_connections=cfg.max_pool_connections,
                    retries={"mode": "standard", "max_attempts": 4},
                ),
            ).__aenter__()
        return self._client

    async def _do(self, op: str, key: str, coro_fn: Any, /, **kwargs: Any) -> Any:
        """Bridge side: run one client method, mapping errors."""
        from botocore.exceptions import (  # type: ignore[import-untyped]
            BotoCoreError,
            ClientError,
        )

        client = await self._make()
        try:
            return await getattr(client, coro_fn)(Bucket=self.bucket, **kwargs)
        except ClientError as exc:
            code = _code(exc)
            if code in _MISSING_CODES or code in _NO_UPLOAD_CODES:
                raise Missing(f"{op} {key}: {code}") from exc
            if code in _PRECONDITION_CODES:
                raise PreconditionFailed(f"{op} {key}: {code}") from exc
            if code in _RANGE_CODES:
                raise EOFError(f"{op} {key}: {code}") from exc
            raise s3_failed(op, self.url(key), exc) from exc
        except (TimeoutError, BotoCoreError, OSError) as exc:
            raise s3_failed(op, self.url(key), exc) from exc
        except Exception as exc:
            # aiohttp's payload errors and the like: an I/O failure, not a bug of ours.
            if type(exc).__module__.startswith(("aiohttp", "botocore", "aiobotocore")):
                raise s3_failed(op, self.url(key), exc) from exc
            raise

    @staticmethod
    async def _run(coro: Coroutine[Any, Any, T]) -> T:
        return await _bridge.call(coro)

    def url(self, key: str) -> str:
        """``s3://<bucket>/<key>``, for messages."""
        return f"s3://{self.bucket}/{key}"

    def if_match(self, etag: str) -> str:
        """The ``If-Match`` value for ``etag`` (Ceph 16 matches only the unquoted form)."""
        return _strip(etag) if self.config.unquoted_if_match else f'"{_strip(etag)}"'

    async def aclose(self) -> None:
        """Close the connection pool. Later calls raise ``FailedPreconditionError``."""
        self._closed = True
        client, self._client = self._client, None
        if client is not None:
            await self._run(client.__aexit__(None, None, None))

    # -------------------------------------------------------------- buckets

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
                etag=_strip(r.get("ETag", "")),
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
                    etag=_strip(r.get("ETag", "")),
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
            return _strip(r.get("ETag", ""))

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
                    etag=_strip(o.get("ETag", "")),
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
            return _strip(r.get("CopyObjectResult", {}).get("ETag", ""))

        return await self._run(go())

    # -------------------------------------------------------------- multipart uploads

    async def create_upload(self, key: str, metadata: dict[str, str] | None = None) -> str:
        """Start a multipart upload to ``key``; returns its upload id."""
        kwargs: dict[str, Any] = {"Key": key}
        if metadata:
            kwargs["Metadata"] = metadata

        async def go() -> str:
            r = await self._do("CreateMultipartUpload", key, "create_multipart_upload", **kwargs)
            return str(r["UploadId"])

        return await self._run(go())

    def upload_part(
        self, key: str, upload_id: str, number: int, body: bytes
    ) -> Coroutine[Any, Any, str]:
        """Bridge-side coroutine uploading one part; returns its ETag.

        Meant for :func:`._bridge.submit`, so several parts can be in flight.

        :raises Missing: the upload is gone (aborted).
        """

        async def go() -> str:
            r = await self._do(
                "UploadPart",
                key,
                "upload_part",
                Key=key,
                UploadId=upload_id,
                PartNumber=number,
                Body=body,
            )
            return _strip(r.get("ETag", ""))

        return go()

    def upload_part_copy(
        self, key: str, upload_id: str, number: int, src: str, start: int, end: int
    ) -> Coroutine[Any, Any, str]:
        """Bridge-side coroutine copying ``src[start:end]`` as one part; returns its ETag."""

        async def go() -> str:
            r = await self._do(
                "UploadPartCopy",
                key,
                "upload_part_copy",
                Key=key,
                UploadId=upload_id,
                PartNumber=number,
                CopySource={"Bucket": self.bucket, "Key": src},
                CopySourceRange=f"bytes={start}-{end - 1}",
            )
            return _strip(r.get("CopyPartResult", {}).get("ETag", ""))

        return go()

    async def list_parts(self, key: str, upload_id: str) -> list[Part] | None:
        """The parts of an upload in part-number order; ``None`` when it is gone."""

        async def go() -> list[Part] | None:
            parts: list[Part] = []
            marker = 0
            while True:
                try:
                    r = await self._do(
                        "ListParts",
                        key,
                        "list_parts",
                        Key=key,
                        UploadId=upload_id,
                        PartNumberMarker=marker,
                    )
                except Missing:
                    return None
                for p in r.get("Parts", []):
                    parts.append(Part(int(p["PartNumber"]), int(p["Size"]), _strip(p["ETag"])))
                if not r.get("IsTruncated"):
                    return sorted(parts, key=lambda p: p.number)
                marker = int(r["NextPartNumberMarker"])

        return await self._run(go())

    async def complete_upload(self, key: str, upload_id: str, parts: Sequence[Part]) -> str:
        """Complete an upload with ``parts``; returns the object's ETag.

        :raises Missing: the upload is gone.
        """
        spec = {"Parts": [{"PartNumber": p.number, "ETag": f'"{p.etag}"'} for p in parts]}

        async def go() -> str:
            r = await self._do(
                "CompleteMultipartUpload",
                key,
                "complete_multipart_upload",
                Key=key,
                UploadId=upload_id,
                MultipartUpload=spec,
            )
            return _strip(r.get("ETag", ""))

        return await self._run(go())

    async def abort_upload(self, key: str, upload_id: str) -> None:
        """Abort an upload, dropping its parts; a gone upload is fine."""

        async def go() -> None:
            with contextlib.suppress(Missing):
                await self._do(
                    "AbortMultipartUpload",
                    key,
                    "abort_multipart_upload",
                    Key=key,
                    UploadId=upload_id,
                )

        await self._run(go())

    async def list_uploads(self, prefix: str) -> list[tuple[str, str]]:
        """``(key, upload_id)`` of every unfinished upload under ``prefix``."""

        async def go() -> list[tuple[str, str]]:
            out: list[tuple[str, str]] = []
            kwargs: dict[str, Any] = {"Prefix": prefix}
            while True:
                r = await self._do(
                    "ListMultipartUploads", prefix, "list_multipart_uploads", **kwargs
                )
                out.extend((u["Key"], u["UploadId"]) for u in r.get("Uploads", []))
                if not r.get("IsTruncated"):
                    return out
                kwargs["KeyMarker"] = r.get("NextKeyMarker", "")
                kwargs["UploadIdMarker"] = r.get("NextUploadIdMarker", "")

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
