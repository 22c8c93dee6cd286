"""``python -m aiocontent`` as a real process: pipes, Ctrl-C, a ref locked by another process.

Every process gets ``AIOCONTENT_ROOT`` in a tmp dir, never the real home.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from aiocontent._cli import ExitCode
from aiocontent._local import LocalStore

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and pipes")


def env_for(root: Path, backend: str = "asyncio") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIOCONTENT_", "XDG_"))}
    env.update(AIOCONTENT_ROOT=str(root), AIOCONTENT_BACKEND=backend, HOME=str(root.parent))
    return env


def aiocontent(root: Path, *args: str, input: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "aiocontent", *args],
        input=input,
        capture_output=True,
        env=env_for(root),
        timeout=60,
        check=False,
    )


def ingest_offset(root: Path, ref: str) -> int:
    """The bytes the ingest ``ref`` holds on disk, or -1 when it does not exist yet."""

    async def main() -> int:
        async with LocalStore(root) as store:
            for status in await store.list_statuses():
                if status.ref == ref:
                    return status.offset
        return -1

    return anyio.run(main)


def wait_for_offset(root: Path, ref: str, offset: int) -> None:
    deadline = time.monotonic() + 30
    while ingest_offset(root, ref) != offset:
        assert time.monotonic() < deadline, f"ingest {ref!r} never reached offset {offset}"
        time.sleep(0.05)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "store"


class Feeder:
    """A running ``aiocontent ingest REF -`` whose standard input stays open."""

    def __init__(self, root: Path, ref: str, backend: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "aiocontent", "ingest", ref, "-"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env_for(root, backend),
        )

    def send(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def interrupt(self) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGINT)
        _, err = self.proc.communicate(timeout=30)
        return self.proc.returncode, err.decode()


@pytest.fixture(params=["asyncio", "trio"])
def feeder(request: pytest.FixtureRequest, root: Path) -> Iterator[Feeder]:
    f = Feeder(root, "piped", request.param)
    yield f
    if f.proc.poll() is None:
        f.proc.kill()
        f.proc.communicate()


def test_python_m_aiocontent_ingest_then_ls(root: Path, tmp_path: Path) -> None:
    src = tmp_path / "README.md"
    src.write_bytes(b"# readme\n")
    done = aiocontent(root, "ingest", "myref", str(src))
    assert done.returncode == 0, done.stderr
    digest = done.stdout.decode().strip()
    assert digest == "sha256:" + hashlib.sha256(b"# readme\n").hexdigest()
    listed = aiocontent(root, "ls")
    assert digest in listed.stdout.decode()
    assert (root / "blobs" / "sha256").is_dir()


def test_binary_round_trip_through_pipes(root: Path) -> None:
    data = os.urandom(1 << 20) + b"\x00\xff\r\n"
    digest = aiocontent(root, "ingest", "bin", input=data).stdout.decode().strip()
    assert aiocontent(root, "get", digest).stdout == data


def test_ctrl_c_keeps_a_resumable_ingest(feeder: Feeder, root: Path) -> None:
    data = os.urandom(200_000)
    feeder.send(data[:65_536])
    wait_for_offset(root, "piped", 65_536)
    code, err = feeder.interrupt()
    assert code == ExitCode.INTERRUPTED
    assert "Traceback" not in err
    assert "kept at offset 65536" in err
    assert "run the same command again" in err
    assert "piped" in aiocontent(root, "active").stdout.decode()

    resumed = aiocontent(root, "ingest", "piped", input=data)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.decode().strip() == "sha256:" + hashlib.sha256(data).hexdigest()
    assert aiocontent(root, "active", "-q").stdout == b""


def test_ref_held_by_another_process_exits_5(root: Path) -> None:
    holder = Feeder(root, "held", "asyncio")
    try:
        holder.send(b"abc")
        wait_for_offset(root, "held", 3)
        other = aiocontent(root, "ingest", "held", input=b"abc")
        assert other.returncode == ExitCode.UNAVAILABLE
        assert "ref held locked for" in other.stderr.decode()
        assert "--wait" in other.stderr.decode()
    finally:
        holder.proc.kill()
        holder.proc.communicate()


def test_wait_takes_the_ref_once_its_holder_exits(root: Path) -> None:
    holder = Feeder(root, "held", "asyncio")
    try:
        holder.send(b"ab")
        wait_for_offset(root, "held", 2)
        waiter = subprocess.Popen(
            [sys.executable, "-m", "aiocontent", "ingest", "held", "-", "--wait"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env_for(root),
        )
        time.sleep(0.5)
        assert waiter.poll() is None
        assert holder.interrupt()[0] == ExitCode.INTERRUPTED
        out, err = waiter.communicate(b"abc", timeout=30)
        assert waiter.returncode == 0, err
        assert out.decode().strip() == "sha256:" + hashlib.sha256(b"abc").hexdigest()
    finally:
        if holder.proc.poll() is None:
            holder.proc.kill()
            holder.proc.communicate()
