"""``create_app``: the OCI distribution API as a Starlette application over any Store."""

from __future__ import annotations

import contextlib
import re
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Final, TypeAlias

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from .._errors import ContentError
from .._interfaces import Store
from . import _blobs, _listing, _manifests, _uploads
from ._auth import CATALOG, Auth, access_for, without_blind_mount
from ._cache import PullThrough
from ._context import API_HEADERS, Registry
from ._errors import RegistryError, content_error_response, error_response
from ._metadata import RegistryMetadata
from ._metadata_memory import MemoryMetadata
from ._names import check_name
from ._upstream import Upstream

__all__ = ("create_app",)

Handler: TypeAlias = Callable[[Registry, Request, str, str], Awaitable[Response]]

_WRITES: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})

#: (path under /v2/, method -> handler); the first pattern that matches wins
_ROUTES: Final[tuple[tuple[re.Pattern[str], Mapping[str, Handler]], ...]] = (
    (re.compile(r"(?P<name>.+)/blobs/uploads/?(?P<arg>)"), {"POST": _uploads.start}),
    (
        re.compile(r"(?P<name>.+)/blobs/uploads/(?P<arg>[^/]+)"),
        {
            "GET": _uploads.status,
            "PATCH": _uploads.patch,
            "PUT": _uploads.finish,
            "DELETE": _uploads.cancel,
        },
    ),
    (
        re.compile(r"(?P<name>.+)/blobs/(?P<arg>[^/]+)"),
        {"GET": _blobs.get, "HEAD": _blobs.get, "DELETE": _blobs.delete},
    ),
    (
        re.compile(r"(?P<name>.+)/manifests/(?P<arg>[^/]+)"),
        {
            "GET": _manifests.get,
            "HEAD": _manifests.get,
            "PUT": _manifests.put,
            "DELETE": _manifests.delete,
        },
    ),
    (re.compile(r"(?P<name>.+)/tags/list(?P<arg>)"), {"GET": _listing.tags}),
    (re.compile(r"(?P<name>.+)/referrers/(?P<arg>[^/]+)"), {"GET": _listing.referrers}),
)


#: one MemoryMetadata per store object, so that apps over the same store agree
_MEMORY: Final[weakref.WeakKeyDictionary[Store, MemoryMetadata]] = weakref.WeakKeyDictionary()


def _default_metadata(store: Store) -> RegistryMetadata:
    """LocalMetadata under a LocalStore's root, S3Metadata in an S3Store's bucket, else memory."""
    from .._local import LocalStore

    if isinstance(store, LocalStore):
        from ._metadata_local import LocalMetadata

        return LocalMetadata(store.root / "registry")
    from .._s3._store import S3Store

    if isinstance(store, S3Store):
        from ._metadata_s3 import S3Metadata

        return S3Metadata(store)
    try:
        return _MEMORY.setdefault(store, MemoryMetadata())
    except TypeError:  # a store that cannot be weakly referenced or hashed
        return MemoryMetadata()


def create_app(
    store: Store,
    *,
    metadata: RegistryMetadata | None = None,
    read_only: bool = False,
    auth: Auth | None = None,
    upstream: Upstream | None = None,
) -> ASGIApp:
    """An ASGI application serving ``store`` through the OCI Distribution API v1.1.

    ``metadata`` holds repositories, tags, blob links and referrers; by default a
    :class:`~aiocontent.LocalStore` keeps it under ``<root>/registry``, an
    :class:`~aiocontent.S3Store` under ``<prefix>registry/`` in its bucket (shared
    by every host serving that bucket) and any other store in memory (one per
    store object, shared by the apps over it).
    With ``read_only`` every write (POST, PUT, PATCH, DELETE) answers ``405``
    with code ``DENIED`` and touches nothing. With ``auth`` (such as
    :class:`~aiocontent.server.HtpasswdAuth`) every request is checked against
    the access it needs (``401 UNAUTHORIZED`` or ``403 DENIED``) before
    anything else but its name is read; ``read_only`` still refuses writes.

    With ``upstream`` the app is a read-only pull-through cache of that
    registry: a manifest or blob it lacks is fetched from there, served while
    it is stored, and tags are revalidated after ``upstream.tag_ttl`` (see
    :class:`~aiocontent.server.Upstream`). Its connections close with the
    app's lifespan.
    """
    cache = None if upstream is None else PullThrough(upstream)
    registry = Registry(
        store, metadata or _default_metadata(store), read_only or cache is not None, cache
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if cache is not None:
            cache.session.open()
        try:
            yield
        finally:
            if cache is not None:
                await cache.aclose()

    async def ping(request: Request) -> Response:
        if auth is not None:
            await auth.authorize(request, ())
        return Response(headers=API_HEADERS, media_type="application/json", content=b"{}")

    async def catalog(request: Request) -> Response:
        if auth is not None:
            await auth.authorize(request, (CATALOG,))
        return await _listing.catalog(registry, request)

    async def dispatch(request: Request) -> Response:
        return await _dispatch(registry, request, auth)

    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
    return Starlette(
        routes=[
            Route("/v2/", ping, methods=["GET", "HEAD"]),
            Route("/v2", ping, methods=["GET", "HEAD"]),
            Route("/v2/_catalog", catalog, methods=["GET"]),
            Route("/v2/{path:path}", dispatch, methods=methods),
        ],
        exception_handlers={
            RegistryError: error_response,
            ContentError: content_error_response,
            ClientDisconnect: _client_gone,
        },
        lifespan=lifespan,
    )


def _client_gone(request: Request, exc: Exception) -> Response:
    """The client left mid-body: nobody reads this answer, but the server needs one."""
    return Response(status_code=400, headers=API_HEADERS)


async def _dispatch(registry: Registry, request: Request, auth: Auth | None) -> Response:
    """Find the route for ``/v2/<path>``; check the name, the read-only switch and the
    access, then call it."""
    path: str = request.path_params["path"]
    for pattern, handlers in _ROUTES:
        match = pattern.fullmatch(path)
        if match is None:
            continue
        handler = handlers.get(request.method)
        if handler is None:
            raise RegistryError("UNSUPPORTED", {"method": request.method, "path": f"/v2/{path}"})
        name = check_name(match["name"])
        if registry.read_only and request.method in _WRITES:
            raise RegistryError("DENIED", "the registry is read-only", status=405)
        if auth is not None:
            await auth.authorize(request, access_for(request, name))
            request = without_blind_mount(request)
        return await handler(registry, request, name, match["arg"])
    raise RegistryError("NAME_UNKNOWN", {"path": f"/v2/{path}"[:300]})
