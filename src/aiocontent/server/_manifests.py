"""Manifest GET, HEAD, PUT and DELETE by tag or digest.

Bodies are ordinary blobs of the content store, written with verification; the
registry metadata links them to the repository and moves the tags.
"""

from __future__ import annotations

import contextlib
from typing import Final

from starlette.requests import Request
from starlette.responses import Response

from .._digest import SHA256, Digest
from .._errors import NotFoundError
from .._helpers import read_blob, write_blob
from .._types import Descriptor
from ._context import API_HEADERS, Registry, digest_headers
from ._errors import RegistryError
from ._manifest_parse import ParsedManifest, parse_manifest
from ._metadata import ManifestRecord
from ._names import check_digest, check_tag, is_digest
from ._reuse import gone, reuse

__all__ = ("MAX_MANIFEST_SIZE", "delete", "get", "manifest_record", "put")

#: Largest manifest accepted (the spec asks for at least 4 MiB); bigger is a 413
MAX_MANIFEST_SIZE: Final = 4 << 20


async def _digest_of(registry: Registry, name: str, reference: str) -> Digest:
    """The manifest digest ``reference`` (a tag or a digest) names in ``name``."""
    if is_digest(reference):
        return check_digest(reference)
    digest = await registry.metadata.resolve_tag(name, check_tag(reference))
    if digest is None:
        code = "MANIFEST_UNKNOWN"
        if not await registry.metadata.repository_exists(name):
            code = "NAME_UNKNOWN"
        raise RegistryError(code, {"name": name, "tag": reference})
    return digest


def _accepts(accept: str, media_type: str) -> bool:
    """Whether an ``Accept`` header admits ``media_type`` (no header admits anything)."""
    offered = {part.split(";", 1)[0].strip() for part in accept.split(",") if part.strip()}
    return not offered or bool(offered & {media_type, "*/*", "application/*"})


async def get(registry: Registry, request: Request, name: str, arg: str) -> Response:
    """``GET``/``HEAD /v2/<name>/manifests/<reference>``: the body as pushed, or 404.

    By tag, a manifest whose media type the ``Accept`` header excludes is not
    found (the client could not read it); by digest the exact bytes are served.
    A pull-through cache counts serving a manifest as using it.
    """
    if registry.cache is None:
        return await _serve(registry, request, name, arg)
    await registry.cache.manifest(registry, name, arg)
    response = await _serve(registry, request, name, arg)
    digest = Digest(response.headers["Docker-Content-Digest"])
    response.background = registry.cache.used(registry.store, digest)
    return response


async def _serve(registry: Registry, request: Request, name: str, arg: str) -> Response:
    digest = await _digest_of(registry, name, arg)
    record = await registry.metadata.manifest(name, digest)
    if record is None:
        raise RegistryError("MANIFEST_UNKNOWN", {"name": name, "digest": str(digest)})
    accept = ", ".join(request.headers.getlist("accept"))  # Go clients send one per type
    if not is_digest(arg) and not _accepts(accept, record.media_type):
        raise RegistryError(
            "MANIFEST_UNKNOWN",
            {"reason": "the Accept header excludes its media type", "mediaType": record.media_type},
        )
    headers = digest_headers(digest, record.size)
    if f'"{digest}"' in request.headers.get("if-none-match", ""):
        del headers["Content-Length"]
        return Response(status_code=304, headers=headers)
    if request.method == "HEAD":
        return Response(headers=headers, media_type=record.media_type)
    try:
        body = await read_blob(registry.store, Descriptor(digest=digest, size=record.size))
    except NotFoundError:
        raise RegistryError("MANIFEST_UNKNOWN", {"digest": str(digest)}) from None
    return Response(body, headers=headers, media_type=record.media_type)


async def _read_capped(request: Request) -> bytes:
    """The request body, refusing (413) more than :data:`MAX_MANIFEST_SIZE` bytes unread."""
    too_large = RegistryError("SIZE_INVALID", {"limit": MAX_MANIFEST_SIZE}, status=413)
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_MANIFEST_SIZE:
        raise too_large
    body = bytearray()
    async with contextlib.aclosing(request.stream()) as stream:
        async for piece in stream:
            body += piece
            if len(body) > MAX_MANIFEST_SIZE:
                raise too_large
    return bytes(body)


async def _missing(
    registry: Registry, name: str, digest: Digest, refreshed: list[Digest], *, blob: bool
) -> bool:
    """Whether ``name`` lacks the blob (or child manifest) ``digest`` it would reference.

    One that is there has its use refreshed when old (see :mod:`._reuse`); it is
    then added to ``refreshed``.
    """
    if await registry.metadata.manifest(name, digest) is None and (
        not blob or not await registry.metadata.blob_linked(name, digest)
    ):
        return True
    try:
        if await reuse(registry.store, digest):
            refreshed.append(digest)
    except NotFoundError:
        return True
    return False


