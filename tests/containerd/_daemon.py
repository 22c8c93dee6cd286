"""A throw-away containerd daemon for the compatibility tests, driven with ``ctr``.

The daemon runs from Debian's ``containerd`` package with a generated config:
its root, state and sockets live in one short temporary directory (a Unix
socket path must fit in 108 bytes), and every plugin that would touch the rest
of the machine (CRI and its networking, runtimes, tasks, snapshotters other
than ``native``, differs, tracing, ``/opt``, the restart and cgroups monitors)
is disabled. The garbage-collection scheduler keeps running, because the
leases service needs it, but with its triggers set out of reach and no run at
start-up, so nothing the tests put into the content directory is collected.

Every subprocess call here is bounded by a timeout.
"""

from __future__ import annotations

import os
import shutil
import signal
import struct
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Final

__all__ = (
    "CONTENT_PLUGIN_DIR",
    "GC_ROOT_LABEL",
    "ContainerdDaemon",
    "DaemonUnavailableError",
    "dispose",
    "fixed_offset_tzif",
    "launch",
    "make_base_dir",
)

#: Where containerd keeps its local content store below its root.
CONTENT_PLUGIN_DIR: Final = "io.containerd.content.v1.content"
#: The label that protects a blob from containerd's garbage collector.
GC_ROOT_LABEL: Final = "containerd.io/gc.root"

#: Longest Unix socket path Linux accepts (``sun_path`` is 108 bytes with its NUL).
_MAX_SOCKET_PATH: Final = 107
#: Seconds one ``ctr`` call may take before it counts as hung.
CTR_TIMEOUT: Final = 60.0
#: Seconds the daemon gets to serve the content plugin after it is launched.
START_TIMEOUT: Final = 30.0
#: Seconds the daemon gets to exit after SIGTERM before it is killed.
STOP_TIMEOUT: Final = 15.0

_DISABLED_PLUGINS: Final = (
    "io.containerd.grpc.v1.cri",
    "io.containerd.snapshotter.v1.aufs",
    "io.containerd.snapshotter.v1.btrfs",
    "io.containerd.snapshotter.v1.devmapper",
    "io.containerd.snapshotter.v1.overlayfs",
    "io.containerd.snapshotter.v1.zfs",
    "io.containerd.runtime.v1.linux",
    "io.containerd.runtime.v2.task",
    "io.containerd.service.v1.tasks-service",
    "io.containerd.grpc.v1.tasks",
    "io.containerd.differ.v1.walking",
    "io.containerd.service.v1.diff-service",
    "io.containerd.grpc.v1.diff",
    "io.containerd.tracing.processor.v1.otlp",
    "io.containerd.internal.v1.tracing",
    "io.containerd.internal.v1.opt",
    "io.containerd.internal.v1.restart",
    "io.containerd.monitor.v1.cgroups",
)


class DaemonUnavailableError(Exception):
    """containerd or ``ctr`` is missing, or the daemon did not come up; the message says why."""


def make_base_dir() -> Path:
    """Create a fresh, short directory under ``/tmp`` for one daemon.

    :return: the new directory (the caller removes it)
    """
    return Path(tempfile.mkdtemp(prefix="ctd-", dir="/tmp"))


def fixed_offset_tzif(minutes: int) -> bytes:
    """A TZif (version 1) zone file for a fixed UTC offset with no transitions.

    Pointing ``TZ`` at such a file by absolute path sets a Go program's local
    zone without needing the system's tzdata.

    :param minutes: the offset east of UTC, in minutes (negative for west)
    :return: the file's bytes
    """
    sign = "+" if minutes >= 0 else "-"
    hours, mins = divmod(abs(minutes), 60)
    abbreviation = f"{sign}{hours:02d}{mins:02d}".encode() + b"\0"
    # Counts: UT/local indicators, standard/wall indicators, leap seconds,
    # transitions, local time types, abbreviation bytes.
    header = b"TZif\0" + bytes(15) + struct.pack(">6l", 0, 0, 0, 0, 1, len(abbreviation))
    local_time_type = struct.pack(">lBB", minutes * 60, 0, 0)
    return header + local_time_type + abbreviation


def _toml_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


