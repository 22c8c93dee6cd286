"""LocalMetadata after a process dies (SIGKILL) mid-change, and under two processes at once.

Children are separate interpreters on one root. Afterwards the root must be
consistent: every tag names a manifest whose record exists, every record with
a subject is among its subject's referrers, listings work and show no
temporary file, and every change a child acknowledged (printed) is there.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Final

import anyio
import pytest

from aiocontent import Digest
from aiocontent.server import ManifestRecord
from aiocontent.server._metadata_local import LocalMetadata

REPO: Final = "app"
PROJECT: Final = Path(__file__).resolve().parents[2]
KILLS: Final = 30


def record(i: int) -> ManifestRecord:
    """Manifest ``i`` of the children: its subject is manifest ``i - 1``."""
    body = b"manifest %d" % i
    return ManifestRecord(
        digest=Digest.from_bytes(body),
        media_type="application/vnd.oci.image.manifest.v1+json",
        size=len(body),
        artifact_type="application/vnd.example" if i % 2 else "",
        subject=Digest.from_bytes(b"manifest %d" % (i - 1)) if i else None,
    )


def deletes_after(i: int) -> int | None:
    """The manifest a child deletes after acknowledging put ``i`` (every third, two back)."""
    return i - 2 if i >= 2 and i % 3 == 0 else None


LOOP: Final = """
import sys, anyio
from aiocontent.server._metadata_local import LocalMetadata
from tests.server.test_metadata_crash import REPO, deletes_after, record

async def main():
    md = LocalMetadata(sys.argv[1])
    i = int(sys.argv[2])
    if i and deletes_after(i - 1) is not None:  # finish the step a kill interrupted
        await md.delete_manifest(REPO, record(deletes_after(i - 1)).digest)
    print("ready", flush=True)
    while True:
        await md.put_manifest(REPO, record(i), ["latest", f"v{i % 5}"])
        print(i, flush=True)
        if deletes_after(i) is not None:
            await md.delete_manifest(REPO, record(deletes_after(i)).digest)
        i += 1

anyio.run(main, backend=sys.argv[3])
"""


def _child(code: str, *args: str, fault: str | None = None) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.pop("AIOCONTENT_FAULT", None)
    if fault:
        env["AIOCONTENT_FAULT"] = fault
    return subprocess.Popen(
        [sys.executable, "-c", code, *args], stdout=subprocess.PIPE, cwd=PROJECT, env=env
    )


async def _check_consistent(root: Path) -> dict[str, Digest]:
    """Assert the invariants of a root; return its tags of ``REPO``."""
    md = LocalMetadata(root)
    repos = await md.repositories()
    assert all(not name.startswith(".") for name in repos)
    tags: dict[str, Digest] = {}
    for repo in repos:
        for tag in await md.tags(repo):
            assert not tag.startswith(".")
            named = await md.resolve_tag(repo, tag)
            assert named is not None, f"tag {tag} lists but does not resolve"
            assert await md.manifest(repo, named) is not None, f"tag {tag} names a lost {named}"
            if repo == REPO:
                tags[tag] = named
        manifests = root / "repositories" / repo / "manifests"
        for name in os.listdir(manifests) if manifests.exists() else ():
            if name.startswith("."):
                continue
            found = await md.manifest(repo, Digest(name))
            assert found is not None, f"record {name} is unreadable"
            if found.subject is not None:
                referrers = await md.referrers(repo, found.subject)
                assert found in referrers, f"{name} is missing from its subject's referrers"
    return tags


async def _check_acknowledged(root: Path, acked: int) -> None:
    """Put ``acked`` (and everything deleted before it) is durable; ``latest`` is not older."""
    md = LocalMetadata(root)
    latest = await md.resolve_tag(REPO, "latest")
    assert latest in (record(acked).digest, record(acked + 1).digest)
    for i in range(max(0, acked - 1), acked + 1):
        assert await md.manifest(REPO, record(i).digest) == record(i)
    for i in range(acked):
        gone = deletes_after(i)
        if gone is not None:
            assert await md.manifest(REPO, record(gone).digest) is None, f"{gone} came back"


@pytest.mark.slow
def test_sigkilled_tag_moves_and_puts_leave_a_consistent_root(tmp_path: Path) -> None:
    rng = random.Random(13)
    acked = -1
    started = time.monotonic()
    for kill in range(KILLS):
        backend = ("asyncio", "trio")[kill % 2]
        with _child(LOOP, str(tmp_path), str(acked + 1), backend) as proc:
            assert proc.stdout is not None
            assert proc.stdout.readline() == b"ready\n"
            printed = [proc.stdout.readline()]  # one put done: the kill lands mid-loop
            time.sleep(rng.uniform(0.0, 0.05))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            printed += proc.stdout.read().split()
        acked = int(printed[-1])
        anyio.run(_check_consistent, tmp_path, backend=backend)
        anyio.run(_check_acknowledged, tmp_path, acked, backend=backend)
    assert acked >= KILLS
    assert time.monotonic() - started < 120


STEPS: Final = """
import sys, anyio
from aiocontent.server._metadata_local import LocalMetadata
from tests.server.test_metadata_crash import REPO, record

