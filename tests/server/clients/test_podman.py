"""``podman push`` and ``podman pull`` through the registry, each in a private vfs storage.

podman loads a ``docker save`` archive, pushes it (making the manifest and
gzipping the layers itself), and a second podman with an empty storage pulls it
back: the image ID (the config's digest), the manifest digest and the layers'
uncompressed digests come out as they went in.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from ._clients import Podman, layer_tars, served_image
from ._images import DOCKER_MANIFEST, Image, sha256, single, write_docker_archive
from .conftest import Target

SOURCE_NAME = "localhost/podman/source:v1"


@dataclasses.dataclass(frozen=True)
class Pushed:
    source: Image
    reference: str
    digest: str


@pytest.fixture
def pushed(podman: Callable[[str], Podman], target: Target, tmp_path: Path) -> Pushed:
    """The image podman loaded from an archive and pushed to ``podman/image:v1``."""
    image = single(4, docker=True)
    write_docker_archive(tmp_path / "image.tar", image, SOURCE_NAME)
    pusher = podman("pusher")
    pusher("load", pusher.policy, "--quiet", "--input", str(tmp_path / "image.tar"))
    reference = f"{target.host}/podman/image:v1"
    digest_file = tmp_path / "pushed-digest"
    pusher("push", pusher.policy, "--quiet", f"--digestfile={digest_file}", SOURCE_NAME, reference)
    return Pushed(image, reference, digest_file.read_text().strip())


def test_push_stores_the_config_and_layers_podman_holds(target: Target, pushed: Pushed) -> None:
    served = served_image(target.url, "podman/image", "v1")
    assert served.digest == pushed.digest
    assert served.media_type == DOCKER_MANIFEST
    assert served.config == pushed.source.config
    assert layer_tars(served) == list(pushed.source.tars)


def test_pull_into_empty_storage_gives_the_pushed_image(
    podman: Callable[[str], Podman], pushed: Pushed
) -> None:
    puller = podman("puller")
    puller("pull", puller.policy, "--quiet", pushed.reference)
    image = puller.inspect(pushed.reference)
    assert image["Id"] == sha256(pushed.source.config).removeprefix("sha256:")
    assert image["Digest"] == pushed.digest
    assert image["RootFS"] == {
        "Type": "layers",
        "Layers": [sha256(tar) for tar in pushed.source.tars],
    }
