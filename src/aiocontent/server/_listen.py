"""The address :func:`~._run.serve` listens on: parsed from ``HOST:PORT``, bound before start."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Final

from .._errors import InvalidArgumentError

__all__ = ("Listen", "ListenError", "bind", "listen_url", "parse_listen")

_BACKLOG: Final = 1024
_LOOPBACK: Final = frozenset({"127.0.0.1", "::1", "localhost"})


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


def listen_url(sock: socket.socket) -> str:
    """``http://HOST:PORT`` of a bound socket."""
    host, port = sock.getsockname()[:2]
    return f"http://{Listen(host, port)}"
