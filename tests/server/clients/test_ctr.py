"""containerd's ``ctr images push --plain-http`` and ``ctr content fetch`` through the registry.

One private daemon imports a two-platform OCI archive (without unpacking) and
pushes it; a second, empty daemon fetches it back with ``--all-platforms``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.containerd.conftest import DaemonFactory

from ._clients import served_image
from ._images import Image, multi_platform, write_oci_archive
from .conftest import Target

pytestmark = pytest.mark.containerd

REPO = "ctr/index"


@pytest.fixture
def pushed(make_containerd: DaemonFactory, target: Target, tmp_path: Path) -> Image:
    """The index ``ctr images push`` sent to ``ctr/index:v1``."""
    image = multi_platform(5)
    write_oci_archive(tmp_path / "image.tar", image, "v1")
    daemon = make_containerd()
    name = f"{target.host}/{REPO}"
    daemon.ctr(
        "images",
        "import",
        "--no-unpack",
        "--all-platforms",
        "--base-name",
        name,
        str(tmp_path / "image.tar"),
    )
    daemon.ctr("images", "push", "--plain-http", f"{name}:v1")
    return image


def test_images_push_stores_the_index_and_every_blob_unchanged(
    target: Target, pushed: Image
) -> None:
    served = served_image(target.url, REPO, "v1")
    assert served.root == pushed.root
    assert served.manifests == pushed.manifests
    assert served.blobs == pushed.blobs


def test_content_fetch_gets_every_blob_unchanged(
    make_containerd: DaemonFactory, target: Target, pushed: Image
) -> None:
    daemon = make_containerd()
    daemon.ctr("content", "fetch", "--plain-http", "--all-platforms", f"{target.host}/{REPO}:v1")
    assert daemon.listed_digests() == set(pushed.all_blobs)
    assert {digest: daemon.get(digest) for digest in pushed.all_blobs} == pushed.all_blobs
