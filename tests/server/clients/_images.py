"""Small container images built on disk for the real clients: OCI layouts and docker archives.

Every layer is a real gzip-compressed tar (one file of seeded random bytes), and
every config lists the layers' ``diff_ids``, so clients that unpack or verify
layers (podman, containerd) accept them. Nothing here touches the network.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import json
import random
import tarfile
from pathlib import Path
from typing import Any, Final

OCI_INDEX: Final = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST: Final = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG: Final = "application/vnd.oci.image.config.v1+json"
OCI_LAYER: Final = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST: Final = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG: Final = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER: Final = "application/vnd.docker.image.rootfs.diff.tar.gzip"
#: The annotation an OCI layout's ``index.json`` names its images by.
REF_NAME: Final = "org.opencontainers.image.ref.name"


def sha256(data: bytes) -> str:
    """The ``sha256:`` digest of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer_tar(seed: int, size: int) -> bytes:
    """An uncompressed tar holding ``layer-<seed>.bin``: ``size`` seeded random bytes."""
    data = random.Random(seed).randbytes(size)
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(f"layer-{seed}.bin")
        info.size, info.mode, info.mtime = size, 0o644, 0
        tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _descriptor(media_type: str, data: bytes, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": sha256(data), "size": len(data), **extra}


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


@dataclasses.dataclass(frozen=True)
class Image:
    """A built image: its root (manifest or index) and every blob below it, by digest."""

    media_type: str
    root: bytes
    #: configs and layers, by digest
    blobs: dict[str, bytes]
    #: the manifests an index names, by digest (empty for a single image)
    manifests: dict[str, bytes] = dataclasses.field(default_factory=dict)
    #: the uncompressed layer tars, in order (of the first platform, for an index)
    tars: tuple[bytes, ...] = ()

    @property
    def digest(self) -> str:
        return sha256(self.root)

    @property
    def config(self) -> bytes:
        """The config blob (of the first platform, for an index)."""
        doc = json.loads(
            self.manifests[next(iter(self.manifests))] if self.manifests else self.root
        )
        return self.blobs[doc["config"]["digest"]]

    @property
    def all_blobs(self) -> dict[str, bytes]:
        """Everything content-addressed: ``blobs``, ``manifests`` and the root."""
        return {**self.blobs, **self.manifests, self.digest: self.root}


def single(seed: int, *, docker: bool = False, arch: str = "amd64", variant: str = "") -> Image:
    """An image manifest with a config and two layers (64 KiB and 192 KiB of random bytes).

    :param seed: makes the layers; different seeds give different images
    :param docker: a Docker schema2 manifest and media types instead of OCI's
    """
    tars = (layer_tar(seed * 10 + 1, 64 << 10), layer_tar(seed * 10 + 2, 192 << 10))
    layers = [gzip.compress(t, compresslevel=1, mtime=0) for t in tars]
    config_doc: dict[str, Any] = {
        "architecture": arch,
        "os": "linux",
        "config": {"Cmd": ["/layer.bin"]},
        "rootfs": {"type": "layers", "diff_ids": [sha256(t) for t in tars]},
        "history": [{"created_by": f"aiocontent test layer {i}"} for i in range(len(tars))],
    }
    if variant:
        config_doc["variant"] = variant
    config = _json(config_doc)
    manifest_type, config_type, layer_type = (
        (DOCKER_MANIFEST, DOCKER_CONFIG, DOCKER_LAYER)
        if docker
        else (OCI_MANIFEST, OCI_CONFIG, OCI_LAYER)
    )
    root = _json(
        {
            "schemaVersion": 2,
            "mediaType": manifest_type,
            "config": _descriptor(config_type, config),
            "layers": [_descriptor(layer_type, layer) for layer in layers],
        }
    )
    blobs = {sha256(b): b for b in (config, *layers)}
    return Image(manifest_type, root, blobs, tars=tars)


def multi_platform(seed: int) -> Image:
    """An OCI index of a linux/amd64 and a linux/arm64/v8 image."""
    children = [
        (single(seed, arch="amd64"), {"architecture": "amd64", "os": "linux"}),
        (
            single(seed + 1, arch="arm64", variant="v8"),
            {"architecture": "arm64", "os": "linux", "variant": "v8"},
        ),
    ]
    root = _json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                _descriptor(OCI_MANIFEST, child.root, platform=platform)
                for child, platform in children
            ],
        }
    )
    blobs: dict[str, bytes] = {}
    for child, _ in children:
        blobs.update(child.blobs)
    manifests = {child.digest: child.root for child, _ in children}
    return Image(OCI_INDEX, root, blobs, manifests, children[0][0].tars)


