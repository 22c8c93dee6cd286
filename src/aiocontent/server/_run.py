"""Run the registry on a real HTTP server: uvicorn on asyncio, hypercorn on trio.

:func:`serve` binds the listening socket itself (so a bad address or a port in
use fails before anything starts, with the address in the message), opens the
:class:`~aiocontent.LocalStore` (or the :class:`~aiocontent.S3Store`) inside
the server's lifespan on the server's own event loop, writes one access-log
line per request and shuts down
gracefully on SIGTERM or SIGINT: the socket stops accepting, requests in
flight get ``shutdown_timeout`` seconds to finish, then the store is closed.
A second signal stops at once. An upload cut short keeps what reached the
store: its session is an ingest and resumes after a restart.

uvicorn and hypercorn are imported only by :func:`serve`, never by
``import aiocontent`` or ``import aiocontent.server``.
"""

from __future__ import annotations

import logging
import math
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

import anyio

from .._errors import InvalidArgumentError
from ._app import create_app
from ._auth import Auth
from ._upstream import Upstream

if TYPE_CHECKING:
    from .._local import LocalStore
    from .._s3 import S3Store

__all__ = (
    "ACCESS_LOGGER",
    "Listen",
    "ListenError",
    "S3Location",
    "ServeOptions",
    "bind",
    "parse_listen",
    "run",
    "serve",
    "setup_logging",
)

#: The logger that receives one line per request.
ACCESS_LOGGER: Final = "aiocontent.server.access"
#: The logger for start, stop and failures of the server.
SERVER_LOGGER: Final = "aiocontent.server"

_BACKLOG: Final = 1024
_LOOPBACK: Final = frozenset({"127.0.0.1", "::1", "localhost"})

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


# --------------------------------------------------------------------------- the address


