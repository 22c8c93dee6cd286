"""Graceful shutdown of ``aiocontent serve``: SIGTERM/SIGINT with an upload in flight.

The server stops accepting connections at once, lets requests in flight finish
within ``--shutdown-timeout`` and exits 0; an upload cut off by the timeout (or
by a second signal) keeps what reached the store and resumes after a restart.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ._process import (
    SERVER_NAMES,
    SERVERS,
    ServeProcess,
    begin_patch,
    patch_chunk,
    sha256,
    start_upload,
    upload_offset,
    wait_for_offset,
)

pytestmark = pytest.mark.timeout(60)

MiB = 1024 * 1024


@pytest.fixture(params=SERVERS, ids=SERVER_NAMES.get)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _server(tmp_path: Path, backend: str, shutdown_timeout: float) -> ServeProcess:
    return ServeProcess(
        tmp_path / "store",
        backend,
        log=tmp_path / "serve.log",
        shutdown_timeout=shutdown_timeout,
    )


@pytest.fixture
def server(tmp_path: Path, backend: str) -> Iterator[ServeProcess]:
    process = _server(tmp_path, backend, shutdown_timeout=20.0)
    process.start()
    try:
        yield process
    finally:
        process.stop()


def _refuses_connections(url: str, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/v2/", timeout=0.5)
        except httpx.ConnectError:
            return True
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    return False


def _finish_and_check(client: httpx.Client, location: str, data: bytes) -> None:
    """Resume the session from the offset its status reports, commit it, read the blob back."""
    offset = upload_offset(client, location)
    assert 0 <= offset <= len(data)
    if offset < len(data):
        assert patch_chunk(client, location, offset, data[offset:]).status_code == 202
    done = client.put(location, params={"digest": sha256(data)})
    assert done.status_code == 201, done.text
    assert client.get(f"/v2/shutdown/repo/blobs/{sha256(data)}").content == data


def test_sigterm_lets_an_upload_in_flight_finish(server: ServeProcess) -> None:
    data = os.urandom(3 * MiB)
    with httpx.Client(base_url=server.url, timeout=30.0) as client:
        location = start_upload(client, "shutdown/repo")
        connection = begin_patch(server, location, 0, len(data))
        try:
            connection.send(data[: 2 * MiB])
            wait_for_offset(client, location, 1)
            server.signal(signal.SIGTERM)
            assert server.wait_for_log("SIGTERM:")
            assert _refuses_connections(server.url)
            connection.send(data[2 * MiB :])
            resp = connection.getresponse()
            assert resp.status == 202
            assert resp.getheader("Range") == f"0-{len(data) - 1}"
        finally:
            connection.close()
    assert server.wait() == 0
    assert server.log_text().rstrip().endswith("stopped")
    server.restart()
    with httpx.Client(base_url=server.url, timeout=30.0) as client:
        assert upload_offset(client, location) == len(data)
        _finish_and_check(client, location, data)


@pytest.mark.parametrize("second_signal", [False, True], ids=["grace-expires", "second-signal"])
def test_upload_cut_off_at_shutdown_resumes_after_restart(
    tmp_path: Path, backend: str, second_signal: bool
) -> None:
    server = _server(tmp_path, backend, shutdown_timeout=30.0 if second_signal else 1.0)
    server.start()
    data = os.urandom(4 * MiB)
    try:
        with httpx.Client(base_url=server.url, timeout=30.0) as client:
            location = start_upload(client, "shutdown/repo")
            connection = begin_patch(server, location, 0, len(data), streamed=True)
            connection.send(data[: 3 * MiB])  # the rest never comes
            written = wait_for_offset(client, location, 1)
            began = time.monotonic()
            if second_signal:  # Ctrl-C starts the graceful stop too; a second signal ends it
                server.signal(signal.SIGINT)
                assert server.wait_for_log("SIGINT:")
                server.signal(signal.SIGTERM)
                assert server.wait_for_log("SIGTERM again")
            else:
                server.signal(signal.SIGTERM)
            server.wait(timeout=15.0)
            assert time.monotonic() - began < 10.0
            connection.close()
        server.restart()
        with httpx.Client(base_url=server.url, timeout=30.0) as client:
            assert written <= upload_offset(client, location) <= 3 * MiB
            _finish_and_check(client, location, data)
    finally:
        server.stop()
