"""Pull-through cache, use: serving cached content counts as using it, for ``gc --max-size``."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from aiocontent import InvalidArgumentError, Store
from aiocontent.gc import collect_garbage
from aiocontent.server import Upstream
from aiocontent.server._app import _default_metadata

from .._oci import OCI_MANIFEST
from ..test_serve_cli import _serve
from ._upstream import Cache, FakeUpstream


async def pull(cache: Cache, repo: str, tag: str) -> list[str]:
    """Pull ``repo:tag`` through the cache; the digests of its manifest and blobs."""
    accept = {"Accept": OCI_MANIFEST}
    response = await cache.client.get(f"/v2/{repo}/manifests/{tag}", headers=accept)
    assert response.status_code == 200, response.text
    manifest = json.loads(response.content)
    blobs = [d["digest"] for d in [manifest["config"], *manifest["layers"]]]
    for digest in blobs:
        assert (await cache.client.get(f"/v2/{repo}/blobs/{digest}")).status_code == 200
    return [response.headers["docker-content-digest"], *blobs]


async def last_used(store: Store, digests: list[str]) -> list[datetime]:
    infos = [await store.info(d) for d in digests]
    return [max(info.created_at, info.updated_at) for info in infos]


async def first_pull(upstream: FakeUpstream, cache: Cache) -> list[str]:
    """Push an image upstream and pull it through ``cache``; its digests."""
    await upstream.api.push_image("team/app", "v1", layers=[b"a hot layer"])
    return await pull(cache, "team/app", "v1")


async def test_serving_a_cached_blob_again_within_the_interval_writes_nothing(
    cache: Cache, upstream: FakeUpstream, store: Store
) -> None:
    digests = await first_pull(upstream, cache)
    before = await last_used(store, digests)
    await pull(cache, "team/app", "v1")
    assert await last_used(store, digests) == before


async def test_serving_cached_content_after_the_interval_refreshes_its_use(
    make_cache: Callable[..., Cache], upstream: FakeUpstream, store: Store
) -> None:
    digests = await first_pull(upstream, make_cache())
    before = await last_used(store, digests)
    await pull(make_cache(use_interval=0), "team/app", "v1")
    after = await last_used(store, digests)
    assert all(a > b for a, b in zip(after, before, strict=True))


async def test_a_restarted_cache_counts_its_first_serving_of_each_digest(
    make_cache: Callable[..., Cache], upstream: FakeUpstream, store: Store
) -> None:
    digests = await first_pull(upstream, make_cache())
    before = await last_used(store, digests)
    restarted = make_cache()  # a new process: it knows nothing of earlier uses
    await pull(restarted, "team/app", "v1")
    after = await last_used(store, digests)
    assert all(a > b for a, b in zip(after, before, strict=True))
    await pull(restarted, "team/app", "v1")
    assert await last_used(store, digests) == after


async def test_recently_served_image_survives_max_size_eviction_an_unserved_newer_one_goes(
    make_cache: Callable[..., Cache], upstream: FakeUpstream, store: Store
) -> None:
    cache = make_cache(use_interval=0)
    await upstream.api.push_image("team/hot", "v1", layers=[b"hot layer"], config=b'{"a": 1}')
    await upstream.api.push_image("team/cold", "v1", layers=[b"cold layer"], config=b'{"b": 2}')
    hot = await pull(cache, "team/hot", "v1")
    cold = await pull(cache, "team/cold", "v1")  # fetched after the hot one...
    await pull(cache, "team/hot", "v1")  # ...but the hot one was served since
    size = sum([(await store.info(d)).size for d in hot])
    metadata = _default_metadata(store)
    report = await collect_garbage(store, grace=0, max_size=size, metadata=metadata)
    assert [str(d) for d in report.evicted] == [cold[0]]
    assert {str(d) for d in report.deleted} == set(cold)
    assert await metadata.resolve_tag("team/hot", "v1") is not None
    assert await metadata.resolve_tag("team/cold", "v1") is None
    assert await pull(cache, "team/hot", "v1") == hot


def test_a_negative_use_interval_is_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="use_interval -1"):
        Upstream("http://127.0.0.1:5000", use_interval=-1)


def test_serve_with_a_negative_use_interval_is_a_usage_error(tmp_path: Path) -> None:
    result = _serve(
        "--root", str(tmp_path), "--upstream", "http://127.0.0.1:5000", "--use-interval", "-1"
    )
    assert result.returncode == 2
    assert "--use-interval" in result.stderr
