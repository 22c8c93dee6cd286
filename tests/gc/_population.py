"""Stores populated for garbage collection: images as labelled graphs, garbage, aged blobs.

Run as a program to measure a collection on a LocalStore of many small blobs::

    python -m tests.gc._population 100000 /tmp/gc-figure
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import anyio

from aiocontent import Descriptor, LocalStore, NotFoundError, Store, with_labels, write_blob
from aiocontent.gc import LABEL_GC_ROOT, collect_garbage

#: blobs per image: a manifest, a config and this many minus two layers
IMAGE_BLOBS = 10


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


async def put(store: Store, data: bytes, labels: dict[str, str] | None = None) -> str:
    """Commit ``data`` (with ``labels``) and return its digest."""
    desc = Descriptor(digest=digest_of(data), size=len(data))
    await write_blob(store, f"gc-{desc.digest}", data, desc, with_labels(labels or {}))
    return str(desc.digest)


async def present(store: Store, digest: str) -> bool:
    """Whether ``store`` holds the blob ``digest``."""
    try:
        await store.info(digest)
    except NotFoundError:
        return False
    return True


def age(root: Path, digest: str, seconds: float) -> None:
    """Make a LocalStore blob look committed ``seconds`` ago (its mtime is the commit time)."""
    algorithm, encoded = digest.split(":", 1)
    then = time.time() - seconds
    os.utime(root / "blobs" / algorithm / encoded, (then, then))


@dataclass
class Image:
    """A manifest labelled with its config and layers, as a pull leaves it."""

    manifest: str
    children: list[str] = field(default_factory=list)

    @property
    def blobs(self) -> list[str]:
        return [self.manifest, *self.children]


async def put_image(store: Store, seed: str, *, root: bool, layers: int = 2) -> Image:
    """An image of ``layers`` layers; its manifest labelled ``gc.root`` when ``root``."""
    config = await put(store, f"config {seed}".encode())
    layer_digests = [await put(store, f"layer {seed} {i}".encode()) for i in range(layers)]
    labels = {"containerd.io/gc.ref.content.config": config}
    labels.update({f"containerd.io/gc.ref.content.l.{i}": d for i, d in enumerate(layer_digests)})
    if root:
        labels[LABEL_GC_ROOT] = "2026-01-01T00:00:00Z"
    manifest = await put(store, f"manifest {seed}".encode(), labels)
    return Image(manifest, [config, *layer_digests])


async def populate(store: Store, blobs: int) -> tuple[list[Image], list[Image]]:
    """About ``blobs`` blobs in images of :data:`IMAGE_BLOBS`: half rooted, half garbage."""
    rooted: list[Image] = []
    loose: list[Image] = []
    for n in range(max(blobs // IMAGE_BLOBS, 2)):
        image = await put_image(store, str(n), root=n % 2 == 0, layers=IMAGE_BLOBS - 2)
        (rooted if n % 2 == 0 else loose).append(image)
    return rooted, loose


async def _figure(blobs: int, root: Path) -> None:
    async with LocalStore(root) as store:
        began = time.monotonic()
        await populate(store, blobs)
        print(f"populated {blobs} blobs in {time.monotonic() - began:.1f} s")
        dry = await collect_garbage(store, grace=0, dry_run=True)
        print(f"dry run: {dry.blobs} blobs, {len(dry.deleted)} garbage in {dry.seconds:.2f} s")
        real = await collect_garbage(store, grace=0)
        print(f"real:    {real.blobs} blobs, {len(real.deleted)} deleted in {real.seconds:.2f} s")


if __name__ == "__main__":
    anyio.run(_figure, int(sys.argv[1]), Path(sys.argv[2]))