class ContainerdDaemon:
    """One containerd daemon with its own root, state and sockets under ``base``.

    :param base: an empty, short directory that the daemon owns
    :param tz: the ``TZ`` environment of the daemon (``None``: inherited)
    :raises DaemonUnavailableError: the socket path would not fit, or a binary is missing
    """

    def __init__(self, base: Path, *, tz: str | None = None) -> None:
        containerd = shutil.which("containerd")
        ctr = shutil.which("ctr")
        if containerd is None or ctr is None:
            raise DaemonUnavailableError(
                "containerd and ctr are not installed (Debian package containerd)"
            )
        self.base = base
        self.root = base / "root"
        self.state = base / "state"
        self.address = base / "s"
        self.config = base / "config.toml"
        self.log = base / "containerd.log"
        if len(os.fsencode(self.address)) > _MAX_SOCKET_PATH:
            raise DaemonUnavailableError(f"socket path {self.address} is longer than 107 bytes")
        self._containerd = containerd
        self._ctr = ctr
        self._tz = tz
        self._process: subprocess.Popen[bytes] | None = None
        self._write_config()

    @property
    def content_root(self) -> Path:
        """The content store directory, ``<root>/io.containerd.content.v1.content``."""
        return self.root / CONTENT_PLUGIN_DIR

    @property
    def running(self) -> bool:
        """``True`` while the daemon process launched by :meth:`start` is alive."""
        return self._process is not None and self._process.poll() is None

    def _write_config(self) -> None:
        disabled = ",\n".join(f"  {_toml_string(name)}" for name in _DISABLED_PLUGINS)
        text = f"""version = 2
root = {_toml_string(str(self.root))}
state = {_toml_string(str(self.state))}
oom_score = 0
disabled_plugins = [
{disabled},
]

[grpc]
  address = {_toml_string(str(self.address))}

[ttrpc]
  address = {_toml_string(str(self.base / "t"))}

[debug]
  address = ""
  level = "debug"

[metrics]
  address = ""

[plugins."io.containerd.gc.v1.scheduler"]
  startup_delay = "0s"
  deletion_threshold = 1000000000
  mutation_threshold = 1000000000

[plugins."io.containerd.metadata.v1.bolt"]
  content_sharing_policy = "shared"
"""
        self.config.write_text(text, encoding="utf-8")

    def log_tail(self, lines: int = 15) -> str:
        """The last ``lines`` lines of the daemon's log, for failure messages."""
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            return f"(no log: {exc})"
        return "\n".join(text.splitlines()[-lines:])

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Launch the daemon and wait until ``ctr plugins ls`` shows the grpc content plugin ok.

        :param timeout: seconds to wait for the plugin
        :raises DaemonUnavailableError: the daemon exited or did not serve the plugin in time
        """
        if self.running:
            return
        env = dict(os.environ)
        if self._tz is not None:
            env["TZ"] = self._tz
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(
                [self._containerd, "--config", str(self.config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=env,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                code = self._process.returncode
                self._process = None
                raise DaemonUnavailableError(
                    f"containerd exited with status {code} at start-up:\n{self.log_tail()}"
                )
            if self.address.exists():
                try:
                    listing = self.ctr("plugins", "ls", timeout=5.0, check=False)
                except subprocess.TimeoutExpired:
                    last = "ctr plugins ls timed out"
                else:
                    last = (listing.stdout + listing.stderr).decode(errors="replace")
                    if listing.returncode == 0 and _content_plugin_ok(last):
                        return
            time.sleep(0.05)
        self.stop()
        raise DaemonUnavailableError(
            f"containerd did not serve its content plugin within {timeout:g} s; "
            f"last ctr output:\n{last}\nlog:\n{self.log_tail()}"
        )

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop the daemon with SIGTERM and wait for it; SIGKILL if it does not exit in time.

        Does nothing when the daemon is not running.

        :param timeout: seconds to wait after SIGTERM
        """
        process = self._process
        if process is None:
            return
        self._process = None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout)

    def ctr(
        self,
        *args: str,
        namespace: str = "default",
        stdin: bytes | IO[bytes] | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float = CTR_TIMEOUT,
        check: bool = True,
    ) -> subprocess.CompletedProcess[bytes]:
        """Run ``ctr`` against this daemon.

        :param args: the ``ctr`` command and its arguments
        :param namespace: the containerd namespace
        :param stdin: bytes to pipe in, or an open file to read from (``ctr`` can seek a file)
        :param env: extra environment variables
        :param timeout: seconds before the call is killed
        :param check: raise when ``ctr`` exits with a non-zero status
        :return: the finished process, with ``stdout`` and ``stderr`` as bytes
        :raises AssertionError: ``check`` is set and ``ctr`` failed
        :raises subprocess.TimeoutExpired: ``ctr`` did not finish in time
        """
        command = [self._ctr, "--address", str(self.address), "--namespace", namespace, *args]
        full_env = {**os.environ, **(env or {})}
        if isinstance(stdin, bytes):
            result = subprocess.run(
                command, input=stdin, capture_output=True, env=full_env, timeout=timeout
            )
        else:
            result = subprocess.run(
                command,
                stdin=stdin if stdin is not None else subprocess.DEVNULL,
                capture_output=True,
                env=full_env,
                timeout=timeout,
            )
        if check and result.returncode != 0:
            raise AssertionError(
                f"{' '.join(args)} exited with status {result.returncode}: "
                f"{result.stderr.decode(errors='replace').strip()}"
            )
        return result

    def ingest(
        self,
        ref: str,
        source: bytes | Path,
        *,
        expected_size: int = 0,
        expected_digest: str = "",
        check: bool = True,
    ) -> subprocess.CompletedProcess[bytes]:
        """``ctr content ingest`` with ``source`` on its standard input.

        :param ref: the ingest's name (containerd stores it as ``<namespace>/<n>/<ref>``)
        :param source: bytes (piped, so ``ctr`` cannot seek) or a file (redirected, seekable)
        :param expected_size: ``--expected-size`` when > 0
        :param expected_digest: ``--expected-digest`` when set
        :param check: raise when ``ctr`` fails
        :return: the finished process
        """
        args = ["content", "ingest"]
        if expected_size > 0:
            args += ["--expected-size", str(expected_size)]
        if expected_digest:
            args += ["--expected-digest", expected_digest]
        args.append(ref)
        if isinstance(source, bytes):
            return self.ctr(*args, stdin=source, check=check)
        with source.open("rb") as stream:
            return self.ctr(*args, stdin=stream, check=check)

    def label_gc_root(self, digest: str) -> None:
        """Protect a blob from containerd's garbage collector with the ``gc.root`` label.

        :param digest: the blob, which containerd's metadata must know
        """
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self.ctr("content", "label", digest, f"{GC_ROOT_LABEL}={stamp}")

    def get(self, digest: str) -> bytes:
        """``ctr content get``: the blob's bytes as containerd serves them.

        :raises AssertionError: containerd does not know the blob
        """
        return self.ctr("content", "get", digest).stdout

    def listed_digests(self) -> set[str]:
        """The digests ``ctr content ls --quiet`` lists (those in containerd's metadata)."""
        out = self.ctr("content", "ls", "--quiet").stdout.decode()
        return {line.strip() for line in out.splitlines() if line.strip()}


