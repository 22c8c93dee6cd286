"""Pulling from a real distribution registry: content, labels, resume, single-flight, errors."""

from __future__ import annotations

import anyio
import pytest

from aiocontent import Descriptor, FailedPreconditionError, NotFoundError, read_blob
from aiocontent._interfaces import Store
from aiocontent._memory import MemoryStore
from aiocontent._registry._reference import default_platform
from aiocontent.registry import ProgressEvent, RegistryError, pull

from ._server import SHARED_LAYER, ProxyServer, digest_of
from .conftest import Registry

pytestmark = pytest.mark.registry

ARM64 = "linux/arm64/v8"
SHARED = digest_of(SHARED_LAYER)


def ref(host: str, image_repo: str, tag: str = "v1") -> str:
    return f"{host}/{image_repo}:{tag}"


async def stored(store: Store, digest: str) -> bytes:
    return await read_blob(store, Descriptor(digest=digest))


async def assert_pulled(store: Store, registry: Registry, manifest: str) -> None:
    """The manifest and each of its blobs are in the store with the registry's bytes."""
    blobs = registry.multi.blobs | registry.single.blobs
    for digest in (manifest, *(registry.multi.children | registry.single.children)[manifest]):
        data = await stored(store, digest)
        assert data == blobs[digest]
        assert digest_of(data) == digest


async def test_pull_index_stores_every_blob_of_the_platform(
    each_store: Store, registry: Registry
) -> None:
    store = each_store
    image = registry.multi
    root = await pull(store, ref(registry.host, image.repo), platform=ARM64, plain_http=True)
    assert root == Descriptor(
        media_type=image.root_type, digest=root.digest, size=len(image.blobs[image.root])
    )
    assert root.digest == image.root
    assert await stored(store, image.root) == image.blobs[image.root]
    await assert_pulled(store, registry, image.manifests[ARM64])
    amd64_only = set(image.children[image.manifests["linux/amd64"]]) - {SHARED}
    for digest in (image.manifests["linux/amd64"], *amd64_only):
        with pytest.raises(NotFoundError):
            await store.info(digest)


async def test_pull_docker_manifest_by_digest(store: Store, registry: Registry) -> None:
    image = registry.single
    root = await pull(store, f"{registry.host}/{image.repo}@{image.root}", plain_http=True)
    assert root.digest == image.root
    assert root.media_type == image.root_type
    await assert_pulled(store, registry, image.root)


async def test_pull_default_platform_is_the_running_one(store: Store, registry: Registry) -> None:
    image = registry.multi
    wanted = str(default_platform())
    if wanted not in image.manifests:
        with pytest.raises(NotFoundError, match="no manifest for platform"):
            await pull(store, ref(registry.host, image.repo), plain_http=True)
        return
    await pull(store, ref(registry.host, image.repo), plain_http=True)
    await assert_pulled(store, registry, image.manifests[wanted])


async def test_pull_labels_children_and_source(store: Store, registry: Registry) -> None:
    image = registry.multi
    reference = ref(registry.host, image.repo)
    await pull(store, reference, platform=ARM64, plain_http=True)
    manifest = image.manifests[ARM64]
    config, *layers = image.children[manifest]
    source = "containerd.io/distribution.source.127.0.0.1"
    root_labels = (await store.info(image.root)).labels
    assert root_labels == {
        "containerd.io/gc.ref.content.m.0": image.manifests["linux/amd64"],
        "containerd.io/gc.ref.content.m.1": manifest,
        source: image.repo,
        "io.containerd.image.name": reference,
    }
    assert (await store.info(manifest)).labels == {
        "containerd.io/gc.ref.content.config": config,
        "containerd.io/gc.ref.content.l.0": layers[0],
        "containerd.io/gc.ref.content.l.1": layers[1],
        source: image.repo,
    }
    for digest in image.children[manifest]:
        assert (await store.info(digest)).labels == {source: image.repo}


