"""A lean HTTP/1.1 client over anyio sockets, for the registry benchmark.

httpx spends more time per byte than the servers it would measure (about
200 MB/s on a loopback GET on the benchmark machine, where a plain socket loop
reads 1 GB/s), so the benchmark speaks HTTP/1.1 itself: keep-alive
connections, request bodies sent in 1 MiB pieces, response bodies with
``Content-Length``, chunked or read to the end, counted and handed to a sink
(or dropped). It is not a general client: no redirects, no TLS, no pipelining.
"""

from __future__ import annotations

import dataclasses
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Final, cast

import anyio
import anyio.abc

_PIECE: Final = 1 << 20
_HEAD_LIMIT: Final = 64 << 10

#: Receives each piece of a response body, in order.
Sink = Callable[[bytes], object]


class ProtocolError(Exception):
    """The server's answer is not HTTP/1.1 this client understands."""


@dataclasses.dataclass
class Response:
    """A response: status, headers (lower-case names) and how many body bytes came."""

    status: int
    headers: dict[str, str]
    length: int = 0


class Connection:
    """One keep-alive HTTP/1.1 connection to ``host:port``; one request at a time."""

    def __init__(self, stream: anyio.abc.SocketStream, host: str) -> None:
        self._stream = stream
        self._host = host
        self._buffer = bytearray()
        self._open = True

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        return cls(await anyio.connect_tcp(host, port), f"{host}:{port}")

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def __aenter__(self) -> Connection:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def request(
        self,
        method: str,
        target: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | memoryview = b"",
        sink: Sink | None = None,
    ) -> Response:
        """Send one request and read its whole response.

        :param target: the path and query (a full URL is cut down to them)
        :param sink: called with each piece of the response body (else it is only counted)
        :raises ProtocolError: the connection closed early or the answer is malformed
        """
        if not self._open:
            raise ProtocolError("the server closed this connection")
        parts = urllib.parse.urlsplit(target)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self._host}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if body or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        view = memoryview(body)
        if len(view) <= _PIECE:
            await self._stream.send(head + bytes(view))
        else:
            await self._stream.send(head)
            for start in range(0, len(view), _PIECE):
                # anyio's streams take any buffer; a slice of the view copies nothing
                await self._stream.send(cast(bytes, view[start : start + _PIECE]))
        status, response_headers = await self._read_head()
        response = Response(status, response_headers)
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return response
        if response_headers.get("transfer-encoding", "").lower() == "chunked":
            await self._read_chunked(response, sink)
        elif "content-length" in response_headers:
            await self._read_exactly(int(response_headers["content-length"]), response, sink)
        else:
            await self._read_to_end(response, sink)
        if response_headers.get("connection", "").lower() == "close":
            self._open = False
        return response

    async def _fill(self) -> None:
        try:
            self._buffer += await self._stream.receive(_PIECE)
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            self._open = False
            raise ProtocolError("the server closed the connection mid-response") from None

    async def _read_head(self) -> tuple[int, dict[str, str]]:
        while (end := self._buffer.find(b"\r\n\r\n")) < 0:
            if len(self._buffer) > _HEAD_LIMIT:
                raise ProtocolError("response head over 64 KiB")
            await self._fill()
        text = bytes(self._buffer[:end]).decode("latin-1")
        del self._buffer[: end + 4]
        status_line, *header_lines = text.split("\r\n")
        fields = status_line.split(" ", 2)
        if len(fields) < 2 or not fields[0].startswith("HTTP/1.") or not fields[1].isdigit():
            raise ProtocolError(f"bad status line {status_line!r}")
        headers: dict[str, str] = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return int(fields[1]), headers

    async def _read_exactly(self, n: int, response: Response, sink: Sink | None) -> None:
        while n > 0:
            if self._buffer:
                data = bytes(self._buffer[:n])
                del self._buffer[:n]
            else:  # the common case: straight from the socket, no copy
                try:
                    data = await self._stream.receive(min(n, _PIECE))
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    self._open = False
                    raise ProtocolError("the server closed the connection mid-body") from None
                if len(data) > n:
                    self._buffer += data[n:]
                    data = data[:n]
            if sink is not None:
                sink(data)
            response.length += len(data)
            n -= len(data)

    async def _read_line(self) -> bytes:
        while (end := self._buffer.find(b"\r\n")) < 0:
            await self._fill()
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 2]
        return line

    async def _read_chunked(self, response: Response, sink: Sink | None) -> None:
        while True:
            size_text = (await self._read_line()).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise ProtocolError(f"bad chunk size {size_text!r}") from None
            if size == 0:
                while await self._read_line():  # trailers, up to the empty line
                    pass
                return
            await self._read_exactly(size, response, sink)
            await self._read_line()

    async def _read_to_end(self, response: Response, sink: Sink | None) -> None:
        data = bytes(self._buffer)
        self._buffer.clear()
        while data:
            if sink is not None:
                sink(data)
            response.length += len(data)
            try:
                data = await self._stream.receive(_PIECE)
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                break
        self._open = False
