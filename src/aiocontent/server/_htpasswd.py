"""HTTP Basic against an htpasswd file of bcrypt hashes.

bcrypt is slow on purpose (tens of milliseconds per check at the usual cost),
so a check runs in a worker thread, at most a few at a time, and a credential
that passed is remembered for a short while: a push of a hundred requests
costs one bcrypt, not a hundred. Concurrent requests with the same new
credential wait for one check instead of each running their own. The cache
keeps a SHA-256 of user, password and stored hash, never the password.
"""

from __future__ import annotations

import functools
import hashlib
import re
import time
from collections import Counter, OrderedDict
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Final

import anyio
import anyio.to_thread
import bcrypt
from starlette.requests import Request

from .._errors import InvalidArgumentError
from ._auth import Access, basic_credentials, denied, quote, unauthorized

__all__ = ("HtpasswdAuth", "read_htpasswd")

_BCRYPT: Final = re.compile(rb"\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}")
#: bcrypt reads only this much of a password (Apache's htpasswd cuts there too)
_BCRYPT_MAX: Final = 72


def read_htpasswd(path: Path | str) -> dict[str, bytes]:
    """The users of the htpasswd file at ``path`` and their bcrypt hashes.

    One ``user:hash`` per line; blank lines and lines starting with ``#`` are
    skipped. Only bcrypt hashes (``$2y$``, ``$2b$``, ``$2a$``, as
    ``htpasswd -B`` writes them) are accepted.

    :raises ~aiocontent.InvalidArgumentError: a line is not ``user:hash``, a
        hash is not bcrypt (MD5 ``$apr1$``, SHA-1 ``{SHA}``, crypt or plain
        text), or a user appears twice; the message names the file, the line
        and the user, never the hash.
    :raises OSError: the file cannot be read.
    """
    path = Path(path)
    users: dict[str, bytes] = {}
    for number, raw in enumerate(path.read_bytes().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(b"#"):
            continue
        where = f"{path}:{number}"
        user_bytes, colon, hashed = line.partition(b":")
        try:
            user = user_bytes.decode()
        except UnicodeDecodeError:
            raise InvalidArgumentError(f"{where}: the user name is not UTF-8") from None
        if not colon or not user:
            raise InvalidArgumentError(f"{where}: expected 'user:bcrypt-hash', found no user")
        if _BCRYPT.fullmatch(hashed) is None:
            kind = _hash_kind(hashed)
            raise InvalidArgumentError(
                f"{where}: user {user!r} has {kind}, not a bcrypt hash;"
                " only bcrypt is accepted (create entries with 'htpasswd -B')"
            )
        if user in users:
            raise InvalidArgumentError(f"{where}: user {user!r} appears twice")
        users[user] = hashed
    return users


def _hash_kind(hashed: bytes) -> str:
    """What kind of htpasswd entry ``hashed`` looks like, for the error message."""
    if hashed.startswith(b"$apr1$"):
        return "an MD5 ($apr1$) hash"
    if hashed.startswith(b"{SHA}"):
        return "a SHA-1 ({SHA}) hash"
    if hashed.startswith(b"$2"):
        return "a malformed bcrypt hash"
    if hashed.startswith(b"$"):
        return f"a {hashed.split(b'$')[1].decode(errors='replace')!r} crypt hash"
    return "a crypt hash or a plain-text password"


def _check(password: bytes, hashed: bytes) -> bool:
    return bcrypt.checkpw(password[:_BCRYPT_MAX], hashed)


def _check_user(password: bytes, stored: bytes | None, usual_cost: int) -> bool:
    """Whether ``password`` matches ``stored``; ``None`` (no such user) never does,
    after as long a check as a user's."""
    if stored is None:
        _check(password, _nobody(usual_cost))
        return False
    return _check(password, stored)


@functools.cache
def _nobody(cost: int) -> bytes:
    """A hash checked for unknown users, so that they take as long as known ones."""
    return bcrypt.hashpw(b"no such user", bcrypt.gensalt(rounds=cost))


class _Flight:
    """One bcrypt check in progress; ``ok`` is its answer (``None``: it was cancelled)."""

    __slots__ = ("done", "ok")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.ok: bool | None = None


class HtpasswdAuth:
    """HTTP Basic authentication against bcrypt hashes (an htpasswd file or a mapping).

    Every user in the file may pull, push and delete, except the users in
    ``pull_only``, who may only pull (a push answers ``403 DENIED``). With
    ``anonymous_pull``, requests without credentials (or with an empty user
    and password, as clients send when they have none) may pull and list;
    they still need credentials to push, delete or call ``GET /v2/``, which
    answers 401 so that clients learn the challenge.

    :param users: a path to an htpasswd file, or user -> bcrypt hash.
    :param realm: the ``realm`` of the ``WWW-Authenticate: Basic`` challenge.
    :param cache_seconds: how long a credential that passed stays trusted
        without another bcrypt check.
    :param cache_size: how many such credentials are remembered at most.
    :param max_concurrent_checks: how many bcrypt checks may run at once (in
        worker threads); more wait their turn.
    :raises ~aiocontent.InvalidArgumentError: the file or the mapping holds
        an entry that is not bcrypt (see :func:`read_htpasswd`), or a
        ``pull_only`` user is not in it.
    """

    def __init__(
        self,
        users: Path | str | Mapping[str, bytes],
        *,
        realm: str = "aiocontent",
        anonymous_pull: bool = False,
        pull_only: Collection[str] = (),
        cache_seconds: float = 60.0,
        cache_size: int = 1024,
        max_concurrent_checks: int = 4,
    ) -> None:
        if isinstance(users, Mapping):
            for user, hashed in users.items():
                if _BCRYPT.fullmatch(hashed) is None:
                    raise InvalidArgumentError(f"user {user!r} has {_hash_kind(hashed)}")
            self._users = dict(users)
        else:
            self._users = read_htpasswd(users)
        unknown = sorted(set(pull_only) - set(self._users))
        if unknown:
            raise InvalidArgumentError(f"pull-only users not in the htpasswd file: {unknown}")
        self.realm = realm
        self.anonymous_pull = anonymous_pull
        self._pull_only = frozenset(pull_only)
        costs = Counter(int(hashed[4:6]) for hashed in self._users.values())
        self._usual_cost = costs.most_common(1)[0][0] if costs else 10
        self._challenge = f"Basic realm={quote(realm)}"
        self._cache_seconds = cache_seconds
        self._cache_size = cache_size
        self._trusted: OrderedDict[bytes, float] = OrderedDict()
        self._flights: dict[bytes, _Flight] = {}
        self._max_checks = max_concurrent_checks
        self._limiter: anyio.CapacityLimiter | None = None

    @property
    def users(self) -> frozenset[str]:
        """The user names the file holds."""
        return frozenset(self._users)

    async def authorize(self, request: Request, access: Sequence[Access]) -> str | None:
        """See :meth:`Auth.authorize`."""
        header = request.headers.get("authorization")
        user, password = "", b""
        if header is not None:
            if header.strip().partition(" ")[0].lower() != "basic":
                raise unauthorized(self._challenge, "expected Basic credentials")
            user, password = basic_credentials(header, self._challenge)
        anonymous = not user and not password
        if anonymous and self.anonymous_pull and access and all(a.is_read for a in access):
            return None
        if anonymous:
            raise unauthorized(self._challenge, [str(a) for a in access] or "credentials required")
        if not await self._verify(user, password):
            raise unauthorized(self._challenge, "wrong user name or password")
        if user in self._pull_only and not all(a.is_read for a in access):
            raise denied(user, [a for a in access if not a.is_read])
        return user

    async def _verify(self, user: str, password: bytes) -> bool:
        """Whether ``password`` is ``user``'s, from the cache or one bcrypt check."""
        stored = self._users.get(user)
        key = hashlib.sha256(b"\0".join((user.encode(), password, stored or b""))).digest()
        while True:
            if self._is_trusted(key):
                return True
            flight = self._flights.get(key)
            if flight is None:
                break
            await flight.done.wait()
            if flight.ok is not None:
                return flight.ok
        flight = self._flights[key] = _Flight()
        try:
            if self._limiter is None:
                self._limiter = anyio.CapacityLimiter(self._max_checks)
            ok = await anyio.to_thread.run_sync(
                _check_user, password, stored, self._usual_cost, limiter=self._limiter
            )
            flight.ok = ok
            if flight.ok:
                self._trust(key)
            return flight.ok
        finally:
            del self._flights[key]
            flight.done.set()

    def _is_trusted(self, key: bytes) -> bool:
        until = self._trusted.get(key)
        if until is None:
            return False
        if until < time.monotonic():
            del self._trusted[key]
            return False
        return True

    def _trust(self, key: bytes) -> None:
        self._trusted[key] = time.monotonic() + self._cache_seconds
        self._trusted.move_to_end(key)
        while len(self._trusted) > self._cache_size:
            self._trusted.popitem(last=False)
