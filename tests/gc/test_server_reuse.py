"""Registry requests that reuse an old blob refresh it, so a running collection spares it."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import httpx
import pytest

from aiocontent import Digest, Info, LocalStore
from aiocontent.gc import collect_garbage
from aiocontent.server import MemoryMetadata, create_app
from tests.server._oci import Api, error_codes

from ._population import age, digest_of, present
from .test_concurrent import HookedStore

GRACE = 60.0
REPO = "team/app"


def client_of(store: LocalStore, metadata: MemoryMetadata) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(create_app(store, metadata=metadata))
    return httpx.AsyncClient(transport=transport, base_url="http://registry.test")


async def old_image(api: Api, store: LocalStore, seed: str) -> tuple[bytes, list[str]]:
    """Push a config and a layer, make them two hours old; the manifest body naming them."""
    config, layer = f'{{"seed": "{seed}"}}'.encode(), f"layer {seed}".encode()
    body = await api.image(REPO, [layer], config=config)
    blobs = [digest_of(config), digest_of(layer)]
    for digest in blobs:
        age(store.root, digest, 7200)
    return body, blobs


async def recently_used(store: LocalStore, digest: str) -> bool:
    info = await store.info(digest)
    return info.updated_at > datetime.now(UTC) - timedelta(seconds=GRACE)


async def test_manifest_put_between_second_mark_and_sweep_keeps_its_old_blobs(
    tmp_path: Path,
) -> None:
    metadata = MemoryMetadata()
    pushed: list[httpx.Response] = []

    async def push() -> None:  # after the collection's last look at the registry
        pushed.append(await api.put_manifest(REPO, "v1", body))

    async with (
        HookedStore(tmp_path / "s", push, after=2) as store,
        client_of(store, metadata) as client,
    ):
        api = Api(client)
        body, blobs = await old_image(api, store, "reused")
        report = await collect_garbage(store, grace=GRACE, metadata=metadata)
        assert pushed[0].status_code == 201, pushed[0].text
        assert report.deleted == () and report.spared == len(blobs)
        for digest in blobs:
            assert (await client.get(f"/v2/{REPO}/blobs/{digest}")).status_code == 200


class CollectingStore(LocalStore):
    """A LocalStore that deletes ``victim`` right after it is next refreshed: a sweep that
    read the blob's info just before the refresh and deletes it just after."""

    victim: str | None = None

    async def update(self, info: Info, *fieldpaths: str) -> Info:
        got = await super().update(info, *fieldpaths)
        if str(info.digest) == self.victim:
            self.victim = None
            await self.delete(str(info.digest))
        return got


@pytest.fixture
async def collecting(tmp_path: Path) -> AsyncIterator[CollectingStore]:
    async with CollectingStore(tmp_path / "c") as store:
        yield store


async def test_blob_collected_after_its_refresh_fails_the_push_and_moves_no_tag(
    collecting: CollectingStore,
) -> None:
    metadata = MemoryMetadata()
    async with client_of(collecting, metadata) as client:
        api = Api(client)
        before, _ = await api.push_image(REPO, "v1")
        body, blobs = await old_image(api, collecting, "collected")
        collecting.victim = blobs[1]
        response = await api.put_manifest(REPO, "v1", body)
        assert response.status_code == 400
        assert error_codes(response) == ["MANIFEST_BLOB_UNKNOWN"]
        assert blobs[1] in response.text
        assert await metadata.resolve_tag(REPO, "v1") == Digest(before)
        assert await metadata.manifest(REPO, Digest(digest_of(body))) is None


async def test_manifest_put_refreshes_the_old_blobs_it_names(tmp_path: Path) -> None:
    metadata = MemoryMetadata()
    async with LocalStore(tmp_path / "s") as store, client_of(store, metadata) as client:
        api = Api(client)
        body, blobs = await old_image(api, store, "named")
        assert not await recently_used(store, blobs[0])
        assert (await api.put_manifest(REPO, "v1", body)).status_code == 201
        for digest in [*blobs, digest_of(body)]:
            assert await recently_used(store, digest)


@pytest.mark.parametrize("how", ["mount", "monolithic upload", "chunked upload"])
async def test_request_linking_an_old_stored_blob_refreshes_it(tmp_path: Path, how: str) -> None:
    metadata = MemoryMetadata()
    async with LocalStore(tmp_path / "s") as store, client_of(store, metadata) as client:
        api = Api(client)
        data = b"an old layer pushed again"
        digest = await api.push_blob("team/other", data)
        age(store.root, digest, 7200)
        if how == "mount":
            url = f"/v2/{REPO}/blobs/uploads/?mount={digest}&from=team/other"
            response = await client.post(url)
        elif how == "monolithic upload":
            response = await client.post(f"/v2/{REPO}/blobs/uploads/?digest={digest}", content=data)
        else:
            location = await api.start_upload(REPO)
            response = await client.put(location, params={"digest": digest}, content=data)
        assert response.status_code == 201, response.text
        assert await recently_used(store, digest)
        assert await metadata.blob_linked(REPO, Digest(digest))


async def test_pushes_reusing_old_blobs_while_collecting_leave_no_tag_incomplete(
    tmp_path: Path,
) -> None:
    """Each round races one collection against one manifest PUT naming blobs two hours old
    (linked, unreferenced: garbage until the PUT), each started after a random delay, until
    both have won some rounds."""
    rounds = 48
    metadata = MemoryMetadata()
    outcomes: dict[int, int] = {}
    async with LocalStore(tmp_path / "s") as store, client_of(store, metadata) as client:
        api = Api(client)
        began = anyio.current_time()
        await api.push_image(REPO, "warm-up")
        await collect_garbage(store, grace=GRACE, metadata=metadata)
        span = anyio.current_time() - began
        for r in range(rounds):
            body, blobs = await old_image(api, store, f"round {r}")

            async def push(r: int = r, body: bytes = body) -> None:
                await anyio.sleep(random.uniform(0, span))
                response = await api.put_manifest(REPO, f"r{r}", body)
                if response.status_code != 201:
                    assert set(error_codes(response)) == {"MANIFEST_BLOB_UNKNOWN"}, response.text
                outcomes[r] = response.status_code

            async def collect() -> None:
                await anyio.sleep(random.uniform(0, span))
                await collect_garbage(store, grace=GRACE, metadata=metadata)

            async with anyio.create_task_group() as tg:
                tg.start_soon(push)
                tg.start_soon(collect)
            tagged = await metadata.resolve_tag(REPO, f"r{r}")
            if outcomes[r] == 201:
                assert tagged == Digest(digest_of(body))
                for digest in blobs:
                    assert await present(store, digest), (r, digest)
            else:
                assert tagged is None
            if r >= 8 and {201, 400} <= set(outcomes.values()):
                break  # both sides of the race were seen
        assert {201, 400} <= set(outcomes.values()), outcomes
