"""Content digests: ``<algorithm>:<encoded>`` strings, as go-digest v1.0.0 defines them."""

from __future__ import annotations

import hashlib
import re
from typing import Any, ClassVar, Final

from ._messages import invalid, wrong_type

__all__ = ("CANONICAL", "SHA256", "SHA384", "SHA512", "Algorithm", "Digest", "Digester")

# The digest grammar, anchored by re.fullmatch (``$`` would accept a trailing newline).
_GRAMMAR: Final = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")

# Registered algorithms: name -> (digest size in bytes, encoded-part pattern).
_REGISTERED: Final[dict[str, tuple[int, re.Pattern[str]]]] = {
    name: (size, re.compile(f"[a-f0-9]{{{2 * size}}}"))
    for name, size in (("sha256", 32), ("sha384", 48), ("sha512", 64))
}

ERR_INVALID_FORMAT: Final = "invalid checksum digest format"
ERR_INVALID_LENGTH: Final = "invalid checksum digest length"
ERR_UNSUPPORTED: Final = "unsupported digest algorithm"


def _byte_len(s: str) -> int:
    """Length in UTF-8 bytes, as Go's ``len`` measures a string."""
    return len(s.encode("utf-8", "surrogatepass"))


def _check_str(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise wrong_type(what, "a str", value)
    return value


class Algorithm(str):
    """A digest algorithm name such as ``sha256``.

    Constructing one never fails; :attr:`available` tells whether it is registered
    (``sha256``, ``sha384`` and ``sha512``). ``Algorithm.SHA256`` etc. are the
    registered constants and ``Algorithm.CANONICAL`` is ``sha256``.
    """

    __slots__ = ()

    SHA256: ClassVar[Algorithm]
    SHA384: ClassVar[Algorithm]
    SHA512: ClassVar[Algorithm]
    CANONICAL: ClassVar[Algorithm]

    @property
    def available(self) -> bool:
        """``True`` when the algorithm is registered and can hash."""
        return str(self) in _REGISTERED

    @property
    def size(self) -> int:
        """The digest length in bytes, or ``0`` for an unregistered algorithm."""
        entry = _REGISTERED.get(str(self))
        return entry[0] if entry else 0

    def digester(self) -> Digester:
        """Start a running hash with this algorithm.

        :raises ~aiocontent.InvalidArgumentError: the algorithm is not available.
        """
        return Digester(self)

    def hash(self) -> Any:
        """A fresh :mod:`hashlib` object for this algorithm.

        :raises ~aiocontent.InvalidArgumentError: the algorithm is not available.
        """
        if not self.available:
            if not self:
                raise invalid("empty digest algorithm, validate before calling Algorithm.hash()")
            raise invalid(f"{ERR_UNSUPPORTED} {str(self)!r}")
        return hashlib.new(str(self))

    def from_bytes(self, data: bytes | bytearray | memoryview) -> Digest:
        """The digest of ``data`` with this algorithm."""
        h = self.hash()
        h.update(data)
        return Digest(f"{self}:{h.hexdigest()}")

    def validate_encoded(self, encoded: str) -> None:
        """Check an encoded part for this (registered) algorithm.

        :raises ~aiocontent.InvalidArgumentError: wrong length or characters.
        """
        entry = _REGISTERED.get(str(self))
        if entry is None:
            raise invalid(f"{ERR_UNSUPPORTED} {str(self)!r}")
        size, pattern = entry
        if _byte_len(encoded) != 2 * size:
            raise invalid(f"{ERR_INVALID_LENGTH}: {encoded!r}")
        if not pattern.fullmatch(encoded):
            raise invalid(f"{ERR_INVALID_FORMAT}: {encoded!r}")


SHA256: Final = Algorithm("sha256")
SHA384: Final = Algorithm("sha384")
SHA512: Final = Algorithm("sha512")
CANONICAL: Final = SHA256
Algorithm.SHA256 = SHA256
Algorithm.SHA384 = SHA384
Algorithm.SHA512 = SHA512
Algorithm.CANONICAL = CANONICAL


class Digest(str):
    """A content digest, ``"<algorithm>:<encoded>"``.

    Constructing a ``Digest`` does not validate it; use :meth:`parse` or
    :meth:`validate`. A plain ``str`` in canonical form is accepted wherever the
    library takes a digest.
    """

    __slots__ = ()

    @classmethod
    def parse(cls, s: str) -> Digest:
        """Validate ``s`` and return it as a :class:`Digest`.

        :raises TypeError: ``s`` is not a ``str``.
        :raises ~aiocontent.InvalidArgumentError: ``s`` is not a valid digest.
        """
        d = cls(_check_str(s, "digest"))
        d.validate()
        return d

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview, algorithm: str = SHA256) -> Digest:
        """The digest of ``data``.

        :raises ~aiocontent.InvalidArgumentError: ``algorithm`` is not available.
        """
        return Algorithm(_check_str(algorithm, "algorithm")).from_bytes(data)

    def _split(self) -> tuple[str, str]:
        alg, sep, enc = str(self).partition(":")
        if not sep:
            raise invalid(f"no ':' separator in digest {str(self)!r}")
        return alg, enc

    @property
    def algorithm(self) -> Algorithm:
        """The part before the first ``:``, not validated.

        :raises ~aiocontent.InvalidArgumentError: there is no ``:``.
        """
        return Algorithm(self._split()[0])

    @property
    def encoded(self) -> str:
        """The part after the first ``:``, not validated.

        :raises ~aiocontent.InvalidArgumentError: there is no ``:``.
        """
        return self._split()[1]

    def validate(self) -> None:
        """Check the digest as go-digest does, in its order of checks.

        :raises ~aiocontent.InvalidArgumentError: with ``invalid checksum digest
            format``, ``invalid checksum digest length`` or ``unsupported digest
            algorithm`` and the digest in the message.
        """
        s = str(self)
        i = s.find(":")
        if i <= 0 or i + 1 == len(s):
            raise invalid(f"{ERR_INVALID_FORMAT}: {s!r}")
        alg = s[:i]
        entry = _REGISTERED.get(alg)
        if entry is None:
            reason = ERR_UNSUPPORTED if _GRAMMAR.fullmatch(s) else ERR_INVALID_FORMAT
            raise invalid(f"{reason}: {s!r}")
        size, pattern = entry
        enc = s[i + 1 :]
        if _byte_len(enc) != 2 * size:
            raise invalid(f"{ERR_INVALID_LENGTH}: {s!r}")
        if not pattern.fullmatch(enc):
            raise invalid(f"{ERR_INVALID_FORMAT}: {s!r}")

    def verifier(self) -> Digester:
        """A :class:`Digester` of this digest's algorithm; compare with ``== self``."""
        self.validate()
        return self.algorithm.digester()


