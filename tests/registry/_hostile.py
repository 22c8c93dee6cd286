"""A hostile registry on 127.0.0.1: raw sockets, so it can stall, trickle, cut and lie.

Each connection runs in a thread (so the server serves any async backend and
the CLI's own event loop alike) and answers one request, then closes. A test
gives a *handler*: a function of the :class:`Request` and the :class:`Conn`
that writes whatever bytes it likes. Bytes written are counted in
``server.sent``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Final

_HEAD_MAX: Final = 64 << 10


@dataclasses.dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]


class Stopped(Exception):
    """The server is shutting down: a handler still writing gives up."""


class Conn:
    """One client connection, as a handler sees it."""

    def __init__(self, sock: socket.socket, server: HostileServer) -> None:
        self.sock = sock
        self.server = server

    def send(self, data: bytes) -> None:
        if self.server.stopping.is_set():
            raise Stopped
        self.sock.sendall(data)
        with self.server.lock:
            self.server.sent += len(data)

    def head(self, status: int, headers: dict[str, str] | None = None) -> None:
        lines = [f"HTTP/1.1 {status} X", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def respond(
        self, status: int, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> None:
        self.head(status, {"Content-Length": str(len(body)), **(headers or {})})
        self.send(body)

    def sleep(self, seconds: float) -> None:
        if self.server.stopping.wait(seconds):
            raise Stopped

    def trickle(self, data: bytes, size: int, every: float) -> None:
        """Send ``data`` ``size`` bytes at a time, one step every ``every`` seconds."""
        for i in range(0, len(data), size):
            self.send(data[i : i + size])
            self.sleep(every)


Handler = Callable[[Request, Conn], None]


class HostileServer:
    """Accepts on 127.0.0.1 and hands each request to ``handler``."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.sent = 0
        self.requests: list[Request] = []
        self._threads: list[threading.Thread] = []

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.listener.getsockname()[1]}"

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(sock,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, sock: socket.socket) -> None:
        with sock, contextlib.suppress(OSError, Stopped):
            request = _read_request(sock)
            if request is None:
                return
            with self.lock:
                self.requests.append(request)
            self.handler(request, Conn(sock, self))

    @contextlib.contextmanager
    def running(self) -> Iterator[HostileServer]:
        accept = threading.Thread(target=self._accept, daemon=True)
        accept.start()
        try:
            yield self
        finally:
            self.stopping.set()
            with contextlib.suppress(OSError):
                self.listener.shutdown(socket.SHUT_RDWR)
            self.listener.close()
            accept.join(5)
            for thread in self._threads:
                thread.join(5)


def _read_request(sock: socket.socket) -> Request | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk or len(data) > _HEAD_MAX:
            return None
        data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    first, *lines = head.split("\r\n")
    method, path, _ = first.split(" ", 2)
    headers = {}
    for line in lines:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    return Request(method, path, headers)


def range_start(request: Request) -> int:
    """The start of a ``Range: bytes=N-`` request, 0 without one."""
    value = request.headers.get("range", "")
    return int(value.removeprefix("bytes=").partition("-")[0]) if value else 0
