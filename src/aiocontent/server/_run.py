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
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any, Final

import anyio

from ._asgi import ACCESS_LOGGER as ACCESS_LOGGER
from ._asgi import ASGIApp, Registry
from ._listen import Listen as Listen
from ._listen import ListenError as ListenError
from ._listen import bind as bind
from ._listen import listen_url
from ._listen import parse_listen as parse_listen
from ._options import S3Location as S3Location
from ._options import ServeOptions as ServeOptions

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

#: The logger for start, stop and failures of the server.
SERVER_LOGGER: Final = "aiocontent.server"


async def serve(options: ServeOptions) -> None:
    """Serve the registry until SIGTERM or SIGINT; run it with ``anyio.run(..., backend=)``.

    The event loop must be ``options.backend``'s: uvicorn runs on asyncio,
    hypercorn on trio.

    :raises ListenError: the address cannot be bound (in use, not allowed, unknown host).
    :raises ~aiocontent.ContentError: the store failed to open (or :class:`OSError`).
    """
    log = logging.getLogger(SERVER_LOGGER)
    sock = bind(options.listen)
    url = listen_url(sock)

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

    registry = Registry(options, announce)
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


#: Seconds an idle keep-alive connection is kept open: longer than the 90 s after
#: which Go's HTTP clients (containerd, skopeo, podman) drop idle connections
#: themselves, so a client never sends a request on a connection the server is
#: closing at that instant (which Go reports as ``unexpected EOF`` for a PUT or
#: POST it will not retry). The servers' own default is 5 s.
KEEP_ALIVE: Final = 120


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
        timeout_keep_alive=KEEP_ALIVE,
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
    config.keep_alive_timeout = KEEP_ALIVE
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
