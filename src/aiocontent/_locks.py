"""The in-process ref lock table that every writer of one store object shares.

Like containerd's ``locks.go``, a map from ref to the time it was locked; unlike
it, each entry carries an :class:`anyio.Event` set on release, so waiters wake at
once instead of polling. ``anyio.Lock`` is not used: a writer may be opened in
one task and committed in another.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import anyio

from ._messages import ref_locked


class LockToken:
    """Proof of holding a ref; :meth:`RefLocks.unlock` releases only the holder's token."""

    __slots__ = ("_released", "monotonic", "ref", "since")

    def __init__(self, ref: str) -> None:
        self.ref = ref
        self.since = datetime.now(UTC)
        self.monotonic = time.monotonic()
        self._released = anyio.Event()

    @property
    def held(self) -> bool:
        """``True`` until released."""
        return not self._released.is_set()

    async def wait_released(self) -> None:
        await self._released.wait()


class RefLocks:
    """Ref locks of one store object. Checking and taking a lock is one atomic step."""

    __slots__ = ("_held",)

    def __init__(self) -> None:
        self._held: dict[str, LockToken] = {}

    def try_lock(self, ref: str) -> LockToken:
        """Take ``ref`` or fail at once.

        :raises ~aiocontent.UnavailableError: it is held; the message says since when.
        """
        held = self._held.get(ref)
        if held is not None:
            raise ref_locked(ref, held.since, time.monotonic() - held.monotonic)
        token = self._held[ref] = LockToken(ref)
        return token

    def unlock(self, token: LockToken) -> None:
        """Release ``token``'s ref and wake its waiters. Idempotent."""
        if self._held.get(token.ref) is token:
            del self._held[token.ref]
        token._released.set()

    def holder(self, ref: str) -> LockToken | None:
        """The token holding ``ref``, if any."""
        return self._held.get(ref)

    def is_locked(self, ref: str) -> bool:
        return ref in self._held

    async def wait_unlocked(self, ref: str) -> None:
        """Return as soon as no writer of this table holds ``ref``."""
        while (held := self._held.get(ref)) is not None:
            await held.wait_released()
        await anyio.lowlevel.checkpoint()
