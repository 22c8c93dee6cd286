"""An ``httpx.AsyncClient`` wrapper speaking the registry API: auth, retries, Range.

Authentication follows the registry's ``WWW-Authenticate`` challenge: ``Basic``
sends the credentials, ``Bearer`` fetches a token from the challenge's realm
(with the credentials as Basic auth when there are some, anonymously
otherwise) and caches it per realm, service and scope. Connection errors and
5xx/429 answers are retried with exponential backoff (``Retry-After`` is
honoured, capped); redirects are followed, and httpx drops the
``Authorization`` header when a redirect leaves the registry's origin.
"""

from __future__ import annotations

import base64
import json
import random
import re
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Final, TypeAlias

import anyio
import httpx

from .._errors import NotFoundError
from ._errors import RegistryAuthError, RegistryError
from ._reference import Reference

__all__ = ("Credentials", "RegistryClient", "parse_challenge")

#: ``(username, password)``, or a function of the registry host giving them (or ``None``).
Credentials: TypeAlias = tuple[str, str] | Callable[[str], tuple[str, str] | None]

_RETRY_STATUS: Final = frozenset({429, 500, 502, 503, 504})
_BACKOFF_START: Final = 0.1
_BACKOFF_MAX: Final = 5.0
_RETRY_AFTER_MAX: Final = 30.0
_ERROR_BODY_MAX: Final = 4096
_TOKEN_BODY_MAX: Final = 1 << 20
_PARAM: Final = re.compile(r'\s*([A-Za-z0-9_.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?')


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """Split a ``WWW-Authenticate`` value into its scheme (lower-case) and parameters."""
    scheme, _, rest = header.strip().partition(" ")
    params: dict[str, str] = {}
    pos = 0
    while pos < len(rest) and (m := _PARAM.match(rest, pos)) and m.end() > pos:
        quoted, bare = m.group(2), m.group(3)
        value = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare or ""
        params[m.group(1).lower()] = value
        pos = m.end()
    return scheme.lower(), params


def _basic(creds: tuple[str, str]) -> str:
    raw = f"{creds[0]}:{creds[1]}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def _retry_after(resp: httpx.Response) -> float | None:
    value = resp.headers.get("Retry-After", "")
    try:
        return min(max(float(value), 0.0), _RETRY_AFTER_MAX)
    except ValueError:
        return None


