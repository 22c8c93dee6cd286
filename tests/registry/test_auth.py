"""Registry auth against the real registry: Basic (htpasswd) and Bearer tokens (JWT, x5c)."""

from __future__ import annotations

import pytest

from aiocontent._interfaces import Store
from aiocontent.registry import RegistryAuthError, pull

from ._server import PASSWORD, USER
from .conftest import Registry, TokenRegistry

pytestmark = pytest.mark.registry


async def test_basic_auth_pull_with_credentials(store: Store, basic_registry: Registry) -> None:
    image = basic_registry.single
    root = await pull(
        store,
        f"{basic_registry.host}/{image.repo}:v1",
        plain_http=True,
        credentials=(USER, PASSWORD),
    )
    assert root.digest == image.root
    for digest in image.children[image.root]:
        assert (await store.info(digest)).size == len(image.blobs[digest])


@pytest.mark.parametrize(
    ("credentials", "why"),
    [(None, "credentials required"), ((USER, "wrong"), "credentials rejected")],
)
async def test_basic_auth_refused(
    store: Store,
    basic_registry: Registry,
    credentials: tuple[str, str] | None,
    why: str,
) -> None:
    with pytest.raises(RegistryAuthError, match=why) as info:
        await pull(
            store, f"{basic_registry.host}/test/single:v1", plain_http=True, credentials=credentials
        )
    assert info.value.status == 401
    assert await store.list_statuses() == []


async def test_token_auth_pull_fetches_one_token(
    store: Store, token_registry: TokenRegistry
) -> None:
    image = token_registry.multi
    hosts: list[str] = []

    def credentials(host: str) -> tuple[str, str]:
        hosts.append(host)
        return USER, PASSWORD

    before = len(token_registry.tokens.requests)
    root = await pull(
        store,
        f"{token_registry.host}/{image.repo}:v1",
        platform="linux/amd64",
        plain_http=True,
        credentials=credentials,
    )
    assert root.digest == image.root
    for digest in image.children[image.manifests["linux/amd64"]]:
        assert (await store.info(digest)).size == len(image.blobs[digest])
    assert token_registry.tokens.requests[before:] == [
        {"scope": "repository:test/multi:pull", "service": "aiocontent-test-registry"}
    ]
    assert set(hosts) == {token_registry.host}


@pytest.mark.parametrize(
    ("credentials", "why"),
    [(None, "token request refused"), ((USER, "wrong"), "credentials rejected")],
)
async def test_token_auth_refused(
    store: Store,
    token_registry: TokenRegistry,
    credentials: tuple[str, str] | None,
    why: str,
) -> None:
    with pytest.raises(RegistryAuthError, match=why):
        await pull(
            store, f"{token_registry.host}/test/single:v1", plain_http=True, credentials=credentials
        )