@pytest.mark.parametrize("gc_root", [False, True])
async def test_pull_sets_gc_root_only_when_asked(
    store: Store, registry: Registry, gc_root: bool
) -> None:
    image = registry.single
    await pull(store, ref(registry.host, image.repo), plain_http=True, gc_root=gc_root)
    labels = (await store.info(image.root)).labels
    assert ("containerd.io/gc.root" in labels) is gc_root
    for digest in image.children[image.root]:
        assert "containerd.io/gc.root" not in (await store.info(digest)).labels


async def test_pull_again_downloads_nothing(store: Store, proxy: ProxyServer) -> None:
    reference = f"{proxy.host}/test/multi:v1"
    await pull(store, reference, platform=ARM64, plain_http=True)
    first = len(proxy.seen)
    events: list[ProgressEvent] = []
    await pull(store, reference, platform=ARM64, plain_http=True, progress=events.append)
    again = proxy.seen[first:]
    assert [s.path for s in again if "/blobs/" in s.path] == []
    assert {e.state for e in events} == {"exists", "done"}


async def test_pull_interrupted_resumes_with_range(
    each_store: Store, registry: Registry, proxy: ProxyServer
) -> None:
    store = each_store
    reference = f"{proxy.host}/test/multi:v1"
    proxy.cut[SHARED] = (1 << 20) + 12345
    with pytest.raises(RegistryError, match="download interrupted"):
        await pull(store, reference, platform=ARM64, plain_http=True, retries=0)
    with pytest.raises(NotFoundError):
        await store.info(SHARED)
    with pytest.raises(NotFoundError):
        await store.info(registry.multi.root)
    (status,) = [s for s in await store.list_statuses() if SHARED in s.ref]
    assert 0 < status.offset <= (1 << 20) + 12345

    events: list[ProgressEvent] = []
    await pull(store, reference, platform=ARM64, plain_http=True, progress=events.append)
    second = proxy.blob_gets(SHARED)[-1]
    assert second.headers.get("range") == f"bytes={status.offset}-"
    assert second.status == 206
    shared_events = [(e.state, e.offset) for e in events if e.desc.digest == SHARED]
    assert shared_events[0] == ("resuming", status.offset)
    assert shared_events[-1] == ("done", len(SHARED_LAYER))
    await assert_pulled(store, registry, registry.multi.manifests[ARM64])
    assert await store.list_statuses() == []


async def test_pull_retries_interrupted_body_with_range(
    store: Store, registry: Registry, proxy: ProxyServer
) -> None:
    proxy.cut[SHARED] = 777_777
    await pull(store, f"{proxy.host}/test/single:v1", plain_http=True, retries=2)
    first, second = proxy.blob_gets(SHARED)
    assert "range" not in first.headers
    assert second.headers.get("range", "").startswith("bytes=")
    await assert_pulled(store, registry, registry.single.root)


async def test_pull_restarts_when_server_ignores_range(
    store: Store, registry: Registry, proxy: ProxyServer
) -> None:
    reference = f"{proxy.host}/test/single:v1"
    proxy.cut[SHARED] = 1 << 20
    with pytest.raises(RegistryError):
        await pull(store, reference, plain_http=True, retries=0)
    proxy.ignore_range = True
    await pull(store, reference, plain_http=True)
    last = proxy.blob_gets(SHARED)[-1]
    assert last.headers.get("range", "").startswith("bytes=")
    assert last.status == 200
    await assert_pulled(store, registry, registry.single.root)


async def test_concurrent_pulls_fetch_shared_layer_once(
    store: Store, registry: Registry, proxy: ProxyServer
) -> None:
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: pull(store, f"{proxy.host}/test/multi:v1", platform=ARM64,
                                   plain_http=True))  # fmt: skip
        tg.start_soon(lambda: pull(store, f"{proxy.host}/test/single:v1", plain_http=True))
    assert len(proxy.blob_gets(SHARED)) == 1
    await assert_pulled(store, registry, registry.multi.manifests[ARM64])
    await assert_pulled(store, registry, registry.single.root)
    source = (await store.info(SHARED)).labels["containerd.io/distribution.source.127.0.0.1"]
    assert source == "test/multi,test/single"


