"""Pull labels and garbage collection agree with a real containerd 1.6 daemon.

The images come from Debian's ``docker-registry`` (the fixtures of
``tests/registry``). containerd fetches them with ``ctr content fetch``, the
fetch half of ``ctr images pull`` (the same ``client.Fetch``: handlers, labels
and the image record) without the unpack. ``ctr images pull --plain-http``
writes the very same labels and image record, then fails to unpack these test
images (their configs list no ``rootfs.diff_ids``, and this daemon has no
differ), so the test uses the command that exits cleanly.

The GC comparison, step by step:

1. containerd fetches images, ingests a loose blob, labels another as
   ``gc.root`` pointing at a third, and forgets one image (``ctr images rm``
   without ``--sync``: its GC thresholds are out of reach, so nothing goes yet).
2. The state is read: every blob on disk, the labels containerd's metadata
   holds for each, the images and the leases (none).
3. A LocalStore is built from it: the blob files copied, the labels set, and
   each image mapped to a ``gc.root`` label on its target. That is the whole
   mapping: containerd's other roots (leases, containers, snapshots) do not
   exist here, and a lease would map to ``gc.root`` labels on its resources.
4. Our collection runs (no grace: containerd's content GC has none).
5. containerd's collection runs (``ctr leases rm --sync`` of an empty lease
   triggers it and waits), and what containerd keeps, on disk and in its
   metadata, must be exactly what we kept.
"""

# ruff: noqa: F811  (the registry fixtures are imported by name and used as parameters)
from __future__ import annotations

import shutil
from pathlib import Path

import anyio.to_thread
import pytest

from aiocontent import Digest, Info, LocalStore
from aiocontent.gc import collect_garbage
from aiocontent.registry import ALL_PLATFORMS, pull
from tests.registry.conftest import Registry, registry, registry_storage  # noqa: F401

from ._ctr_state import blob_labels, disk_digests, image_targets, lease_ids
from ._daemon import GC_ROOT_LABEL, ContainerdDaemon

pytestmark = [pytest.mark.containerd, pytest.mark.registry]

AMD64 = "linux/amd64"
ARM64 = "linux/arm64/v8"
COMPARED = ("containerd.io/gc.ref.content", "containerd.io/distribution.source.")


def compared(labels: dict[str, str]) -> dict[str, str]:
    """The labels containerd defines for a pull (not ``io.containerd.image.name``, ours)."""
    return {k: v for k, v in labels.items() if k.startswith(COMPARED)}


def fetch(daemon: ContainerdDaemon, reference: str, platform: str | None = None) -> None:
    args = ["content", "fetch", "--plain-http"]
    if platform:
        args += ["--platform", platform]
    daemon.ctr(*args, reference, timeout=120)


async def our_labels(store: LocalStore) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    await store.walk(lambda info: out.__setitem__(str(info.digest), compared(info.labels)))
    return out


async def test_pull_labels_match_containerd_blob_by_blob(
    containerd: ContainerdDaemon, registry: Registry, tmp_path: Path
) -> None:
    multi = f"{registry.host}/{registry.multi.repo}:v1"
    single = f"{registry.host}/{registry.single.repo}:v1"
    for reference, platform in ((multi, ARM64), (multi, AMD64), (single, None)):
        await anyio.to_thread.run_sync(fetch, containerd, reference, platform)
    theirs = {
        d: compared(v) for d, v in (await anyio.to_thread.run_sync(blob_labels, containerd)).items()
    }
    async with LocalStore(tmp_path / "ours") as store:
        for reference, platform in ((multi, ARM64), (multi, AMD64), (single, AMD64)):
            await pull(store, reference, platform=platform, plain_http=True)
        ours = await our_labels(store)
    assert set(ours) == set(theirs)
    for digest in sorted(theirs):
        assert ours[digest] == theirs[digest], digest
    root = theirs[registry.multi.root]  # both platforms, numbered by position
    assert root["containerd.io/gc.ref.content.m.0"] == registry.multi.manifests[AMD64]
    assert root["containerd.io/gc.ref.content.m.1"] == registry.multi.manifests[ARM64]


