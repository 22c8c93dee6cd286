"""Tags list, the catalog (both paginated with ``n``/``last`` and ``Link``) and referrers."""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from ._context import API_HEADERS, Registry
from ._errors import RegistryError
from ._manifest_parse import OCI_INDEX
from ._names import check_digest

__all__ = ("catalog", "referrers", "tags")

Lister = Callable[..., Awaitable[list[str]]]


def _json(body: object, headers: dict[str, str], media_type: str = "application/json") -> Response:
    return Response(json.dumps(body).encode(), headers=headers, media_type=media_type)


async def _page(request: Request, path: str, lister: Lister) -> tuple[list[str], dict[str, str]]:
    """One page of sorted names, and a ``Link`` header to the next when there is more."""
    raw_n = request.query_params.get("n")
    last = request.query_params.get("last") or None
    headers = dict(API_HEADERS)
    if raw_n is None:
        return await lister(last=last), headers
    if not raw_n.isdigit() or len(raw_n) > 9:
        raise RegistryError(
            "UNSUPPORTED", {"n": raw_n[:32], "reason": "not an integer"}, status=400
        )
    n = int(raw_n)
    if n == 0:
        return [], headers
    names = await lister(last=last, limit=n + 1)
    if len(names) > n:
        names = names[:n]
        query = urlencode({"n": n, "last": names[-1]})
        headers["Link"] = f'<{path}?{query}>; rel="next"'
    return names, headers


async def tags(registry: Registry, request: Request, name: str, arg: str) -> Response:
    """``GET /v2/<name>/tags/list[?n=&last=]``: ``{"name", "tags"}``, 404 for no such repository."""
    if not await registry.metadata.repository_exists(name):
        raise RegistryError("NAME_UNKNOWN", {"name": name})
    lister = functools.partial(registry.metadata.tags, name)
    names, headers = await _page(request, f"/v2/{name}/tags/list", lister)
    return _json({"name": name, "tags": names}, headers)


async def catalog(registry: Registry, request: Request) -> Response:
    """``GET /v2/_catalog[?n=&last=]``: ``{"repositories": [...]}``."""
    names, headers = await _page(request, "/v2/_catalog", registry.metadata.repositories)
    return _json({"repositories": names}, headers)


async def referrers(registry: Registry, request: Request, name: str, arg: str) -> Response:
    """``GET /v2/<name>/referrers/<digest>[?artifactType=]``: an OCI index, empty when none."""
    subject = check_digest(arg)
    records = await registry.metadata.referrers(name, subject)
    headers = dict(API_HEADERS)
    wanted = request.query_params.get("artifactType")
    if wanted is not None:
        records = [r for r in records if r.artifact_type == wanted]
        headers["OCI-Filters-Applied"] = "artifactType"
    manifests = []
    for record in sorted(records, key=lambda r: r.digest):
        desc: dict[str, object] = {
            "mediaType": record.media_type,
            "digest": str(record.digest),
            "size": record.size,
        }
        if record.artifact_type:
            desc["artifactType"] = record.artifact_type
        if record.annotations:
            desc["annotations"] = dict(record.annotations)
        manifests.append(desc)
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}
    return _json(index, headers, media_type=OCI_INDEX)
