"""The registries the server benchmark measures, and the registry API calls it makes.

``aiocontent serve`` runs through the test fixture ``tests/server/_process.py``
and docker-registry through ``tests/registry/_server.py``, so the benchmark
starts them exactly as the tests do (here with their access logs off).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, Final

import anyio
from _http import Connection, Response

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.registry._server import REGISTRY_BIN, RegistryProcess
from tests.server._process import ServeProcess
from tests.server.clients._images import OCI_CONFIG, OCI_LAYER, OCI_MANIFEST

__all__ = (
    "OCI_CONFIG",
    "OCI_LAYER",
    "OCI_MANIFEST",
    "REGISTRY_BIN",
    "REPO",
    "Client",
    "RegistryProcess",
    "ServeProcess",
    "descriptor",
    "digest_of",
    "port_of",
    "registry_version",
    "server_versions",
    "start_aiocontent",
)

REPO: Final = "bench/blobs"


def start_aiocontent(workdir: Path, backend: str) -> ServeProcess:
    """``aiocontent serve`` on a LocalStore under ``workdir``, no access log."""
    workdir.mkdir(parents=True, exist_ok=True)
    server = ServeProcess(workdir / "root", backend, log=workdir / "serve.log", args=["--quiet"])
    server.start()
    return server


def port_of(server: ServeProcess | RegistryProcess) -> int:
    if isinstance(server, RegistryProcess):
        return server.port
    return int(server.listen.rsplit(":", 1)[1])


class Client:
    """Requests against one server, each on connections of its own."""

    def __init__(self, port: int) -> None:
        self.port = port

    @contextlib.asynccontextmanager
    async def connections(self, n: int) -> AsyncIterator[list[Connection]]:
        conns = [await Connection.open("127.0.0.1", self.port) for _ in range(n)]
        try:
            yield conns
        finally:
            for conn in conns:
                await conn.aclose()

    @staticmethod
    def check(resp: Response, status: int, what: str) -> Response:
        if resp.status != status:
            raise RuntimeError(f"{what}: status {resp.status}, expected {status}")
        return resp

    async def push(
        self, conn: Connection, data: bytes | memoryview, digest: str, chunk: int = 0
    ) -> None:
        """POST, then a PUT with the body (``chunk`` 0), or PATCHes of ``chunk`` bytes and a PUT."""
        location = self.check(
            await conn.request("POST", f"/v2/{REPO}/blobs/uploads/"), 202, "POST upload"
        ).headers["location"]
        view = memoryview(data)
        if chunk:
            for start in range(0, len(view), chunk):
                part = view[start : start + chunk]
                resp = await conn.request(
                    "PATCH",
                    location,
                    headers={
                        "Content-Type": "application/octet-stream",
                        "Content-Range": f"{start}-{start + len(part) - 1}",
                    },
                    body=part,
                )
                location = self.check(resp, 202, "PATCH chunk").headers["location"]
            view = view[:0]
        sep = "&" if "?" in location else "?"
        resp = await conn.request(
            "PUT",
            f"{location}{sep}digest={digest}",
            headers={"Content-Type": "application/octet-stream"},
            body=view,
        )
        self.check(resp, 201, f"PUT {digest}")

    async def get_blob(
        self, conn: Connection, digest: str, size: int, verify: bool = False
    ) -> None:
        hasher = hashlib.sha256()
        resp = await conn.request(
            "GET", f"/v2/{REPO}/blobs/{digest}", sink=hasher.update if verify else None
        )
        self.check(resp, 200, f"GET {digest}")
        if resp.length != size or (verify and f"sha256:{hasher.hexdigest()}" != digest):
            raise RuntimeError(f"GET {digest} gave other bytes ({resp.length} of {size})")

    async def put_manifest(self, conn: Connection, tag: str, body: bytes) -> None:
        resp = await conn.request(
            "PUT", f"/v2/{REPO}/manifests/{tag}", headers={"Content-Type": OCI_MANIFEST}, body=body
        )
        self.check(resp, 201, f"PUT manifest {tag}")

    async def spread(
        self, conns: list[Connection], total: int, one: Callable[[Connection, int], Awaitable[None]]
    ) -> float:
        """``total`` calls of ``one`` spread over ``conns`` at once; their seconds."""

        async def worker(conn: Connection, first: int) -> None:
            for i in range(first, total, len(conns)):
                await one(conn, i)

        start = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for n, conn in enumerate(conns):
                tg.start_soon(worker, conn, n)
        return time.perf_counter() - start


def digest_of(data: bytes | bytearray | memoryview) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def descriptor(media_type: str, data: bytes) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": digest_of(data), "size": len(data)}


def server_versions(backend: str) -> str:
    names = ["aiocontent", "starlette", "uvicorn" if backend == "asyncio" else "hypercorn"]
    found = []
    for name in names:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            found.append(f"{name} ?")
    return ", ".join(found)


def registry_version() -> str:
    binary = shutil.which(REGISTRY_BIN)
    if binary is None:
        return "–"
    proc = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    return proc.stdout.strip().rsplit(" ", 1)[-1] or "?"
