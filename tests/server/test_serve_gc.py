"""``aiocontent gc`` on the root a running ``aiocontent serve`` uses: the registry's deletions.

Our semantics, as distribution's: deleting a tag leaves its manifest linked and
reachable by digest, so a collection keeps it and everything it names; deleting
the manifest by digest lets a collection remove what only it named; a blob
pushed but named by no manifest is garbage once the grace period is over.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ._process import OCI_MANIFEST, SERVER_NAMES, SERVERS, push_blob, push_image, serving, sha256

pytestmark = pytest.mark.timeout(120)
REPO = "team/app"


def gc(root: Path, *args: str) -> dict[str, Any]:
    """Run ``aiocontent gc --json`` on ``root`` as its own process; the report."""
    command = [sys.executable, "-m", "aiocontent", "gc", "--json", "--root", str(root), *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def status(client: httpx.Client, path: str) -> int:
    return client.get(path, headers={"Accept": OCI_MANIFEST}).status_code


@pytest.fixture(params=SERVERS, ids=SERVER_NAMES.get)
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[httpx.Client]:
    with (
        serving(tmp_path / "store", request.param) as process,
        httpx.Client(base_url=process.url, timeout=30.0) as c,
    ):
        yield c


def test_untagged_manifest_stays_until_deleted_by_digest(
    client: httpx.Client, tmp_path: Path
) -> None:
    root = tmp_path / "store"
    old = push_image(client, REPO, "v1", b"layer only v1 has")
    new = push_image(client, REPO, "v2", b"layer only v2 has")
    orphan = push_blob(client, REPO, b"pushed, named by no manifest")
    old_body = json.loads(client.get(f"/v2/{REPO}/manifests/{old}").content)
    old_layer = old_body["layers"][0]["digest"]
    assert client.delete(f"/v2/{REPO}/manifests/v1").status_code == 202

    report = gc(root, "--grace", "0")
    assert report["deleted"] == [orphan]
    assert status(client, f"/v2/{REPO}/blobs/{orphan}") == 404
    assert status(client, f"/v2/{REPO}/manifests/v1") == 404
    assert status(client, f"/v2/{REPO}/manifests/{old}") == 200  # still reachable by digest
    assert status(client, f"/v2/{REPO}/blobs/{old_layer}") == 200

    assert client.delete(f"/v2/{REPO}/manifests/{old}").status_code == 202
    report = gc(root, "--grace", "0")
    assert set(report["deleted"]) == {old, old_layer}  # the config "{}" is v2's too
    assert status(client, f"/v2/{REPO}/manifests/{old}") == 404
    assert status(client, f"/v2/{REPO}/blobs/{old_layer}") == 404
    assert status(client, f"/v2/{REPO}/manifests/v2") == 200
    body = json.loads(client.get(f"/v2/{REPO}/manifests/{new}").content)
    for desc in [body["config"], *body["layers"]]:
        assert status(client, f"/v2/{REPO}/blobs/{desc['digest']}") == 200
    assert sha256(b"{}") == body["config"]["digest"]
    assert gc(root, "--grace", "0")["deleted"] == []
