"""A registry faked with ``httpx.MockTransport``: nothing leaves the process.

Routes map ``host/path`` to a function of the request returning an
``httpx.Response`` (or a coroutine of one). Streamed bodies go through
:meth:`FakeRegistry.stream`, which counts the bytes the client actually pulled,
so a test can prove a read stopped at its cap.
"""

from __future__ import annotations

import gzip
import hashlib
import inspect
import json
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, Final

import httpx

from aiocontent import Descriptor, Store
from aiocontent._registry import _media
from aiocontent.registry import pull

HOST: Final = "registry.test"
REPO: Final = "test/app"
LAYER_TYPE: Final = "application/vnd.oci.image.layer.v1.tar+gzip"
CONFIG: Final = b'{"architecture":"amd64","os":"linux"}'

Route = Callable[[httpx.Request], httpx.Response | Awaitable[httpx.Response]]


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def desc(media_type: str, data: bytes, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": digest_of(data), "size": len(data), **extra}


def manifest_for(config: bytes, layers: Iterable[bytes]) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": _media.OCI_MANIFEST,
            "config": desc(_media.OCI_CONFIG, config),
            "layers": [desc(LAYER_TYPE, layer) for layer in layers],
        }
    ).encode()


def index_for(*entries: dict[str, Any]) -> bytes:
    return json.dumps(
        {"schemaVersion": 2, "mediaType": _media.OCI_INDEX, "manifests": list(entries)}
    ).encode()


def gzip_bomb(decoded: int) -> bytes:
    """``decoded`` zero bytes, gzip-compressed (about a thousandth of the size)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    step = b"\0" * (1 << 20)
    out = [packer.compress(step) for _ in range(decoded // len(step))]
    return b"".join(out) + packer.flush()


def gzipped(data: bytes) -> bytes:
    return gzip.compress(data)


def chunks(data: bytes, size: int = 16 << 10) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


class _Counted(httpx.AsyncByteStream):
    """A lazy body that adds what the client pulls to ``fake.sent``.

    An iterator object, not an async generator: the client may stop reading
    early, and a generator left half-run would be finalized by the garbage
    collector after the test's event loop is gone.
    """

    def __init__(self, fake: FakeRegistry, parts: Iterable[bytes]) -> None:
        self._fake = fake
        self._parts = iter(parts)

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        part = next(self._parts, None)
        if part is None:
            raise StopAsyncIteration
        self._fake.sent += len(part)
        return part


class FakeRegistry:
    """The routes of one fake registry (and any other fake host), and what was asked of it."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[httpx.Request] = []
        self.sent = 0

    @property
    def reference(self) -> str:
        return f"{HOST}/{REPO}:v1"

    def url(self, kind: str, name: str, host: str = HOST) -> str:
        return f"{host}/v2/{REPO}/{kind}/{name}"

    def stream(self, parts: Iterable[bytes]) -> httpx.AsyncByteStream:
        """A response body (``stream=``) handing out ``parts`` lazily, counting them."""
        return _Counted(self, parts)

    def blob(self, data: bytes, route: Route | None = None) -> str:
        digest = digest_of(data)
        self.routes[self.url("blobs", digest)] = route or (
            lambda _: httpx.Response(200, content=data)
        )
        return digest

    def manifest(
        self, data: bytes, media_type: str, *names: str, route: Route | None = None
    ) -> Descriptor:
        """Serve ``data`` as a manifest by its digest and by ``names`` (tags)."""
        digest = digest_of(data)

        def serve(_: httpx.Request) -> httpx.Response:
            return httpx.Response(200, content=data, headers={"Content-Type": media_type})

        for name in (digest, *names):
            self.routes[self.url("manifests", name)] = route or serve
        return Descriptor(media_type=media_type, digest=digest, size=len(data))

    def image(self, *layers: bytes, tag: str = "v1") -> Descriptor:
        """Serve a config, ``layers`` and their manifest (tagged ``tag``)."""
        self.blob(CONFIG)
        for layer in layers:
            self.blob(layer)
        return self.manifest(manifest_for(CONFIG, layers), _media.OCI_MANIFEST, tag)

    def served_blobs(self) -> list[str]:
        """The digests served under ``/blobs/`` on the registry's host."""
        prefix = f"{HOST}/v2/{REPO}/blobs/"
        return [route.removeprefix(prefix) for route in self.routes if route.startswith(prefix)]

    def paths(self, part: str) -> list[str]:
        return [r.url.path for r in self.requests if part in r.url.path]

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        host = request.url.netloc.decode()
        route = self.routes.get(f"{host}{request.url.path}")
        if route is None:
            return httpx.Response(404, json={"errors": [{"code": "NOT_FOUND", "message": "nope"}]})
        result = route(request)
        return await result if inspect.isawaitable(result) else result

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handle))


async def pull_from(
    fake: FakeRegistry, store: Store, reference: str = "", **kwargs: Any
) -> Descriptor:
    """``pull`` from the fake registry (plain HTTP, linux/amd64 unless told)."""
    kwargs.setdefault("platform", "linux/amd64")
    async with fake.client() as http:
        return await pull(store, reference or fake.reference, plain_http=True, http=http, **kwargs)