@dataclass(frozen=True, slots=True)
class Listen:
    """A host and TCP port to listen on; ``port`` 0 picks a free port."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def is_loopback(self) -> bool:
        """Whether only this machine can connect."""
        return self.host in _LOOPBACK or self.host.startswith("127.")


def parse_listen(value: str) -> Listen:
    """Parse ``HOST:PORT`` or ``[IPV6]:PORT`` (for example ``127.0.0.1:5000``, ``[::1]:5000``).

    :raises ~aiocontent.InvalidArgumentError: the value has no port, a port
        outside 0-65535, an unbracketed IPv6 address or an empty host; the
        message names the value.
    """
    expected = "expected HOST:PORT or [IPV6]:PORT, such as 127.0.0.1:5000 or [::1]:5000"
    if value.startswith("["):
        host, bracket, rest = value[1:].partition("]")
        if not bracket or not rest.startswith(":") or ":" not in host:
            raise InvalidArgumentError(f"invalid listen address {value!r}: {expected}")
        port_text = rest[1:]
    else:
        host, colon, port_text = value.rpartition(":")
        if not colon or ":" in host:
            raise InvalidArgumentError(f"invalid listen address {value!r}: {expected}")
    if not host or any(c.isspace() for c in host):
        raise InvalidArgumentError(f"invalid listen address {value!r}: empty host; {expected}")
    if not port_text.isascii() or not port_text.isdigit() or int(port_text) > 65535:
        raise InvalidArgumentError(
            f"invalid listen address {value!r}: the port must be a number from 0 to 65535"
        )
    return Listen(host, int(port_text))


class ListenError(OSError):
    """The server cannot listen on the address it was given; the message names it."""


def bind(listen: Listen) -> socket.socket:
    """A listening TCP socket on ``listen`` (``SO_REUSEADDR``; IPv6 sockets are IPv6-only).

    :raises ListenError: the host does not resolve, or the port is in use or
        not allowed (``errno`` is the system's).
    """
    try:
        infos = socket.getaddrinfo(
            listen.host, listen.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise ListenError(exc.errno, f"cannot listen on {listen}: {exc.strerror}") from exc
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(address)
        sock.listen(_BACKLOG)
    except OSError as exc:
        sock.close()
        raise ListenError(exc.errno, f"cannot listen on {listen}: {exc.strerror}") from exc
    return sock


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{Listen(host, port)}"


# --------------------------------------------------------------------------- the ASGI wrapper


@dataclass(frozen=True, slots=True)
class S3Location:
    """Where an :class:`~aiocontent.S3Store` lives; credentials come from the environment."""

    bucket: str
    endpoint_url: str | None = None
    prefix: str = ""
    region_name: str = "us-east-1"
    #: Seconds a lock (an upload session's, a repository's) outlives a host that died.
    lock_lease: float = 30.0

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


@dataclass
class ServeOptions:
    """How :func:`serve` runs: the store (root or bucket), the address, the server's behaviour."""

    root: Path
    listen: Listen
    backend: Literal["asyncio", "trio"] = "asyncio"
    read_only: bool = False
    #: Checks every request's credentials (``None``: anyone may push).
    auth: Auth | None = None
    #: Seconds requests in flight get to finish after SIGTERM/SIGINT.
    shutdown_timeout: float = 10.0
    #: Write one line per request to :data:`ACCESS_LOGGER`.
    access_log: bool = True
    #: Be a read-only pull-through cache of this registry.
    upstream: Upstream | None = None
    #: Serve an S3Store in this bucket (and its registry metadata there) instead of ``root``.
    s3: S3Location | None = None

    @property
    def where(self) -> str:
        """The store served, for messages: the root folder or ``s3://bucket/prefix``."""
        return str(self.s3 or self.root)


class _AccessLog:
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


class _Registry:
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
                    app = _AccessLog(app, logging.getLogger(ACCESS_LOGGER))
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


# --------------------------------------------------------------------------- the servers


async def serve(options: ServeOptions) -> None:
    """Serve the registry until SIGTERM or SIGINT; run it with ``anyio.run(..., backend=)``.

    The event loop must be ``options.backend``'s: uvicorn runs on asyncio,
    hypercorn on trio.

    :raises ListenError: the address cannot be bound (in use, not allowed, unknown host).
    :raises ~aiocontent.ContentError: the store failed to open (or :class:`OSError`).
    """
    log = logging.getLogger(SERVER_LOGGER)
    sock = bind(options.listen)
    url = _url(sock)

    def announce() -> None:
        server = "uvicorn" if options.backend == "asyncio" else "hypercorn"
        mode = " read-only" if options.read_only else ""
        if options.upstream is not None:
            mode = f" as a cache of {options.upstream.url}"
        log.info(
            "serving %s%s on %s (%s on %s); SIGTERM or Ctrl-C stops",
            options.where,
            mode + (" with auth" if options.auth else ""),
            url,
            server,
            options.backend,
        )
        if not options.listen.is_loopback and options.auth is None:
            log.warning("listening beyond the loopback on %s: anyone who reaches it can push", url)

    registry = _Registry(options, announce)
    try:
        async with anyio.create_task_group() as tg:
            stop = _Stop(tg.cancel_scope.cancel, log, options.shutdown_timeout)
            tg.start_soon(stop.watch_signals)
            try:
                if options.backend == "asyncio":
                    await _serve_uvicorn(registry, sock, options, stop)
                else:
                    await _serve_hypercorn(registry, sock, options, stop)
            except BaseException:
                if registry.startup_error is None:
                    raise
            tg.cancel_scope.cancel()
    finally:
        sock.close()
    if registry.startup_error is not None:
        raise registry.startup_error
    log.info("stopped")


class _Stop:
    """Turns SIGTERM/SIGINT into a graceful shutdown; a second one stops at once."""

    def __init__(self, force: Callable[[], None], log: logging.Logger, timeout: float) -> None:
        self._log = log
        self._timeout = timeout
        self.requested = anyio.Event()
        #: called on the first signal, after :attr:`requested` is set
        self.on_request: Callable[[], None] = lambda: None
        #: called on the second signal
        self.on_force = force

    async def watch_signals(self) -> None:
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for signum in signals:
                name = signal.Signals(signum).name
                if self.requested.is_set():
                    self._log.info("%s again: stopping now", name)
                    self.on_force()
                    return
                self._log.info(
                    "%s: no new connections; requests in flight get %gs to finish",
                    name,
                    self._timeout,
                )
                self.requested.set()
                self.on_request()


async def _serve_uvicorn(
    app: ASGIApp, sock: socket.socket, options: ServeOptions, stop: _Stop
) -> None:
    import uvicorn

    class Server(uvicorn.Server):
        @contextmanager
        def capture_signals(self) -> Any:
            yield  # signals are watched by _Stop, on the event loop

    config = uvicorn.Config(
        app,
        lifespan="on",
        log_config=None,
        log_level="warning",
        access_log=False,
        ws="none",
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=math.ceil(options.shutdown_timeout),
    )
    server = Server(config)

    def request() -> None:
        server.should_exit = True

    def force() -> None:
        server.force_exit = True
        server.should_exit = True

    stop.on_request = request
    stop.on_force = force
    await server.serve(sockets=[sock])


async def _serve_hypercorn(
    app: ASGIApp, sock: socket.socket, options: ServeOptions, stop: _Stop
) -> None:
    from hypercorn.config import Config
    from hypercorn.trio import serve as hypercorn_serve

    config = Config()
    # hypercorn takes the socket over and closes it when it stops accepting
    config.bind = [f"fd://{sock.detach()}"]
    config.accesslog = None
    config.errorlog = logging.getLogger(f"{SERVER_LOGGER}.hypercorn")
    config.errorlog.setLevel(logging.WARNING)
    config.loglevel = "WARNING"
    config.graceful_timeout = options.shutdown_timeout
    config.include_server_header = False
    await hypercorn_serve(app, config, shutdown_trigger=stop.requested.wait)  # type: ignore[arg-type]


def run(options: ServeOptions) -> None:
    """Run :func:`serve` on ``options.backend``'s event loop until it stops."""
    anyio.run(serve, options, backend=options.backend)


def setup_logging(*, quiet: bool) -> None:
    """Send the server's lines (and uvicorn's errors) to stderr, prefixed ``aiocontent:``.

    ``quiet`` drops the access log.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("aiocontent: %(message)s"))
    for name in (SERVER_LOGGER, "uvicorn"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.propagate = False
    logging.getLogger(SERVER_LOGGER).setLevel(logging.INFO)
    logging.getLogger(ACCESS_LOGGER).setLevel(logging.WARNING if quiet else logging.INFO)
