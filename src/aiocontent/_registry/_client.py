"""An ``httpx.AsyncClient`` wrapper speaking the registry API: auth, redirects, retries, bounds.

Authentication follows the ``WWW-Authenticate`` challenge: ``Basic`` sends the
credentials, ``Bearer`` fetches a token from the challenge's realm (with the
credentials as Basic auth when there are some, anonymously otherwise) and
caches it. Credentials are looked up per *origin that challenged*: a tuple is
the registry's own and goes to no other host; a function is asked with the
challenging host (the registry's host for the registry itself, the redirect
target's ``host[:port]`` otherwise) and may return ``None``. An
``Authorization`` value is only ever sent back to the origin that asked for it.

Redirects are followed here (at most :data:`MAX_REDIRECTS`, to ``http`` and
``https`` only). Connection errors, timeouts and 5xx/429 answers are retried
with exponential backoff; ``Retry-After`` is honoured up to
:data:`RETRY_AFTER_MAX` seconds (a longer one fails at once), and all retries
of one client share a time budget.
"""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Final, TypeAlias

import anyio
import httpx

from .._errors import InvalidArgumentError, NotFoundError
from ._body import Interrupted, iter_body
from ._errors import RegistryAuthError, RegistryError
from ._reference import Reference
from ._wire import basic, error_detail, origin_of, parse_challenge, retry_after

__all__ = ("MAX_REDIRECTS", "RETRY_AFTER_MAX", "Credentials", "RegistryClient", "parse_challenge")

#: ``(username, password)`` for the registry's own host, or a function of the
#: challenging host giving them (or ``None``).
Credentials: TypeAlias = tuple[str, str] | Callable[[str], tuple[str, str] | None]

#: The most redirects followed for one request.
MAX_REDIRECTS: Final = 10
#: The longest ``Retry-After`` waited for; a longer one ends the retries at once.
RETRY_AFTER_MAX: Final = 30.0
_RETRY_STATUS: Final = frozenset({429, 500, 502, 503, 504})
_REDIRECT_STATUS: Final = frozenset({301, 302, 303, 307, 308})
_BACKOFF_START: Final = 0.1
_BACKOFF_MAX: Final = 5.0
_ERROR_BODY_MAX: Final = 4096
_TOKEN_BODY_MAX: Final = 1 << 20
_SMALL_BODY_ENCODINGS: Final = "gzip, deflate"


