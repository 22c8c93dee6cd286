"""Collections running beside real pulls (from docker-registry) and pushes (to our server)."""

# ruff: noqa: F811  (the registry fixtures are imported by name and used as parameters)
from __future__ import annotations

import json
from pathlib import Path

import anyio
import anyio.lowlevel
import httpx
import pytest

from aiocontent import LocalStore, Store
from aiocontent.gc import collect_garbage
from aiocontent.registry import ALL_PLATFORMS, pull
from aiocontent.server import MemoryMetadata, create_app
from tests.registry.conftest import Registry, registry, registry_storage  # noqa: F401

from ._population import age, digest_of, present, put

GRACE = 60.0
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


async def collect_until(
    store: Store, done: anyio.Event, metadata: MemoryMetadata | None = None
) -> int:
    """Collect again and again until ``done``; the number of collections."""
    runs = 0
    while not done.is_set():
        await collect_garbage(store, grace=GRACE, metadata=metadata)
        runs += 1
        await anyio.lowlevel.checkpoint()
    return runs


@pytest.mark.registry
async def test_pulls_reusing_old_unrooted_blobs_keep_them(
    registry: Registry, tmp_path: Path
) -> None:
    single = f"{registry.host}/{registry.single.repo}:v1"
    multi = f"{registry.host}/{registry.multi.repo}:v1"
    async with LocalStore(tmp_path / "s") as store:
        await pull(store, single, plain_http=True)
        for digest in registry.single.blobs:
            age(store.root, digest, 7200)  # an old, unrooted copy a new pull will reuse
        done = anyio.Event()
        runs: list[int] = []

        async def collector() -> None:
            runs.append(await collect_until(store, done))

        async with anyio.create_task_group() as tg:
            tg.start_soon(collector)
            async with anyio.create_task_group() as pulls:
                for _ in range(3):
                    pulls.start_soon(lambda: pull(store, single, plain_http=True))
                    pulls.start_soon(
                        lambda: pull(store, multi, platform=ALL_PLATFORMS, plain_http=True)
                    )
            done.set()
        assert runs[0] > 0
        for digest in [*registry.single.blobs, *registry.multi.blobs]:
            assert await present(store, digest), digest


def _manifest(seed: int) -> tuple[dict[str, bytes], bytes]:
    config = json.dumps({"seed": seed}).encode()
    layer = f"layer {seed} ".encode() * 5000
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": digest_of(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": digest_of(layer),
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    return {digest_of(config): config, digest_of(layer): layer}, body


async def test_pushes_to_the_server_lose_nothing(tmp_path: Path) -> None:
    metadata = MemoryMetadata()
    async with LocalStore(tmp_path / "s") as store:
        garbage = await put(store, b"old garbage")
        age(store.root, garbage, 7200)
        transport = httpx.ASGITransport(create_app(store, metadata=metadata))
        done = anyio.Event()
        pushed: dict[str, str] = {}

        async def push(client: httpx.AsyncClient, seed: int) -> None:
            blobs, body = _manifest(seed)
            for digest, data in blobs.items():
                resp = await client.post(f"/v2/team/app{seed}/blobs/uploads/?digest={digest}",
                                         content=data)  # fmt: skip
                assert resp.status_code == 201, resp.text
            resp = await client.put(f"/v2/team/app{seed}/manifests/v1", content=body,
                                    headers={"Content-Type": OCI_MANIFEST})  # fmt: skip
            assert resp.status_code == 201, resp.text
            pushed[f"team/app{seed}"] = digest_of(body)

        async with httpx.AsyncClient(transport=transport, base_url="http://registry") as client:
            async with anyio.create_task_group() as tg:
                tg.start_soon(lambda: collect_until(store, done, metadata))
                async with anyio.create_task_group() as pushes:
                    for seed in range(8):
                        pushes.start_soon(push, client, seed)
                done.set()
            for repo, digest in pushed.items():
                resp = await client.get(f"/v2/{repo}/manifests/v1",
                                        headers={"Accept": OCI_MANIFEST})  # fmt: skip
                assert resp.status_code == 200 and digest_of(resp.content) == digest
                for child in json.loads(resp.content)["layers"]:
                    blob = await client.get(f"/v2/{repo}/blobs/{child['digest']}")
                    assert blob.status_code == 200
        await collect_garbage(store, grace=GRACE, metadata=metadata)
        assert not await present(store, garbage)
        assert len(pushed) == 8
