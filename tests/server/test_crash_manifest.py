"""``aiocontent serve`` SIGKILLed during a manifest PUT that moves a tag, then restarted.

The kill lands at each step of the PUT (the manifest's blob, its record, the
tag's rename) through the store's crash-injection points (``AIOCONTENT_FAULT``).
After the restart the tag names the old manifest or the new one, never
something else, and every blob the named manifest refers to is served.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from ._process import (
    OCI_MANIFEST,
    ServeProcess,
    image_manifest,
    push_blob,
    push_image,
    sha256,
)

pytestmark = pytest.mark.timeout(60)

REPO = "crash/manifest"

#: (fault point during the PUT, the server backend, which manifest the tag names after it)
STEPS = [
    ("put:after-rename", "asyncio", "old"),  # the new manifest's blob is stored, nothing else
    ("registry:after-record", "trio", "old"),  # its record is durable, the tag not yet moved
    ("registry:before-tag-rename", "asyncio", "old"),  # the new tag file is written, not renamed
    ("registry:after-tag", "trio", "new"),  # the tag is renamed onto the new manifest
]


@pytest.mark.parametrize(("fault", "backend", "expected"), STEPS)
def test_tag_names_the_old_or_new_manifest_after_a_crash_in_put(
    tmp_path: Path, fault: str, backend: str, expected: str
) -> None:
    server = ServeProcess(tmp_path / "store", backend, log=tmp_path / "serve.log")
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=30.0) as client:
            old = push_image(client, REPO, "v1", b"old layer")
            config = push_blob(client, REPO, b"{}")
            layer = push_blob(client, REPO, b"new layer")
        new_manifest = image_manifest(config, [(layer, len(b"new layer"))])
        server.terminate()

        server.restart(env={"AIOCONTENT_FAULT": fault})
        with (
            httpx.Client(base_url=server.url, timeout=30.0) as client,
            pytest.raises(httpx.TransportError),
        ):
            client.put(
                f"/v2/{REPO}/manifests/v1",
                content=new_manifest,
                headers={"Content-Type": OCI_MANIFEST},
            )
        assert server.wait() == -9

        server.restart()
        with httpx.Client(base_url=server.url, timeout=30.0) as client:
            resp = client.get(f"/v2/{REPO}/manifests/v1", headers={"Accept": OCI_MANIFEST})
            assert resp.status_code == 200
            named = resp.headers["docker-content-digest"]
            assert named == {"old": old, "new": sha256(new_manifest)}[expected]
            assert sha256(resp.content) == named
            body = json.loads(resp.content)
            for desc in [body["config"], *body["layers"]]:
                assert client.head(f"/v2/{REPO}/blobs/{desc['digest']}").status_code == 200
            assert client.get(f"/v2/{REPO}/manifests/{old}").status_code == 200
            assert client.get(f"/v2/{REPO}/tags/list").json()["tags"] == ["v1"]
    finally:
        server.stop()
