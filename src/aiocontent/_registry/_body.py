"""Reading an untrusted response body with bounds on size, decoded size and speed.

Every body the registry client reads goes through :func:`iter_body`. It reads
the raw bytes (``httpx``'s own decoders are never used: they decode a whole
chunk at once, so a small gzip bomb could take gigabytes), decodes
``Content-Encoding`` (``gzip`` and ``deflate`` only) at most
:data:`DECODE_STEP` bytes at a time, stops as soon as more than ``limit``
decoded bytes arrived, and gives up on a body slower than :data:`MIN_SPEED`.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Final

import anyio
import httpx

from ._errors import RegistryError

__all__ = ("DECODE_STEP", "MIN_SPEED", "Decoder", "Interrupted", "iter_body")

#: The most decoded bytes produced from compressed input in one step.
DECODE_STEP: Final = 64 << 10
#: Bytes per second a body must average over each window (the client's timeout).
MIN_SPEED: Final = 1024


class Interrupted(Exception):
    """A request or body stopped early for a reason worth a retry.

    A transport error, no answer within the timeout, a body slower than
    :data:`MIN_SPEED` or a body that ended cleanly before its size.
    """


class Decoder:
    """Incremental, bounded decoding of one ``Content-Encoding``.

    :raises RegistryError: an encoding other than ``identity``, ``gzip`` and
        ``deflate`` (or several stacked), named in the message.
    """

    def __init__(self, content_encoding: str, what: str) -> None:
        codings = [c.strip().lower() for c in content_encoding.split(",")]
        codings = [c for c in codings if c and c != "identity"]
        self.what = what
        self._wbits: int | None = None
        if not codings:
            return
        if len(codings) == 1 and codings[0] in ("gzip", "x-gzip"):
            self._wbits = 16 + zlib.MAX_WBITS
        elif len(codings) == 1 and codings[0] == "deflate":
            self._wbits = zlib.MAX_WBITS
        else:
            raise RegistryError(
                f"{what}: unsupported Content-Encoding {content_encoding[:100]!r} "
                f"(only gzip and deflate are decoded): {RegistryError.kind_text}"
            )
        self._zlib = zlib.decompressobj(self._wbits)
        self._started = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        """Decode ``data``, yielding at most :data:`DECODE_STEP` bytes at a time."""
        if self._wbits is None:
            if data:
                yield data
            return
        while True:
            try:
                out = self._zlib.decompress(data, DECODE_STEP)
            except zlib.error as exc:
                if not self._started and self._wbits == zlib.MAX_WBITS:
                    # "deflate" sent raw, without the zlib header: a common mistake.
                    self._wbits = -zlib.MAX_WBITS
                    self._zlib = zlib.decompressobj(self._wbits)
                    continue
                raise RegistryError(
                    f"{self.what}: body does not decode as its Content-Encoding: {exc}: "
                    f"{RegistryError.kind_text}"
                ) from exc
            self._started = True
            if out:
                yield out
            data = self._zlib.unconsumed_tail
            if self._zlib.eof and self._zlib.unused_data:
                data = self._zlib.unused_data  # another gzip member follows
                self._zlib = zlib.decompressobj(self._wbits)
            elif not data and len(out) < DECODE_STEP:
                return


async def iter_body(
    resp: httpx.Response,
    *,
    limit: int,
    over: Callable[[], Exception],
    window: float,
    what: str,
) -> AsyncIterator[bytes]:
    """Yield the decoded body of ``resp`` as it arrives, never more than ``limit`` bytes.

    Each chunk is yielded as soon as it is read (nothing is buffered), so a
    caller that stores the chunks keeps everything that arrived before a
    failure.

    :param limit: the most decoded bytes accepted; one more raises ``over()``
        before it is yielded, and reading stops.
    :param window: the seconds over which the body must average :data:`MIN_SPEED`.
    :raises Interrupted: a transport error, or the body is too slow.
    :raises RegistryError: an unsupported or broken ``Content-Encoding``.
    """
    decoder = Decoder(resp.headers.get("Content-Encoding", ""), what)
    total = 0
    window_start = anyio.current_time()
    window_bytes = 0
    # The raw stream, iterated here and closed here: ``aiter_raw`` would leave
    # its generator for the garbage collector when the caller stops early.
    if not isinstance(resp.stream, httpx.AsyncByteStream):
        raise TypeError("iter_body needs a response of an httpx.AsyncClient")
    raw = resp.stream.__aiter__()
    try:
        while True:
            try:
                data = await raw.__anext__()
            except StopAsyncIteration:
                return
            except httpx.TransportError as exc:
                raise Interrupted(f"{type(exc).__name__}: {exc or 'connection lost'}") from exc
            except httpx.StreamError as exc:
                raise RegistryError(
                    f"{what}: {type(exc).__name__}: {exc}: {RegistryError.kind_text}"
                ) from exc
            window_bytes += len(data)
            elapsed = anyio.current_time() - window_start
            if elapsed >= window:
                if window_bytes < MIN_SPEED * elapsed:
                    raise Interrupted(
                        f"body too slow: {window_bytes} bytes in {elapsed:.1f} s "
                        f"(less than {MIN_SPEED} bytes/s)"
                    )
                window_start, window_bytes = anyio.current_time(), 0
            for chunk in decoder.feed(data):
                total += len(chunk)
                if total > limit:
                    raise over()
                yield chunk
    finally:
        with anyio.CancelScope(shield=True):
            await _aclose(raw)


async def _aclose(iterator: AsyncIterator[bytes]) -> None:
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        await aclose()