async def test_corrupt_layer_is_rejected_and_nothing_committed(
    store: Store, registry: Registry, proxy: ProxyServer
) -> None:
    proxy.corrupt.add(SHARED)
    with pytest.raises(FailedPreconditionError, match=SHARED):
        await pull(store, f"{proxy.host}/test/single:v1", plain_http=True)
    for digest in (SHARED, registry.single.root):
        with pytest.raises(NotFoundError):
            await store.info(digest)
    assert [s.ref for s in await store.list_statuses() if SHARED in s.ref] == []


async def test_corrupt_manifest_is_rejected(
    store: Store, registry: Registry, proxy: ProxyServer
) -> None:
    manifest = registry.multi.manifests[ARM64]
    proxy.corrupt.add(manifest)
    with pytest.raises(FailedPreconditionError, match="does not match"):
        await pull(store, f"{proxy.host}/test/multi:v1", platform=ARM64, plain_http=True)
    with pytest.raises(NotFoundError):
        await store.info(manifest)


@pytest.mark.parametrize(
    ("name", "pattern"),
    [("test/missing:v1", "test/missing"), ("test/multi:nope", "manifest nope")],
)
async def test_missing_image_raises_not_found(
    store: Store, registry: Registry, name: str, pattern: str
) -> None:
    with pytest.raises(NotFoundError, match=pattern):
        await pull(store, f"{registry.host}/{name}", plain_http=True)


async def test_missing_platform_names_those_available(store: Store, registry: Registry) -> None:
    with pytest.raises(NotFoundError, match=r"linux/s390x.*linux/amd64, linux/arm64"):
        await pull(store, ref(registry.host, "test/multi"), platform="linux/s390x", plain_http=True)


async def test_server_errors_are_retried(
    store: Store, registry: Registry, proxy: ProxyServer
) -> None:
    proxy.fail["/manifests/v1"] = [503, 500]
    proxy.fail[f"/blobs/{SHARED}"] = [429]
    await pull(store, f"{proxy.host}/test/single:v1", plain_http=True)
    assert [s.status for s in proxy.seen if "/manifests/v1" in s.path] == [503, 500, 200]
    assert [s.status for s in proxy.blob_gets(SHARED)] == [429, 200]
    await assert_pulled(store, registry, registry.single.root)


async def test_server_errors_past_retries_raise(store: Store, proxy: ProxyServer) -> None:
    proxy.fail["/manifests/v1"] = [502, 502, 502]
    with pytest.raises(RegistryError, match="HTTP 502") as info:
        await pull(store, f"{proxy.host}/test/single:v1", plain_http=True, retries=2)
    assert info.value.status == 502


async def test_connection_refused_raises_registry_error(store: Store) -> None:
    from ._server import free_port

    with pytest.raises(RegistryError, match="ConnectError"):
        await pull(store, f"127.0.0.1:{free_port()}/test/x:v1", plain_http=True, retries=1)


async def test_blob_redirects_are_followed(
    store: Store, registry: Registry, proxy: ProxyServer
) -> None:
    proxy.redirect_blobs = True
    await pull(store, f"{proxy.host}/test/single:v1", plain_http=True)
    assert {s.status for s in proxy.seen if "/blobs/" in s.path} == {307}
    await assert_pulled(store, registry, registry.single.root)


async def test_pull_into_separate_stores_is_independent(registry: Registry) -> None:
    async with MemoryStore() as a, MemoryStore() as b:
        for cs in (a, b):
            await pull(cs, ref(registry.host, "test/single"), plain_http=True)
            await assert_pulled(cs, registry, registry.single.root)
