"""Pull-through cache: a miss is fetched from the upstream, served and stored at once.

Design
------
* **Blobs.** A ``GET`` of a blob the store lacks asks the upstream for its
  size (``HEAD``), answers ``200`` with that ``Content-Length`` and downloads
  the blob with the pull machinery into an ingest. Every piece written to the
  ingest also goes to the client (a :class:`~._upstream.Sink`), one piece late:
  the last piece is sent only once the commit verified digest and size. A
  mismatch commits nothing and cuts the response short, so the client sees an
  error, never a complete wrong body.
* **Single flight.** Concurrent requests for one digest share one download:
  the first request leads and streams as the bytes arrive; the others wait for
  the commit and then serve from the store (headers are sent when they start
  streaming). When the leader's download fails, they fail with its error; when
  the leader is cancelled, one of them takes over. The ``HEAD`` for the size,
  a manifest fetch and a tag revalidation are single-flighted the same way.
  A leader whose client goes away finishes the download for the cache.
* **Tags.** A tag answered from the cache is fresh for ``tag_ttl`` seconds
  (in memory: after a restart the first request revalidates). Then a ``HEAD``
  upstream compares digests; a moved tag is fetched again, a tag gone upstream
  (404) is removed here too. When the upstream fails or does not answer within
  ``revalidate_timeout``, the cached manifest is served (stale-if-error) and
  counts as fresh for another ``tag_ttl``.
* **Manifests by digest and blobs the store holds** are served without asking
  the upstream (they cannot change). A blob the store holds is served under
  any repository name (the cache's content is everything its credentials can read).
* **Use.** Serving a cached blob or manifest counts as using it, as a pull
  does: after the response a background task refreshes its ``updated_at``
  (:func:`~aiocontent._gc_graph.mark_used`), at most once per
  ``use_interval`` and digest in this process (a download counts as one), so
  ``gc --max-size`` evicts the least recently served images first at the cost
  of one label update per hot digest per interval.
* A ``Range`` or ``HEAD`` request for a missing blob: ``HEAD`` answers from the
  upstream's ``HEAD``; a ``Range`` joins or starts the download without a
  client stream and serves the range from the store once committed.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Final, TypeVar

import anyio
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from .._digest import Digest
from .._errors import ContentError, FailedPreconditionError, NotFoundError
from .._gc_graph import mark_used
from .._helpers import write_blob
from .._interfaces import Store
from .._types import Descriptor
from ._blobs import stream_blob
from ._context import Registry, digest_headers
from ._errors import RegistryError
from ._manifest_parse import parse_manifest
from ._manifests import manifest_record
from ._names import check_digest, check_tag, is_digest
from ._upstream import Sink, Upstream, UpstreamSession

__all__ = ("PullThrough", "SingleFlight")

_T = TypeVar("_T")
_LOG: Final = logging.getLogger("aiocontent.server.cache")
_BLOB_TYPE: Final = "application/octet-stream"
#: The most blob sizes remembered between a HEAD upstream and the download it leads to
_SIZES_KEPT: Final = 4096
#: The most digests whose last refresh of use is remembered
_USES_KEPT: Final = 65536


class _Call:
    __slots__ = ("done", "error", "finished", "result")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.error: Exception | None = None
        self.finished = False
        self.result: object = None


class SingleFlight:
    """Concurrent calls for one key share the first caller's work and its outcome."""

    def __init__(self) -> None:
        self._calls: dict[Hashable, _Call] = {}

    async def do(self, key: Hashable, work: Callable[[], Awaitable[_T]]) -> _T:
        """``await work()``, unless a call for ``key`` runs: then its result or error.

        A caller whose leader was cancelled runs its own ``work`` instead.
        """
        while (call := self._calls.get(key)) is not None:
            await call.done.wait()
            if call.error is not None:
                raise call.error
            if call.finished:
                return call.result  # type: ignore[return-value]
        call = self._calls[key] = _Call()
        try:
            result = call.result = await work()
            call.finished = True
            return result
        except Exception as exc:
            call.error = exc
            raise
        finally:
            del self._calls[key]
            call.done.set()


def _upstream_error(code: str, exc: Exception, **detail: str) -> RegistryError:
    """The client's answer to an upstream failure: ``code`` with 404 or 502."""
    status = 404 if isinstance(exc, NotFoundError) else 502
    return RegistryError(code, {**detail, "upstream": str(exc)[:500]}, status=status)