async def main():
    md = LocalMetadata(sys.argv[1])
    await md.put_manifest(REPO, record(0), ["latest"])
    await md.put_manifest(REPO, record(1), ["latest", "v1"])
    await md.delete_manifest(REPO, record(1).digest)
    print("done", flush=True)

anyio.run(main, backend=sys.argv[2])
"""

# (point and hit, what the tags of REPO may be after a kill there)
FAULTS: Final = [
    ("registry:after-referrer#2", [{"latest": 0}]),
    ("registry:before-record-rename#2", [{"latest": 0}]),
    ("registry:after-record#2", [{"latest": 0}]),
    ("registry:before-tag-rename#2", [{"latest": 0}]),
    ("registry:after-tag#2", [{"latest": 1}]),
    ("registry:before-tag-rename#3", [{"latest": 1}]),
    ("registry:after-tag#3", [{"latest": 1, "v1": 1}]),
    ("registry:delete-after-tags", [{}]),
    ("registry:delete-after-record", [{}]),
]


@pytest.mark.parametrize(("fault", "allowed"), FAULTS, ids=[f for f, _ in FAULTS])
@pytest.mark.parametrize("child_backend", ["asyncio", "trio"])
def test_a_kill_at_each_step_leaves_old_or_new(
    tmp_path: Path, fault: str, allowed: list[dict[str, int]], child_backend: str
) -> None:
    with _child(STEPS, str(tmp_path), child_backend, fault=fault) as proc:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, f"{fault} was never reached"
    tags = anyio.run(_check_consistent, tmp_path)
    assert tags in [{t: record(i).digest for t, i in a.items()} for a in allowed]
    left = os.listdir(tmp_path / "repositories" / REPO / "tags")
    if "before-tag-rename" in fault:
        assert any(name.startswith(".tmp-") for name in left), "no temporary left to hide"


def test_after_a_kill_a_retried_put_completes(tmp_path: Path) -> None:
    with _child(STEPS, str(tmp_path), "asyncio", fault="registry:after-record#2") as proc:
        proc.wait()

    async def retry() -> None:
        md = LocalMetadata(tmp_path)
        assert await md.referrers(REPO, record(0).digest) == [record(1)]
        await md.put_manifest(REPO, record(1), ["latest", "v1"])
        assert await md.resolve_tag(REPO, "latest") == record(1).digest
        assert await md.resolve_tag(REPO, "v1") == record(1).digest

    anyio.run(retry)


RACE: Final = """
import os, sys, time, anyio
from aiocontent.server._metadata_local import LocalMetadata
from tests.server.test_metadata_crash import REPO, record

async def main():
    md = LocalMetadata(sys.argv[1])
    first = int(sys.argv[2])
    print("ready", flush=True)
    while not os.path.exists(sys.argv[4]):
        time.sleep(0.005)
    for i in range(first, first + 25):
        await md.put_manifest(REPO, record(i), ["latest", f"p{i}"])

anyio.run(main, backend=sys.argv[3])
"""


def test_two_processes_moving_one_tag(tmp_path: Path) -> None:
    root, go = tmp_path / "registry", tmp_path / "go"
    procs = [
        _child(RACE, str(root), "0", "asyncio", str(go)),
        _child(RACE, str(root), "100", "trio", str(go)),
    ]
    for proc in procs:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n"
    go.touch()
    for proc in procs:
        assert proc.wait(timeout=60) == 0
        proc.stdout.close()  # type: ignore[union-attr]
    everything = [*range(25), *range(100, 125)]

    async def check() -> None:
        tags = await _check_consistent(root)
        assert tags["latest"] in {record(i).digest for i in everything}
        assert tags == {"latest": tags["latest"], **{f"p{i}": record(i).digest for i in everything}}

    anyio.run(check)
