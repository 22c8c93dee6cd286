"""A per-request round-robin HTTP proxy on loopback, standing in for a load balancer.

Each request goes to the next of the given registries in turn, body streamed
both ways; a client's consecutive requests (an upload's POST, PATCHes and PUT)
land on different processes. Used to run the OCI conformance suite across
several ``aiocontent serve --s3-bucket`` processes on one bucket::

    python benchmarks/round_robin.py --listen 127.0.0.1:5000 \\
        http://127.0.0.1:5001 http://127.0.0.1:5002 http://127.0.0.1:5003
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import AsyncIterator, Sequence
from typing import Final

import httpx
import uvicorn
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.types import ASGIApp, Receive, Scope, Send

#: Hop-by-hop headers a proxy must not forward.
_HOP: Final = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "proxy-connection", "host"}
)


def balancer(upstreams: Sequence[str]) -> ASGIApp:
    """An ASGI app forwarding each request to the next of ``upstreams`` (round robin)."""
    turn = itertools.cycle(upstreams)
    client = httpx.AsyncClient(
        timeout=httpx.Timeout(300.0), limits=httpx.Limits(max_connections=256)
    )

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        headers = [(k, v) for k, v in request.headers.raw if k.decode().lower() not in _HOP]

        async def body() -> AsyncIterator[bytes]:
            async for piece in request.stream():
                if piece:
                    yield piece

        has_body = "content-length" in request.headers or "transfer-encoding" in request.headers
        upstream = client.build_request(
            request.method,
            f"{next(turn)}{scope['raw_path'].decode()}"
            + (f"?{scope['query_string'].decode()}" if scope["query_string"] else ""),
            headers=headers,
            content=body() if has_body else None,
        )
        answer = await client.send(upstream, stream=True)
        out = [(k, v) for k, v in answer.headers.raw if k.decode().lower() not in _HOP]
        response = StreamingResponse(
            answer.aiter_raw(),
            status_code=answer.status_code,
            background=BackgroundTask(answer.aclose),
        )
        response.raw_headers = out
        await response(scope, receive, send)

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="127.0.0.1:5000", help="HOST:PORT (loopback)")
    parser.add_argument(
        "upstreams", nargs="+", help="registry base URLs, e.g. http://127.0.0.1:5001"
    )
    args = parser.parse_args()
    host, _, port = args.listen.rpartition(":")
    if not host.startswith("127.") and host not in ("localhost", "::1", "[::1]"):
        parser.error(f"--listen {args.listen!r}: loopback addresses only")
    uvicorn.run(
        balancer([u.rstrip("/") for u in args.upstreams]),
        host=host,
        port=int(port),
        log_level="warning",
    )


if __name__ == "__main__":
    main()
