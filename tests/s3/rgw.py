"""A throwaway one-node Ceph cluster with a RADOS Gateway, for tests and benchmarks.

One monitor, one OSD (``memstore`` by default: objects live in the OSD's RAM),
no manager, one ``radosgw`` on a free loopback port, no authentication. Config,
data, logs, pid files and admin sockets all live under one short directory, so
nothing in ``/etc/ceph`` or ``/var/lib/ceph`` is touched. Needs the Debian
packages ``ceph-mon ceph-osd radosgw ceph-common`` and root (as CI runs).

Run by hand::

    python -m tests.s3.rgw start   # prints the directory and the S3 settings
    python -m tests.s3.rgw stop DIR
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Final

__all__ = ("RGW", "RGWError", "missing_binaries", "start", "stop")

BINARIES: Final = ("ceph", "ceph-mon", "ceph-osd", "radosgw", "radosgw-admin", "monmaptool")
ACCESS_KEY: Final = "aiocontent-test"
SECRET_KEY: Final = "aiocontent-test-secret"
# Admin sockets are unix sockets (path limit 107 bytes): keep the directory short.
_SHORT_ROOT: Final = "/tmp"
_DAEMONS: Final = ("client.rgw", "osd.0", "mon.a")


class RGWError(RuntimeError):
    """The cluster could not be started; the message ends with the relevant log lines."""


@dataclasses.dataclass(frozen=True)
class RGW:
    """A running gateway: where it listens and how to sign requests to it."""

    dir: Path
    endpoint: str
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY


def missing_binaries() -> list[str]:
    """The Ceph programs this launcher needs that are not on ``PATH``."""
    return [name for name in BINARIES if shutil.which(name) is None]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(d: Path, *, fsid: str, mon_port: int, rgw_port: int, backend: str) -> str:
    size = 8 << 30
    return f"""\
[global]
fsid = {fsid}
mon host = v2:127.0.0.1:{mon_port}
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind msgr1 = false
ms bind msgr2 = true
auth cluster required = none
auth service required = none
auth client required = none
run dir = {d}/run
admin socket = {d}/run/$name.asok
pid file = {d}/run/$name.pid
log file = {d}/log/$name.log
log to stderr = false
err to stderr = true
mon cluster log file = {d}/log/cluster.log
keyring = {d}/keyring
tmp dir = {d}/tmp
chdir = ""
# one OSD: one replica, few placement groups (the gateway makes 7 pools)
osd crush chooseleaf type = 0
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon max pg per osd = 1000
mon allow pool size one = true
mon warn on pool no redundancy = false
mon data avail warn = 2
mon data avail crit = 1

[mon]
mon data = {d}/mon
# map changes wait for this interval; the default (1 s) makes a cold start take ~15 s
paxos propose interval = 0.1

[osd]
osd data = {d}/osd
osd objectstore = {backend}
memstore device bytes = {size}
bluestore block path = {d}/osd-block.img
bluestore block create = true
bluestore block size = {size}
bluestore block db create = false
bluestore block wal create = false
bluestore fsck on mount = false
bluestore cache autotune = false
bluestore cache size = 134217728
osd class load list = *
osd class default list = *
osd op num shards = 1
osd op num threads per shard = 2

