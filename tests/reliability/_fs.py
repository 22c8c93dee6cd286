"""File-system checks and fixtures shared by the reliability tests.

- :func:`blob_problems` and :func:`held_locks` state what a content root must
  look like after any crash: every file under ``blobs/`` hashes to its name and
  is read-only, no temporary file lies among the blobs, and no ref lock is held
  by anyone.
- :func:`tree_snapshot` records ``(size, mtime_ns, mode)`` of every entry of a
  tree, to prove that bad input touched nothing outside a store root.
- :func:`mounted` mounts a file system for a test (root only) and always
  unmounts it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

from aiocontent import Digest, InvalidArgumentError

from .._services import service_unavailable

__all__ = (
    "blob_problems",
    "held_locks",
    "label_files",
    "mounted",
    "tree_snapshot",
)


def _hash_file(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return f"{algorithm}:{h.hexdigest()}"


def blob_problems(root: Path) -> list[str]:
    """Everything wrong under ``<root>/blobs``: each entry must be a read-only
    regular file whose name is a valid digest of its content.

    :return: one line per problem (empty when the blobs are sound).
    """
    problems: list[str] = []
    blobs = root / "blobs"
    if not blobs.exists():
        return problems
    for alg_dir in sorted(blobs.iterdir()):
        if not alg_dir.is_dir():
            problems.append(f"stray entry {alg_dir}")
            continue
        for entry in sorted(alg_dir.iterdir()):
            name = f"{alg_dir.name}:{entry.name}"
            try:
                Digest(name).validate()
            except InvalidArgumentError:
                problems.append(f"partial or misnamed entry {entry}")
                continue
            st = entry.lstat()
            if not stat.S_ISREG(st.st_mode):
                problems.append(f"not a regular file: {entry}")
                continue
            if st.st_mode & 0o222:
                problems.append(f"writable blob {entry} (mode {stat.S_IMODE(st.st_mode):o})")
            actual = _hash_file(entry, alg_dir.name)
            if actual != name:
                problems.append(f"{entry} holds content hashing to {actual}")
    return problems


def held_locks(root: Path) -> list[str]:
    """The lock files under ``<root>/locks`` that someone still holds (``flock``)."""
    held: list[str] = []
    locks = root / "locks"
    if not locks.exists():
        return held
    for entry in sorted(locks.iterdir()):
        fd = os.open(entry, os.O_RDONLY | os.O_CLOEXEC)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                held.append(entry.name)
            else:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
    return held


def label_files(root: Path) -> dict[str, bytes]:
    """The label files under ``<root>/meta``, by ``<alg>:<encoded>``; temporaries included."""
    out: dict[str, bytes] = {}
    meta = root / "meta"
    if not meta.exists():
        return out
    for alg_dir in sorted(meta.iterdir()):
        for entry in sorted(alg_dir.iterdir()):
            out[f"{alg_dir.name}:{entry.name}"] = entry.read_bytes()
    return out


def tree_snapshot(top: Path, *, skip: Path | None = None) -> dict[str, tuple[int, int, int]]:
    """``{relative path: (size, mtime_ns, mode)}`` for ``top`` and everything below it.

    ``skip`` (a directory below ``top``) is recorded itself but not descended into,
    so a store root may change while the tree around it must not.
    """
    out: dict[str, tuple[int, int, int]] = {}
    for dirpath, dirnames, filenames in os.walk(top):
        here = Path(dirpath)
        for name in [*dirnames, *filenames]:
            path = here / name
            st = path.lstat()
            rel = str(path.relative_to(top))
            if skip is not None and path == skip:
                out[rel] = (0, 0, st.st_mode)
                continue
            out[rel] = (st.st_size, st.st_mtime_ns, st.st_mode)
        if skip is not None:
            dirnames[:] = [d for d in dirnames if here / d != skip]
    st = top.lstat()
    out["."] = (0, st.st_mtime_ns, st.st_mode)
    return out


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)


@contextlib.contextmanager
def mounted(target: Path, *argv: str) -> Iterator[Path]:
    """Run ``mount <argv...> <target>`` for the block and always unmount afterwards.

    Needs root: elsewhere (or when the kernel refuses) the test is skipped with
    the reason, or fails when ``CI=true``.
    """
    if os.geteuid() != 0:
        service_unavailable("mounting needs root (tests run as root in CI)")
    target.mkdir(parents=True, exist_ok=True)
    result = _run("mount", *argv, str(target))
    if result.returncode != 0:
        service_unavailable(f"mount {' '.join(argv)} refused: {result.stderr.strip()}")
    try:
        yield target
    finally:
        if _run("umount", str(target)).returncode != 0:
            _run("umount", "-l", str(target))
