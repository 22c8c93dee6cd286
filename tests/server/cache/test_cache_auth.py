"""Pull-through cache behind authentication: access is checked before anything goes upstream."""

from __future__ import annotations

from collections.abc import Callable

import bcrypt

from aiocontent.server import HtpasswdAuth

from .._oci import error_codes
from ._upstream import Cache, FakeUpstream

DATA = b"layer bytes" * 1000


def _auth() -> HtpasswdAuth:
    return HtpasswdAuth({"alice": bcrypt.hashpw(b"secret", bcrypt.gensalt(rounds=4))})


async def test_a_client_without_credentials_causes_no_upstream_request(
    make_cache: Callable[..., Cache], upstream: FakeUpstream
) -> None:
    cache = make_cache(auth=_auth())
    digest = await upstream.api.push_blob("team/app", DATA)
    response = await cache.client.get(f"/v2/team/app/blobs/{digest}")
    assert response.status_code == 401
    assert error_codes(response) == ["UNAUTHORIZED"]
    assert upstream.requests == []


async def test_a_client_with_credentials_pulls_through(
    make_cache: Callable[..., Cache], upstream: FakeUpstream
) -> None:
    cache = make_cache(auth=_auth())
    digest = await upstream.api.push_blob("team/app", DATA)
    response = await cache.client.get(f"/v2/team/app/blobs/{digest}", auth=("alice", "secret"))
    assert response.status_code == 200
    assert response.content == DATA
