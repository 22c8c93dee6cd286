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
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
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
        """Start the server and wait until ``GET /v2/`` answers 200.

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


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/v2/", timeout=2.0).status_code == 200
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
