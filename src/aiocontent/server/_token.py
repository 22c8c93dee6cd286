"""Bearer tokens as distribution's token auth issues them: JWTs verified against public keys.

A token server (``realm``) hands clients a JWT signed with its private key
(RS256 or ES256, and their SHA-384/512 siblings); the registry holds only the
public key (or the certificate) and checks the signature, ``exp`` and ``nbf``
(with some leeway for clocks), the issuer (``iss``), the audience (``aud``,
the registry's ``service`` name) and the ``access`` claim: a list of
``{"type", "name", "actions"}`` granting actions on resources. PyJWT and
cryptography do the crypto.

Like distribution, a token without the access a request needs answers 401
with ``error="insufficient_scope"`` in the challenge (clients then ask for a
token with that scope), not 403.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, TypeAlias

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from starlette.requests import Request

from .._errors import InvalidArgumentError
from ._auth import Access, quote, unauthorized

__all__ = ("PublicKey", "TokenAuth", "read_public_keys")

PublicKey: TypeAlias = rsa.RSAPublicKey | ec.EllipticCurvePublicKey

_PEM: Final = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n.*?-----END \1-----", re.DOTALL)
_RSA_ALGORITHMS: Final = ("RS256", "RS384", "RS512")
_EC_ALGORITHMS: Final = ("ES256", "ES384", "ES512")


def read_public_keys(path: Path | str) -> list[PublicKey]:
    """The RSA and EC public keys in the PEM file at ``path``.

    The file holds one or more ``PUBLIC KEY`` or ``CERTIFICATE`` blocks (the
    token server's certificate bundle, as distribution reads it).

    :raises ~aiocontent.InvalidArgumentError: the file holds no PEM block, a
        private key, a block that does not parse, or a key that is neither
        RSA nor EC; the message names the file and the block.
    :raises OSError: the file cannot be read.
    """
    path = Path(path)
    keys: list[PublicKey] = []
    for number, match in enumerate(_PEM.finditer(path.read_bytes()), start=1):
        kind = match[1].decode()
        where = f"{path}: PEM block {number} ({kind})"
        if "PRIVATE" in kind:
            raise InvalidArgumentError(f"{where}: a private key; give the public key instead")
        try:
            if kind == "CERTIFICATE":
                key: object = x509.load_pem_x509_certificate(match[0]).public_key()
            elif kind == "PUBLIC KEY":
                key = load_pem_public_key(match[0])
            else:
                raise InvalidArgumentError(f"{where}: expected PUBLIC KEY or CERTIFICATE")
        except ValueError as exc:
            raise InvalidArgumentError(f"{where}: does not parse: {exc}") from None
        if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
            raise InvalidArgumentError(f"{where}: a {type(key).__name__}; only RSA and EC keys")
        keys.append(key)
    if not keys:
        raise InvalidArgumentError(f"{path}: no PEM public key or certificate in the file")
    return keys


def _scope(access: Iterable[Access]) -> str:
    """``access`` as a challenge's ``scope``: ``type:name:action,action`` per resource."""
    actions: dict[tuple[str, str], list[str]] = {}
    for a in access:
        wanted = actions.setdefault((a.type, a.name), [])
        if a.action not in wanted:
            wanted.append(a.action)
    return " ".join(f"{kind}:{name}:{','.join(acts)}" for (kind, name), acts in actions.items())


def _granted(claims: Mapping[str, Any]) -> set[tuple[str, str, str]]:
    """The (type, name, action) triples of a token's ``access`` claim.

    :raises ValueError: the claim is not a list of ``{type, name, actions}``.
    """
    entries = claims.get("access", [])
    if not isinstance(entries, list):
        raise ValueError("the access claim is not a list")
    granted: set[tuple[str, str, str]] = set()
    for entry in entries:
        if not isinstance(entry, dict):
            raise ValueError("an access claim entry is not an object")
        kind, name, actions = entry.get("type"), entry.get("name"), entry.get("actions", [])
        if not isinstance(kind, str) or not isinstance(name, str) or not isinstance(actions, list):
            raise ValueError(f"malformed access claim entry {entry!r}"[:300])
        granted.update((kind, name, str(action)) for action in actions)
    return granted


def _allows(granted: set[tuple[str, str, str]], access: Access) -> bool:
    return bool(
        {(access.type, access.name, access.action), (access.type, access.name, "*")} & granted
    )


class TokenAuth:
    """Bearer token authentication: JWTs from a token server, checked with its public keys.

    :param realm: the token server's URL, named in the challenge.
    :param service: this registry's name: the challenge's ``service`` and the
        audience (``aud``) a token must name.
    :param issuer: the ``iss`` a token must carry.
    :param keys: the token server's public keys (or a PEM file of public
        keys or certificates, see :func:`read_public_keys`); a token signed by
        any of them verifies.
    :param anonymous_pull: requests without a token may pull and list.
    :param leeway: seconds of clock difference allowed on ``exp`` and ``nbf``.
    :raises ~aiocontent.InvalidArgumentError: the key file is not usable, or
        ``keys`` is empty.
    """

    def __init__(
        self,
        *,
        realm: str,
        service: str,
        issuer: str,
        keys: Path | str | Sequence[PublicKey],
        anonymous_pull: bool = False,
        leeway: float = 60.0,
    ) -> None:
        loaded = read_public_keys(keys) if isinstance(keys, Path | str) else list(keys)
        if not loaded:
            raise InvalidArgumentError("TokenAuth needs at least one public key")
        self.realm = realm
        self.service = service
        self.issuer = issuer
        self.anonymous_pull = anonymous_pull
        self._keys = [
            (key, _RSA_ALGORITHMS if isinstance(key, rsa.RSAPublicKey) else _EC_ALGORITHMS)
            for key in loaded
        ]
        self._leeway = leeway
        self._base_challenge = f"Bearer realm={quote(realm)},service={quote(service)}"

    def challenge(self, access: Sequence[Access], error: str | None = None) -> str:
        """The ``WWW-Authenticate`` value for a request needing ``access``."""
        value = self._base_challenge
        if access:
            value += f",scope={quote(_scope(access))}"
        if error is not None:
            value += f",error={quote(error)}"
        return value

    async def authorize(self, request: Request, access: Sequence[Access]) -> str | None:
        """See :meth:`~aiocontent.server.Auth.authorize`."""
        header = request.headers.get("authorization")
        if header is None:
            if self.anonymous_pull and access and all(a.is_read for a in access):
                return None
            raise unauthorized(self.challenge(access), [str(a) for a in access] or "token required")
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthorized(self.challenge(access, "invalid_request"), "expected a Bearer token")
        claims = self._verify(token.strip(), access)
        try:
            granted = _granted(claims)
        except ValueError as exc:
            raise unauthorized(self.challenge(access, "invalid_token"), str(exc)) from None
        missing = [a for a in access if not _allows(granted, a)]
        if missing:
            raise unauthorized(
                self.challenge(access, "insufficient_scope"),
                {"missing": [str(a) for a in missing]},
            )
        subject = claims.get("sub")
        return subject if isinstance(subject, str) else ""

    def _verify(self, token: str, access: Sequence[Access]) -> dict[str, Any]:
        """The claims of ``token`` once its signature, times, issuer and audience check out.

        :raises RegistryError: ``UNAUTHORIZED`` with ``error="invalid_token"``
            saying what failed.
        """
        reason = "the signature does not verify with any configured key"
        for key, algorithms in self._keys:
            try:
                claims: dict[str, Any] = jwt.decode(
                    token,
                    key,
                    algorithms=list(algorithms),
                    audience=self.service,
                    issuer=self.issuer,
                    leeway=self._leeway,
                    options={"require": ["exp", "iss", "aud"]},
                )
                return claims
            except (jwt.InvalidSignatureError, jwt.InvalidAlgorithmError, jwt.InvalidKeyError):
                continue  # another key may have signed it
            except jwt.PyJWTError as exc:
                reason = _reason(exc)
                break
        raise unauthorized(self.challenge(access, "invalid_token"), reason)


def _reason(exc: jwt.PyJWTError) -> str:
    """What was wrong with a token, in a few words."""
    if isinstance(exc, jwt.ExpiredSignatureError):
        return "the token has expired"
    if isinstance(exc, jwt.ImmatureSignatureError):
        return "the token is not valid yet (nbf)"
    if isinstance(exc, jwt.InvalidAudienceError):
        return "the token is for another service (aud)"
    if isinstance(exc, jwt.InvalidIssuerError):
        return "the token is from another issuer (iss)"
    return f"invalid token: {exc}"