class RegistryClient:
    """Requests to one repository of one registry, sharing auth state.

    :param ref: the image reference (host and repository are used).
    :param credentials: for Basic auth and for token requests.
    :param plain_http: talk HTTP instead of HTTPS (for loopback registries).
    :param retries: extra attempts after a connection error or a 5xx/429 answer.
    :param http: an ``httpx.AsyncClient`` to use (not closed here); a new one otherwise.
    """

    def __init__(
        self,
        ref: Reference,
        *,
        credentials: Credentials | None = None,
        plain_http: bool = False,
        retries: int = 4,
        timeout: float = 60.0,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        if isinstance(retries, bool) or not isinstance(retries, int):
            raise TypeError(f"retries must be an int, not {type(retries).__name__}")
        self.ref = ref
        self.base = f"{'http' if plain_http else 'https'}://{ref.api_host}/v2/{ref.repository}"
        self._credentials = credentials
        self._retries = max(retries, 0)
        self._own_http = http is None
        self._http = http or httpx.AsyncClient(timeout=httpx.Timeout(timeout, connect=timeout))
        self._authorization: str | None = None
        self._auth_lock = anyio.Lock()
        self._tokens: dict[tuple[str, str, str], str] = {}

    async def aclose(self) -> None:
        """Close the HTTP client when this object created it."""
        if self._own_http:
            await self._http.aclose()

    async def __aenter__(self) -> RegistryClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _creds(self) -> tuple[str, str] | None:
        creds = self._credentials
        if creds is None:
            return None
        if callable(creds):
            return creds(self.ref.host)
        return creds

    async def backoff(self, attempt: int, hint: float | None = None) -> None:
        """Sleep before retry ``attempt`` (0-based): ``hint`` or jittered doubling."""
        if hint is None:
            top = min(_BACKOFF_START * 2**attempt, _BACKOFF_MAX)
            hint = random.uniform(top / 2, top)
        await anyio.sleep(hint)

    @property
    def retries(self) -> int:
        """Extra attempts allowed after a transient failure."""
        return self._retries

    @asynccontextmanager
    async def stream(
        self, method: str, url: str, headers: Mapping[str, str] | None = None
    ) -> AsyncIterator[httpx.Response]:
        """Send a request and yield the response with its body not yet read.

        Handles the auth challenge, retries and redirects. The response may
        have any status other than 401 (or 403 after auth) and the retried ones.

        :raises RegistryAuthError: the registry keeps refusing with 401/403.
        :raises RegistryError: connection errors or 5xx/429 outlasted the retries.
        """
        resp = await self._send(method, url, dict(headers or {}))
        try:
            yield resp
        finally:
            with anyio.CancelScope(shield=True):
                await resp.aclose()

    async def _send(self, method: str, url: str, headers: dict[str, str]) -> httpx.Response:
        attempt = 0
        challenged = False
        while True:
            used = self._authorization
            request = self._http.build_request(method, url, headers=headers)
            if used:
                request.headers["Authorization"] = used
            try:
                resp = await self._http.send(request, stream=True, follow_redirects=True)
            except httpx.TransportError as exc:
                if attempt >= self._retries:
                    raise RegistryError(
                        f"{method} {url}: {type(exc).__name__}: {exc or 'connection failed'}"
                        f" (after {attempt + 1} attempts): {RegistryError.kind_text}"
                    ) from exc
                await self.backoff(attempt)
                attempt += 1
                continue
            if resp.status_code in (401, 403):
                challenge = resp.headers.get("WWW-Authenticate", "")
                await resp.aclose()
                if challenged or not challenge:
                    why = "access denied"
                    if resp.status_code == 401:
                        why = "credentials rejected" if self._creds() else "credentials required"
                    raise self._auth_error(method, url, resp.status_code, why)
                # One answer per request: a fresh token or credentials, then retry.
                await self._authorize(challenge, stale=used, method=method, url=url)
                challenged = True
                continue
            if resp.status_code in _RETRY_STATUS and attempt < self._retries:
                hint = _retry_after(resp)
                await resp.aclose()
                await self.backoff(attempt, hint)
                attempt += 1
                continue
            return resp

    def _auth_error(self, method: str, url: str, status: int, why: str) -> RegistryAuthError:
        return RegistryAuthError(
            f"{method} {url}: HTTP {status}: {why} for {self.ref.host}: "
            f"{RegistryAuthError.kind_text}",
            status=status,
        )

    async def _authorize(self, challenge: str, *, stale: str | None, method: str, url: str) -> None:
        """Answer a challenge: set the ``Authorization`` value for the next requests."""
        scheme, params = parse_challenge(challenge)
        async with self._auth_lock:
            if self._authorization is not None and self._authorization != stale:
                return  # another task answered the challenge meanwhile
            creds = self._creds()
            if scheme == "basic":
                if creds is None:
                    raise self._auth_error(method, url, 401, "credentials required")
                self._authorization = _basic(creds)
            elif scheme == "bearer":
                self._authorization = "Bearer " + await self._token(params, stale, method, url)
            else:
                raise self._auth_error(
                    method, url, 401, f"unsupported challenge {challenge[:100]!r}"
                )

    async def _token(self, params: dict[str, str], stale: str | None, method: str, url: str) -> str:
        realm = params.get("realm", "")
        if not realm.startswith(("http://", "https://")):
            raise self._auth_error(method, url, 401, f"bearer challenge realm {realm!r} unusable")
        service = params.get("service", "")
        scope = params.get("scope") or f"repository:{self.ref.repository}:pull"
        key = (realm, service, scope)
        cached = self._tokens.get(key)
        if cached is not None and stale != f"Bearer {cached}":
            return cached
        query = {"scope": scope}
        if service:
            query["service"] = service
        headers = {}
        creds = self._creds()
        if creds is not None:
            headers["Authorization"] = _basic(creds)
        attempt = 0
        while True:
            try:
                resp = await self._http.get(realm, params=query, headers=headers)
            except httpx.TransportError as exc:
                if attempt >= self._retries:
                    raise RegistryError(
                        f"token request to {realm}: {type(exc).__name__}: {exc}: "
                        f"{RegistryError.kind_text}"
                    ) from exc
                await self.backoff(attempt)
                attempt += 1
                continue
            if resp.status_code in _RETRY_STATUS and attempt < self._retries:
                await self.backoff(attempt, _retry_after(resp))
                attempt += 1
                continue
            break
        if resp.status_code in (401, 403):
            why = "token request: credentials rejected" if creds else "token request refused"
            raise self._auth_error("GET", realm, resp.status_code, why)
        if resp.status_code != 200 or len(resp.content) > _TOKEN_BODY_MAX:
            raise RegistryError(
                f"token request to {realm}: HTTP {resp.status_code}: {RegistryError.kind_text}",
                status=resp.status_code,
            )
        try:
            body = resp.json()
            token = body.get("token") or body.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise RegistryError(
                f"token request to {realm}: answer has no token: {RegistryError.kind_text}",
                status=resp.status_code,
            )
        self._tokens[key] = token
        return token

    async def raise_for_status(self, resp: httpx.Response, what: str) -> None:
        """Raise the error an unexpected status means, with the registry's message.

        :raises ~aiocontent.NotFoundError: 404.
        :raises RegistryError: any other status.
        """
        body = b""
        async for chunk in resp.aiter_bytes():
            body += chunk
            if len(body) >= _ERROR_BODY_MAX:
                break
        detail = _error_detail(body)
        where = f"{self.ref.host}/{self.ref.repository}: {what}"
        if resp.status_code == 404:
            raise NotFoundError(f"{where}: {detail or 'HTTP 404'}: {NotFoundError.kind_text}")
        raise RegistryError(
            f"{where}: HTTP {resp.status_code}{': ' + detail if detail else ''}: "
            f"{RegistryError.kind_text}",
            status=resp.status_code,
        )


def _error_detail(body: bytes) -> str:
    """The registry's error codes and messages, or a short excerpt of the body."""
    try:
        errors = json.loads(body).get("errors")
        parts = [f"{e.get('code', '')} {e.get('message', '')}".strip() for e in errors]
        return "; ".join(p for p in parts if p)[:500]
    except (ValueError, AttributeError, TypeError):
        return body[:200].decode("utf-8", "replace").strip()
