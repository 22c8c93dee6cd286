"""Checks of a LocalStore root on disk, shared by the crash and put tests."""

from __future__ import annotations

import hashlib
from pathlib import Path


def sound_blobs(root: Path) -> list[str]:
    """Every file under ``blobs/`` hashes to its name and is read-only; returns the digests."""
    found = []
    for path in sorted((root / "blobs").rglob("*")):
        if path.is_dir():
            continue
        alg = path.parent.name
        assert hashlib.new(alg, path.read_bytes()).hexdigest() == path.name, path
        assert path.stat().st_mode & 0o222 == 0, path
        found.append(f"{alg}:{path.name}")
    return found
