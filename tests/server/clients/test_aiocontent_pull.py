"""``aiocontent pull`` (the real command, as a process) from the registry into a LocalStore.

The images are pushed over plain HTTP (POST, PUT, manifest PUT), so these
tests need no other client. The store's ``blobs/sha256`` folder then holds
exactly the pulled platform's blobs, byte for byte.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.registry._server import push_blob, push_manifest

from ._clients import aiocontent_cli
from ._images import Image, multi_platform, sha256, single
from .conftest import Target


def push_over_http(target: Target, repo: str, tag: str, image: Image) -> None:
    """Upload every blob, then the child manifests, then the root under ``tag``."""
    with httpx.Client(timeout=30) as client:
        for data in image.blobs.values():
            push_blob(client, target.url, repo, data, chunked=False)
        for digest, body in image.manifests.items():
            push_manifest(client, target.url, repo, digest, json.loads(body)["mediaType"], body)
        push_manifest(client, target.url, repo, tag, image.media_type, image.root)


def stored_blobs(root: Path) -> dict[str, bytes]:
    """Every committed blob of the LocalStore at ``root``, by digest."""
    folder = root / "blobs" / "sha256"
    return {"sha256:" + f.name: f.read_bytes() for f in folder.iterdir()}


def platform_blobs(image: Image, manifest_digest: str) -> dict[str, bytes]:
    """The manifest ``manifest_digest`` of ``image``, its config and its layers."""
    body = image.manifests[manifest_digest]
    doc = json.loads(body)
    digests = [doc["config"]["digest"], *(layer["digest"] for layer in doc["layers"])]
    return {manifest_digest: body, **{d: image.blobs[d] for d in digests}}


@pytest.fixture(scope="module")
def index(target: Target) -> Image:
    image = multi_platform(8)
    push_over_http(target, "pull/index", "v1", image)
    return image


def test_pull_by_tag_stores_the_index_and_the_chosen_platform(
    target: Target, index: Image, tmp_path: Path
) -> None:
    reference = f"{target.host}/pull/index:v1"
    out = aiocontent_cli(
        "pull", "--plain-http", "--platform", "linux/arm64/v8", "--root", str(tmp_path), reference
    )
    assert out.stdout.strip() == index.digest
    arm64 = json.loads(index.root)["manifests"][1]["digest"]
    assert stored_blobs(tmp_path) == {index.digest: index.root, **platform_blobs(index, arm64)}


def test_pull_by_digest_stores_a_docker_manifest_and_its_blobs(
    target: Target, tmp_path: Path
) -> None:
    image = single(9, docker=True)
    push_over_http(target, "pull/docker", "v1", image)
    reference = f"{target.host}/pull/docker@{image.digest}"
    out = aiocontent_cli("pull", "--plain-http", "--root", str(tmp_path), reference)
    assert out.stdout.strip() == image.digest == sha256(image.root)
    assert stored_blobs(tmp_path) == image.all_blobs