[client.rgw]
# the gateway insists on "secure" messenger mode, which auth none cannot give
ms mon client mode = crc
ms client mode = crc
rgw init timeout = 60
# without tcp_nodelay every small response waits for a delayed ACK (~40 ms)
rgw frontends = beast endpoint=127.0.0.1:{rgw_port} tcp_nodelay=1
rgw data = {d}/rgw
rgw dns name = localhost
rgw thread pool size = 64
rgw enable usage log = false
rgw enable ops log = false
"""


def _tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"({path} unreadable)"
    return f"--- {path}\n" + "\n".join(text.splitlines()[-lines:])


def _run(d: Path, *args: str, timeout: float, log: str) -> str:
    env = dict(os.environ, CEPH_CONF=str(d / "ceph.conf"))
    try:
        done = subprocess.run(
            args,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=d,
        )
    except subprocess.TimeoutExpired as exc:
        raise RGWError(f"{' '.join(args)} did not finish within {timeout} s") from exc
    (d / "log" / log).write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        raise RGWError(
            f"{' '.join(args)} exited with {done.returncode}:\n{done.stdout}{done.stderr}"
        )
    return done.stdout


def _wait(what: str, deadline: float, check: object) -> None:
    assert callable(check)
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise RGWError(f"{what} not ready in time")


def _answers(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(endpoint + "/", timeout=2) as resp:
            return b"ListAllMyBucketsResult" in resp.read()
    except (OSError, urllib.error.URLError):
        return False


def start(*, backend: str = "memstore", timeout: float = 120.0) -> RGW:
    """Start a cluster under a fresh short directory and return once S3 answers.

    :param backend: ``memstore`` (fast, in RAM) or ``bluestore`` (a sparse file).
    :raises RGWError: a step failed; everything started is stopped again (logs
        are kept in the directory, named in the message).
    """
    missing = missing_binaries()
    if missing:
        raise RGWError(f"Ceph programs not installed: {', '.join(missing)}")
    d = Path(tempfile.mkdtemp(prefix="rgw-", dir=_SHORT_ROOT))
    for sub in ("log", "run", "mon", "osd", "rgw", "tmp"):
        (d / sub).mkdir()
    (d / "keyring").touch()
    mon_port, rgw_port = _free_port(), _free_port()
    fsid = str(uuid.uuid4())
    (d / "ceph.conf").write_text(
        _config(d, fsid=fsid, mon_port=mon_port, rgw_port=rgw_port, backend=backend)
    )
    conf = str(d / "ceph.conf")
    endpoint = f"http://127.0.0.1:{rgw_port}"
    deadline = time.monotonic() + timeout
    try:
        _run(d, "monmaptool", "--create", "--fsid", fsid, "--addv", "a",
             f"[v2:127.0.0.1:{mon_port}]", str(d / "tmp" / "monmap"),
             timeout=30, log="monmap.out")  # fmt: skip
        _run(d, "ceph-mon", "-c", conf, "--id", "a", "--mkfs", "--monmap",
             str(d / "tmp" / "monmap"), "--keyring", "/dev/null",
             timeout=30, log="mon-mkfs.out")  # fmt: skip
        (d / "mon" / "keyring").touch()
        _run(d, "ceph-mon", "-c", conf, "--id", "a", timeout=timeout, log="mon.out")
        osd_id = _run(d, "ceph", "--connect-timeout", "20", "osd", "create",
                      timeout=30, log="osd-create.out").strip()  # fmt: skip
        if osd_id != "0":
            raise RGWError(f"unexpected OSD id {osd_id!r}")
        _run(d, "ceph-osd", "-c", conf, "--id", "0", "--mkfs", "--osd-uuid",
             str(uuid.uuid4()), timeout=60, log="osd-mkfs.out")  # fmt: skip
        _run(d, "ceph-osd", "-c", conf, "--id", "0", timeout=timeout, log="osd.out")

        def osd_up() -> bool:
            out = _run(d, "ceph", "--connect-timeout", "20", "osd", "dump",
                       timeout=30, log="osd-dump.out")  # fmt: skip
            return any(line.startswith("osd.0 up") for line in out.splitlines())

        _wait("osd.0", deadline, osd_up)
        # The user first: radosgw-admin also creates the gateway's pools.
        _run(d, "radosgw-admin", "-c", conf, "-n", "client.rgw", "user", "create",
             "--uid=aiocontent", "--display-name=aiocontent tests",
             f"--access-key={ACCESS_KEY}", f"--secret={SECRET_KEY}",
             timeout=timeout, log="user-create.out")  # fmt: skip
        # radosgw only detaches once connected to the cluster, hence the timeout.
        _run(d, "radosgw", "-c", conf, "-n", "client.rgw", timeout=timeout, log="rgw.out")
        _wait(f"radosgw on {endpoint}", deadline, lambda: _answers(endpoint))
    except (RGWError, OSError) as exc:
        _kill(d)
        logs = "\n".join(
            _tail(d / "log" / name)
            for name in ("mon.a.log", "osd.0.log", "client.rgw.log")
            if (d / "log" / name).exists()
        )
        raise RGWError(f"Ceph RGW did not start (logs kept in {d}): {exc}\n{logs}") from exc
    return RGW(dir=d, endpoint=endpoint)


def _kill(d: Path) -> None:
    """SIGKILL the daemons whose pid file is under ``d`` and whose command line names it."""
    conf = str(d / "ceph.conf")
    pids: list[int] = []
    for name in _DAEMONS:
        try:
            pid = int((d / "run" / f"{name}.pid").read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            continue
        if conf.encode() in cmdline:
            pids.append(pid)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while pids and time.monotonic() < deadline:
        pids = [pid for pid in pids if Path(f"/proc/{pid}").exists()]
        time.sleep(0.05)


def stop(rgw: RGW | Path) -> None:
    """Kill the cluster's daemons (only those started for its directory) and remove it."""
    d = rgw.dir if isinstance(rgw, RGW) else Path(rgw)
    if not (d / "ceph.conf").exists():
        return
    _kill(d)
    shutil.rmtree(d, ignore_errors=True)


def _main(argv: list[str]) -> int:
    if argv[:1] == ["start"]:
        rgw = start(backend=argv[1] if len(argv) > 1 else "memstore")
        print(f"RGW_DIR={rgw.dir}")
        print(f"S3_ENDPOINT={rgw.endpoint}")
        print(f"S3_ACCESS_KEY={rgw.access_key}")
        print(f"S3_SECRET_KEY={rgw.secret_key}")
        return 0
    if argv[:1] == ["stop"] and len(argv) == 2:
        stop(Path(argv[1]))
        return 0
    print("usage: python -m tests.s3.rgw start [memstore|bluestore] | stop DIR", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
