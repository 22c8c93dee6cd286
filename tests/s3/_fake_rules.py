"""S3's rules the fake service keeps: error codes, ETags, byte ranges, and its records.

See :mod:`._fake_client` for the service itself.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import email.utils
import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from botocore.exceptions import ClientError  # type: ignore[import-untyped]

MIN_PART: Final = 5 << 20
MAX_PART_NUMBER: Final = 10_000
MAX_KEY_BYTES: Final = 1024
MAX_METADATA_BYTES: Final = 2048

STATUS: Final = {
    "404": 404,
    "NoSuchKey": 404,
    "NoSuchBucket": 404,
    "NoSuchUpload": 404,
    "PreconditionFailed": 412,
    "InvalidRange": 416,
    "BucketAlreadyOwnedByYou": 409,
    "NotImplemented": 501,
}


def s3_error(code: str, message: str, operation: str) -> ClientError:
    status = STATUS.get(code, 400)
    response = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, operation)


def utcnow() -> datetime:
    return datetime.now(UTC)


def header_time(t: datetime) -> datetime:
    """A time as an HTTP header carries it: whole seconds."""
    return t.replace(microsecond=0)


def quoted(etag: str) -> str:
    return f'"{etag}"'


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def response_meta(now: datetime, status: int = 200) -> dict[str, Any]:
    return {
        "HTTPStatusCode": status,
        "HTTPHeaders": {"date": email.utils.format_datetime(now, usegmt=True)},
    }


def source_key(copy_source: str | Mapping[str, str]) -> tuple[str, str]:
    if isinstance(copy_source, str):
        bucket, _, key = copy_source.lstrip("/").partition("/")
        return bucket, key
    return copy_source["Bucket"], copy_source["Key"]


def byte_range(spec: str, size: int, operation: str) -> tuple[int, int]:
    """``bytes=a-b`` / ``bytes=a-`` / ``bytes=-n`` as ``[start, end)`` within ``size``."""
    unit, _, rng = spec.partition("=")
    first, dash, last = rng.partition("-")
    if unit != "bytes" or not dash or not (first or last):
        raise s3_error("InvalidArgument", f"malformed range {spec!r}", operation)
    if not first:
        start, end = max(size - int(last), 0), size
    else:
        start = int(first)
        end = min(int(last) + 1, size) if last else size
        if last and int(last) < start:
            raise s3_error("InvalidArgument", f"malformed range {spec!r}", operation)
    if start >= size:
        raise s3_error(
            "InvalidRange", f"range {spec!r} not satisfiable for {size} bytes", operation
        )
    return start, end


@dataclasses.dataclass
class StoredObject:
    body: bytes
    etag: str
    last_modified: datetime
    metadata: dict[str, str]


@dataclasses.dataclass
class StoredPart:
    body: bytes
    etag: str
    last_modified: datetime


@dataclasses.dataclass
class OpenUpload:
    key: str
    initiated: datetime
    metadata: dict[str, str]
    parts: dict[int, StoredPart] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class StoredBucket:
    objects: dict[str, StoredObject] = dataclasses.field(default_factory=dict)
    uploads: dict[str, OpenUpload] = dataclasses.field(default_factory=dict)


def check_key(key: str, operation: str) -> None:
    """Keys are 1 to 1024 bytes of UTF-8."""
    if not key or len(key.encode()) > MAX_KEY_BYTES:
        raise s3_error("KeyTooLongError", f"key of {len(key.encode())} bytes", operation)


def user_metadata(metadata: Mapping[str, str] | None, operation: str) -> dict[str, str]:
    """User metadata as S3 keeps it: lower-case keys, at most 2 KB."""
    out = {k.lower(): v for k, v in (metadata or {}).items()}
    if sum(len(k) + len(v) for k, v in out.items()) > MAX_METADATA_BYTES:
        raise s3_error("MetadataTooLarge", "user metadata over 2 KB", operation)
    return out


def encode_token(after: str, prefix: str) -> str:
    """A continuation token: where the page ended (a key, and the common prefix it was in)."""
    return base64.urlsafe_b64encode(
        json.dumps({"after": after, "prefix": prefix}).encode()
    ).decode()


def decode_token(token: str) -> tuple[str, str]:
    position = json.loads(base64.urlsafe_b64decode(token))
    return str(position["after"]), str(position["prefix"])


def list_keys(
    objects: Mapping[str, StoredObject],
    prefix: str,
    delimiter: str | None,
    max_keys: int,
    after: str,
    after_prefix: str,
) -> tuple[list[str], list[str], bool, tuple[str, str]]:
    """One page of a listing in UTF-8 byte order: keys, common prefixes, truncated, last.

    Entries start past ``after`` (and outside ``after_prefix``); a common prefix
    counts as one entry, like a key.
    """
    keys: list[str] = []
    prefixes: list[str] = []
    last = ("", "")
    for key in sorted(objects, key=lambda k: k.encode()):
        if not key.startswith(prefix) or key.encode() <= after.encode():
            continue
        if after_prefix and key.startswith(after_prefix):
            continue
        rest = key[len(prefix) :]
        cut = rest.find(delimiter) if delimiter else -1
        common = prefix + rest[: cut + len(delimiter)] if delimiter and cut >= 0 else ""
        if common and prefixes and prefixes[-1] == common:
            continue
        if len(keys) + len(prefixes) == max_keys:
            return keys, prefixes, True, last
        if common:
            prefixes.append(common)
        else:
            keys.append(key)
        last = (key, common)
    return keys, prefixes, False, last


def listed(key: str, obj: StoredObject) -> dict[str, Any]:
    """A listing's entry for an object (Last-Modified to the millisecond, as S3 lists it)."""
    stamp = obj.last_modified
    return {
        "Key": key,
        "Size": len(obj.body),
        "ETag": quoted(obj.etag),
        "LastModified": stamp.replace(microsecond=stamp.microsecond // 1000 * 1000),
        "StorageClass": "STANDARD",
    }


class Body:
    """A GET's streaming body: ``read(amt)`` in pieces, an async context manager."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0
        self._closed = False

    async def read(self, amt: int | None = None) -> bytes:
        await asyncio.sleep(0)
        if self._closed:
            raise ValueError("read of a closed body")
        end = len(self._data) if amt is None or amt < 0 else self._pos + amt
        chunk = self._data[self._pos : end]
        self._pos += len(chunk)
        return chunk

    def close(self) -> None:
        self._closed = True

    async def __aenter__(self) -> Body:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()