class PullThrough:
    """The cache side of an app created with ``upstream``: fills the store on a miss."""

    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream
        self.session = UpstreamSession(upstream)
        self.flights = SingleFlight()
        #: (repo, tag) -> time.monotonic() of the last check against the upstream
        self._checked: dict[tuple[str, str], float] = {}
        #: (repo, digest) -> the upstream's size of a blob about to be downloaded: late
        #: arrivals join the download without a HEAD of their own
        self._sizes: dict[tuple[str, Digest], int] = {}
        #: digest -> time.monotonic() of the last refresh of its use (or of its download)
        self._used: dict[Digest, float] = {}

    async def aclose(self) -> None:
        """Close the upstream connections."""
        await self.session.aclose()

    # -- use -------------------------------------------------------------------------

    def used(self, store: Store, digest: Digest) -> BackgroundTask | None:
        """The task refreshing ``digest``'s use after its response, unless done recently."""
        now = time.monotonic()
        last = self._used.get(digest)
        if last is not None and now - last < self.upstream.use_interval:
            return None
        self._note_use(digest, now)
        return BackgroundTask(_refresh_use, store, digest)

    def _note_use(self, digest: Digest, now: float) -> None:
        if len(self._used) >= _USES_KEPT:
            interval = self.upstream.use_interval
            self._used = {d: t for d, t in self._used.items() if now - t < interval}
            if len(self._used) >= _USES_KEPT:
                self._used.clear()
        self._used[digest] = now

    # -- manifests -------------------------------------------------------------------

    async def manifest(self, registry: Registry, repo: str, reference: str) -> None:
        """Make sure manifest ``reference`` of ``repo`` is cached and, for a tag, fresh.

        :raises RegistryError: ``MANIFEST_UNKNOWN``: 404 when the upstream has no
            such manifest, 502 when it failed and nothing is cached.
        """
        if is_digest(reference):
            digest = check_digest(reference)
            if await registry.metadata.manifest(repo, digest) is None:
                await self.flights.do(
                    ("manifest", repo, digest), lambda: self._fetch(registry, repo, reference)
                )
            return
        tag = check_tag(reference)
        cached = await registry.metadata.resolve_tag(repo, tag)
        checked = self._checked.get((repo, tag))
        fresh = checked is not None and time.monotonic() - checked < self.upstream.tag_ttl
        if cached is not None and fresh:
            return
        await self.flights.do(("tag", repo, tag), lambda: self._revalidate(registry, repo, tag))

    async def _fetch(self, registry: Registry, repo: str, reference: str) -> Digest:
        """GET the manifest upstream, store it verified, link it (and tag it)."""
        try:
            desc, data = await self.session.get_manifest(registry.store, repo, reference)
        except ContentError as exc:
            raise _upstream_error("MANIFEST_UNKNOWN", exc, name=repo, reference=reference) from exc
        parsed = parse_manifest(data, desc.media_type)
        stored = Descriptor(media_type=parsed.media_type, digest=desc.digest, size=desc.size)
        await write_blob(registry.store, f"registry/manifests/{repo}/{desc.digest}", data, stored)
        self._note_use(desc.digest, time.monotonic())
        tags = () if is_digest(reference) else (reference,)
        await registry.metadata.put_manifest(
            repo, manifest_record(parsed, desc.digest, desc.size), tags
        )
        return desc.digest

    async def _revalidate(self, registry: Registry, repo: str, tag: str) -> None:
        """Compare the tag with the upstream's; fetch it when it moved; stale on failure."""
        cached = await registry.metadata.resolve_tag(repo, tag)
        try:
            # bounded only when a stale manifest can stand in; else the client's own bounds
            limit = math.inf if cached is None else self.upstream.revalidate_timeout
            with anyio.fail_after(limit):
                remote = None
                if cached is not None:  # else there is nothing to compare: GET at once
                    remote = await self.session.head_manifest(repo, tag)
                if remote is None or remote != cached:
                    await self._fetch(registry, repo, tag)
        except NotFoundError:
            await self._gone(registry, repo, tag)
        except RegistryError as exc:
            if exc.status == 404:
                await self._gone(registry, repo, tag)
            if cached is None:
                raise
            _LOG.warning("serving %s:%s from the cache: %s", repo, tag, exc.detail)
        except (ContentError, TimeoutError) as exc:
            if cached is None:
                raise _upstream_error("MANIFEST_UNKNOWN", exc, name=repo, tag=tag) from exc
            why = str(exc) or f"no answer within {self.upstream.revalidate_timeout:g} s"
            _LOG.warning("serving %s:%s from the cache: upstream: %s", repo, tag, why)
        self._checked[(repo, tag)] = time.monotonic()

    async def _gone(self, registry: Registry, repo: str, tag: str) -> None:
        """The upstream has no such tag (any more): neither has the cache."""
        await registry.metadata.delete_tag(repo, tag)
        self._checked.pop((repo, tag), None)
        raise RegistryError("MANIFEST_UNKNOWN", {"name": repo, "tag": tag}, status=404)

    # -- blobs -----------------------------------------------------------------------

    async def blob(
        self, registry: Registry, request: Request, repo: str, digest: Digest
    ) -> Response | None:
        """The response for a blob the cache lacks, or ``None`` once the store serves it.

        :raises RegistryError: ``BLOB_UNKNOWN``: 404 when the upstream has no such
            blob, 502 when it failed.
        """
        try:
            await registry.store.info(digest)
        except NotFoundError:
            pass
        else:
            if not await registry.metadata.blob_linked(repo, digest):
                await registry.metadata.link_blob(repo, digest)
            return None
        size = await self.flights.do(("size", repo, digest), lambda: self._size(repo, digest))
        desc = Descriptor(digest=digest, size=size)
        headers = {
            **digest_headers(digest, size),
            "Accept-Ranges": "bytes",
        }
        if request.method == "HEAD":
            self._sizes.pop((repo, digest), None)
            return Response(headers=headers, media_type=_BLOB_TYPE)
        if request.headers.get("range"):
            await self.fetch(registry, repo, desc, None)
            return None
        return _TeeResponse(self, registry, repo, desc, headers)

    async def _size(self, repo: str, digest: Digest) -> int:
        known = self._sizes.get((repo, digest))
        if known is not None:
            return known
        try:
            size = await self.session.blob_size(repo, digest)
        except ContentError as exc:
            raise _upstream_error("BLOB_UNKNOWN", exc, digest=str(digest)) from exc
        if len(self._sizes) >= _SIZES_KEPT:  # responses that never ran: forget them all
            self._sizes.clear()
        self._sizes[(repo, digest)] = size
        return size

    async def fetch(
        self, registry: Registry, repo: str, desc: Descriptor, sink: Sink | None
    ) -> bool:
        """Download ``desc`` (or wait for the download under way) and link it to ``repo``.

        ``True`` when this call downloaded it (feeding ``sink``), ``False`` when
        another one did.

        :raises RegistryError: ``BLOB_UNKNOWN`` (404, or 502 for a failed or
            mismatching download: nothing is committed).
        """
        ran = False

        async def download() -> None:
            nonlocal ran
            ran = True
            try:
                await self.session.download(registry.store, repo, desc, {}, sink)
                self._note_use(desc.digest, time.monotonic())
            finally:
                for key in [k for k in self._sizes if k[1] == desc.digest]:
                    del self._sizes[key]

        try:
            await self.flights.do(("blob", desc.digest), download)
        except ContentError as exc:
            if isinstance(exc, FailedPreconditionError):
                _LOG.error("upstream blob %s of %s did not verify: %s", desc.digest, repo, exc)
            raise _upstream_error("BLOB_UNKNOWN", exc, digest=str(desc.digest)) from exc
        await registry.metadata.link_blob(repo, desc.digest)
        return ran


