"""Blob GET, HEAD and DELETE: streamed from ``reader_at``, with ETag and single byte ranges."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from .._digest import Digest
from .._errors import NotFoundError
from .._interfaces import Store
from .._types import Descriptor
from ._context import API_HEADERS, CHUNK, Registry, digest_headers
from ._errors import RegistryError
from ._names import check_digest

__all__ = ("Unsatisfiable", "delete", "get", "parse_range", "stream_blob")

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """The inclusive byte span a ``Range`` header asks of a ``size``-byte blob.

    ``None`` means serve the whole blob (no header, or one this server does not
    honour, such as several ranges, as RFC 9110 allows). A single range that
    starts beyond the end, or ends before it starts (the OCI conformance suite
    wants that refused), raises :class:`Unsatisfiable`.
    """
    match = _RANGE.fullmatch(header.strip())
    if match is None:
        return None
    first, last = match[1], match[2]
    if not first and not last:
        return None
    if not first:  # suffix: the last N bytes
        length = int(last)
        if length == 0 or size == 0:
            raise Unsatisfiable(size)
        return max(size - length, 0), size - 1
    start = int(first)
    if start >= size or (last and int(last) < start):
        raise Unsatisfiable(size)
    return start, min(int(last), size - 1) if last else size - 1


class Unsatisfiable(Exception):
    """A ``Range`` this blob cannot satisfy: answered 416 with ``Content-Range: bytes */size``."""

    def __init__(self, size: int) -> None:
        super().__init__(f"range not satisfiable for a blob of {size} bytes")
        self.size = size


async def stream_blob(store: Store, digest: Digest, start: int, end: int) -> AsyncIterator[bytes]:
    """Bytes ``start..end`` (inclusive) of the blob, read in pieces of at most :data:`CHUNK`.

    The reader is opened when the body starts and closed when it ends (or the
    client goes away), so a request holds one piece in memory at a time.
    """
    async with await store.reader_at(Descriptor(digest=digest)) as ra:
        offset = start
        while offset <= end:
            piece = await ra.read_at(min(CHUNK, end - offset + 1), offset)
            if not piece:
                return
            offset += len(piece)
            yield piece


async def _linked_size(registry: Registry, name: str, digest: Digest) -> int:
    """The size of blob ``digest`` if ``name`` may serve it, else BLOB_UNKNOWN."""
    linked = await registry.metadata.blob_linked(name, digest)
    if not linked and await registry.metadata.manifest(name, digest) is None:
        raise RegistryError("BLOB_UNKNOWN", {"digest": str(digest)})
    try:
        return (await registry.store.info(digest)).size
    except NotFoundError:
        raise RegistryError("BLOB_UNKNOWN", {"digest": str(digest)}) from None


def _etag_matches(header: str, digest: Digest) -> bool:
    tags = {t.strip().removeprefix("W/") for t in header.split(",")}
    return "*" in tags or f'"{digest}"' in tags


async def get(registry: Registry, request: Request, name: str, arg: str) -> Response:
    """``GET``/``HEAD /v2/<name>/blobs/<digest>``: 200, 206 for a range, 304, 404 or 416.

    A pull-through cache counts serving a blob it holds as using it.
    """
    digest = check_digest(arg)
    if registry.cache is None:
        return await _serve(registry, request, name, digest)
    miss = await registry.cache.blob(registry, request, name, digest)
    if miss is not None:
        return miss
    response = await _serve(registry, request, name, digest)
    response.background = registry.cache.used(registry.store, digest)
    return response


async def _serve(registry: Registry, request: Request, name: str, digest: Digest) -> Response:
    size = await _linked_size(registry, name, digest)
    headers = {**digest_headers(digest), "Accept-Ranges": "bytes"}
    if _etag_matches(request.headers.get("if-none-match", ""), digest):
        return Response(status_code=304, headers=headers)
    try:
        span = parse_range(request.headers.get("range", ""), size)
    except Unsatisfiable:
        headers.update({"Content-Range": f"bytes */{size}", "Content-Length": "0"})
        return Response(status_code=416, headers=headers)
    status = 200
    start, end = 0, size - 1
    if span is not None:
        start, end = span
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    headers["Content-Length"] = str(end - start + 1)
    media_type = "application/octet-stream"
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers, media_type=media_type)
    return StreamingResponse(
        stream_blob(registry.store, digest, start, end),
        status_code=status,
        headers=headers,
        media_type=media_type,
    )


async def delete(registry: Registry, request: Request, name: str, arg: str) -> Response:
    """``DELETE /v2/<name>/blobs/<digest>``: unlink from the repository (202), else 404.

    The content stays in the store: other repositories may link it.
    """
    digest = check_digest(arg)
    if not await registry.metadata.unlink_blob(name, digest):
        raise RegistryError("BLOB_UNKNOWN", {"digest": str(digest)})
    return Response(status_code=202, headers={**API_HEADERS, "Content-Length": "0"})
