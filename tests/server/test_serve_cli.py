"""``aiocontent serve`` as a command: its address, its errors and ``--read-only``."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import anyio
import httpx
import pytest

from aiocontent import InvalidArgumentError, LocalStore
from aiocontent.server import create_app
from aiocontent.server._listen import Listen, parse_listen

from ._process import SERVER_NAMES, SERVERS, ServeProcess, serving, sha256

pytestmark = pytest.mark.timeout(60)


def _serve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aiocontent", "serve", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("127.0.0.1:5000", Listen("127.0.0.1", 5000)),
        ("[::1]:0", Listen("::1", 0)),
        ("localhost:65535", Listen("localhost", 65535)),
    ],
)
def test_listen_address_parses_host_and_port(value: str, expected: Listen) -> None:
    assert parse_listen(value) == expected
    assert str(parse_listen(value)) == value


@pytest.mark.parametrize(
    "value", ["5000", "::1:5000", "[::1]5000", "127.0.0.1:65536", "127.0.0.1:http", ":5000", "[]:1"]
)
def test_malformed_listen_address_is_rejected_with_its_value(value: str) -> None:
    with pytest.raises(InvalidArgumentError, match=repr(value).replace("[", r"\[")):
        parse_listen(value)


def test_bad_listen_value_is_a_usage_error(tmp_path: Path) -> None:
    result = _serve("--root", str(tmp_path), "--listen", "nowhere")
    assert result.returncode == 2
    assert "'nowhere'" in result.stderr
    assert "HOST:PORT" in result.stderr


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _serve("--root", str(tmp_path), "--listen", f"127.0.0.1:{port}")
    assert result.returncode == 9
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_root_inside_a_file_fails_at_startup_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"not a folder")
    root = tmp_path / "file" / "store"
    result = _serve("--root", str(root), "--listen", "127.0.0.1:0")
    assert result.returncode == 9
    assert str(root) in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("backend", SERVERS, ids=SERVER_NAMES.get)
def test_ipv6_loopback_is_served(tmp_path: Path, backend: str) -> None:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("this machine has no IPv6 loopback")
    server = ServeProcess(tmp_path / "store", backend, log=tmp_path / "serve.log")
    server.listen = "[::1]:0"
    server.start()
    try:
        assert server.url.startswith("http://[::1]:")
        assert httpx.get(f"{server.url}/v2/").status_code == 200
        assert server.wait_for_log('"GET /v2/ HTTP/1.1" 200')[0].startswith("aiocontent: [::1]:")
    finally:
        server.stop()


async def _push_in_process(root: Path, data: bytes) -> str:
    async with LocalStore(root) as store:
        transport = httpx.ASGITransport(app=create_app(store))
        async with httpx.AsyncClient(transport=transport, base_url="http://registry") as client:
            resp = await client.post(
                "/v2/ro/repo/blobs/uploads/", params={"digest": sha256(data)}, content=data
            )
            assert resp.status_code == 201, resp.text
    return sha256(data)


@pytest.mark.parametrize("backend", SERVERS, ids=SERVER_NAMES.get)
def test_read_only_serves_reads_and_refuses_writes(tmp_path: Path, backend: str) -> None:
    root = tmp_path / "store"
    digest = anyio.run(_push_in_process, root, b"pushed before")
    with (
        serving(root, backend, args=["--read-only"]) as server,
        httpx.Client(base_url=server.url) as client,
    ):
        assert f"serving {root} read-only on " in server.log_text()
        assert client.get(f"/v2/ro/repo/blobs/{digest}").content == b"pushed before"
        refused = client.post(
            "/v2/ro/repo/blobs/uploads/", params={"digest": sha256(b"new")}, content=b"new"
        )
        assert refused.status_code == 405
        assert refused.json()["errors"][0]["code"] == "DENIED"
        assert client.delete(f"/v2/ro/repo/blobs/{digest}").status_code == 405
        assert client.head(f"/v2/ro/repo/blobs/{sha256(b'new')}").status_code == 404
        assert client.head(f"/v2/ro/repo/blobs/{digest}").status_code == 200


def test_quiet_drops_the_access_log_and_keeps_the_server_lines(tmp_path: Path) -> None:
    with serving(tmp_path / "store", "asyncio", args=["--quiet"]) as server:
        assert httpx.get(f"{server.url}/v2/quiet/tags/list").status_code == 404
        server.signal(signal.SIGTERM)
        assert server.wait() == 0
    log = server.log_text()
    assert "serving " in log
    assert log.rstrip().endswith("stopped")
    assert "/v2/quiet/tags/list" not in log