def _content_plugin_ok(listing: str) -> bool:
    for line in listing.splitlines():
        fields = line.split()
        if fields[:2] == ["io.containerd.grpc.v1", "content"] and fields[-1] == "ok":
            return True
    return False


def _tz_for(base: Path, utc_offset_minutes: int) -> str:
    """The ``TZ`` value giving the daemon a local zone of ``utc_offset_minutes``."""
    if utc_offset_minutes == 0:
        return "UTC"
    zone = base / "zone"
    zone.write_bytes(fixed_offset_tzif(utc_offset_minutes))
    return str(zone)


def launch(utc_offset_minutes: int = 0) -> ContainerdDaemon:
    """Start a daemon in a fresh short directory, with its local zone at the given offset.

    :raises DaemonUnavailableError: it could not start (its directory is removed)
    """
    base = make_base_dir()
    try:
        daemon = ContainerdDaemon(base, tz=_tz_for(base, utc_offset_minutes))
        daemon.start()
    except BaseException:
        shutil.rmtree(base, ignore_errors=True)
        raise
    return daemon


def dispose(daemon: ContainerdDaemon) -> None:
    """Stop ``daemon`` and remove its directory."""
    try:
        daemon.stop()
    finally:
        shutil.rmtree(daemon.base, ignore_errors=True)
