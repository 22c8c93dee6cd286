"""Helpers for the in-process API tests: push blobs and manifests through the HTTP API."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote

import anyio
import httpx
from starlette.types import ASGIApp, Message

from aiocontent import Store
from aiocontent._registry._media import DOCKER_MANIFEST, OCI_CONFIG, OCI_INDEX, OCI_MANIFEST
from aiocontent._registry._media import DOCKER_MANIFEST_LIST as DOCKER_LIST

__all__ = (
    "DOCKER_LIST",
    "DOCKER_MANIFEST",
    "OCI_INDEX",
    "OCI_MANIFEST",
    "Api",
    "asgi_exchange",
    "digest_of",
    "error_codes",
    "raw_request",
    "stored",
)

OCI_LAYER: Final = "application/vnd.oci.image.layer.v1.tar"


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    """The OCI digest string of ``data``."""
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


async def stored(store: Store, digest: str) -> bool:
    """Whether ``digest`` is a committed blob of ``store`` (found by walking it)."""
    found: list[str] = []
    await store.walk(lambda info: found.append(info.digest))
    return digest in found


def error_codes(response: httpx.Response) -> list[str]:
    """The ``code`` of each entry of an OCI error body."""
    return [e["code"] for e in response.json()["errors"]]


async def raw_request(
    client: httpx.AsyncClient, method: str, raw_path: str, content: bytes = b""
) -> httpx.Response:
    """Send ``raw_path`` with its ``.`` and ``..`` segments intact.

    httpx resolves dot segments itself, so they go percent-encoded (``%2E``), as a
    hostile client may send them; the server sees the decoded path.
    """
    path, sep, query = raw_path.partition("?")
    segments = ["%2E" * len(s) if s in (".", "..") else quote(s) for s in path.split("/")]
    url = client.base_url.copy_with(raw_path=("/".join(segments) + sep + query).encode())
    return await client.send(client.build_request(method, url, content=content))


async def asgi_exchange(
    app: ASGIApp,
    method: str,
    path: str,
    body: list[bytes],
    *,
    headers: dict[str, str] | None = None,
    disconnect: bool = False,
) -> list[Message]:
    """Drive ``app`` directly for one request and return the messages it sends.

    ``body`` arrives as separate messages; with ``disconnect`` the client goes away
    after them instead of ending the body (what an ASGI server reports).
    """
    incoming: list[Message] = [
        {"type": "http.request", "body": piece, "more_body": disconnect or i < len(body) - 1}
        for i, piece in enumerate(body or [b""])
    ]
    if disconnect:
        incoming.append({"type": "http.disconnect"})
    sent: list[Message] = []

    async def receive() -> Message:
        if incoming:
            return incoming.pop(0)
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        sent.append(message)

    raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    path, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"registry.test"), *raw],
        "server": ("registry.test", 80),
        "client": ("127.0.0.1", 1),
    }
    await app(scope, receive, send)
    return sent


@dataclass
class Api:
    """A client of the app under test with one-call pushes."""

    client: httpx.AsyncClient

    async def push_blob(self, repo: str, data: bytes, algorithm: str = "sha256") -> str:
        """Push ``data`` monolithically; returns its digest."""
        digest = digest_of(data, algorithm)
        response = await self.client.post(
            f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, content=data
        )
        assert response.status_code == 201, response.text
        return digest

    async def start_upload(self, repo: str) -> str:
        """Open an upload session; returns its location."""
        response = await self.client.post(f"/v2/{repo}/blobs/uploads/")
        assert response.status_code == 202, response.text
        return response.headers["location"]

    def descriptor(self, media_type: str, data: bytes, **extra: Any) -> dict[str, Any]:
        return {"mediaType": media_type, "digest": digest_of(data), "size": len(data), **extra}

    async def image(
        self,
        repo: str,
        layers: list[bytes] | None = None,
        *,
        config: bytes = b"{}",
        media_type: str = OCI_MANIFEST,
        **fields: Any,
    ) -> bytes:
        """Push the config and layers; return the body of a manifest naming them."""
        layers = [b"layer one"] if layers is None else layers
        for blob in (config, *layers):
            await self.push_blob(repo, blob)
        doc = {
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": self.descriptor(OCI_CONFIG, config),
            "layers": [self.descriptor(OCI_LAYER, layer) for layer in layers],
            **fields,
        }
        return json.dumps(doc).encode()

    async def put_manifest(
        self, repo: str, reference: str, body: bytes, media_type: str = OCI_MANIFEST
    ) -> httpx.Response:
        return await self.client.put(
            f"/v2/{repo}/manifests/{reference}", content=body, headers={"Content-Type": media_type}
        )

    async def push_image(self, repo: str, tag: str, **fields: Any) -> tuple[str, bytes]:
        """Push an image under ``tag``; returns its manifest digest and body."""
        body = await self.image(repo, **fields)
        response = await self.put_manifest(repo, tag, body)
        assert response.status_code == 201, response.text
        return response.headers["docker-content-digest"], body
