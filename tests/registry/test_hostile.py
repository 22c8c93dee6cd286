"""A hostile registry on the loopback: cuts, trickles, silence, bombs, loops (real sockets)."""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Final

import anyio
import pytest
from click.testing import CliRunner

from aiocontent import Descriptor, read_blob
from aiocontent._cli import cli
from aiocontent._cli._app import ExitCode
from aiocontent._memory import MemoryStore
from aiocontent._registry import _media
from aiocontent.registry import RegistryError, pull

from ._fake import CONFIG, REPO, digest_of, gzip_bomb, manifest_for
from ._hostile import Conn, Handler, HostileServer, Request, range_start

LAYER: Final = random.Random(12).randbytes(500_000)
LAYER_DIGEST: Final = digest_of(LAYER)
MANIFEST: Final = manifest_for(CONFIG, [LAYER])
BLOBS: Final = {digest_of(CONFIG): CONFIG, LAYER_DIGEST: LAYER}
BOMB_MEMBER: Final = gzip_bomb(64 << 20)


def registry(**misbehave: Handler) -> HostileServer:
    """Serves the image; a request whose path contains a key of ``misbehave`` goes there."""

    def handle(request: Request, conn: Conn) -> None:
        for part, handler in misbehave.items():
            if part in request.path:
                handler(request, conn)
                return
        name = request.path.rpartition("/")[2]
        if "/manifests/" in request.path:
            conn.respond(200, MANIFEST, {"Content-Type": _media.OCI_MANIFEST})
        elif name in BLOBS:
            conn.respond(200, BLOBS[name])
        else:
            conn.respond(404)

    return HostileServer(handle)


def reference(server: HostileServer) -> str:
    return f"{server.host}/{REPO}:v1"


def cut_every_50kb(request: Request, conn: Conn) -> None:
    start = range_start(request)
    if start:
        end = len(LAYER) - 1
        conn.head(206, {"Content-Range": f"bytes {start}-{end}/{len(LAYER)}",
                        "Content-Length": str(len(LAYER) - start)})  # fmt: skip
    else:
        conn.head(200, {"Content-Length": str(len(LAYER))})
    conn.send(LAYER[start : start + 50_000])  # then the connection closes


async def test_cut_every_50kb_keeps_what_arrived_and_resumes_with_range() -> None:
    with registry(**{f"/blobs/{LAYER_DIGEST}": cut_every_50kb}).running() as server:
        async with MemoryStore() as store:
            await pull(store, reference(server), plain_http=True, retries=2)
            assert await read_blob(store, Descriptor(digest=LAYER_DIGEST)) == LAYER
    starts = [range_start(r) for r in server.requests if LAYER_DIGEST in r.path]
    assert starts == list(range(0, len(LAYER), 50_000))  # not one byte fetched twice


def trickle_20_bytes_per_second(request: Request, conn: Conn) -> None:
    conn.head(200, {"Content-Length": str(len(LAYER))})
    conn.trickle(LAYER, 2, 0.1)


def slow_headers(request: Request, conn: Conn) -> None:
    conn.trickle(b"HTTP/1.1 200 OK\r\nX-Slow: " + b"x" * 10_000, 1, 0.1)


def silent(request: Request, conn: Conn) -> None:
    conn.sleep(60)


@pytest.mark.parametrize(
    ("part", "handler", "why"),
    [
        ("/blobs/", trickle_20_bytes_per_second, "body too slow: .*less than 1024 bytes/s"),
        ("/manifests/", slow_headers, r"no answer within 0\.5 s \(after 1 attempts"),
        ("/manifests/", silent, r"no answer within 0\.5 s \(after 1 attempts"),
    ],
)
async def test_slow_or_silent_registry_fails_within_the_timeout(
    part: str, handler: Handler, why: str
) -> None:
    with registry(**{part: handler}).running() as server:
        async with MemoryStore() as store:
            began = anyio.current_time()
            with pytest.raises(RegistryError, match=why):
                await pull(store, reference(server), plain_http=True, retries=0,
                           http_timeout=0.5)  # fmt: skip
    assert anyio.current_time() - began < 2
    assert server.sent < 1000


async def test_silent_registry_fails_when_the_retry_budget_is_spent() -> None:
    with registry(**{"/manifests/": silent}).running() as server:
        async with MemoryStore() as store:
            began = anyio.current_time()
            with pytest.raises(RegistryError, match="retry budget of 1 s is spent"):
                await pull(store, reference(server), plain_http=True, http_timeout=0.5,
                           retry_budget=1)  # fmt: skip
    assert anyio.current_time() - began < 2
    assert len(server.requests) == 2


def trickle_20_kib_per_second(request: Request, conn: Conn) -> None:
    conn.head(200, {"Content-Length": str(len(LAYER))})
    conn.trickle(LAYER, 2048, 0.1)


async def test_deadline_bounds_a_pull_that_keeps_moving() -> None:
    with registry(**{f"/blobs/{LAYER_DIGEST}": trickle_20_kib_per_second}).running() as server:
        async with MemoryStore() as store:
            began = anyio.current_time()
            with pytest.raises(RegistryError, match="within its deadline of 1 s"):
                await pull(store, reference(server), plain_http=True, deadline=1)
            assert anyio.current_time() - began < 2
            (status,) = [s for s in await store.list_statuses() if LAYER_DIGEST in s.ref]
            assert status.offset > 0  # what arrived is kept for the next pull


def endless_gzip_bomb(request: Request, conn: Conn) -> None:
    conn.head(200, {"Content-Encoding": "gzip", "Content-Type": _media.OCI_MANIFEST})
    while True:
        conn.send(BOMB_MEMBER)  # each member decodes to 64 MiB


async def test_gzip_bomb_manifest_stops_at_the_cap() -> None:
    with registry(**{"/manifests/": endless_gzip_bomb}).running() as server:
        async with MemoryStore() as store:
            with pytest.raises(RegistryError, match="larger than 4194304 bytes"):
                await pull(store, reference(server), plain_http=True)
    # Whatever the socket buffers took (each 64 KiB is 64 MiB decoded), reading stopped.
    assert server.sent < 32 << 20


def redirect_to_self(request: Request, conn: Conn) -> None:
    conn.respond(302, headers={"Location": request.path})


async def test_redirect_loop_stops_after_ten() -> None:
    with registry(**{"/manifests/": redirect_to_self}).running() as server:
        async with MemoryStore() as store:
            with pytest.raises(RegistryError, match="more than 10 redirects"):
                await pull(store, reference(server), plain_http=True)
    assert len(server.requests) == 11


def test_cli_timeout_fails_a_silent_registry_quickly(tmp_path: Path) -> None:
    with registry(**{"/manifests/": silent}).running() as server:
        began = time.monotonic()
        result = CliRunner().invoke(
            cli,
            ["pull", "--plain-http", "--timeout", "0.5", reference(server), "--root",
             str(tmp_path)],
            env={},
        )  # fmt: skip
    assert time.monotonic() - began < 3
    assert result.exit_code == ExitCode.PROBLEM, result.output
    assert "no answer within 0.5 s" in result.stderr


def test_cli_timeout_default_is_30_seconds() -> None:
    result = CliRunner().invoke(cli, ["pull", "--help"])
    assert result.exit_code == 0
    assert "--timeout SECONDS" in result.stdout
    assert "default: 30.0" in result.stdout
