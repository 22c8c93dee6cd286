"""An in-memory S3 service speaking the part of aiobotocore's S3 client that S3Store uses.

:class:`FakeS3` holds buckets, objects and multipart uploads; :meth:`FakeS3.session`
gives what ``S3Store(session=...)`` wants: an object whose ``create_client("s3",
...)`` returns a client (an async context manager, like aiobotocore's). The
client has exactly the operations :mod:`aiocontent._s3._client` calls, with
aiobotocore's keyword names; any other parameter is a ``TypeError``, so a new
call in the store fails loudly here instead of being half-faked.

It keeps S3's rules where S3Store depends on them:

- ETags are quoted MD5 hex digests of the body; a completed multipart upload's
  is the MD5 of its parts' binary MD5s, ``-<number of parts>``.
- ``IfNoneMatch`` accepts only ``*`` and fails with 412 when the key exists;
  ``IfMatch`` compares ETags with or without quotes and fails with 412 when they
  differ and 404 ``NoSuchKey`` when the key is missing (AWS's answer).
- A missing key is ``NoSuchKey`` (or a bare ``404`` for HEAD), a missing upload
  ``NoSuchUpload``, a range past the end ``InvalidRange`` (416).
- Completing an upload checks the parts' order, numbers and ETags, and that every
  part but the last has at least 5 MiB; only the listed parts make the object.
- Listings are in UTF-8 byte order, paginated by ``MaxKeys`` with common prefixes
  counting as entries; metadata keys are lower-cased; keys are at most 1024
  bytes; Last-Modified has one-second resolution in headers.

The rules, and the records the service keeps, are in :mod:`._fake_rules`.
Errors are botocore's :class:`~botocore.exceptions.ClientError` carrying the
code and HTTP status S3 sends. Like aiobotocore, it runs on asyncio only
(S3Store's private loop). Every operation is atomic and yields to the event
loop once first, so concurrent requests interleave as they would on a server.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import IO, Any

from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from ._fake_rules import (
    MAX_PART_NUMBER,
    MIN_PART,
    Body,
    OpenUpload,
    StoredBucket,
    StoredObject,
    StoredPart,
    byte_range,
    check_key,
    decode_token,
    encode_token,
    header_time,
    list_keys,
    listed,
    md5,
    quoted,
    response_meta,
    s3_error,
    source_key,
    user_metadata,
    utcnow,
)

__all__ = ("MIN_PART", "FakeS3", "FakeS3Client", "FakeSession")


class FakeS3:
    """The service: buckets by name, and a count of the requests of each operation."""

    def __init__(self) -> None:
        self.buckets: dict[str, StoredBucket] = {}
        self.calls: collections.Counter[str] = collections.Counter()
        self._ids = itertools.count(1)

    def session(self) -> FakeSession:
        """A stand-in for an aiobotocore session whose clients talk to this service."""
        return FakeSession(self)

    def client(self) -> FakeS3Client:
        """A new client of this service."""
        return FakeS3Client(self)

    def new_upload_id(self) -> str:
        return f"{next(self._ids)}-{uuid.uuid4().hex}"


class FakeSession:
    """``create_client("s3", **settings)``: the endpoint and credentials are not used."""

    def __init__(self, service: FakeS3) -> None:
        self.service = service

    def create_client(self, service_name: str, **settings: Any) -> FakeS3Client:
        if service_name != "s3":
            raise ValueError(f"the fake serves only s3, not {service_name!r}")
        return FakeS3Client(self.service)


class FakeS3Client:
    """One client; an async context manager, unusable once exited (like aiobotocore's)."""

    def __init__(self, service: FakeS3) -> None:
        self._service = service
        self._closed = False

    async def __aenter__(self) -> FakeS3Client:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._closed = True

    # ------------------------------------------------------------------ plumbing

    async def _begin(self, operation: str) -> datetime:
        await asyncio.sleep(0)
        if self._closed:
            raise RuntimeError(f"{operation} on a closed S3 client")
        self._service.calls[operation] += 1
        return utcnow()

    def _bucket(self, name: str, operation: str) -> StoredBucket:
        bucket = self._service.buckets.get(name)
        if bucket is None:
            raise s3_error("NoSuchBucket", f"bucket {name!r} does not exist", operation)
        return bucket

    def _object(
        self, bucket: StoredBucket, key: str, operation: str, code: str = "NoSuchKey"
    ) -> StoredObject:
        obj = bucket.objects.get(key)
        if obj is None:
            raise s3_error(code, f"key {key!r} does not exist", operation)
        return obj

    def _upload(self, bucket: StoredBucket, key: str, upload_id: str, operation: str) -> OpenUpload:
        upload = bucket.uploads.get(upload_id)
        if upload is None or upload.key != key:
            raise s3_error("NoSuchUpload", f"upload {upload_id!r} of {key!r}", operation)
        return upload

    @staticmethod
    def _head_fields(obj: StoredObject) -> dict[str, Any]:
        return {
            "ETag": quoted(obj.etag),
            "LastModified": header_time(obj.last_modified),
            "Metadata": dict(obj.metadata),
        }

    # ------------------------------------------------------------------ buckets

    async def head_bucket(self, *, Bucket: str) -> dict[str, Any]:
        now = await self._begin("HeadBucket")
        if Bucket not in self._service.buckets:
            raise s3_error("404", "Not Found", "HeadBucket")
        return {"ResponseMetadata": response_meta(now)}

    async def create_bucket(self, *, Bucket: str) -> dict[str, Any]:
        now = await self._begin("CreateBucket")
        if Bucket in self._service.buckets:
            raise s3_error("BucketAlreadyOwnedByYou", f"bucket {Bucket!r} exists", "CreateBucket")
        self._service.buckets[Bucket] = StoredBucket()
        return {"Location": f"/{Bucket}", "ResponseMetadata": response_meta(now)}

    # ------------------------------------------------------------------ objects

    async def head_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:
        now = await self._begin("HeadObject")
        obj = self._object(self._bucket(Bucket, "HeadObject"), Key, "HeadObject", code="404")
        return {
            "ContentLength": len(obj.body),
            **self._head_fields(obj),
            "ResponseMetadata": response_meta(now),
        }

    async def get_object(
        self, *, Bucket: str, Key: str, Range: str | None = None
    ) -> dict[str, Any]:
        now = await self._begin("GetObject")
        obj = self._object(self._bucket(Bucket, "GetObject"), Key, "GetObject")
        size = len(obj.body)
        out: dict[str, Any] = self._head_fields(obj)
        if Range is None:
            body = obj.body
            out["ResponseMetadata"] = response_meta(now)
        else:
            start, end = byte_range(Range, size, "GetObject")
            body = obj.body[start:end]
            out["ContentRange"] = f"bytes {start}-{end - 1}/{size}"
            out["ResponseMetadata"] = response_meta(now, 206)
        out["ContentLength"] = len(body)
        out["Body"] = Body(body)
        return out

    async def put_object(
        self,
        *,
        Bucket: str,
        Key: str,
        Body: bytes | bytearray | memoryview,
        IfNoneMatch: str | None = None,
        IfMatch: str | None = None,
        Metadata: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        now = await self._begin("PutObject")
        bucket = self._bucket(Bucket, "PutObject")
        check_key(Key, "PutObject")
        if not isinstance(Body, bytes | bytearray | memoryview):
            raise TypeError(f"Body must be bytes-like here, not {type(Body).__name__}")
        metadata = user_metadata(Metadata, "PutObject")
        current = bucket.objects.get(Key)
        if IfNoneMatch is not None:
            if IfNoneMatch != "*":
                raise s3_error("NotImplemented", "If-None-Match takes only '*'", "PutObject")
            if current is not None:
                raise s3_error("PreconditionFailed", f"{Key!r} exists", "PutObject")
        if IfMatch is not None:
            if current is None:
                raise s3_error("NoSuchKey", f"key {Key!r} does not exist", "PutObject")
            if IfMatch.strip('"') != current.etag:
                raise s3_error("PreconditionFailed", f"ETag of {Key!r} differs", "PutObject")
        data = bytes(Body)
        obj = StoredObject(data, md5(data), now, metadata)
        bucket.objects[Key] = obj
        return {"ETag": quoted(obj.etag), "ResponseMetadata": response_meta(now)}

    async def delete_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:
        now = await self._begin("DeleteObject")
        self._bucket(Bucket, "DeleteObject").objects.pop(Key, None)
        return {"ResponseMetadata": response_meta(now, 204)}

    async def delete_objects(self, *, Bucket: str, Delete: Mapping[str, Any]) -> dict[str, Any]:
        now = await self._begin("DeleteObjects")
        bucket = self._bucket(Bucket, "DeleteObjects")
        entries = list(Delete["Objects"])
        if not 1 <= len(entries) <= 1000:
            raise s3_error("MalformedXML", f"{len(entries)} keys (1 to 1000)", "DeleteObjects")
        for entry in entries:
            bucket.objects.pop(entry["Key"], None)
        out: dict[str, Any] = {"ResponseMetadata": response_meta(now)}
        if not Delete.get("Quiet", False):
            out["Deleted"] = [{"Key": entry["Key"]} for entry in entries]
        return out

    async def copy_object(
        self,
        *,
        Bucket: str,
        Key: str,
        CopySource: str | Mapping[str, str],
        Metadata: Mapping[str, str] | None = None,
        MetadataDirective: str = "COPY",
    ) -> dict[str, Any]:
        now = await self._begin("CopyObject")
        bucket = self._bucket(Bucket, "CopyObject")
        check_key(Key, "CopyObject")
        src_bucket, src_key = source_key(CopySource)
        src = self._object(self._bucket(src_bucket, "CopyObject"), src_key, "CopyObject")
        if MetadataDirective not in ("COPY", "REPLACE"):
            raise s3_error(
                "InvalidArgument", f"MetadataDirective {MetadataDirective!r}", "CopyObject"
            )
        if (src_bucket, src_key) == (Bucket, Key) and MetadataDirective == "COPY":
            raise s3_error("InvalidRequest", "copy to itself changes nothing", "CopyObject")
        metadata = (
            user_metadata(Metadata, "CopyObject")
            if MetadataDirective == "REPLACE"
            else dict(src.metadata)
        )
        obj = StoredObject(src.body, md5(src.body), now, metadata)
        bucket.objects[Key] = obj
        return {
            "CopyObjectResult": {"ETag": quoted(obj.etag), "LastModified": now},
            "ResponseMetadata": response_meta(now),
        }

    async def list_objects_v2(
        self,
        *,
        Bucket: str,
        Prefix: str = "",
        Delimiter: str | None = None,
        MaxKeys: int = 1000,
        ContinuationToken: str | None = None,
        StartAfter: str | None = None,
    ) -> dict[str, Any]:
        now = await self._begin("ListObjectsV2")
        bucket = self._bucket(Bucket, "ListObjectsV2")
        after, after_prefix = StartAfter or "", ""
        if ContinuationToken:
            after, after_prefix = decode_token(ContinuationToken)
        keys, prefixes, truncated, last = list_keys(
            bucket.objects, Prefix, Delimiter, MaxKeys, after, after_prefix
        )
        contents = [listed(key, bucket.objects[key]) for key in keys]
        out: dict[str, Any] = {
            "IsTruncated": truncated,
            "KeyCount": len(contents) + len(prefixes),
            "MaxKeys": MaxKeys,
            "Prefix": Prefix,
            "ResponseMetadata": response_meta(now),
        }
        if contents:
            out["Contents"] = contents
        if prefixes:
            out["CommonPrefixes"] = [{"Prefix": p} for p in prefixes]
        if truncated:
            out["NextContinuationToken"] = encode_token(*last)
        return out

    # ------------------------------------------------------------------ multipart uploads

    async def create_multipart_upload(
        self, *, Bucket: str, Key: str, Metadata: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        now = await self._begin("CreateMultipartUpload")
        bucket = self._bucket(Bucket, "CreateMultipartUpload")
        check_key(Key, "CreateMultipartUpload")
        upload_id = self._service.new_upload_id()
        metadata = user_metadata(Metadata, "CreateMultipartUpload")
        bucket.uploads[upload_id] = OpenUpload(Key, now, metadata)
        return {
            "Bucket": Bucket,
            "Key": Key,
            "UploadId": upload_id,
            "ResponseMetadata": response_meta(now),
        }

    def _add_part(
        self, upload: OpenUpload, number: int, body: bytes, now: datetime, op: str
    ) -> str:
        if not 1 <= number <= MAX_PART_NUMBER:
            raise s3_error("InvalidArgument", f"part number {number} (1 to 10000)", op)
        etag = md5(body)
        upload.parts[number] = StoredPart(body, etag, now)
        return etag

    async def upload_part(
        self, *, Bucket: str, Key: str, UploadId: str, PartNumber: int, Body: bytes | IO[bytes]
    ) -> dict[str, Any]:
        now = await self._begin("UploadPart")
        upload = self._upload(self._bucket(Bucket, "UploadPart"), Key, UploadId, "UploadPart")
        data = Body.read() if hasattr(Body, "read") else bytes(Body)  # a file, as botocore takes
        etag = self._add_part(upload, PartNumber, data, now, "UploadPart")
        return {"ETag": quoted(etag), "ResponseMetadata": response_meta(now)}

    async def upload_part_copy(
        self,
        *,
        Bucket: str,
        Key: str,
        UploadId: str,
        PartNumber: int,
        CopySource: str | Mapping[str, str],
        CopySourceRange: str | None = None,
    ) -> dict[str, Any]:
        op = "UploadPartCopy"
        now = await self._begin(op)
        upload = self._upload(self._bucket(Bucket, op), Key, UploadId, op)
        src_bucket, src_key = source_key(CopySource)
        src = self._object(self._bucket(src_bucket, op), src_key, op)
        body = src.body
        if CopySourceRange is not None:
            try:
                start, end = byte_range(CopySourceRange, len(body), op)
            except ClientError as exc:
                raise s3_error(
                    "InvalidArgument",
                    f"range {CopySourceRange!r} is not valid for {len(body)} bytes",
                    op,
                ) from exc
            body = body[start:end]
        etag = self._add_part(upload, PartNumber, body, now, op)
        return {
            "CopyPartResult": {"ETag": quoted(etag), "LastModified": now},
            "ResponseMetadata": response_meta(now),
        }

    async def list_parts(
        self,
        *,
        Bucket: str,
        Key: str,
        UploadId: str,
        PartNumberMarker: int = 0,
        MaxParts: int = 1000,
    ) -> dict[str, Any]:
        now = await self._begin("ListParts")
        upload = self._upload(self._bucket(Bucket, "ListParts"), Key, UploadId, "ListParts")
        numbers = sorted(n for n in upload.parts if n > PartNumberMarker)
        page = numbers[:MaxParts]
        out: dict[str, Any] = {
            "Bucket": Bucket,
            "Key": Key,
            "UploadId": UploadId,
            "IsTruncated": len(numbers) > MaxParts,
            "ResponseMetadata": response_meta(now),
        }
        if page:
            out["Parts"] = [
                {
                    "PartNumber": n,
                    "ETag": quoted(upload.parts[n].etag),
                    "Size": len(upload.parts[n].body),
                    "LastModified": upload.parts[n].last_modified,
                }
                for n in page
            ]
        if out["IsTruncated"]:
            out["NextPartNumberMarker"] = page[-1]
        return out

    async def complete_multipart_upload(
        self, *, Bucket: str, Key: str, UploadId: str, MultipartUpload: Mapping[str, Any]
    ) -> dict[str, Any]:
        op = "CompleteMultipartUpload"
        now = await self._begin(op)
        bucket = self._bucket(Bucket, op)
        upload = self._upload(bucket, Key, UploadId, op)
        listed = list(MultipartUpload.get("Parts", []))
        if not listed:
            raise s3_error("MalformedXML", "no parts", op)
        numbers = [int(p["PartNumber"]) for p in listed]
        if numbers != sorted(set(numbers)):
            raise s3_error("InvalidPartOrder", f"parts {numbers} are not ascending", op)
        parts: list[StoredPart] = []
        for p in listed:
            part = upload.parts.get(int(p["PartNumber"]))
            if part is None or str(p["ETag"]).strip('"') != part.etag:
                raise s3_error("InvalidPart", f"part {p['PartNumber']} is not uploaded", op)
            parts.append(part)
        if any(len(part.body) < MIN_PART for part in parts[:-1]):
            raise s3_error("EntityTooSmall", "a part other than the last is under 5 MiB", op)
        digests = b"".join(bytes.fromhex(part.etag) for part in parts)
        etag = f"{md5(digests)}-{len(parts)}"
        body = b"".join(part.body for part in parts)
        bucket.objects[Key] = StoredObject(body, etag, now, upload.metadata)
        del bucket.uploads[UploadId]
        return {
            "Bucket": Bucket,
            "Key": Key,
            "ETag": quoted(etag),
            "ResponseMetadata": response_meta(now),
        }

    async def abort_multipart_upload(
        self, *, Bucket: str, Key: str, UploadId: str
    ) -> dict[str, Any]:
        op = "AbortMultipartUpload"
        now = await self._begin(op)
        bucket = self._bucket(Bucket, op)
        self._upload(bucket, Key, UploadId, op)
        del bucket.uploads[UploadId]
        return {"ResponseMetadata": response_meta(now, 204)}

    async def list_multipart_uploads(
        self,
        *,
        Bucket: str,
        Prefix: str = "",
        KeyMarker: str = "",
        UploadIdMarker: str = "",
        MaxUploads: int = 1000,
    ) -> dict[str, Any]:
        op = "ListMultipartUploads"
        now = await self._begin(op)
        bucket = self._bucket(Bucket, op)
        ordered = sorted(
            (
                (u.key, u.initiated, upload_id)
                for upload_id, u in bucket.uploads.items()
                if u.key.startswith(Prefix)
            ),
            key=lambda item: (item[0].encode(), item[1]),
        )
        if KeyMarker:
            past = [
                i
                for i, (key, _, uid) in enumerate(ordered)
                if (key, uid) == (KeyMarker, UploadIdMarker)
            ]
            if past:
                ordered = ordered[past[0] + 1 :]
            else:
                ordered = [item for item in ordered if item[0].encode() > KeyMarker.encode()]
        page = ordered[:MaxUploads]
        out: dict[str, Any] = {
            "Bucket": Bucket,
            "Prefix": Prefix,
            "IsTruncated": len(ordered) > MaxUploads,
            "ResponseMetadata": response_meta(now),
        }
        if page:
            out["Uploads"] = [
                {"Key": key, "UploadId": uid, "Initiated": initiated}
                for key, initiated, uid in page
            ]
        if out["IsTruncated"]:
            out["NextKeyMarker"], out["NextUploadIdMarker"] = page[-1][0], page[-1][2]
        return out