async def test_all_platforms_labels_match_containerd(
    containerd: ContainerdDaemon, registry: Registry, tmp_path: Path
) -> None:
    multi = f"{registry.host}/{registry.multi.repo}:v1"
    await anyio.to_thread.run_sync(
        lambda: containerd.ctr("content", "fetch", "--plain-http", "--all-platforms", multi)
    )
    theirs = await anyio.to_thread.run_sync(blob_labels, containerd)
    async with LocalStore(tmp_path / "ours") as store:
        await pull(store, multi, platform=ALL_PLATFORMS, plain_http=True)
        ours = await our_labels(store)
    assert ours == {d: compared(v) for d, v in theirs.items()}
    assert set(ours) == set(registry.multi.blobs)


def _set_up_containerd(daemon: ContainerdDaemon, registry: Registry) -> dict[str, bytes]:
    """Images, a loose blob, a labelled root with a child; one image forgotten."""
    fetch(daemon, f"{registry.host}/{registry.multi.repo}:v1", ARM64)
    single = f"{registry.host}/{registry.single.repo}:v1"
    fetch(daemon, single)
    blobs = {"loose": b"nobody refers to me", "root": b"a root", "child": b"its child"}
    digests = {}
    for name, data in blobs.items():
        daemon.ingest(name, data)
        digests[name] = Digest.from_bytes(data)
    daemon.label_gc_root(str(digests["root"]))
    daemon.ctr(
        "content", "label", str(digests["root"]), GC_ROOT_LABEL + "=x",
        f"containerd.io/gc.ref.content.x={digests['child']}",
    )  # fmt: skip
    daemon.ctr("images", "rm", single)
    return {name: str(d).encode() for name, d in digests.items()}


async def test_our_gc_keeps_exactly_what_containerds_gc_keeps(
    containerd: ContainerdDaemon, registry: Registry, tmp_path: Path
) -> None:
    loose = await anyio.to_thread.run_sync(_set_up_containerd, containerd, registry)
    labels = await anyio.to_thread.run_sync(blob_labels, containerd)
    images = await anyio.to_thread.run_sync(image_targets, containerd)
    assert await anyio.to_thread.run_sync(lease_ids, containerd) == []
    before = disk_digests(containerd)
    assert set(labels) == before

    root = tmp_path / "copy"
    shutil.copytree(containerd.content_root / "blobs", root / "blobs")
    async with LocalStore(root) as store:
        for digest, blob in labels.items():
            if blob:
                await store.update(Info(digest=Digest(digest), labels=blob))
        for target in images.values():  # an image record is a root
            await store.update(
                Info(digest=Digest(target), labels={GC_ROOT_LABEL: "image"}),
                f"labels.{GC_ROOT_LABEL}",
            )
        report = await collect_garbage(store, grace=0)
    ours_kept = before - {str(d) for d in report.deleted}

    lease = (await anyio.to_thread.run_sync(lambda: containerd.ctr("leases", "create"))).stdout
    lease_id = lease.decode().split()[0]
    await anyio.to_thread.run_sync(lambda: containerd.ctr("leases", "rm", "--sync", lease_id))
    theirs_kept = disk_digests(containerd)
    assert set(await anyio.to_thread.run_sync(blob_labels, containerd)) == theirs_kept

    assert ours_kept == theirs_kept
    single = registry.single
    gone = {single.root, *single.children[single.root]} - set(registry.multi.blobs)
    assert gone and gone <= {str(d) for d in report.deleted}
    assert registry.multi.root in ours_kept
    assert loose["loose"].decode() not in theirs_kept
    assert {loose["root"].decode(), loose["child"].decode()} <= theirs_kept
