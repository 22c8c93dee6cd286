"""The upstream of a pull-through cache: where it is, and the requests the cache sends it.

Every request goes through the registry client of :mod:`aiocontent.registry`
(auth challenges, redirects, retries with a time budget, bounded bodies, Range
resume of blob downloads); nothing here speaks HTTP on its own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Final

import anyio
import httpx

from .._digest import Digest
from .._errors import InvalidArgumentError, NotFoundError
from .._interfaces import Store, Writer
from .._registry import _media
from .._registry._client import Credentials, RegistryClient
from .._registry._puller import Puller
from .._registry._reference import Platform, Reference
from .._types import Descriptor

__all__ = ("Sink", "Upstream", "UpstreamSession")

#: The most bytes received from the upstream before they are written to the store
WRITE_BATCH: Final = 1 << 20
#: The platform handed to the pull machinery; a cache never picks one from an index.
_ANY_PLATFORM: Final = Platform("linux", "amd64")


@dataclass(frozen=True, slots=True)
class Upstream:
    """The registry a pull-through cache mirrors (give it to ``create_app(upstream=...)``).

    :raises ~aiocontent.InvalidArgumentError: the URL has a path, a query, user
        info, or a scheme other than http and https; a negative number of seconds.
    """

    url: str
    """``http://host[:port]`` or ``https://host[:port]`` (a bare ``host[:port]`` means
    HTTPS); repositories map 1:1 to the upstream's."""
    credentials: Credentials | None = None
    """``(username, password)`` for the upstream's host, or a function of the challenging
    host giving them (the ``Credentials`` of ``aiocontent.registry``)."""
    tag_ttl: float = 60.0
    """Seconds a tag answered from the cache counts as fresh; after that a ``HEAD``
    upstream revalidates it (``0``: on every request)."""
    timeout: float = 30.0
    """Seconds to connect and get an answer's headers (per attempt)."""
    retries: int = 2
    """Extra attempts after a connection error, a timeout or a 5xx/429 answer."""
    revalidate_timeout: float = 10.0
    """Seconds a tag revalidation may take in all before the cached manifest is served
    as it is (stale-if-error)."""
    use_interval: float = 3600.0
    """Seconds between two refreshes of a cached blob's or manifest's last use when it is
    served (after the response, at most once per interval and digest in each process), so
    that ``gc --max-size`` evicts the least recently *served* images first."""
    http: httpx.AsyncClient | None = None
    """An ``httpx.AsyncClient`` to send the requests with (not closed by the cache); by
    default the cache makes its own."""

    def __post_init__(self) -> None:
        self.origin()  # validate now, not at the first miss
        for name in ("tag_ttl", "timeout", "revalidate_timeout", "use_interval"):
            value = getattr(self, name)
            if not value >= 0:
                raise InvalidArgumentError(
                    f"upstream {name} {value!r} must be a non-negative number of seconds: "
                    f"{InvalidArgumentError.kind_text}"
                )

    def origin(self) -> tuple[str, bool]:
        """``(host[:port], plain_http)`` of the ``url``."""
        text = self.url.strip()
        if "://" not in text:
            text = f"https://{text}"
        try:
            url = httpx.URL(text)
        except httpx.InvalidURL as exc:
            raise InvalidArgumentError(
                f"upstream URL {self.url!r}: {exc}: {InvalidArgumentError.kind_text}"
            ) from exc
        if url.scheme not in ("http", "https") or not url.host:
            raise InvalidArgumentError(
                f"upstream URL {self.url!r} must be http(s)://host[:port]: "
                f"{InvalidArgumentError.kind_text}"
            )
        if url.path not in ("", "/") or url.query or url.userinfo:
            raise InvalidArgumentError(
                f"upstream URL {self.url!r} may have no path, query or user part "
                f"(credentials go in --upstream-credentials): {InvalidArgumentError.kind_text}"
            )
        return url.netloc.decode("ascii"), url.scheme == "http"


