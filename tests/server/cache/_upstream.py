"""A fake upstream for the pull-through cache tests, and the cache in front of it, in process
(and Debian's docker-registry as the real one).

The upstream is a real registry (``create_app`` over a MemoryStore) behind an
httpx transport that counts every request and can misbehave on demand: be
down, corrupt a blob, break a body off, hold or trickle a blob, want Basic auth.
Nothing leaves the process.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, Final

import anyio
import httpx
from starlette.types import Receive, Scope, Send

from aiocontent import MemoryStore, Store
from aiocontent.server import Auth, Upstream, create_app
from tests._services import service_unavailable
from tests.registry._server import RegistryProcess

from .._oci import Api

#: The upstream's address as the cache knows it (never connected to: the transport is fake).
UPSTREAM_URL: Final = "http://127.0.0.1:9"
CACHE_URL: Final = "http://cache.test"


class _Pieces(httpx.AsyncByteStream):
    """A body in pieces: waits for ``gate`` before the last, or breaks off after ``cut`` bytes."""

    def __init__(self, body: bytes, *, gate: anyio.Event | None = None, cut: int | None = None):
        self._body = body
        self._gate = gate
        self._cut = cut

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self._cut is not None:
            yield self._body[: self._cut]
            raise httpx.ReadError("connection reset by the fake upstream")
        third = max(len(self._body) // 3, 1)
        yield self._body[:third]
        yield self._body[third : 2 * third]
        if self._gate is not None:
            await self._gate.wait()
        yield self._body[2 * third :]


class FakeUpstream(httpx.AsyncBaseTransport):
    """The upstream registry, reached through this transport."""

    def __init__(self) -> None:
        self.store = MemoryStore()
        self._app = httpx.ASGITransport(create_app(self.store))
        self.api = Api(httpx.AsyncClient(transport=self._app, base_url=UPSTREAM_URL))
        #: (method, path) of every request the cache sent
        self.requests: list[tuple[str, str]] = []
        #: connections fail (the upstream is down)
        self.down = False
        #: blob digests whose bytes arrive with one byte flipped; manifest digests
        #: (asked by digest) whose body gets a space more
        self.corrupt: set[str] = set()
        #: blob digest -> bytes after which the next GET of it breaks off
        self.cut: dict[str, int] = {}
        #: blob digest -> event its body's last piece waits for
        self.trickle: dict[str, anyio.Event] = {}
        #: blob GETs wait for this event before answering
        self.hold: anyio.Event | None = None
        #: manifest requests never get an answer
        self.stall_manifests = False
        #: the Basic credentials the upstream wants, if any
        self.credentials: tuple[str, str] | None = None

    def count(self, method: str, part: str = "") -> int:
        """How many ``method`` requests with ``part`` in their path the cache sent."""
        return sum(1 for m, path in self.requests if m == method and part in path)

    async def aclose(self) -> None:
        await self.api.client.aclose()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.requests.append((request.method, path))
        if self.down:
            raise httpx.ConnectError("connection refused (the fake upstream is down)")
        if self.credentials is not None:
            user, password = self.credentials
            wanted = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
            if request.headers.get("authorization") != wanted:
                return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="fake"'})
        if self.stall_manifests and "/manifests/" in path:
            await anyio.sleep_forever()
        blob_get = request.method == "GET" and "/blobs/" in path
        if blob_get and self.hold is not None:
            await self.hold.wait()
        response = await self._app.handle_async_request(request)
        digest = path.rsplit("/", 1)[1]
        if request.method == "GET" and "/manifests/" in path and digest in self.corrupt:
            body = await response.aread() + b" "
            headers = {**response.headers, "Content-Length": str(len(body))}
            return httpx.Response(response.status_code, headers=headers, content=body)
        if not blob_get or response.status_code not in (200, 206):
            return response
        body = await response.aread()
        if digest in self.corrupt:
            body = bytes([body[0] ^ 1]) + body[1:]
        stream = _Pieces(body, gate=self.trickle.get(digest), cut=self.cut.pop(digest, None))
        return httpx.Response(response.status_code, headers=response.headers, stream=stream)


class Cache:
    """The cache app over ``store`` in front of ``upstream``, and a client of it.

    ``entered`` counts the requests that reached the app so far.
    """

    def __init__(
        self,
        upstream: FakeUpstream,
        store: Store,
        *,
        tag_ttl: float = 60.0,
        revalidate_timeout: float = 10.0,
        use_interval: float = 3600.0,
        credentials: tuple[str, str] | None = None,
        auth: Auth | None = None,
    ) -> None:
        self.store = store
        self.http = httpx.AsyncClient(transport=upstream)
        options = Upstream(
            UPSTREAM_URL,
            credentials=credentials,
            tag_ttl=tag_ttl,
            revalidate_timeout=revalidate_timeout,
            use_interval=use_interval,
            retries=1,
            http=self.http,
        )
        self.app = create_app(store, upstream=options, auth=auth)
        self.entered = 0
        transport = httpx.ASGITransport(self._counting)
        self.client = httpx.AsyncClient(transport=transport, base_url=CACHE_URL)

    async def _counting(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.entered += scope["type"] == "http"
        await self.app(scope, receive, send)

    async def aclose(self) -> None:
        await self.client.aclose()
        await self.http.aclose()


async def wait_until(condition: Callable[[], bool]) -> None:
    """Poll ``condition`` until it holds; fail after 10 seconds."""
    with anyio.fail_after(10):
        for _ in itertools.count():
            if condition():
                return
            await anyio.sleep(0.01)


@contextlib.contextmanager
def docker_registry(workdir: Path, auth: dict[str, Any] | None = None) -> Iterator[RegistryProcess]:
    """Debian's docker-registry on loopback for the block (skipped, or failed in CI, when
    it cannot run)."""
    process = RegistryProcess(workdir, workdir / "storage", auth)
    try:
        process.start()
    except (OSError, RuntimeError) as exc:
        service_unavailable(f"docker-registry cannot run here: {exc}")
    try:
        yield process
    finally:
        process.stop()
