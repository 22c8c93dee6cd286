"""Single-flight: concurrent ``write_blob`` calls for one digest share one download.

A store offers the capability by holding a :class:`Flights` table (see
:class:`~aiocontent.SupportsSingleFlight`). The first ``write_blob`` for a
digest *leads*; later ones *follow*: they wait, return without reading their
own source when the leader succeeds, and one of them takes over when it fails.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

__all__ = ("Flights",)


class _Flight:
    __slots__ = ("done", "succeeded")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.succeeded = False


class Flights:
    """The running leaders of one store object, keyed by digest.

    .. versionadded:: 0.1
    """

    __slots__ = ("_flights",)

    def __init__(self) -> None:
        self._flights: dict[str, _Flight] = {}

    def __len__(self) -> int:
        """The number of digests being written by a leader right now."""
        return len(self._flights)

    def leading(self, digest: str) -> bool:
        """``True`` while a leader is writing ``digest``."""
        return digest in self._flights

    @asynccontextmanager
    async def lead(self, digest: str) -> AsyncIterator[bool]:
        """Take part in the flight for ``digest``.

        Yields ``True`` to the caller that must do the work now (the leader):
        leaving the block normally marks the flight a success, leaving it with an
        exception (cancellation included) hands leadership to a waiting follower.
        Yields ``False`` when a leader succeeded while this caller waited: the
        content is there, nothing is left to do. Cancellation ends the wait.
        """
        while (flight := self._flights.get(digest)) is not None:
            await flight.done.wait()
            if flight.succeeded:
                yield False
                return
        flight = self._flights[digest] = _Flight()
        try:
            yield True
            flight.succeeded = True
        finally:
            del self._flights[digest]
            flight.done.set()