async def _refresh_use(store: Store, digest: Digest) -> None:
    """Mark ``digest`` used; it may have been collected meanwhile, and the client has its answer."""
    try:
        await mark_used(store, digest)
    except NotFoundError:
        pass
    except Exception as exc:  # never an error after the response went out
        _LOG.warning("could not record the use of %s: %s", digest, exc)


class _TeeResponse(Response):
    """A blob's ``200`` that streams the download as it happens (see the module)."""

    def __init__(
        self,
        cache: PullThrough,
        registry: Registry,
        repo: str,
        desc: Descriptor,
        headers: dict[str, str],
    ) -> None:
        super().__init__(headers=headers, media_type=_BLOB_TYPE)
        self._cache = cache
        self._registry = registry
        self._repo = repo
        self._desc = desc

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def out(data: bytes, more: bool) -> None:
            nonlocal started
            if not started:
                started = True
                await send(
                    {"type": "http.response.start", "status": 200, "headers": self.raw_headers}
                )
            await send({"type": "http.response.body", "body": data, "more_body": more})

        sink = Sink(out)
        # An error before the first byte is an ordinary error response; after it,
        # the exception cuts the response short.
        if await self._cache.fetch(self._registry, self._repo, self._desc, sink):
            if not sink.broken:
                await sink.finish()
                return
            if started and not sink.gone:
                raise RuntimeError(
                    f"blob {self._desc.digest}: the upstream download restarted after "
                    "bytes were sent; the client has to ask again"
                )
            if started:
                return
        desc = self._desc
        body = StreamingResponse(
            stream_blob(self._registry.store, desc.digest, 0, desc.size - 1),
            headers=dict(self.headers),
            media_type=_BLOB_TYPE,
        )
        await body(scope, receive, send)
