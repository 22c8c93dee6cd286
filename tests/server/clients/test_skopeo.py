"""``skopeo copy`` pushes to and pulls from the registry: every digest and byte round-trips.

The sources are an OCI image layout, a ``docker save`` archive (skopeo makes a
Docker schema2 manifest and gzips the layers while pushing) and an OCI layout
holding a two-platform index, copied with ``--all`` as it is and converted to a
Docker manifest list of schema2 manifests (``--format v2s2``).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from ._clients import DOCKER_LIST, layer_tars, served_image, skopeo
from ._images import (
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    Image,
    multi_platform,
    read_dir_image,
    read_oci_layout,
    single,
    write_docker_archive,
    write_oci_layout,
)
from .conftest import Target


@dataclasses.dataclass(frozen=True)
class Pushed:
    """An image ``skopeo copy`` pushed: the source, where it went and the digest skopeo wrote."""

    source: Image
    repo: str
    tag: str
    digest: str


def push(
    target: Target, factory: pytest.TempPathFactory, repo: str, image: Image, *flags: str
) -> Pushed:
    """Write ``image`` to disk and ``skopeo copy <flags>`` it to ``<target>/<repo>:v1``.

    A single Docker image goes as a ``docker save`` archive, anything else as an
    OCI layout.
    """
    tmp = factory.mktemp(repo.replace("/", "-"))
    if image.media_type == DOCKER_MANIFEST:
        write_docker_archive(tmp / "image.tar", image, f"{repo}:v1")
        source = f"docker-archive:{tmp / 'image.tar'}"
    else:
        write_oci_layout(tmp / "layout", image, "v1")
        source = f"oci:{tmp / 'layout'}:v1"
    digest_file = tmp / "pushed-digest"
    skopeo(
        "copy",
        "--quiet",
        "--dest-tls-verify=false",
        f"--digestfile={digest_file}",
        *flags,
        source,
        f"docker://{target.host}/{repo}:v1",
    )
    return Pushed(image, repo, "v1", digest_file.read_text().strip())


def pull(target: Target, repo: str, destination: str, *flags: str) -> None:
    """``skopeo copy <flags> docker://<target>/<repo>:v1 <destination>``."""
    skopeo(
        "copy",
        "--quiet",
        "--src-tls-verify=false",
        *flags,
        f"docker://{target.host}/{repo}:v1",
        destination,
    )


@pytest.fixture(scope="module")
def oci_pushed(target: Target, tmp_path_factory: pytest.TempPathFactory) -> Pushed:
    return push(target, tmp_path_factory, "skopeo/oci", single(1), "--preserve-digests")


@pytest.fixture(scope="module")
def docker_pushed(target: Target, tmp_path_factory: pytest.TempPathFactory) -> Pushed:
    return push(target, tmp_path_factory, "skopeo/docker", single(2, docker=True))


@pytest.fixture(scope="module")
def index_pushed(target: Target, tmp_path_factory: pytest.TempPathFactory) -> Pushed:
    image = multi_platform(3)
    return push(target, tmp_path_factory, "skopeo/index", image, "--all", "--preserve-digests")


@pytest.fixture(scope="module")
def list_pushed(target: Target, tmp_path_factory: pytest.TempPathFactory) -> Pushed:
    image = multi_platform(6)
    return push(target, tmp_path_factory, "skopeo/list", image, "--all", "--format=v2s2")


def test_oci_image_push_stores_manifest_and_blobs_byte_for_byte(
    target: Target, oci_pushed: Pushed
) -> None:
    served = served_image(target.url, oci_pushed.repo, oci_pushed.tag)
    assert oci_pushed.digest == oci_pushed.source.digest == served.digest
    assert served.media_type == OCI_MANIFEST
    assert served.root == oci_pushed.source.root
    assert served.blobs == oci_pushed.source.blobs


def test_oci_image_pull_writes_the_pushed_bytes(
    target: Target, oci_pushed: Pushed, tmp_path: Path
) -> None:
    pull(target, oci_pushed.repo, f"oci:{tmp_path / 'out'}:v1", "--preserve-digests")
    pulled = read_oci_layout(tmp_path / "out", "v1")
    assert pulled.root == oci_pushed.source.root
    assert pulled.blobs == oci_pushed.source.blobs


def test_docker_archive_push_stores_a_schema2_manifest_of_the_same_layers(
    target: Target, docker_pushed: Pushed
) -> None:
    served = served_image(target.url, docker_pushed.repo, docker_pushed.tag)
    assert served.digest == docker_pushed.digest
    assert served.media_type == DOCKER_MANIFEST
    assert served.config == docker_pushed.source.config
    assert layer_tars(served) == list(docker_pushed.source.tars)


def test_docker_image_pull_writes_the_served_bytes(
    target: Target, docker_pushed: Pushed, tmp_path: Path
) -> None:
    served = served_image(target.url, docker_pushed.repo, docker_pushed.tag)
    pull(target, docker_pushed.repo, f"dir:{tmp_path / 'out'}", "--preserve-digests")
    pulled = read_dir_image(tmp_path / "out")
    assert pulled.root == served.root
    assert pulled.blobs == served.blobs


def test_all_platforms_push_stores_the_index_and_every_manifest_unchanged(
    target: Target, index_pushed: Pushed
) -> None:
    served = served_image(target.url, index_pushed.repo, index_pushed.tag)
    assert index_pushed.digest == index_pushed.source.digest == served.digest
    assert served.media_type == OCI_INDEX
    assert served.root == index_pushed.source.root
    assert served.manifests == index_pushed.source.manifests
    assert served.blobs == index_pushed.source.blobs


def test_all_platforms_pull_writes_every_manifest_and_blob(
    target: Target, index_pushed: Pushed, tmp_path: Path
) -> None:
    pull(target, index_pushed.repo, f"oci:{tmp_path / 'out'}:v1", "--all", "--preserve-digests")
    pulled = read_oci_layout(tmp_path / "out", "v1")
    source = index_pushed.source
    assert pulled.root == source.root
    assert pulled.blobs == {**source.blobs, **source.manifests}


def test_manifest_list_push_stores_schema2_manifests_of_the_same_blobs(
    target: Target, list_pushed: Pushed
) -> None:
    served = served_image(target.url, list_pushed.repo, list_pushed.tag)
    assert served.digest == list_pushed.digest
    assert served.media_type == DOCKER_LIST
    assert [json.loads(m)["mediaType"] for m in served.manifests.values()] == [DOCKER_MANIFEST] * 2
    assert served.blobs == list_pushed.source.blobs


def test_manifest_list_pull_writes_the_served_list_and_manifests(
    target: Target, list_pushed: Pushed, tmp_path: Path
) -> None:
    served = served_image(target.url, list_pushed.repo, list_pushed.tag)
    pull(target, list_pushed.repo, f"dir:{tmp_path / 'out'}", "--all", "--preserve-digests")
    pulled = read_dir_image(tmp_path / "out")
    assert pulled.root == served.root
    assert pulled.manifests == served.manifests
    assert pulled.blobs == served.blobs
