"""Who may do what: the access a request needs, and the ``Auth`` that checks it.

The app asks its :class:`Auth` before every request (after the name and the
read-only switch are checked, before storage is touched) with the access the
request needs, as distribution names it: ``repository:<name>:pull`` for reads,
``push`` for uploads and manifest writes, ``delete`` for deletes and
``registry:catalog:*`` for the catalog; ``GET /v2/`` needs no access, only a
valid identity. An :class:`Auth` raises the spec's ``UNAUTHORIZED`` (401, with
a ``WWW-Authenticate`` challenge) when the credentials are missing or wrong,
and ``DENIED`` (403) when valid credentials lack the right.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Protocol
from urllib.parse import urlencode

from starlette.requests import Request

from ._errors import RegistryError

__all__ = (
    "Access",
    "Auth",
    "access_for",
    "basic_credentials",
    "quote",
    "unauthorized",
    "without_blind_mount",
)

#: request method -> the repository action it needs
_ACTIONS: Final = {
    "GET": "pull",
    "HEAD": "pull",
    "POST": "push",
    "PUT": "push",
    "PATCH": "push",
    "DELETE": "delete",
}


@dataclass(frozen=True, slots=True)
class Access:
    """One right a request needs: ``action`` on the resource ``type``/``name``.

    ``type`` is ``repository`` (``name`` a repository, ``action`` ``pull``,
    ``push`` or ``delete``) or ``registry`` (``name`` ``catalog``, ``action`` ``*``).
    """

    type: str
    name: str
    action: str

    def __str__(self) -> str:
        return f"{self.type}:{self.name}:{self.action}"

    @property
    def is_read(self) -> bool:
        """Whether this access only reads (what anonymous pull allows)."""
        return self.action == "pull" or (self.type, self.name) == ("registry", "catalog")


#: what ``GET /_catalog`` needs
CATALOG: Final = Access("registry", "catalog", "*")


class Auth(Protocol):
    """Checks a request's credentials against the access it needs.

    ``create_app(store, auth=...)`` takes one; :class:`~aiocontent.server.HtpasswdAuth`
    (HTTP Basic) and :class:`~aiocontent.server.TokenAuth` (Bearer tokens) are
    the two the server ships.
    """

    async def authorize(self, request: Request, access: Sequence[Access]) -> str | None:
        """The user ``request`` acts as (``None``: anonymous) when it may have ``access``.

        An empty ``access`` asks only whether the credentials are valid
        (``GET /v2/``); a request without credentials fails that check.

        :raises RegistryError: ``UNAUTHORIZED`` (401, with ``WWW-Authenticate``)
            when credentials are missing, malformed or wrong; ``DENIED`` (403)
            when they are valid but lack an access.
        """
        ...


def access_for(request: Request, name: str) -> list[Access]:
    """The access ``request`` on repository ``name`` needs, by its method.

    A cross-repository mount (``POST ?mount=&from=``) also needs ``pull`` on
    the repository it mounts from.
    """
    needed = [Access("repository", name, _ACTIONS.get(request.method, "push"))]
    query = request.query_params
    mount_from = query.get("from") if request.method == "POST" and "mount" in query else None
    if mount_from and mount_from != name:
        needed.append(Access("repository", mount_from, "pull"))
    return needed


def without_blind_mount(request: Request) -> Request:
    """``request`` without ``mount`` when it is a mount without ``from``.

    Without ``from`` the registry would link the blob from wherever the store
    holds it: past the access checks, which cannot know the repository it
    comes from. With auth on, such a POST starts an upload session instead
    (the spec's answer when a registry does not look for the blob).
    """
    query = request.query_params
    if request.method != "POST" or "mount" not in query or "from" in query:
        return request
    kept = urlencode([(k, v) for k, v in query.multi_items() if k != "mount"])
    return Request({**request.scope, "query_string": kept.encode()}, request.receive)


def quote(value: str) -> str:
    """``value`` as an HTTP quoted-string (for challenge parameters)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def unauthorized(challenge: str, detail: object) -> RegistryError:
    """A 401 ``UNAUTHORIZED`` carrying ``WWW-Authenticate: <challenge>``."""
    return RegistryError("UNAUTHORIZED", detail, headers={"WWW-Authenticate": challenge})


def denied(user: str | None, access: Iterable[Access]) -> RegistryError:
    """A 403 ``DENIED``: ``user`` is who they say, but lacks ``access``."""
    return RegistryError("DENIED", {"user": user, "access": [str(a) for a in access]})


def basic_credentials(header: str, challenge: str) -> tuple[str, bytes]:
    """The user and password of an ``Authorization: Basic`` header's value.

    :raises RegistryError: ``UNAUTHORIZED`` when the value is not base64 of
        ``user:password`` (the user in UTF-8), naming what was wrong.
    """
    scheme, _, token = header.strip().partition(" ")
    try:
        decoded = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise unauthorized(challenge, f"malformed {scheme} credentials: not base64") from None
    user_bytes, colon, password = decoded.partition(b":")
    try:
        user = user_bytes.decode()
    except UnicodeDecodeError:
        raise unauthorized(challenge, "malformed Basic credentials: user not UTF-8") from None
    if not colon:
        raise unauthorized(challenge, "malformed Basic credentials: no ':' after the user")
    return user, password
