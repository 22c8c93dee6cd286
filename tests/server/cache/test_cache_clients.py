"""Pull-through cache with real parts: Debian's ``docker-registry`` upstream, ``aiocontent
serve --upstream`` in front of it, skopeo and podman pulling through it.

skopeo pushes the images to docker-registry; every pull goes through the cache,
and what the clients write is what was pushed. Stopping the upstream afterwards
shows the cache serves what it holds on its own.
"""

from __future__ import annotations

import dataclasses
import random
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.registry._server import RegistryProcess, push_blob

from .._process import SERVER_NAMES, SERVERS, serving
from ..clients._clients import Podman, skopeo
from ..clients._images import (
    Image,
    multi_platform,
    read_oci_layout,
    sha256,
    single,
    write_docker_archive,
    write_oci_layout,
)
from ._upstream import docker_registry

pytestmark = pytest.mark.registry


@dataclasses.dataclass
class Mirror:
    """docker-registry holding the pushed images, and the cache in front of it."""

    upstream: RegistryProcess
    cache_host: str
    root: Path
    index: Image
    docker: Image


def _push(upstream: RegistryProcess, source: str, repo: str, *flags: str) -> None:
    skopeo(
        "copy",
        "--quiet",
        "--dest-tls-verify=false",
        *flags,
        source,
        f"docker://{upstream.host}/{repo}:v1",
    )


@pytest.fixture(scope="module", params=SERVERS, ids=lambda name: SERVER_NAMES[name])
def mirror(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Mirror]:
    """The upstream with the images pushed, and the cache on uvicorn, then on hypercorn."""
    backend: str = request.param
    work = tmp_path_factory.mktemp("mirror")
    with docker_registry(work) as upstream:
        index = multi_platform(21)
        write_oci_layout(work / "index", index, "v1")
        _push(upstream, f"oci:{work / 'index'}:v1", "mirror/index", "--all", "--preserve-digests")
        docker = single(22, docker=True)
        write_docker_archive(work / "docker.tar", docker, "mirror/docker:v1")
        _push(upstream, f"docker-archive:{work / 'docker.tar'}", "mirror/docker")
        args = ["--quiet", "--upstream", upstream.url, "--tag-ttl", "0"]
        with serving(work / "root", backend, args=args) as cache:
            yield Mirror(upstream, cache.listen, cache.root, index, docker)


@pytest.fixture
def podman() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="pod-", dir="/tmp"))  # podman wants a short run root
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _pull_index(mirror: Mirror, out: Path) -> None:
    skopeo(
        "copy",
        "--quiet",
        "--src-tls-verify=false",
        "--all",
        "--preserve-digests",
        f"docker://{mirror.cache_host}/mirror/index:v1",
        f"oci:{out}:v1",
    )


def test_skopeo_pulls_a_multi_platform_image_through_the_cache(
    mirror: Mirror, tmp_path: Path
) -> None:
    _pull_index(mirror, tmp_path / "out")
    pulled = read_oci_layout(tmp_path / "out", "v1")
    assert pulled.root == mirror.index.root
    assert pulled.blobs == {**mirror.index.blobs, **mirror.index.manifests}


def test_podman_pulls_a_docker_image_through_the_cache(mirror: Mirror, podman: Path) -> None:
    client = Podman(podman, mirror.cache_host)
    reference = f"{mirror.cache_host}/mirror/docker:v1"
    client("pull", client.policy, "--quiet", reference)
    image = client.inspect(reference)
    assert image["Id"] == sha256(mirror.docker.config).removeprefix("sha256:")
    assert image["RootFS"] == {
        "Type": "layers",
        "Layers": [sha256(tar) for tar in mirror.docker.tars],
    }


def test_a_push_to_the_cache_is_refused(mirror: Mirror, tmp_path: Path) -> None:
    write_oci_layout(tmp_path / "layout", single(23), "v1")
    result = skopeo(
        "copy",
        "--quiet",
        "--dest-tls-verify=false",
        f"oci:{tmp_path / 'layout'}:v1",
        f"docker://{mirror.cache_host}/mirror/pushed:v1",
        check=False,
    )
    assert result.returncode != 0
    tags = httpx.get(f"{mirror.upstream.url}/v2/mirror/pushed/tags/list", timeout=10)
    assert tags.status_code == 404  # nothing went upstream either


def test_with_the_upstream_stopped_the_cache_serves_what_it_holds(
    mirror: Mirror, tmp_path: Path
) -> None:
    _pull_index(mirror, tmp_path / "first")
    mirror.upstream.stop()
    try:
        _pull_index(mirror, tmp_path / "again")
    finally:
        mirror.upstream.start()
    pulled = read_oci_layout(tmp_path / "again", "v1")
    assert pulled.root == mirror.index.root
    assert pulled.blobs == {**mirror.index.blobs, **mirror.index.manifests}


def test_a_blob_whose_first_client_leaves_midway_is_still_cached(mirror: Mirror) -> None:
    data = random.Random(24).randbytes(8 << 20)
    with httpx.Client(timeout=30) as client:
        digest = push_blob(client, mirror.upstream.url, "mirror/left", data, chunked=False)
        url = f"http://{mirror.cache_host}/v2/mirror/left/blobs/{digest}"
        with client.stream("GET", url) as response:
            assert response.status_code == 200
            next(response.iter_raw())  # some bytes, then the connection closes
    stored = mirror.root / "blobs" / "sha256" / digest.removeprefix("sha256:")
    deadline = time.monotonic() + 20
    while not stored.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stored.read_bytes() == data
