"""Blob uploads: a session is an ingest with ref ``registry/uploads/<name>/<id>``.

The ingest survives a restart, so a session resumes from the offset its status
reports; PATCH and PUT take the ref's writer (the ref lock), so two requests on
one session never interleave. Verification is the store's commit: a digest or
size mismatch commits nothing and the session is dropped.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import AsyncIterator

import anyio
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from .._digest import Digest
from .._errors import AlreadyExistsError, FailedPreconditionError, NotFoundError
from .._helpers import open_writer
from .._interfaces import Writer
from .._types import Descriptor, with_descriptor, with_ref
from ._context import API_HEADERS, CHUNK, Registry
from ._errors import RegistryError
from ._names import ALGORITHMS, check_digest, check_name, check_upload_id
from ._reuse import reuse

__all__ = ("cancel", "finish", "patch", "start", "status")

_CONTENT_RANGE = re.compile(r"(?:bytes[ =])?(\d+)-(\d+)(?:/(?:\d+|\*))?")


def upload_ref(name: str, upload_id: str) -> str:
    """The ingest ref of upload ``upload_id`` to repository ``name``."""
    return f"registry/uploads/{name}/{upload_id}"


def _progress(name: str, upload_id: str, offset: int) -> dict[str, str]:
    """Headers telling the client where the session is and how much it holds."""
    return {
        **API_HEADERS,
        "Location": f"/v2/{name}/blobs/uploads/{upload_id}",
        "Range": f"0-{max(offset - 1, 0)}",
        "Docker-Upload-UUID": upload_id,
        "Content-Length": "0",
    }


def _created(name: str, digest: Digest) -> Response:
    headers = {
        **API_HEADERS,
        "Location": f"/v2/{name}/blobs/{digest}",
        "Docker-Content-Digest": str(digest),
        "Content-Length": "0",
    }
    return Response(status_code=201, headers=headers)


def _declared_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    if value is None:
        return None
    if not value.isdigit():
        raise RegistryError("SIZE_INVALID", {"Content-Length": value[:64]})
    return int(value)


def _chunk_span(request: Request, offset: int, name: str, upload_id: str) -> int | None:
    """The length a ``Content-Range`` header declares, checked to continue at ``offset``.

    ``None`` without the header (a streamed chunk). A range that does not start at
    the session's offset, or disagrees with ``Content-Length``, is a 416.
    """
    header = request.headers.get("content-range")
    if header is None:
        return None
    match = _CONTENT_RANGE.fullmatch(header.strip())
    if match is None:
        raise RegistryError("BLOB_UPLOAD_INVALID", {"Content-Range": header[:64]}, status=416)
    start, end = int(match[1]), int(match[2])
    length = _declared_length(request)
    if start != offset or end < start or (length is not None and length != end - start + 1):
        raise RegistryError(
            "BLOB_UPLOAD_INVALID",
            {"Content-Range": header[:64], "offset": offset},
            status=416,
            headers=_progress(name, upload_id, offset),
        )
    return end - start + 1


async def _append(
    writer: Writer, request: Request, limit: int | None, headers: dict[str, str] | None = None
) -> int:
    """Write the request body to ``writer`` in pieces of about :data:`CHUNK`; returns its length.

    Small network reads are gathered so the store sees few large writes. A body
    longer than ``limit`` raises a 416 (with ``headers``) as soon as it shows;
    when the client goes away, what arrived is written before the error goes on.
    """
    written = 0
    pending = bytearray()

    async def flush() -> None:
        nonlocal written
        if limit is not None and written + len(pending) > limit:
            reason = {"reason": "body longer than Content-Range"}
            raise RegistryError("BLOB_UPLOAD_INVALID", reason, status=416, headers=headers)
        if pending:
            await writer.write(bytes(pending))
            written += len(pending)
            pending.clear()

    async with contextlib.aclosing(request.stream()) as stream:
        try:
            async for piece in stream:
                pending += piece
                if len(pending) >= CHUNK or (limit is not None and written + len(pending) > limit):
                    await flush()
        except ClientDisconnect:
            await flush()
            raise
    await flush()
    return written


async def _append_chunk(writer: Writer, request: Request, name: str, upload_id: str) -> int:
    """Append the request's chunk at the session's offset; returns the new offset.

    A chunk with a ``Content-Range`` applies whole or not at all: a body shorter
    or longer than the range (416), a client that goes away or any other failure
    cuts the session back to where it was. A streamed chunk keeps what arrived,
    and the session's status says how much that was.
    """
    offset = (await writer.status()).offset
    limit = _chunk_span(request, offset, name, upload_id)
    headers = _progress(name, upload_id, offset)
    try:
        written = await _append(writer, request, limit, headers)
        if limit is not None and written != limit:
            raise RegistryError(
                "BLOB_UPLOAD_INVALID",
                {"reason": "body shorter than Content-Range", "received": written},
                status=416,
                headers=headers,
            )
    except BaseException:
        if limit is not None:
            with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
                await writer.truncate(offset)
        raise
    return offset + written


@contextlib.asynccontextmanager
async def _session(registry: Registry, name: str, upload_id: str) -> AsyncIterator[Writer]:
    """The writer of an existing session, held (waiting for its ref) for one request.

    :raises RegistryError: BLOB_UPLOAD_UNKNOWN when there is no such session, or
        when it is cancelled while this request holds it.
    """
    ref = upload_ref(name, check_upload_id(upload_id))
    unknown = RegistryError("BLOB_UPLOAD_UNKNOWN", {"upload": upload_id})
    try:
        await registry.store.status(ref)
    except NotFoundError:
        raise unknown from None
    async with await open_writer(registry.store, with_ref(ref)) as writer:
        try:
            yield writer
        except NotFoundError:
            raise unknown from None


async def _commit(registry: Registry, writer: Writer, ref: str, name: str, digest: Digest) -> None:
    """Commit ``writer`` as ``digest`` and link it to ``name``; a mismatch drops the ingest."""
    try:
        await writer.commit(0, digest)
    except AlreadyExistsError:  # an old copy may be garbage to a running collection
        try:
            await reuse(registry.store, digest)
        except NotFoundError:  # collected since the commit found it: the bytes went too
            raise RegistryError(
                "BLOB_UPLOAD_UNKNOWN",
                {"digest": str(digest), "reason": "collected while committed; upload it again"},
            ) from None
    except FailedPreconditionError as exc:
        with contextlib.suppress(NotFoundError):
            await registry.store.abort(ref)
        raise RegistryError("DIGEST_INVALID", {"digest": str(digest), "reason": str(exc)}) from None
    await registry.metadata.link_blob(name, digest)


async def _mount(registry: Registry, name: str, digest: Digest, source: str | None) -> bool:
    """Link ``digest`` into ``name`` if ``source`` (any repository when ``None``) has it."""
    if source is not None:
        meta = registry.metadata
        if (
            not await meta.blob_linked(source, digest)
            and await meta.manifest(source, digest) is None
        ):
            return False
    try:
        await reuse(registry.store, digest)
    except NotFoundError:
        return False
    await registry.metadata.link_blob(name, digest)
    return True


async def _monolithic(registry: Registry, request: Request, name: str, digest: Digest) -> Response:
    """``POST ?digest=``: the body is the whole blob, verified at commit."""
    length = _declared_length(request)
    ref = upload_ref(name, uuid.uuid4().hex)
    desc = Descriptor(digest=digest, size=length or 0)
    while True:
        try:
            writer = await registry.store.writer(with_ref(ref), with_descriptor(desc))
        except AlreadyExistsError:
            try:
                await reuse(registry.store, digest)
            except NotFoundError:  # collected meanwhile: the body is still unread
                continue
            await registry.metadata.link_blob(name, digest)
            return _created(name, digest)
        break
    async with writer:
        try:
            written = await _append(writer, request, length)
            if length is not None and written != length:
                raise RegistryError("SIZE_INVALID", {"Content-Length": length, "received": written})
        except BaseException:  # a failed monolithic push leaves nothing behind
            with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
                await registry.store.abort(ref)
            raise
        await _commit(registry, writer, ref, name, digest)
    return _created(name, digest)


async def start(registry: Registry, request: Request, name: str, arg: str) -> Response:
    """``POST /v2/<name>/blobs/uploads/``: a session (202), a monolithic push or a mount (201)."""
    query = request.query_params
    if "mount" in query:
        digest = check_digest(query["mount"])
        source = check_name(query["from"]) if "from" in query else None
        if await _mount(registry, name, digest, source):
            return _created(name, digest)
    elif "digest" in query:
        return await _monolithic(registry, request, name, check_digest(query["digest"]))
    algorithm = query.get("digest-algorithm")
    if algorithm is not None and algorithm not in ALGORITHMS:
        raise RegistryError("DIGEST_INVALID", {"digest-algorithm": algorithm[:64]})
    upload_id = uuid.uuid4().hex
    writer = await registry.store.writer(with_ref(upload_ref(name, upload_id)))
    await writer.aclose()
    return Response(status_code=202, headers=_progress(name, upload_id, 0))


async def patch(registry: Registry, request: Request, name: str, arg: str) -> Response:
    """``PATCH`` a chunk (with ``Content-Range``) or a stream (without) onto the session."""
    async with _session(registry, name, arg) as writer:
        offset = await _append_chunk(writer, request, name, arg)
    return Response(status_code=202, headers=_progress(name, arg, offset))


async def finish(registry: Registry, request: Request, name: str, arg: str) -> Response:
    """``PUT ?digest=``: append a last chunk if any, verify and commit (201)."""
    async with _session(registry, name, arg) as writer:
        digest = check_digest(request.query_params.get("digest", ""))
        await _append_chunk(writer, request, name, arg)
        await _commit(registry, writer, upload_ref(name, arg), name, digest)
    return _created(name, digest)


async def status(registry: Registry, request: Request, name: str, arg: str) -> Response:
    """``GET`` a session: 204 with ``Range: 0-<last byte>``."""
    ref = upload_ref(name, check_upload_id(arg))
    try:
        offset = (await registry.store.status(ref)).offset
    except NotFoundError:
        raise RegistryError("BLOB_UPLOAD_UNKNOWN", {"upload": arg}) from None
    return Response(status_code=204, headers=_progress(name, arg, offset))


async def cancel(registry: Registry, request: Request, name: str, arg: str) -> Response:
    """``DELETE`` a session: its ingest is removed (204)."""
    ref = upload_ref(name, check_upload_id(arg))
    try:
        await registry.store.abort(ref)
    except NotFoundError:
        raise RegistryError("BLOB_UPLOAD_UNKNOWN", {"upload": arg}) from None
    return Response(status_code=204, headers={**API_HEADERS})