def _blob_unknown(missing: list[Digest]) -> RegistryError:
    details = [{"digest": str(d)} for d in missing]
    return RegistryError("MANIFEST_BLOB_UNKNOWN", details[0], more=details[1:])


async def _check_references(registry: Registry, name: str, parsed: ParsedManifest) -> list[Digest]:
    """Every blob and child manifest named must be in ``name``: one MANIFEST_BLOB_UNKNOWN each.

    :return: the references whose use was refreshed (see :func:`._reuse.reuse`).
    """
    refreshed: list[Digest] = []
    blobs, manifests = dict.fromkeys(parsed.blobs), dict.fromkeys(parsed.manifests)
    missing = [d for d in blobs if await _missing(registry, name, d, refreshed, blob=True)]
    missing += [d for d in manifests if await _missing(registry, name, d, refreshed, blob=False)]
    if missing:
        raise _blob_unknown(missing)
    return refreshed


def manifest_record(parsed: ParsedManifest, digest: Digest, size: int) -> ManifestRecord:
    """What the metadata keeps of a verified manifest of ``size`` bytes."""
    return ManifestRecord(
        digest=digest,
        media_type=parsed.media_type,
        size=size,
        artifact_type=parsed.artifact_type,
        subject=parsed.subject,
        # only referrers report annotations: a manifest without a subject keeps its
        # (possibly megabytes of) annotations in the body alone
        annotations=parsed.annotations if parsed.subject is not None else {},
        references=parsed.blobs + parsed.manifests,
    )


async def put(registry: Registry, request: Request, name: str, arg: str) -> Response:
    """``PUT /v2/<name>/manifests/<reference>[?tag=...]``: verify, store, link, tag (201)."""
    tags = [check_tag(tag) for tag in request.query_params.getlist("tag")]
    wanted = None
    if is_digest(arg):
        wanted = check_digest(arg)
    else:
        tags.insert(0, check_tag(arg))
    body = await _read_capped(request)
    parsed = parse_manifest(body, request.headers.get("content-type", ""))
    digest = Digest.from_bytes(body, wanted.algorithm if wanted else SHA256)
    if wanted is not None and digest != wanted:
        raise RegistryError("DIGEST_INVALID", {"digest": str(wanted), "computed": str(digest)})
    refreshed = await _check_references(registry, name, parsed)
    try:
        if await reuse(registry.store, digest):
            refreshed.append(digest)
    except NotFoundError:
        await _write_body(registry, name, body, parsed.media_type, digest)
    record = manifest_record(parsed, digest, len(body))
    if refreshed:
        await _link_checked(registry, name, record, body, refreshed)
    if tags or not refreshed:
        await registry.metadata.put_manifest(name, record, tags)
    headers = {
        **digest_headers(digest),
        "Location": f"/v2/{name}/manifests/{digest}",
        "Content-Length": "0",
    }
    if parsed.subject is not None:
        headers["OCI-Subject"] = str(parsed.subject)
    if request.query_params.getlist("tag"):
        headers["OCI-Tag"] = ", ".join(tags)
    return Response(status_code=201, headers=headers)


async def _write_body(
    registry: Registry, name: str, body: bytes, media_type: str, digest: Digest
) -> None:
    desc = Descriptor(media_type=media_type, digest=digest, size=len(body))
    await write_blob(registry.store, f"registry/manifests/{name}/{digest}", body, desc)


async def _link_checked(
    registry: Registry, name: str, record: ManifestRecord, body: bytes, refreshed: list[Digest]
) -> None:
    """Link the manifest untagged, then check that the old blobs it reuses are still stored.

    A collection that found them garbage before this request refreshed them may
    still delete one; then the link is undone (when this request made it) and
    the client told to push the blob again, before any tag names the manifest.
    Its own body, gone, is written again.
    """
    meta = registry.metadata
    existed = await meta.manifest(name, record.digest) is not None
    await meta.put_manifest(name, record)
    missing = await gone(registry.store, refreshed)
    if record.digest in missing:
        missing.remove(record.digest)
        await _write_body(registry, name, body, record.media_type, record.digest)
    if missing:
        if not existed:
            await meta.delete_manifest(name, record.digest)
        raise _blob_unknown(missing)


async def delete(registry: Registry, request: Request, name: str, arg: str) -> Response:
    """``DELETE`` a manifest by digest (with its tags and referrer entry) or one tag (202)."""
    if is_digest(arg):
        digest = check_digest(arg)
        found = await registry.metadata.delete_manifest(name, digest)
    else:
        found = await registry.metadata.delete_tag(name, check_tag(arg))
    if not found:
        raise RegistryError("MANIFEST_UNKNOWN", {"name": name, "reference": arg[:256]})
    return Response(status_code=202, headers={**API_HEADERS, "Content-Length": "0"})