class RegistryClient:
    """Requests to one repository of one registry, sharing auth state and a retry budget.

    :param ref: the image reference (host and repository are used).
    :param credentials: for Basic auth and for token requests (see the module).
    :param plain_http: talk HTTP instead of HTTPS (for loopback registries).
    :param retries: extra attempts after a connection error or a 5xx/429 answer.
    :param timeout: the longest wait to connect and get an answer's headers,
        and the window over which a body must average ``MIN_SPEED``.
    :param retry_budget: seconds all retries together may take (failed attempts
        and waits), after which the next failure is final.
    :param http: an ``httpx.AsyncClient`` to use (not closed here); a new one otherwise.
    :raises ~aiocontent.InvalidArgumentError: no URL can be built for the host.
    """

    def __init__(
        self,
        ref: Reference,
        *,
        credentials: Credentials | None = None,
        plain_http: bool = False,
        retries: int = 4,
        timeout: float = 30.0,
        retry_budget: float = 60.0,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        if isinstance(retries, bool) or not isinstance(retries, int):
            raise TypeError(f"retries must be an int, not {type(retries).__name__}")
        self.ref = ref
        scheme = "http" if plain_http else "https"
        try:
            self._origin = origin_of(httpx.URL(f"{scheme}://{ref.api_host}/"))
        except httpx.InvalidURL as exc:
            raise InvalidArgumentError(
                f"registry host {ref.api_host!r}: {exc}: invalid argument"
            ) from exc
        self.base = f"{self._origin}/v2/{ref.repository}"
        self.timeout = float(timeout)
        self._credentials = credentials
        self._retries = max(retries, 0)
        self._budget = float(retry_budget)
        self._spent = 0.0
        self._own_http = http is None
        self._http = http or httpx.AsyncClient(timeout=httpx.Timeout(timeout))
        self._auth: dict[str, str] = {}  # origin -> Authorization value
        self._auth_lock = anyio.Lock()
        self._tokens: dict[tuple[str, str, str, str], str] = {}

    async def aclose(self) -> None:
        """Close the HTTP client when this object created it."""
        if self._own_http:
            await self._http.aclose()

    async def __aenter__(self) -> RegistryClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _creds(self, origin: str) -> tuple[str, str] | None:
        """The credentials for ``origin``: a tuple only for the registry's own."""
        creds = self._credentials
        own = origin == self._origin
        if creds is None:
            return None
        if callable(creds):
            return creds(self.ref.host if own else origin.partition("://")[2])
        return creds if own else None

    # -- retries -----------------------------------------------------------------

    @property
    def retries(self) -> int:
        """Extra attempts allowed after a transient failure."""
        return self._retries

    def retry_delay(
        self, attempt: int, started: float | None, hint: float | None = None
    ) -> float | None:
        """The wait before retry ``attempt`` (0-based), or ``None`` when no retry is left.

        Charges the wait, and the failed attempt since ``started`` when given,
        to the retry budget.
        """
        if attempt >= self._retries:
            return None
        if hint is None:
            top = min(_BACKOFF_START * 2**attempt, _BACKOFF_MAX)
            hint = random.uniform(top / 2, top)
        cost = hint + (anyio.current_time() - started if started is not None else 0.0)
        if self._spent + cost > self._budget:
            return None
        self._spent += cost
        return hint

    def gave_up(
        self, what: str, cause: str, attempt: int, status: int | None = None
    ) -> RegistryError:
        """The error for a transient failure that is not retried any more."""
        why = f"after {attempt + 1} attempts"
        if attempt < self._retries:
            why += f"; the retry budget of {self._budget:g} s is spent"
        return RegistryError(f"{what}: {cause} ({why}): {RegistryError.kind_text}", status=status)

    # -- requests ----------------------------------------------------------------

    @asynccontextmanager
    async def stream(
        self, method: str, url: str, headers: Mapping[str, str] | None = None
    ) -> AsyncIterator[httpx.Response]:
        """Send a request and yield the response with its body not yet read.

        Handles auth challenges, redirects and retries. The response may have
        any status other than 401 (or 403 after auth), a redirect, and the
        retried ones while retries are left.

        :raises RegistryAuthError: the registry keeps refusing with 401/403.
        :raises RegistryError: connection errors, timeouts or 5xx/429 outlasted
            the retries or their budget; a redirect loop or unusable redirect.
        """
        resp = await self._send(method, url, dict(headers or {}))
        try:
            yield resp
        finally:
            with anyio.CancelScope(shield=True):
                await resp.aclose()

    async def _send(self, method: str, url: str, headers: dict[str, str]) -> httpx.Response:
        attempt = 0
        what = f"{method} {url}"
        while True:
            started = anyio.current_time()
            try:
                resp = await self._follow(method, url, headers)
            except Interrupted as exc:
                delay = self.retry_delay(attempt, started)
                if delay is None:
                    raise self.gave_up(what, str(exc), attempt) from exc
                await anyio.sleep(delay)
                attempt += 1
                continue
            if resp.status_code not in _RETRY_STATUS:
                return resp
            hint = retry_after(resp)
            if hint is not None and hint > RETRY_AFTER_MAX:
                await resp.aclose()
                raise RegistryError(
                    f"{what}: HTTP {resp.status_code}: the registry asks to retry after "
                    f"{hint:g} s, longer than the {RETRY_AFTER_MAX:g} s waited at most: "
                    f"{RegistryError.kind_text}",
                    status=resp.status_code,
                )
            delay = self.retry_delay(attempt, started, hint)
            if delay is None:
                return resp
            await resp.aclose()
            await anyio.sleep(delay)
            attempt += 1

    async def _follow(self, method: str, url: str, headers: dict[str, str]) -> httpx.Response:
        """One attempt: answer auth challenges and follow redirects."""
        challenged: set[str] = set()
        redirects = 0
        target = httpx.URL(url)
        while True:
            origin = origin_of(target)
            used = self._auth.get(origin)
            resp = await self._send_once(method, target, headers, used)
            status = resp.status_code
            if status in _REDIRECT_STATUS and "Location" in resp.headers:
                await resp.aclose()
                redirects += 1
                target = self._redirect(method, url, target, resp.headers["Location"], redirects)
                continue
            if status not in (401, 403):
                return resp
            challenge = resp.headers.get("WWW-Authenticate", "")
            await resp.aclose()
            if origin in challenged or not challenge:
                why = "access denied"
                if status == 401:
                    why = "credentials rejected" if self._creds(origin) else "credentials required"
                raise self._auth_error(method, str(target), status, why)
            # One answer per origin and request: fresh credentials or token, then again.
            await self._authorize(origin, challenge, used, method, str(target))
            challenged.add(origin)

    def _redirect(
        self, method: str, url: str, current: httpx.URL, location: str, count: int
    ) -> httpx.URL:
        what = f"{method} {url}: redirect to {location[:300]!r}"
        if count > MAX_REDIRECTS:
            raise RegistryError(
                f"{what}: more than {MAX_REDIRECTS} redirects: {RegistryError.kind_text}"
            )
        try:
            target = current.join(location)
        except httpx.InvalidURL as exc:
            raise RegistryError(f"{what}: {exc}: {RegistryError.kind_text}") from exc
        if target.scheme not in ("http", "https") or not target.host:
            raise RegistryError(f"{what}: not an http(s) URL: {RegistryError.kind_text}")
        return target

    async def _send_once(
        self, method: str, url: httpx.URL, headers: dict[str, str], authorization: str | None
    ) -> httpx.Response:
        """Send one request; its headers must arrive within the timeout."""
        try:
            request = self._http.build_request(method, url, headers=headers)
            if authorization:
                request.headers["Authorization"] = authorization
            with anyio.fail_after(self.timeout):
                return await self._http.send(request, stream=True, follow_redirects=False)
        except TimeoutError as exc:
            raise Interrupted(f"no answer within {self.timeout:g} s") from exc
        except httpx.TransportError as exc:
            # httpx parses Location even when not following: a bad one is no network hiccup.
            if not isinstance(exc, httpx.UnsupportedProtocol) and "location header" not in str(exc):
                raise Interrupted(f"{type(exc).__name__}: {exc or 'connection failed'}") from exc
            raise RegistryError(
                f"{method} {url}: {type(exc).__name__}: {exc}: {RegistryError.kind_text}"
            ) from exc
        except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError, OverflowError) as exc:
            raise RegistryError(
                f"{method} {url}: {type(exc).__name__}: {exc}: {RegistryError.kind_text}"
            ) from exc

    def body(
        self, resp: httpx.Response, limit: int, over: Callable[[], Exception], what: str
    ) -> AsyncIterator[bytes]:
        """The decoded body of ``resp``, bounded (see :func:`~._body.iter_body`)."""
        return iter_body(resp, limit=limit, over=over, window=self.timeout, what=what)

    # -- auth --------------------------------------------------------------------

    def _auth_error(self, method: str, url: str, status: int, why: str) -> RegistryAuthError:
        host = httpx.URL(url).netloc.decode("ascii", "replace")
        return RegistryAuthError(
            f"{method} {url}: HTTP {status}: {why} for {host}: {RegistryAuthError.kind_text}",
            status=status,
        )

    async def _authorize(
        self, origin: str, challenge: str, stale: str | None, method: str, url: str
    ) -> None:
        """Answer ``origin``'s challenge: set its ``Authorization`` for the next requests."""
        scheme, params = parse_challenge(challenge)
        async with self._auth_lock:
            current = self._auth.get(origin)
            if current is not None and current != stale:
                return  # another task answered the challenge meanwhile
            creds = self._creds(origin)
            if scheme == "basic":
                if creds is None:
                    raise self._auth_error(method, url, 401, "credentials required")
                self._auth[origin] = basic(creds)
            elif scheme == "bearer":
                token = await self._token(origin, creds, params, stale, method, url)
                self._auth[origin] = f"Bearer {token}"
            else:
                raise self._auth_error(
                    method, url, 401, f"unsupported challenge {challenge[:100]!r}"
                )

    async def _token(
        self,
        origin: str,
        creds: tuple[str, str] | None,
        params: dict[str, str],
        stale: str | None,
        method: str,
        url: str,
    ) -> str:
        realm = params.get("realm", "")
        if not realm.startswith(("http://", "https://")):
            raise self._auth_error(
                method, url, 401, f"bearer challenge realm {realm[:300]!r} unusable"
            )
        service = params.get("service", "")
        scope = params.get("scope") or f"repository:{self.ref.repository}:pull"
        key = (origin, realm, service, scope)
        cached = self._tokens.get(key)
        if cached is not None and stale != f"Bearer {cached}":
            return cached
        query = {"scope": scope}
        if service:
            query["service"] = service
        headers = {"Accept-Encoding": _SMALL_BODY_ENCODINGS}
        if creds is not None:
            headers["Authorization"] = basic(creds)
        what = f"token request to {realm[:300]}"
        attempt = 0
        while True:
            started = anyio.current_time()
            try:
                status, body = await self._token_exchange(realm, query, headers, what)
            except Interrupted as exc:
                delay = self.retry_delay(attempt, started)
                if delay is None:
                    raise self.gave_up(what, str(exc), attempt) from exc
            else:
                if status not in _RETRY_STATUS:
                    break
                delay = self.retry_delay(attempt, started)
                if delay is None:
                    break
            await anyio.sleep(delay)
            attempt += 1
        if status in (401, 403):
            why = "token request: credentials rejected" if creds else "token request refused"
            raise self._auth_error("GET", realm, status, why)
        token = None
        if status == 200:
            try:
                answer = json.loads(body)
                token = answer.get("token") or answer.get("access_token")
            except (ValueError, AttributeError, RecursionError):
                pass
        if not isinstance(token, str) or not token:
            raise RegistryError(
                f"{what}: HTTP {status}: answer has no token: {RegistryError.kind_text}",
                status=status,
            )
        self._tokens[key] = token
        return token

    async def _token_exchange(
        self, realm: str, query: dict[str, str], headers: dict[str, str], what: str
    ) -> tuple[int, bytes]:
        """GET the token endpoint (no redirects) and read at most 1 MiB, within the timeout."""

        def over() -> RegistryError:
            return RegistryError(
                f"{what}: answer larger than {_TOKEN_BODY_MAX} bytes: {RegistryError.kind_text}"
            )

        try:
            with anyio.fail_after(self.timeout):
                request = self._http.build_request("GET", realm, params=query, headers=headers)
                resp = await self._http.send(request, stream=True, follow_redirects=False)
                try:
                    body = bytearray()
                    if resp.status_code == 200:
                        async for chunk in self.body(resp, _TOKEN_BODY_MAX, over, what):
                            body += chunk
                    return resp.status_code, bytes(body)
                finally:
                    with anyio.CancelScope(shield=True):
                        await resp.aclose()
        except TimeoutError as exc:
            raise Interrupted(f"no token within {self.timeout:g} s") from exc
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise RegistryError(f"{what}: {exc}: {RegistryError.kind_text}") from exc
        except httpx.TransportError as exc:
            raise Interrupted(f"{type(exc).__name__}: {exc or 'connection failed'}") from exc
        except (httpx.HTTPError, httpx.StreamError, OverflowError) as exc:
            raise RegistryError(
                f"{what}: {type(exc).__name__}: {exc}: {RegistryError.kind_text}"
            ) from exc

    # -- errors ------------------------------------------------------------------

    async def raise_for_status(self, resp: httpx.Response, what: str) -> None:
        """Raise the error an unexpected status means, with the registry's message.

        :raises ~aiocontent.NotFoundError: 404.
        :raises RegistryError: any other status.
        """
        body = bytearray()

        def over() -> Interrupted:
            return Interrupted("enough of the error body")

        try:
            async for chunk in self.body(resp, _ERROR_BODY_MAX, over, what):
                body += chunk
        except (Interrupted, RegistryError):
            pass  # the status is the error; its body is only a detail
        detail = error_detail(bytes(body))
        where = f"{self.ref.host}/{self.ref.repository}: {what}"
        if resp.status_code == 404:
            raise NotFoundError(f"{where}: {detail or 'HTTP 404'}: {NotFoundError.kind_text}")
        raise RegistryError(
            f"{where}: HTTP {resp.status_code}{': ' + detail if detail else ''}: "
            f"{RegistryError.kind_text}",
            status=resp.status_code,
        )
