"""The ASGI application :func:`~._run.serve` runs: the store opened in the lifespan, an access log.

:class:`Registry` opens the store at lifespan startup on the server's own event
loop, builds :func:`~aiocontent.server.create_app` on it and runs that app's
lifespan; :class:`AccessLog` writes one line per request.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any, Final

import anyio

from ._app import create_app
from ._listen import Listen
from ._options import S3Location, ServeOptions

if TYPE_CHECKING:
    from .._local import LocalStore
    from .._s3 import S3Store

__all__ = ("ACCESS_LOGGER", "ASGIApp", "AccessLog", "Registry")

#: The logger that receives one line per request.
ACCESS_LOGGER: Final = "aiocontent.server.access"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class AccessLog:
    """One line per HTTP request: client, request line, status, body bytes sent, seconds.

    The status is ``-`` when the request was cancelled before any answer.
    """

    def __init__(self, app: ASGIApp, logger: logging.Logger) -> None:
        self._app = app
        self._logger = logger

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        began = time.perf_counter()
        status = 0
        sent = 0

        async def logged_send(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await self._app(scope, receive, logged_send)
        except Exception:
            status = status or 500  # what the server answers for it
            raise
        finally:  # cancelled before an answer (a forced stop): status "-"
            self._logger.info(
                '%s "%s %s HTTP/%s" %s %d %.3fs',
                _client(scope),
                scope["method"],
                _target(scope),
                scope.get("http_version", "1.1"),
                status or "-",
                sent,
                time.perf_counter() - began,
            )


def _client(scope: Scope) -> str:
    client = scope.get("client")
    if not client:
        return "-"
    return str(Listen(str(client[0]), int(client[1])))


def _target(scope: Scope) -> str:
    raw = scope.get("raw_path")
    path = raw.decode("latin-1") if raw else scope["path"]
    query = scope.get("query_string", b"")
    text = f"{path}?{query.decode('latin-1')}" if query else path
    return text.replace('"', "%22").replace("\n", "%0A").replace("\r", "%0D")


class Registry:
    """The ASGI application the server runs: the store opens at lifespan startup.

    Startup opens the :class:`~aiocontent.LocalStore`, builds
    :func:`~aiocontent.server.create_app` on it and runs that app's own lifespan;
    shutdown undoes both. A startup failure is kept in :attr:`startup_error`.
    """

    def __init__(self, options: ServeOptions, announce: Callable[[], None]) -> None:
        self._options = options
        self._announce = announce
        self._app: ASGIApp | None = None
        self.startup_error: BaseException | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        app = self._app
        if app is None:  # pragma: no cover - servers send requests only after startup
            raise RuntimeError("the registry received a request before its startup completed")
        await app(scope, receive, send)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        await receive()  # lifespan.startup
        async with AsyncExitStack() as stack:
            try:
                self._app = await stack.enter_async_context(self._open(scope))
            except Exception as exc:
                self.startup_error = exc
                await send({"type": "lifespan.startup.failed", "message": str(exc)})
                return
            await send({"type": "lifespan.startup.complete"})
            self._announce()
            await receive()  # lifespan.shutdown
        await send({"type": "lifespan.shutdown.complete"})

    @asynccontextmanager
    async def _open(self, scope: Scope) -> AsyncIterator[ASGIApp]:
        from .._local import LocalStore

        options = self._options
        store: LocalStore | S3Store
        if options.s3 is not None:
            store = _s3_store(options.s3)
        else:
            await anyio.Path(options.root).mkdir(parents=True, exist_ok=True)
            store = LocalStore(options.root)
        async with store:
            if options.s3 is not None:  # fail at startup when the bucket is out of reach
                await store._ready()  # type: ignore[union-attr]
            app: ASGIApp = create_app(
                store, read_only=options.read_only, auth=options.auth, upstream=options.upstream
            )
            async with _app_lifespan(app, scope):
                if options.access_log:
                    app = AccessLog(app, logging.getLogger(ACCESS_LOGGER))
                yield app


def _s3_store(s3: S3Location) -> S3Store:
    """The S3Store ``s3`` names (the bucket is created if missing)."""
    from .._s3 import S3Store

    return S3Store(
        s3.bucket,
        s3.prefix,
        endpoint_url=s3.endpoint_url,
        region_name=s3.region_name,
        create_bucket=True,
        lock_lease=s3.lock_lease,
    )


@asynccontextmanager
async def _app_lifespan(app: ASGIApp, scope: Scope) -> AsyncIterator[None]:
    """Run ``app``'s lifespan protocol around the block (startup before, shutdown after).

    :raises RuntimeError: the app reports a failed startup.
    """
    to_app, app_receive = anyio.create_memory_object_stream[Message](1)
    app_send, from_app = anyio.create_memory_object_stream[Message](1)

    async def run() -> None:
        async with app_send:
            await app(scope, app_receive.receive, app_send.send)

    async with anyio.create_task_group() as tg, to_app, from_app:
        tg.start_soon(run)
        await to_app.send({"type": "lifespan.startup"})
        reply = await from_app.receive()
        if reply["type"] != "lifespan.startup.complete":
            raise RuntimeError(f"the registry failed to start: {reply.get('message', reply)}")
        try:
            yield
        finally:
            with anyio.CancelScope(shield=True):
                await to_app.send({"type": "lifespan.shutdown"})
                await from_app.receive()
