"""``aiocontent serve`` SIGKILLed at an arbitrary instant while a client pushes images.

Whatever the instant, after a restart every push the server acknowledged is
intact (its tag names its manifest, every blob is served) and the push in
flight left its tag on the previous manifest or the new one.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import pytest

from ._process import OCI_MANIFEST, SERVER_NAMES, SERVERS, ServeProcess, push_image

pytestmark = pytest.mark.timeout(60)

REPO = "crash/push"


def _push_until_killed(url: str, acknowledged: dict[str, str], attempts: list[str]) -> None:
    """Push image after image, each retagging ``latest`` too, until the server goes away."""
    with httpx.Client(base_url=url, timeout=30.0) as client:
        for n in range(10_000):
            tag = f"v{n}"
            attempts.append(tag)
            try:
                digest = push_image(client, REPO, tag, f"layer {n}".encode())
                resp = client.put(
                    f"/v2/{REPO}/manifests/latest",
                    content=client.get(f"/v2/{REPO}/manifests/{digest}").content,
                    headers={"Content-Type": OCI_MANIFEST},
                )
                assert resp.status_code == 201
            except httpx.TransportError:
                return
            acknowledged[tag] = digest


@pytest.mark.parametrize("backend", SERVERS, ids=SERVER_NAMES.get)
def test_acknowledged_pushes_survive_a_sigkill_at_any_instant(tmp_path: Path, backend: str) -> None:
    server = ServeProcess(tmp_path / "store", backend, log=tmp_path / "serve.log")
    server.start()
    acknowledged: dict[str, str] = {}
    attempts: list[str] = []
    pusher = threading.Thread(target=_push_until_killed, args=(server.url, acknowledged, attempts))
    try:
        pusher.start()
        deadline = time.monotonic() + 20.0
        while len(acknowledged) < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.037)  # land somewhere inside a later push
        server.kill()
        pusher.join(timeout=30.0)
        assert len(acknowledged) >= 5
        server.restart()
        with httpx.Client(base_url=server.url, timeout=30.0) as client:
            for tag, digest in acknowledged.items():
                resp = client.get(f"/v2/{REPO}/manifests/{tag}", headers={"Accept": OCI_MANIFEST})
                assert resp.headers["docker-content-digest"] == digest
                for desc in [
                    json.loads(resp.content)["config"],
                    *json.loads(resp.content)["layers"],
                ]:
                    assert client.head(f"/v2/{REPO}/blobs/{desc['digest']}").status_code == 200
            latest = client.get(f"/v2/{REPO}/manifests/latest").headers["docker-content-digest"]
            in_flight = attempts[-1]
            tags = set(client.get(f"/v2/{REPO}/tags/list").json()["tags"])
            assert set(acknowledged) <= tags <= {*attempts, "latest"}
            # latest names the last acknowledged push or the one in flight
            allowed = {acknowledged[attempts[-2]]} if attempts[-2] in acknowledged else set()
            if in_flight in tags:
                allowed.add(
                    client.head(f"/v2/{REPO}/manifests/{in_flight}").headers[
                        "docker-content-digest"
                    ]
                )
            assert latest in allowed
    finally:
        server.stop()
        pusher.join(timeout=30.0)