# ----------------------------------------------------------------------- on disk


def write_oci_layout(path: Path, image: Image, tag: str) -> None:
    """Write ``image`` as an OCI image layout whose ``index.json`` names it ``tag``."""
    blob_dir = path / "blobs" / "sha256"
    blob_dir.mkdir(parents=True)
    for digest, data in image.all_blobs.items():
        (blob_dir / digest.removeprefix("sha256:")).write_bytes(data)
    (path / "oci-layout").write_bytes(_json({"imageLayoutVersion": "1.0.0"}))
    entry = _descriptor(image.media_type, image.root, annotations={REF_NAME: tag})
    (path / "index.json").write_bytes(
        _json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [entry]})
    )


def write_oci_archive(path: Path, image: Image, tag: str) -> None:
    """Write ``image`` as a tar of an OCI layout (what ``ctr images import`` reads)."""
    layout = path.with_suffix(".layout")
    write_oci_layout(layout, image, tag)
    with tarfile.open(path, "w") as tar:
        for name in ("oci-layout", "index.json", "blobs"):
            tar.add(layout / name, arcname=name)


def write_docker_archive(path: Path, image: Image, name: str) -> None:
    """Write a single-platform ``image`` in ``docker save`` format, tagged ``name``.

    The archive holds the uncompressed layer tars and the config; the manifest is
    made again by whatever loads it.
    """
    manifest = json.loads(image.root)
    config_digest: str = manifest["config"]["digest"]
    config_name = config_digest.removeprefix("sha256:") + ".json"
    layer_names = [f"{sha256(t).removeprefix('sha256:')}/layer.tar" for t in image.tars]
    entries = {
        config_name: image.blobs[config_digest],
        **dict(zip(layer_names, image.tars, strict=True)),
        "manifest.json": _json(
            [{"Config": config_name, "RepoTags": [name], "Layers": layer_names}]
        ),
    }
    with tarfile.open(path, "w") as tar:
        for member, data in entries.items():
            info = tarfile.TarInfo(member)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))


@dataclasses.dataclass(frozen=True)
class Pulled:
    """What a client wrote to disk: the root's bytes and every other blob by digest."""

    root: bytes
    blobs: dict[str, bytes]
    #: the manifests of a list, where the layout keeps them apart from the blobs
    manifests: dict[str, bytes] = dataclasses.field(default_factory=dict)


def read_oci_layout(path: Path, tag: str) -> Pulled:
    """Read back the image ``tag`` of an OCI layout, checking every blob against its name.

    :raises AssertionError: a blob's bytes do not hash to its file name, or ``tag`` is missing
    """
    index = json.loads((path / "index.json").read_bytes())
    roots = [m for m in index["manifests"] if m.get("annotations", {}).get(REF_NAME) == tag]
    assert len(roots) == 1, f"{tag!r} in {index}"
    blobs = _hashed_files(path / "blobs" / "sha256")
    root = blobs.pop(roots[0]["digest"])
    return Pulled(root, blobs)


def read_dir_image(path: Path) -> Pulled:
    """Read back a ``dir:`` image (skopeo's directory transport; ``<hex>.manifest.json``
    files hold the manifests of a list copied with ``--all``)."""
    manifests = {}
    for file in path.glob("*.manifest.json"):
        digest = "sha256:" + file.name.removesuffix(".manifest.json")
        manifests[digest] = file.read_bytes()
        assert sha256(manifests[digest]) == digest, f"{file} holds other bytes"
    return Pulled((path / "manifest.json").read_bytes(), _hashed_files(path), manifests)


def _hashed_files(folder: Path) -> dict[str, bytes]:
    blobs: dict[str, bytes] = {}
    for file in folder.iterdir():
        if len(file.name) != 64:
            continue
        data = file.read_bytes()
        assert sha256(data) == "sha256:" + file.name, f"{file} holds other bytes"
        blobs["sha256:" + file.name] = data
    return blobs
