"""Credentials go to the registry's own host only; a function is asked per challenging host.

The registry (Basic auth) redirects blob downloads to ``cdn.test``, a host of
its choosing; what ``cdn.test`` receives is what an attacker controlling it
would get.
"""

from __future__ import annotations

import base64
from typing import Final

import httpx
import pytest

from aiocontent import Descriptor, read_blob
from aiocontent._memory import MemoryStore
from aiocontent.registry import RegistryAuthError

from ._fake import HOST, FakeRegistry, Route, pull_from

OWN: Final = ("puller", "registry-secret")
CDN: Final = ("cdn-user", "cdn-secret")
LAYER: Final = b"layer bytes"


def basic(creds: tuple[str, str]) -> str:
    return "Basic " + base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode()


def answer(serve: Route, request: httpx.Request) -> httpx.Response:
    response = serve(request)
    assert isinstance(response, httpx.Response)
    return response


def registry_side(serve: Route, path: str) -> Route:
    """Wants ``OWN`` as Basic; sends blob downloads to ``cdn.test``."""

    def route(request: httpx.Request) -> httpx.Response:
        if request.headers.get("Authorization") != basic(OWN):
            return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="registry"'})
        if "/blobs/" in path:
            return httpx.Response(307, headers={"Location": f"http://cdn.test/{path}"})
        return answer(serve, request)

    return route


def guarded(serve: Route, challenge: str, wants: str | None) -> Route:
    """Answers ``challenge`` unless the request carries ``wants``."""

    def route(request: httpx.Request) -> httpx.Response:
        if wants is not None and request.headers.get("Authorization") != wants:
            return httpx.Response(401, headers={"WWW-Authenticate": challenge})
        return answer(serve, request)

    return route


def redirecting_registry(cdn_challenge: str, cdn_wants: str | None) -> FakeRegistry:
    """``registry.test`` wants ``OWN`` and redirects blobs to ``cdn.test``, which wants
    ``cdn_wants`` (answering ``cdn_challenge`` without it)."""
    fake = FakeRegistry()
    fake.image(LAYER)
    for path, serve in list(fake.routes.items()):
        fake.routes[path] = registry_side(serve, path)
        if "/blobs/" in path:
            fake.routes[f"cdn.test/{path}"] = guarded(serve, cdn_challenge, cdn_wants)
    fake.routes["cdn.test/token"] = lambda _: httpx.Response(401)
    return fake


def sent_to(fake: FakeRegistry, host: str) -> list[str | None]:
    """The ``Authorization`` header of each request to ``host``."""
    return [r.headers.get("Authorization") for r in fake.requests if r.url.host == host]


@pytest.mark.parametrize(
    "challenge", ['Basic realm="cdn"', 'Bearer realm="http://cdn.test/token",service="cdn"']
)
async def test_redirect_target_that_challenges_gets_no_password(
    store: MemoryStore, challenge: str
) -> None:
    fake = redirecting_registry(challenge, cdn_wants=basic(CDN))
    with pytest.raises(RegistryAuthError, match=r"cdn\.test"):
        await pull_from(fake, store, credentials=OWN)
    assert sent_to(fake, "cdn.test")
    assert set(sent_to(fake, "cdn.test")) == {None}
    assert basic(OWN) in sent_to(fake, HOST)


async def test_credentials_function_is_asked_with_the_challenging_host(
    store: MemoryStore,
) -> None:
    fake = redirecting_registry('Basic realm="cdn"', cdn_wants=basic(CDN))
    asked: list[str] = []

    def credentials(host: str) -> tuple[str, str] | None:
        asked.append(host)
        return {HOST: OWN, "cdn.test": CDN}.get(host)

    await pull_from(fake, store, credentials=credentials)
    assert set(asked) == {HOST, "cdn.test"}
    assert set(sent_to(fake, "cdn.test")) <= {None, basic(CDN)}
    assert set(sent_to(fake, HOST)) <= {None, basic(OWN)}
    assert await read_blob(store, Descriptor(digest=fake.blob(LAYER))) == LAYER


async def test_registry_authorization_does_not_follow_a_redirect(store: MemoryStore) -> None:
    fake = redirecting_registry("", cdn_wants=None)
    await pull_from(fake, store, credentials=OWN)
    assert sent_to(fake, "cdn.test") == [None, None]  # the config and the layer
    assert basic(OWN) in sent_to(fake, HOST)


async def test_token_realm_the_registry_names_gets_its_credentials(store: MemoryStore) -> None:
    fake = FakeRegistry()
    fake.image(LAYER)
    challenge = 'Bearer realm="http://auth.test/token",service="registry.test"'
    for path, serve in list(fake.routes.items()):
        fake.routes[path] = guarded(serve, challenge, "Bearer t0ken")
    fake.routes["auth.test/token"] = lambda _: httpx.Response(200, json={"token": "t0ken"})
    await pull_from(fake, store, credentials=OWN)
    assert sent_to(fake, "auth.test") == [basic(OWN)]  # one token for the whole pull