class Digester:
    """A running hash: feed it with :meth:`update`, read it with :meth:`digest`.

    :meth:`digest` does not finalise the hash; writing may go on afterwards.
    """

    __slots__ = ("_algorithm", "_hash")

    def __init__(self, algorithm: str = SHA256) -> None:
        self._algorithm = Algorithm(_check_str(algorithm, "algorithm"))
        self._hash = self._algorithm.hash()

    @property
    def algorithm(self) -> Algorithm:
        """The algorithm this digester hashes with."""
        return self._algorithm

    def update(self, data: bytes | bytearray | memoryview) -> None:
        """Feed ``data`` to the hash."""
        self._hash.update(data)

    def digest(self) -> Digest:
        """The digest of everything fed so far."""
        return Digest(f"{self._algorithm}:{self._hash.hexdigest()}")

    def copy(self) -> Digester:
        """An independent digester with the same state."""
        return Digester._over(self._algorithm, self._hash.copy())

    @classmethod
    def _over(cls, algorithm: Algorithm, hashed: Any) -> Digester:
        """A digester feeding ``hashed``, a hashlib-like object computing ``algorithm``.

        Private: :meth:`copy` and the saveable SHA-256 of ``_sha256state`` use it.
        """
        digester = cls.__new__(cls)
        digester._algorithm = algorithm
        digester._hash = hashed
        return digester

    def _hash_object(self) -> Any:
        """The hashlib-like object fed by :meth:`update` (private, for ``_sha256state``)."""
        return self._hash


def parse_digest_arg(value: object, what: str = "digest") -> Digest:
    """Check the type and form of a digest argument (``TypeError`` / ``InvalidArgumentError``)."""
    return Digest.parse(_check_str(value, what))
