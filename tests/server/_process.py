"""Test-side machinery: ``aiocontent serve`` as a real process on a loopback port.

:class:`ServeProcess` starts the command with ``--listen 127.0.0.1:0`` (the
kernel picks a free port, so parallel runs never race for one), reads the
address from the ``serving ... on http://...`` line in its log, waits until
``GET /v2/`` answers and offers the ways to stop it: SIGTERM (graceful) and
SIGKILL (a crash). A restart listens on the same port again.

``SERVERS`` names the two server backends: ``asyncio`` runs uvicorn and
``trio`` runs hypercorn.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from http.client import HTTPConnection
from pathlib import Path
from typing import Final

import httpx

#: ``--backend`` values of ``aiocontent serve``: uvicorn on asyncio, hypercorn on trio.
SERVERS: Final = ("asyncio", "trio")
#: The server each backend runs, for test ids.
SERVER_NAMES: Final = {"asyncio": "uvicorn", "trio": "hypercorn"}
START_TIMEOUT: Final = 30.0
STOP_TIMEOUT: Final = 30.0
_READY: Final = re.compile(r"serving .* on (http://\S+) ")


class ServeProcess:
    """One ``aiocontent serve`` process on 127.0.0.1, its stderr in ``log``.

    :param root: the store root (``--root``).
    :param backend: ``asyncio`` (uvicorn) or ``trio`` (hypercorn).
    :param args: more options, such as ``--read-only``.
    :param env: more environment variables, such as ``AIOCONTENT_FAULT``.
    """

    def __init__(
        self,
        root: Path,
        backend: str,
        *,
        log: Path,
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        shutdown_timeout: float = 10.0,
    ) -> None:
        self.root = root
        self.backend = backend
        self.log = log
        self.args = tuple(args)
        self.env = dict(env or {})
        self.shutdown_timeout = shutdown_timeout
        self.listen = "127.0.0.1:0"
        self.url = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_start = 0

    @property
    def pid(self) -> int:
        """The running process's id."""
        assert self._proc is not None, "not started"
        return self._proc.pid

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def command(self) -> list[str]:
        """The command line this process runs."""
        return [
            sys.executable,
            "-m",
            "aiocontent",
            "serve",
            "--root",
            str(self.root),
            "--listen",
            self.listen,
            "--backend",
            self.backend,
            "--shutdown-timeout",
            str(self.shutdown_timeout),
            *self.args,
        ]

    def start(self, *, env: Mapping[str, str] | None = None) -> None:
        """Start the server and wait until ``GET /v2/`` answers (200, or 401 with auth on).

        ``env`` adds variables for this start only (a fault to inject).

        :raises RuntimeError: it exited or did not answer within the timeout;
            the message holds the end of its log.
        """
        assert not self.running, "already running"
        environment = {**os.environ, **self.env, **(env or {})}
        environment.pop("AIOCONTENT_ROOT", None)
        self._log_start = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as log:
            self._proc = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=environment,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and self.running:
            match = _READY.search(self.log_text())
            if match is None:
                time.sleep(0.02)
                continue
            self.url = match.group(1)
            self.listen = self.url.removeprefix("http://")
            if _answers(self.url):
                return
        self.kill()
        raise RuntimeError(f"aiocontent serve did not start: {self.log_text()[-3000:]}")

    def log_text(self) -> str:
        """What this start of the process wrote to its log so far."""
        with self.log.open("rb") as f:
            f.seek(self._log_start)
            return f.read().decode(errors="replace")

    def wait_for_log(self, text: str, timeout: float = 10.0) -> list[str]:
        """The log lines holding ``text``, once there is one (the access log is written
        when the request's handler returns, which may be just after the client has the
        response); ``[]`` after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            lines = [line for line in self.log_text().splitlines() if text in line]
            if lines or time.monotonic() > deadline:
                return lines
            time.sleep(0.02)

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the process."""
        assert self._proc is not None, "not started"
        self._proc.send_signal(signum)

    def wait(self, timeout: float = STOP_TIMEOUT) -> int:
        """Wait for the process to exit; its exit status (negative: killed by that signal).

        :raises subprocess.TimeoutExpired: it is still running after ``timeout``.
        """
        assert self._proc is not None, "not started"
        return self._proc.wait(timeout)

    def terminate(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM, then wait for the graceful exit; the exit status."""
        self.signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self) -> None:
        """SIGKILL (a crash: nothing gets to clean up) and reap the process."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()

    def restart(self, *, env: Mapping[str, str] | None = None) -> None:
        """Start again on the same port, after the previous process has exited."""
        assert not self.running, "still running"
        self.start(env=env)

    def stop(self) -> None:
        """Stop however it takes: SIGTERM, then SIGKILL after a timeout."""
        if not self.running:
            return
        try:
            self.terminate(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()


class S3ServeProcess(ServeProcess):
    """``aiocontent serve`` on a bucket: give ``--s3-bucket`` and the rest in ``args``.

    ``root`` is only where the log goes by default; the command has no ``--root``.
    """

    def command(self) -> list[str]:
        command = super().command()
        at = command.index("--root")
        del command[at : at + 2]
        return command


def serve_to_the_end(
    *args: str, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``aiocontent serve --listen 127.0.0.1:0 ARGS`` until it exits by itself.

    For options it refuses before it starts; ``env`` is added to this process's
    environment. Never raises on a failure: the exit code and output are returned.
    """
    return subprocess.run(
        [sys.executable, "-m", "aiocontent", "serve", "--listen", "127.0.0.1:0", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **(env or {})},
    )


def _answers(url: str) -> bool:
    try:
        # 401: it answers, but wants credentials (--htpasswd)
        return httpx.get(f"{url}/v2/", timeout=2.0).status_code in (200, 401)
    except httpx.TransportError:
        time.sleep(0.02)
        return False


@contextlib.contextmanager
def serving(
    root: Path,
    backend: str,
    *,
    log: Path | None = None,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    shutdown_timeout: float = 10.0,
) -> Iterator[ServeProcess]:
    """A started :class:`ServeProcess` for the block; stopped (SIGTERM, then SIGKILL) after.

    The log defaults to ``serve-<backend>.log`` beside ``root``.
    """
    server = ServeProcess(
        root,
        backend,
        log=log or root.parent / f"serve-{backend}.log",
        args=args,
        env=env,
        shutdown_timeout=shutdown_timeout,
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


# --------------------------------------------------------------------------- HTTP helpers

OCI_MANIFEST: Final = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG: Final = "application/vnd.oci.image.config.v1+json"
OCI_LAYER: Final = "application/vnd.oci.image.layer.v1.tar"


def sha256(data: bytes) -> str:
    """The OCI digest string of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_blob(client: httpx.Client, repo: str, data: bytes) -> str:
    """Push ``data`` to ``repo`` in one ``POST ?digest=``; its digest."""
    digest = sha256(data)
    resp = client.post(f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, content=data)
    assert resp.status_code == 201, resp.text
    return digest


def start_upload(client: httpx.Client, repo: str) -> str:
    """Open an upload session in ``repo``; its path (the ``Location``)."""
    resp = client.post(f"/v2/{repo}/blobs/uploads/")
    assert resp.status_code == 202, resp.text
    return resp.headers["location"]


def upload_offset(client: httpx.Client, location: str) -> int:
    """The bytes an upload session holds, from its status's ``Range: 0-<last>``.

    ``0-0`` reads as empty (the registry's answer for a new session).
    """
    resp = client.get(location)
    assert resp.status_code == 204, resp.text
    span = resp.headers["range"]
    return 0 if span == "0-0" else int(span.partition("-")[2]) + 1


def patch_chunk(client: httpx.Client, location: str, offset: int, chunk: bytes) -> httpx.Response:
    """``PATCH`` ``chunk`` at ``offset`` with its ``Content-Range``."""
    return client.patch(
        location,
        content=chunk,
        headers={
            "Content-Type": "application/octet-stream",
            "Content-Range": f"{offset}-{offset + len(chunk) - 1}",
        },
    )


def image_manifest(config: str, layers: Sequence[tuple[str, int]], **extra: object) -> bytes:
    """An OCI image manifest naming ``config`` (2 bytes, ``{}``) and ``layers`` (digest, size)."""
    body: dict[str, object] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config, "size": 2},
        "layers": [{"mediaType": OCI_LAYER, "digest": d, "size": n} for d, n in layers],
        **extra,
    }
    return json.dumps(body).encode()


def push_image(client: httpx.Client, repo: str, reference: str, layer: bytes) -> str:
    """Push a config, one layer and a manifest tagged (or named) ``reference``; its digest."""
    config = push_blob(client, repo, b"{}")
    manifest = image_manifest(config, [(push_blob(client, repo, layer), len(layer))])
    resp = client.put(
        f"/v2/{repo}/manifests/{reference}",
        content=manifest,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert resp.status_code == 201, resp.text
    assert resp.headers["docker-content-digest"] == sha256(manifest)
    return sha256(manifest)


def begin_patch(
    server: ServeProcess, location: str, offset: int, length: int, *, streamed: bool = False
) -> HTTPConnection:
    """Send the head of a ``PATCH`` of ``length`` bytes at ``offset``; the body is the caller's.

    ``streamed`` leaves ``Content-Range`` out (a streamed upload, kept as far as
    it got when cut off; a chunk with a range applies whole or not at all).
    Send the body with ``connection.send(...)``, read the answer with
    ``connection.getresponse()``; close the connection after.
    """
    connection = HTTPConnection(server.listen, timeout=STOP_TIMEOUT)
    connection.putrequest("PATCH", location, skip_accept_encoding=True)
    connection.putheader("Content-Type", "application/octet-stream")
    connection.putheader("Content-Length", str(length))
    if not streamed:
        connection.putheader("Content-Range", f"{offset}-{offset + length - 1}")
    connection.endheaders()
    return connection


def wait_for_offset(
    client: httpx.Client, location: str, at_least: int, timeout: float = 10.0
) -> int:
    """Poll the session's status until it holds ``at_least`` bytes; the offset it reports.

    :raises AssertionError: it did not get there within ``timeout``.
    """
    deadline = time.monotonic() + timeout
    while (offset := upload_offset(client, location)) < at_least:
        assert time.monotonic() < deadline, f"the upload stayed at {offset} < {at_least} bytes"
        time.sleep(0.02)
    return offset