class Sink:
    """Where a download's bytes go besides the store: one client's response body.

    :meth:`publish` is told every byte written to the ingest with its offset.
    The client gets each piece one step late: the last piece waits for
    :meth:`finish`, which the cache calls only after the commit verified the
    digest and size, so a client never sees a complete body that did not verify.
    When the download restarts below what the client has (a ``Range`` the
    upstream ignored), or the client went away, the sink stops sending and
    :attr:`broken` says so; the download itself goes on for the cache.
    """

    def __init__(self, send: Callable[[bytes, bool], Awaitable[None]]) -> None:
        self._send = send
        self.position = 0
        #: the client's body cannot be completed (restart below it, or the client left)
        self.broken = False
        #: sending to the client failed
        self.gone = False
        self._pending: bytes | None = None

    async def _out(self, data: bytes, more: bool) -> None:
        try:
            await self._send(data, more)
        except Exception:  # the client is gone: the cache still wants the blob
            self.broken = self.gone = True

    async def publish(self, offset: int, data: bytes) -> None:
        """The bytes at ``offset`` reached the ingest."""
        if self.broken or not data:
            return
        if offset != self.position:
            self.broken = True
            return
        if self._pending is not None:
            await self._out(self._pending, True)
        self._pending = data
        self.position += len(data)

    async def finish(self) -> None:
        """The blob verified: send what is held back and end the body."""
        if not self.broken:
            await self._out(self._pending or b"", False)
        self._pending = None


class _TeeWriter:
    """A store writer that hands every piece to a :class:`Sink` as it arrives and writes
    the store in pieces of up to :data:`WRITE_BATCH` bytes (fewer trips to the store)."""

    def __init__(self, writer: Writer, sink: Sink | None, offset: int) -> None:
        self._writer = writer
        self._sink = sink
        self._offset = offset
        self._batch = bytearray()

    async def write(self, data: bytes | bytearray | memoryview) -> int:
        piece = bytes(data)
        if self._sink is not None:
            await self._sink.publish(self._offset, piece)
        self._offset += len(piece)
        self._batch += piece
        if len(self._batch) >= WRITE_BATCH:
            await self.flush()
        return len(piece)

    async def flush(self) -> None:
        """Write what is batched to the store."""
        if self._batch:
            batch, self._batch = self._batch, bytearray()
            await self._writer.write(batch)

    async def truncate(self, size: int) -> None:
        await self.flush()
        await self._writer.truncate(size)
        self._offset = size


class _TeePuller(Puller):
    """The pull machinery with one change: received bytes also go to a sink, and to the
    store in batches."""

    def __init__(self, store: Store, client: RegistryClient, sink: Sink | None) -> None:
        super().__init__(store, client, _ANY_PLATFORM, 1, None)
        self.sink = sink

    async def receive(self, cw: Writer, desc: Descriptor, offset: int) -> bool:
        if isinstance(cw, _TeeWriter):  # a restart from the first byte, within receive
            return await super().receive(cw, desc, offset)
        tee = _TeeWriter(cw, self.sink, offset)
        try:
            return await super().receive(tee, desc, offset)  # type: ignore[arg-type]
        finally:
            # what arrived before a failure goes to the ingest too: a retry resumes after it
            with anyio.CancelScope(shield=True):
                await tee.flush()


class _Client(RegistryClient):
    """A registry client kept per repository (its auth tokens are reused), whose retry
    budget is per operation rather than for its whole life."""

    def fresh(self) -> _Client:
        self._spent = 0.0
        return self


