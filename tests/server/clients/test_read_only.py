"""A ``--read-only`` server beside the read-write one, on the same store root, with skopeo.

What one process stored, the other serves; a push to the read-only one fails
in the client and leaves nothing behind.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx

from ._clients import skopeo_copy
from ._images import multi_platform, read_oci_layout, write_oci_layout
from .conftest import Target


def copy(source: str, destination: str) -> subprocess.CompletedProcess[str]:
    """``skopeo copy --all`` over plain HTTP, whatever its exit status."""
    return skopeo_copy(source, destination, "--all")


def test_read_only_server_serves_what_the_other_process_stored(
    target: Target, read_only_target: Target, tmp_path: Path
) -> None:
    image = multi_platform(12)
    write_oci_layout(tmp_path / "source", image, "v1")
    pushed = copy(f"oci:{tmp_path / 'source'}:v1", f"docker://{target.host}/shared/index:v1")
    assert pushed.returncode == 0, pushed.stderr
    pulled = copy(f"docker://{read_only_target.host}/shared/index:v1", f"oci:{tmp_path / 'out'}:v1")
    assert pulled.returncode == 0, pulled.stderr
    out = read_oci_layout(tmp_path / "out", "v1")
    assert out.root == image.root
    assert out.blobs == {**image.blobs, **image.manifests}


def test_push_to_read_only_server_fails_and_stores_nothing(
    target: Target, read_only_target: Target, tmp_path: Path
) -> None:
    image = multi_platform(13)
    write_oci_layout(tmp_path / "source", image, "v1")
    destination = f"docker://{read_only_target.host}/refused/index:v1"
    result = copy(f"oci:{tmp_path / 'source'}:v1", destination)
    assert result.returncode != 0
    assert "denied" in result.stderr.lower(), result.stderr
    resp = httpx.get(f"{target.url}/v2/refused/index/manifests/v1", timeout=30)
    assert resp.status_code == 404
    blob = next(iter(image.blobs))
    assert httpx.head(f"{target.url}/v2/refused/index/blobs/{blob}", timeout=30).status_code == 404
