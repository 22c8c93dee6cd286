"""Pull-through cache, manifests: fetched on a miss, tags revalidated after their TTL,
served stale while the upstream is down."""

from __future__ import annotations

import json
from collections.abc import Callable

from aiocontent import Store

from .._oci import OCI_MANIFEST, digest_of, error_codes, stored
from ._upstream import Cache, FakeUpstream

ACCEPT = {"Accept": OCI_MANIFEST}


async def _get(cache: Cache, repo: str, reference: str) -> tuple[int, str, bytes]:
    response = await cache.client.get(f"/v2/{repo}/manifests/{reference}", headers=ACCEPT)
    return response.status_code, response.headers.get("docker-content-digest", ""), response.content


async def test_a_tag_miss_is_fetched_stored_and_served_with_its_blobs(
    cache: Cache, upstream: FakeUpstream, store: Store
) -> None:
    digest, body = await upstream.api.push_image("team/app", "v1", layers=[b"layer bytes"])
    response = await cache.client.get("/v2/team/app/manifests/v1", headers=ACCEPT)
    assert response.status_code == 200
    assert response.content == body
    assert response.headers["docker-content-digest"] == digest
    assert response.headers["content-type"] == OCI_MANIFEST
    assert await stored(store, digest)
    for layer in json.loads(body)["layers"]:
        blob = await cache.client.get(f"/v2/team/app/blobs/{layer['digest']}")
        assert blob.content == b"layer bytes"
    tags = await cache.client.get("/v2/team/app/tags/list")
    assert tags.json()["tags"] == ["v1"]


async def test_a_fresh_tag_is_served_without_asking_the_upstream(
    cache: Cache, upstream: FakeUpstream
) -> None:
    digest, _ = await upstream.api.push_image("team/app", "v1")
    await _get(cache, "team/app", "v1")
    before = len(upstream.requests)
    assert (await _get(cache, "team/app", "v1"))[:2] == (200, digest)
    assert len(upstream.requests) == before


async def test_after_the_ttl_an_unchanged_tag_costs_one_head(
    make_cache: Callable[..., Cache], upstream: FakeUpstream
) -> None:
    cache = make_cache(tag_ttl=0)
    digest, _ = await upstream.api.push_image("team/app", "v1")
    await _get(cache, "team/app", "v1")
    gets, heads = upstream.count("GET", "/manifests/"), upstream.count("HEAD", "/manifests/")
    assert (await _get(cache, "team/app", "v1"))[:2] == (200, digest)
    assert upstream.count("GET", "/manifests/") == gets
    assert upstream.count("HEAD", "/manifests/") == heads + 1


async def test_after_the_ttl_a_moved_tag_serves_the_new_manifest(
    make_cache: Callable[..., Cache], upstream: FakeUpstream
) -> None:
    cache = make_cache(tag_ttl=0)
    await upstream.api.push_image("team/app", "v1", layers=[b"old"])
    await _get(cache, "team/app", "v1")
    moved, body = await upstream.api.push_image("team/app", "v1", layers=[b"new"])
    assert await _get(cache, "team/app", "v1") == (200, moved, body)


async def test_within_the_ttl_a_moved_tag_still_serves_the_cached_manifest(
    cache: Cache, upstream: FakeUpstream
) -> None:
    first, _ = await upstream.api.push_image("team/app", "v1", layers=[b"old"])
    await _get(cache, "team/app", "v1")
    await upstream.api.push_image("team/app", "v1", layers=[b"new"])
    assert (await _get(cache, "team/app", "v1"))[:2] == (200, first)