class UpstreamSession:
    """The cache's connection to its :class:`Upstream`: one client per repository."""

    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream
        self.host, self.plain_http = upstream.origin()
        self._http = upstream.http
        self._own_http = upstream.http is None
        self._clients: dict[str, _Client] = {}

    def open(self) -> None:
        """Make the HTTP client now (its TLS setup takes a while), not at the first miss."""
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=httpx.Timeout(self.upstream.timeout))

    async def aclose(self) -> None:
        """Close the HTTP client the session made (not one it was given)."""
        if self._own_http and self._http is not None:
            await self._http.aclose()
            self._http = None

    def client(self, repo: str) -> _Client:
        """The registry client for ``repo`` upstream, with a fresh retry budget."""
        client = self._clients.get(repo)
        if client is None:
            self.open()
            client = self._clients[repo] = _Client(
                Reference(host=self.host, repository=repo),
                credentials=self.upstream.credentials,
                plain_http=self.plain_http,
                retries=self.upstream.retries,
                timeout=self.upstream.timeout,
                retry_budget=max(self.upstream.timeout, 1.0) * 2,
                http=self._http,
            )
        return client.fresh()

    async def head_manifest(self, repo: str, reference: str) -> Digest | None:
        """The digest the upstream names ``reference`` by (``None`` if it does not say).

        :raises ~aiocontent.NotFoundError: the upstream has no such manifest.
        :raises ~aiocontent.registry.RegistryError: the upstream failed or refused.
        """
        client = self.client(repo)
        headers = {"Accept": _media.MANIFEST_ACCEPT}
        url = f"{client.base}/manifests/{reference}"
        async with client.stream("HEAD", url, headers) as resp:
            if resp.status_code != 200:
                await client.raise_for_status(resp, f"manifest {reference}")
            value = resp.headers.get("Docker-Content-Digest", "")
        digest = Digest(value)
        try:
            digest.validate()
        except InvalidArgumentError:
            return None
        return digest

    async def get_manifest(
        self, store: Store, repo: str, reference: str
    ) -> tuple[Descriptor, bytes]:
        """The manifest ``reference`` names, fetched (bounded) and verified against its
        digest (the reference's, else the upstream's ``Docker-Content-Digest``).

        :raises ~aiocontent.NotFoundError: the upstream has no such manifest.
        :raises ~aiocontent.FailedPreconditionError: the bytes do not match the digest.
        :raises ~aiocontent.registry.RegistryError: the upstream failed or refused.
        """
        puller = _TeePuller(store, self.client(repo), None)
        if ":" in reference:  # a digest pins the bytes: fetch_manifest checks them against it
            puller.ref = Reference(host=self.host, repository=repo, digest=Digest(reference))
        return await puller.fetch_manifest(reference, None)

    async def blob_size(self, repo: str, digest: Digest) -> int:
        """The size the upstream gives blob ``digest`` in ``repo`` (a ``HEAD``).

        :raises ~aiocontent.NotFoundError: the upstream has no such blob there.
        :raises ~aiocontent.registry.RegistryError: the upstream failed, or sent no size.
        """
        from .._registry._errors import RegistryError as UpstreamError

        client = self.client(repo)
        async with client.stream("HEAD", f"{client.base}/blobs/{digest}") as resp:
            if resp.status_code != 200:
                await client.raise_for_status(resp, f"blob {digest}")
            length = resp.headers.get("Content-Length", "")
        if not length.isdigit():
            raise UpstreamError(
                f"{self.host}/{repo}: blob {digest}: HEAD answered without a Content-Length: "
                f"{UpstreamError.kind_text}"
            )
        return int(length)

    async def download(
        self,
        store: Store,
        repo: str,
        desc: Descriptor,
        labels: Mapping[str, str],
        sink: Sink | None,
    ) -> None:
        """Download blob ``desc`` from ``repo`` into ``store`` and commit it verified.

        With a ``sink``, the ingest starts empty (any earlier one is aborted) so
        that the sink sees every byte from the first; without, an earlier ingest
        is resumed with ``Range``.

        :raises ~aiocontent.NotFoundError: the upstream has no such blob.
        :raises ~aiocontent.FailedPreconditionError: the bytes do not match; nothing
            is committed and the ingest is removed.
        :raises ~aiocontent.registry.RegistryError: the upstream failed for good.
        """
        puller = _TeePuller(store, self.client(repo), sink)
        from .._registry._events import ref_key

        if sink is not None:
            with contextlib.suppress(NotFoundError):
                await store.abort(ref_key(desc))
        await puller.download(desc, {puller.source_key: repo, **labels})
