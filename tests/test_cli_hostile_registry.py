"""``aiocontent pull`` against a registry that answers with terminal escapes and endless lists.

The registry is a small HTTP server on 127.0.0.1 in a thread; the CLI runs as a
real process, since what matters is the bytes that reach the terminal.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aiocontent._cli import ExitCode
from aiocontent._cli._output import MAX_MESSAGE

from .test_cli_process import env_for

PWNED = "\x1b]0;PWNED\x07"
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: HostileRegistry

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_HEAD(self) -> None:
        self._answer(with_body=False)

    def do_GET(self) -> None:
        self._answer(with_body=True)

    def _answer(self, *, with_body: bool) -> None:
        status, content_type, body = self.server.answer
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if status == 200:
            self.send_header("Docker-Content-Digest", "sha256:" + hashlib.sha256(body).hexdigest())
        self.end_headers()
        if with_body:
            self.wfile.write(body)


class HostileRegistry(http.server.ThreadingHTTPServer):
    """Gives every request the same ``answer``: status, content type, body."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answer: tuple[int, str, bytes] = (404, "application/json", b"{}")

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def hostile() -> Iterator[HostileRegistry]:
    server = HostileRegistry()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(params=["asyncio", "trio"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def pull(root: Path, backend: str, reference: str) -> subprocess.CompletedProcess[bytes]:
    """``aiocontent --root ROOT pull`` of ``reference`` as a process, on ``backend``."""
    args = ["--root", str(root), "pull", "--plain-http", "--platform", "linux/amd64", reference]
    return subprocess.run(
        [sys.executable, "-m", "aiocontent", *args],
        capture_output=True,
        env=env_for(root, backend),
        timeout=60,
        check=False,
    )


def test_registry_error_message_reaches_stderr_escaped(
    hostile: HostileRegistry, backend: str, tmp_path: Path
) -> None:
    errors = {"errors": [{"code": "MANIFEST_UNKNOWN", "message": f"gone{PWNED}"}]}
    hostile.answer = (404, "application/json", json.dumps(errors).encode())
    result = pull(tmp_path / "store", backend, f"{hostile.host}/a:b")
    assert result.returncode == ExitCode.NOT_FOUND
    assert b"gone\\x1b]0;PWNED\\x07" in result.stderr
    assert b"\x1b" not in result.stderr
    assert b"\x07" not in result.stderr


def test_endless_platform_list_is_cut_to_one_short_line(
    hostile: HostileRegistry, backend: str, tmp_path: Path
) -> None:
    manifests = [
        {
            "mediaType": MANIFEST_TYPE,
            "digest": "sha256:" + hashlib.sha256(str(i).encode()).hexdigest(),
            "size": 100,
            "platform": {"os": "linux", "architecture": f"arch{i}"},
        }
        for i in range(15_000)
    ]
    index = {"schemaVersion": 2, "mediaType": INDEX_TYPE, "manifests": manifests}
    hostile.answer = (200, INDEX_TYPE, json.dumps(index).encode())
    result = pull(tmp_path / "store", backend, f"{hostile.host}/a:b")
    assert result.returncode == ExitCode.NOT_FOUND
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1
    assert len(lines[0]) <= len("aiocontent: ") + MAX_MESSAGE
    assert lines[0].endswith("not found")
