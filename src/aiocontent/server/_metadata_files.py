"""The thread side of :class:`~._metadata_local.LocalMetadata`: durable file steps, one folder.

Every step is atomic and durable on return (see :mod:`._metadata_local` for the
layout and the invariants a crash keeps); :class:`RepoFolder` runs the
multi-step changes of one repository, with the crash-injection points.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import os
import secrets
from collections.abc import Iterator, Sequence
from typing import Final

from .._digest import Digest, parse_digest_arg
from .._errors import InvalidArgumentError
from .._local._fault import point
from .._local._layout import DIR_MODE
from .._local._meta import fsync_dir, replace_file
from ._metadata import ManifestRecord
from ._metadata_records import decode_record, encode_record

__all__ = ("RepoFolder", "entries", "page", "read_record", "remove_durably", "touch")

_log: Final = logging.getLogger("aiocontent.server")

BLOBS: Final = "blobs"
MANIFESTS: Final = "manifests"
TAGS: Final = "tags"
REFERRERS: Final = "referrers"
_READ_MAX: Final = 1 << 20


def _read(path: str) -> bytes | None:
    """The bytes of a small file, or ``None`` when it does not exist."""
    try:
        with open(path, "rb") as f:
            return f.read(_READ_MAX)
    except (FileNotFoundError, NotADirectoryError):
        return None


def read_record(path: str, digest: Digest) -> ManifestRecord | None:
    raw = _read(path)
    if raw is None:
        return None
    try:
        return decode_record(raw, digest)
    except ValueError as exc:
        _log.warning("ignoring damaged manifest record %s: %s", path, exc)
        return None


def _ensure_dir(path: str) -> None:
    """Create ``path`` and missing parents, each made durable in its parent."""
    try:
        os.mkdir(path, DIR_MODE)
    except FileExistsError:
        return
    except FileNotFoundError:
        _ensure_dir(os.path.dirname(path))
        try:
            os.mkdir(path, DIR_MODE)
        except FileExistsError:
            return
    fsync_dir(os.path.dirname(path))


def touch(path: str) -> None:
    """Create the empty file ``path`` if missing and make its name durable."""
    folder = os.path.dirname(path)
    while True:
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644))
            break
        except FileNotFoundError:
            _ensure_dir(folder)
    fsync_dir(folder)


def remove_durably(path: str) -> bool:
    """Unlink ``path`` durably; ``False`` when it did not exist."""
    try:
        os.unlink(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    fsync_dir(os.path.dirname(path))
    return True


def _replace(path: str, data: bytes, fault: str) -> None:
    """Atomically replace ``path`` by ``data`` (its folder is not fsynced)."""
    folder = os.path.dirname(path)
    tmp = os.path.join(folder, f".tmp-{os.getpid()}-{secrets.token_hex(6)}")
    try:
        replace_file(path, data, tmp, fault)
    except FileNotFoundError:
        _ensure_dir(folder)
        replace_file(path, data, tmp, fault)


def entries(folder: str) -> Iterator[str]:
    """The names in ``folder`` that are entries (not hidden); none when it is missing."""
    try:
        with os.scandir(folder) as it:
            for entry in it:
                if not entry.name.startswith("."):
                    yield entry.name
    except (FileNotFoundError, NotADirectoryError):
        return


def page(names: Iterator[str], last: str | None, limit: int | None) -> list[str]:
    """The sorted names after ``last``, at most ``limit``, holding at most ``limit`` at once."""
    if last is not None:
        names = (n for n in names if n > last)
    if limit is None:
        return sorted(names)
    return heapq.nsmallest(max(limit, 0), names)


class RepoFolder:
    """The paths of one repository's folder."""

    __slots__ = ("blobs", "manifests", "path", "referrers", "tags")

    def __init__(self, path: str) -> None:
        self.path = path
        self.blobs = os.path.join(path, BLOBS)
        self.manifests = os.path.join(path, MANIFESTS)
        self.tags = os.path.join(path, TAGS)
        self.referrers = os.path.join(path, REFERRERS)

    def referrer(self, subject: Digest, digest: Digest) -> str:
        return os.path.join(self.referrers, subject, digest)

    def exists(self) -> bool:
        # Tags only name existing manifests, so blob links and records decide.
        return any(True for _ in entries(self.blobs)) or any(True for _ in entries(self.manifests))

    def put_manifest(self, record: ManifestRecord, tags: Sequence[str]) -> None:
        digest = record.digest
        if record.subject is not None:
            touch(self.referrer(record.subject, digest))
        point("registry:after-referrer")
        path = os.path.join(self.manifests, digest)
        data = encode_record(record)
        if _read(path) != data:
            _replace(path, data, "registry:before-record-rename")
            fsync_dir(self.manifests)
        point("registry:after-record")
        moved = False
        for tag in tags:
            tag_path = os.path.join(self.tags, tag)
            if _read(tag_path) != digest.encode():
                _replace(tag_path, digest.encode(), "registry:before-tag-rename")
                moved = True
                point("registry:after-tag")
        if moved:
            fsync_dir(self.tags)

    def delete_manifest(self, digest: Digest) -> bool:
        path = os.path.join(self.manifests, digest)
        raw = _read(path)
        if raw is None:
            return False
        dropped = False
        for tag in list(entries(self.tags)):
            tag_path = os.path.join(self.tags, tag)
            if _read(tag_path) == digest.encode():
                try:
                    os.unlink(tag_path)
                    dropped = True
                except FileNotFoundError:
                    pass
        if dropped:
            fsync_dir(self.tags)
        point("registry:delete-after-tags")
        remove_durably(path)
        point("registry:delete-after-record")
        try:
            subject = decode_record(raw, digest).subject
        except ValueError:
            subject = None  # damaged: its entry, if any, stays dangling (and ignored)
        if subject is not None and remove_durably(self.referrer(subject, digest)):
            with contextlib.suppress(OSError):  # other referrers remain
                os.rmdir(os.path.join(self.referrers, subject))
        return True

    def resolve_tag(self, tag: str) -> Digest | None:
        raw = _read(os.path.join(self.tags, tag))
        if raw is None:
            return None
        try:
            return parse_digest_arg(raw.decode("ascii"))
        except (UnicodeDecodeError, InvalidArgumentError):
            _log.warning("ignoring damaged tag %r in %s: %r", tag, self.tags, raw[:100])
            return None

    def referrers_of(self, subject: Digest) -> list[ManifestRecord]:
        found = []
        for name in sorted(entries(os.path.join(self.referrers, subject))):
            digest = Digest(name)
            record = read_record(os.path.join(self.manifests, name), digest)
            if record is not None and record.subject == subject:
                found.append(record)
        return found
