"""Ref locks shared by every host: a lock object with an owner and a renewed lease.

Taking the lock is ``PUT locks/<hex>`` with ``If-None-Match: *``: of any number
of racing writers exactly one gets 200, the others 412. The holder rewrites the
object every ``lease / 3`` seconds with ``If-Match`` on its last ETag (the body
counts renewals, so every ETag is new). A lock whose object was not rewritten
for longer than its lease, measured with the server's own clock (``Date``
against ``Last-Modified``), belongs to a crashed holder: a contender replaces
it with ``If-Match`` on the stale ETag, so again only one wins. A holder whose
renewal is refused knows it lost the lock.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import time
from datetime import UTC, datetime
from typing import Any, Final

from .._messages import ref_locked
from . import _bridge
from ._client import S3Client
from ._connection import Missing, PreconditionFailed
from ._layout import fmt_time, parse_time

# Last-Modified and Date have one-second resolution: allow for it.
_CLOCK_SLACK: Final = 2.0


class S3Lock:
    """One held (or wanted) lock object."""

    def __init__(self, client: S3Client, key: str, ref: str, owner: str, lease: float) -> None:
        self._client = client
        self._key = key
        self._ref = ref
        self._owner = owner
        self._lease = lease
        self._since = datetime.now(UTC)
        self._etag = ""
        self._n = 0
        self._task: asyncio.Task[None] | None = None
        self._task_future: concurrent.futures.Future[None] | None = None
        self.lost = False

    def _body(self) -> bytes:
        return json.dumps(
            {
                "ref": self._ref,
                "owner": self._owner,
                "since": fmt_time(self._since),
                "lease": self._lease,
                "n": self._n,
            }
        ).encode()

    async def acquire(self) -> None:
        """Take the lock or fail at once.

        :raises ~aiocontent.UnavailableError: a live holder has it.
        """
        for _ in range(3):
            try:
                self._etag = await self._client.put(self._key, self._body(), if_none_match=True)
            except PreconditionFailed:
                pass
            else:
                self._start_renewal()
                return
            got = await self._client.get(self._key)
            if got is None:
                continue  # released meanwhile: try again
            raw, head, server_now = got
            try:
                held = json.loads(raw)
                lease = float(held["lease"])
                since = parse_time(held["since"]) or head.last_modified
            except (ValueError, KeyError, TypeError):
                lease, since = 0.0, head.last_modified
            age = (server_now - head.last_modified).total_seconds()
            if age <= lease + _CLOCK_SLACK:
                elapsed = (datetime.now(UTC) - since).total_seconds()
                raise ref_locked(self._ref, since, max(elapsed, 0.0))
            try:  # the holder stopped renewing: take the lock over
                self._etag = await self._client.put(self._key, self._body(), if_match=head.etag)
            except (PreconditionFailed, Missing):
                continue
            self._start_renewal()
            return
        raise ref_locked(self._ref, datetime.now(UTC), 0.0)

    def _start_renewal(self) -> None:
        self._task_future = _bridge.submit(self._spawn())

    async def _spawn(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._renew())

    async def _renew(self) -> None:
        """Bridge side: rewrite the lock object until cancelled or refused."""
        period = self._lease / 3
        deadline = time.monotonic() + self._lease
        while True:
            await asyncio.sleep(period)
            self._n += 1
            try:
                r: Any = await self._client._do(
                    "PutObject",
                    self._key,
                    "put_object",
                    Key=self._key,
                    Body=self._body(),
                    IfMatch=self._client.if_match(self._etag),
                )
            except (PreconditionFailed, Missing):
                self.lost = True
                return
            except OSError:
                if time.monotonic() > deadline:
                    self.lost = True
                    return
                continue
            self._etag = str(r.get("ETag", "")).strip('"')
            deadline = time.monotonic() + self._lease

    async def release(self) -> None:
        """Stop renewing and delete the lock object (unless it was lost). Idempotent."""
        fut = self._task_future
        if fut is None:
            return
        self._task_future = None
        await _bridge.wait(fut)
        task, self._task = self._task, None
        if task is not None:
            await _bridge.call(_cancel(task))
        if not self.lost:
            with contextlib.suppress(OSError):
                await self._client.delete(self._key)


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
