"""Pull labels as containerd writes them: port-less source host, index children numbered
by their position in the index, several platforms merged, and ``platform="all"``."""

from __future__ import annotations

from aiocontent._interfaces import Store
from aiocontent._registry._labels import child_gc_labels, source_label_key
from aiocontent._types import Descriptor
from aiocontent.registry import ALL_PLATFORMS, pull

from .conftest import Registry

AMD64 = "linux/amd64"
ARM64 = "linux/arm64/v8"
M = "containerd.io/gc.ref.content.m."
SOURCE = "containerd.io/distribution.source.127.0.0.1"


def test_source_label_key_drops_the_port_as_go_hostname_does() -> None:
    assert source_label_key("127.0.0.1:43283") == SOURCE
    assert (
        source_label_key("registry.example") == "containerd.io/distribution.source.registry.example"
    )
    assert source_label_key("[::1]:5000") == "containerd.io/distribution.source.::1"


def test_child_labels_count_each_kind_separately() -> None:
    def d(media_type: str, n: int) -> Descriptor:
        return Descriptor(media_type=media_type, digest=f"sha256:{n:064x}", size=1)

    labels = child_gc_labels(
        [
            d("application/vnd.oci.image.config.v1+json", 1),
            d("application/vnd.oci.image.layer.v1.tar+gzip", 2),
            d("application/vnd.docker.image.rootfs.diff.tar.gzip", 3),
            d("application/vnd.in-toto+json", 4),
            d("application/vnd.oci.image.config.v1+json", 5),
        ]
    )
    assert labels == {
        "containerd.io/gc.ref.content.config": f"sha256:{1:064x}",
        "containerd.io/gc.ref.content.l.0": f"sha256:{2:064x}",
        "containerd.io/gc.ref.content.l.1": f"sha256:{3:064x}",
        "containerd.io/gc.ref.content.0": f"sha256:{4:064x}",
        "containerd.io/gc.ref.content.config1": f"sha256:{5:064x}",
    }


async def test_second_platform_keeps_the_first_platforms_label(
    store: Store, registry: Registry
) -> None:
    image = registry.multi
    reference = f"{registry.host}/{image.repo}:v1"
    await pull(store, reference, platform=ARM64, plain_http=True)
    await pull(store, reference, platform=AMD64, plain_http=True)
    labels = (await store.info(image.root)).labels
    assert labels[f"{M}0"] == image.manifests[AMD64]
    assert labels[f"{M}1"] == image.manifests[ARM64]
    for platform in (AMD64, ARM64):
        for digest in image.children[image.manifests[platform]]:
            assert SOURCE in (await store.info(digest)).labels


async def test_all_platforms_pulls_every_manifest_and_its_blobs(
    store: Store, registry: Registry
) -> None:
    image = registry.multi
    root = await pull(
        store, f"{registry.host}/{image.repo}:v1", platform=ALL_PLATFORMS, plain_http=True
    )
    assert root.digest == image.root
    for digest in image.blobs:
        assert (await store.info(digest)).labels[SOURCE] == image.repo


async def test_pull_of_present_blob_refreshes_its_updated_time(
    store: Store, registry: Registry
) -> None:
    image = registry.single
    reference = f"{registry.host}/{image.repo}:v1"
    await pull(store, reference, plain_http=True)
    before = {d: (await store.info(d)).updated_at for d in image.blobs}
    await pull(store, reference, plain_http=True)
    for digest, then in before.items():
        assert (await store.info(digest)).updated_at > then
