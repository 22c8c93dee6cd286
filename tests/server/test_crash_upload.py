"""``aiocontent serve`` SIGKILLed during a chunked upload, then restarted.

An upload session is an ingest: after the crash its status reports the bytes
the store holds, the client resumes from that offset and the finished blob
has exactly the digest of the data.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from ._process import (
    SERVER_NAMES,
    SERVERS,
    ServeProcess,
    patch_chunk,
    sha256,
    start_upload,
    upload_offset,
)

pytestmark = pytest.mark.timeout(60)

MiB = 1024 * 1024


def _resume_and_check(server: ServeProcess, location: str, data: bytes, at_least: int) -> None:
    """After a restart: the status offset is within what was sent; resume, commit, read back."""
    with httpx.Client(base_url=server.url, timeout=30.0) as client:
        offset = upload_offset(client, location)
        assert at_least <= offset <= len(data)
        resp = patch_chunk(client, location, offset, data[offset:])
        assert resp.status_code == 202, resp.text
        done = client.put(resp.headers["location"], params={"digest": sha256(data)})
        assert done.status_code == 201, done.text
        blob = client.get(f"/v2/crash/upload/blobs/{sha256(data)}")
        assert sha256(blob.content) == sha256(data)


@pytest.mark.parametrize("backend", SERVERS, ids=SERVER_NAMES.get)
def test_upload_resumes_after_sigkill_between_chunks(tmp_path: Path, backend: str) -> None:
    data = os.urandom(3 * MiB + 17)
    server = ServeProcess(tmp_path / "store", backend, log=tmp_path / "serve.log")
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=30.0) as client:
            location = start_upload(client, "crash/upload")
            acked = patch_chunk(client, location, 0, data[: 2 * MiB])
            assert acked.status_code == 202
        server.kill()
        server.restart()
        # an acknowledged chunk is never lost
        _resume_and_check(server, location, data, at_least=2 * MiB)
    finally:
        server.stop()


@pytest.mark.parametrize("backend", SERVERS, ids=SERVER_NAMES.get)
def test_upload_resumes_after_sigkill_inside_a_chunk(tmp_path: Path, backend: str) -> None:
    data = os.urandom(5 * MiB)
    server = ServeProcess(tmp_path / "store", backend, log=tmp_path / "serve.log")
    # the second write of the store dies after its bytes reach the file, before they are counted
    server.start(env={"AIOCONTENT_FAULT": "write:after-data#2"})
    try:
        with httpx.Client(base_url=server.url, timeout=30.0) as client:
            location = start_upload(client, "crash/upload")
            with pytest.raises(httpx.TransportError):
                client.patch(location, content=data[: 4 * MiB])  # streamed: no Content-Range
        assert server.wait() == -9
        server.restart()
        _resume_and_check(server, location, data, at_least=1)
    finally:
        server.stop()