async def test_a_stale_tag_is_served_while_the_upstream_is_down(
    make_cache: Callable[..., Cache], upstream: FakeUpstream
) -> None:
    cache = make_cache(tag_ttl=0)
    digest, body = await upstream.api.push_image("team/app", "v1", layers=[b"layer bytes"])
    await _get(cache, "team/app", "v1")
    layer = json.loads(body)["layers"][0]["digest"]
    await cache.client.get(f"/v2/team/app/blobs/{layer}")
    upstream.down = True
    assert await _get(cache, "team/app", "v1") == (200, digest, body)
    assert (await cache.client.get(f"/v2/team/app/blobs/{layer}")).content == b"layer bytes"
    assert upstream.count("HEAD", "/manifests/") >= 1  # it did try


async def test_a_stale_tag_is_served_when_the_upstream_does_not_answer_in_time(
    make_cache: Callable[..., Cache], upstream: FakeUpstream
) -> None:
    cache = make_cache(tag_ttl=0, revalidate_timeout=0.2)
    digest, body = await upstream.api.push_image("team/app", "v1")
    await _get(cache, "team/app", "v1")
    upstream.stall_manifests = True
    assert await _get(cache, "team/app", "v1") == (200, digest, body)


async def test_a_tag_miss_while_the_upstream_is_down_is_a_502(
    cache: Cache, upstream: FakeUpstream
) -> None:
    await upstream.api.push_image("team/app", "v1")
    upstream.down = True
    response = await cache.client.get("/v2/team/app/manifests/v1", headers=ACCEPT)
    assert response.status_code == 502
    assert error_codes(response) == ["MANIFEST_UNKNOWN"]


async def test_a_tag_the_upstream_lacks_is_manifest_unknown(
    cache: Cache, upstream: FakeUpstream
) -> None:
    await upstream.api.push_image("team/app", "v1")
    response = await cache.client.get("/v2/team/app/manifests/v2", headers=ACCEPT)
    assert response.status_code == 404
    assert error_codes(response) == ["MANIFEST_UNKNOWN"]


async def test_a_digest_the_upstream_lacks_is_manifest_unknown(cache: Cache) -> None:
    response = await cache.client.get(f"/v2/team/app/manifests/{digest_of(b'none')}")
    assert response.status_code == 404
    assert error_codes(response) == ["MANIFEST_UNKNOWN"]


async def test_a_tag_deleted_upstream_is_forgotten_after_the_ttl(
    make_cache: Callable[..., Cache], upstream: FakeUpstream
) -> None:
    cache = make_cache(tag_ttl=0)
    await upstream.api.push_image("team/app", "v1")
    await _get(cache, "team/app", "v1")
    assert (await upstream.api.client.delete("/v2/team/app/manifests/v1")).status_code == 202
    response = await cache.client.get("/v2/team/app/manifests/v1", headers=ACCEPT)
    assert response.status_code == 404
    assert error_codes(response) == ["MANIFEST_UNKNOWN"]
    assert (await cache.client.get("/v2/team/app/tags/list")).json()["tags"] == []


async def test_a_manifest_by_digest_is_fetched_once_and_never_revalidated(
    make_cache: Callable[..., Cache], upstream: FakeUpstream
) -> None:
    cache = make_cache(tag_ttl=0)
    digest, body = await upstream.api.push_image("team/app", "v1")
    assert await _get(cache, "team/app", digest) == (200, digest, body)
    assert await _get(cache, "team/app", digest) == (200, digest, body)
    assert upstream.count("GET", "/manifests/") == 1
    assert upstream.count("HEAD", "/manifests/") == 0


async def test_a_manifest_whose_bytes_do_not_match_its_digest_is_not_stored(
    cache: Cache, upstream: FakeUpstream, store: Store
) -> None:
    digest, _ = await upstream.api.push_image("team/app", "v1")
    upstream.corrupt.add(digest)
    response = await cache.client.get(f"/v2/team/app/manifests/{digest}", headers=ACCEPT)
    assert response.status_code == 502
    assert error_codes(response) == ["MANIFEST_UNKNOWN"]
    assert not await stored(store, digest)
    assert (await cache.client.get("/v2/_catalog")).json()["repositories"] == []
