"""Registry metadata in files beside a LocalStore's content, crash-consistent.

The app keeps it under ``<store root>/registry``; its layout::

    repositories/<repo>/blobs/<digest>                empty: the repository may serve the blob
    repositories/<repo>/manifests/<digest>            the ManifestRecord, compact JSON
    repositories/<repo>/tags/<tag>                    the digest the tag names, as text
    repositories/<repo>/referrers/<subject>/<digest>  empty: manifest <digest> has that subject
    locks/repo.<xx>                                   flock stripes, by SHA-256 of the repo name

``<repo>`` is one folder per repository, its name with ``/`` written as ``+``
(any other byte outside ``[a-z0-9._-]``, and a leading ``.``, as ``%XX``), so
the repositories are one ``scandir`` and no name reaches outside its folder:
empty, absolute, ``.`` and ``..`` components raise
:class:`~aiocontent.InvalidArgumentError`, as do tags that are not one plain
file name and digests that do not parse. ``<digest>`` is the digest verbatim.

Every change is one atomic step: a new empty file, an unlink, or a file
written under a temporary name (``.tmp-<pid>-<random>``, in the same folder),
fsynced and renamed over the target; then the folder is fsynced. Names that
start with ``.`` are never entries, so a temporary file a crash left behind is
invisible. Two invariants hold after a crash at any instant:

- every tag names a manifest whose record exists (``put_manifest`` writes the
  record before moving tags; ``delete_manifest`` removes the tags first);
- every record with a subject has its referrer entry (the entry is written
  before the record and removed after it); an entry whose record is missing is
  skipped by readers, and rewritten by a retried ``put_manifest``.

``put_manifest`` and ``delete_manifest`` of one repository run one at a time,
across tasks and processes (an ``anyio.Lock`` per stripe in the process, then
``flock``), so a tag never moves to a manifest a concurrent delete removed.
Lookups and blob links take no lock: each is one ``stat``, ``open`` or
``unlink``. All file work runs in worker threads, one trip per call.

A repository exists, and is listed, while it holds a blob link or a manifest
(tags only name manifests); folders are never removed, so nothing races a
writer creating a file in them. A temporary file a crash left behind stays
(a few bytes, invisible) until removed by hand.

Crash-injection points (``AIOCONTENT_FAULT``, see ``aiocontent._local._fault``):
``registry:after-referrer``, ``registry:before-record-rename``,
``registry:after-record``, ``registry:before-tag-rename``, ``registry:after-tag``
(after each tag's rename), ``registry:delete-after-tags`` and
``registry:delete-after-record``.
"""

from __future__ import annotations

import contextlib
import hashlib
import heapq
import json
import logging
import os
import secrets
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Final, TypeVar
from urllib.parse import unquote_to_bytes

import anyio
import anyio.to_thread
from anyio.lowlevel import RunVar

from .._digest import Digest, parse_digest_arg
from .._errors import InvalidArgumentError
from .._local._fault import point
from .._local._flock import exclusive
from .._local._layout import DIR_MODE, root_path
from .._local._meta import fsync_dir, replace_file
from ._metadata import ManifestRecord

__all__ = ("LocalMetadata",)

_log: Final = logging.getLogger("aiocontent.server")
T = TypeVar("T")

REPOSITORIES: Final = "repositories"
LOCKS: Final = "locks"
BLOBS: Final = "blobs"
MANIFESTS: Final = "manifests"
TAGS: Final = "tags"
REFERRERS: Final = "referrers"

_SAFE: Final = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._-")
_NAME_MAX: Final = 255
_READ_MAX: Final = 1 << 20

#: One in-process lock per lock stripe, per event loop (shared by every LocalMetadata).
_STRIPE_LOCKS: RunVar[dict[str, anyio.Lock]] = RunVar("aiocontent-registry-locks")


def _invalid(what: str, value: object, why: str) -> InvalidArgumentError:
    return InvalidArgumentError(f"{what} {value!r} {why}: {InvalidArgumentError.kind_text}")


def repo_folder_name(repo: str) -> str:
    """The folder name of repository ``repo`` (see the module docstring).

    :raises TypeError: ``repo`` is not a ``str``.
    :raises ~aiocontent.InvalidArgumentError: the name is empty, absolute, has an
        empty, ``.`` or ``..`` component or a NUL, or is too long for one folder name.
    """
    if not isinstance(repo, str):
        raise TypeError(f"repository name must be a str, not {type(repo).__name__}")
    if not repo or "\x00" in repo:
        raise _invalid("repository name", repo, "is empty or holds a NUL")
    if any(part in ("", ".", "..") for part in repo.split("/")):
        raise _invalid("repository name", repo, "is absolute or has an empty, '.' or '..' part")
    out: list[str] = []
    for i, ch in enumerate(repo):
        if ch == "/":
            out.append("+")
        elif ch in _SAFE and not (i == 0 and ch == "."):
            out.append(ch)
        else:
            out.extend(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass"))
    name = "".join(out)
    if len(name) > _NAME_MAX:
        raise _invalid("repository name", repo, f"is longer than {_NAME_MAX} bytes once stored")
    return name


def repo_from_folder_name(name: str) -> str | None:
    """The repository a folder name stands for; ``None`` for hidden names."""
    if name.startswith("."):
        return None
    return unquote_to_bytes(name.replace("+", "/")).decode("utf-8", "surrogatepass")


def _tag_file_name(tag: str) -> str:
    if not isinstance(tag, str):
        raise TypeError(f"tag must be a str, not {type(tag).__name__}")
    if not tag or tag.startswith(".") or "/" in tag or "\x00" in tag:
        raise _invalid("tag", tag, "is not a plain file name (empty, leading '.', '/' or NUL)")
    if len(tag.encode("utf-8", "surrogatepass")) > _NAME_MAX:
        raise _invalid("tag", tag, f"is longer than {_NAME_MAX} bytes")
    return tag


# --------------------------------------------------------------------------- records


def encode_record(record: ManifestRecord) -> bytes:
    """The JSON a record is stored as (keys sorted, empty optional fields left out)."""
    doc: dict[str, object] = {
        "digest": str(record.digest),
        "mediaType": record.media_type,
        "size": record.size,
    }
    if record.artifact_type:
        doc["artifactType"] = record.artifact_type
    if record.subject is not None:
        doc["subject"] = str(record.subject)
    if record.annotations:
        doc["annotations"] = dict(record.annotations)
    if record.references:
        doc["references"] = [str(d) for d in record.references]
    return json.dumps(doc, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def decode_record(raw: bytes, digest: Digest) -> ManifestRecord:
    """The record stored as ``raw`` under ``digest``.

    :raises ValueError: ``raw`` is not such a record, or names another digest.
    """
    doc = json.loads(raw)
    if not isinstance(doc, dict) or doc.get("digest") != digest:
        raise ValueError(f"not the record of {digest}")
    media_type, size = doc.get("mediaType"), doc.get("size")
    artifact_type, subject = doc.get("artifactType", ""), doc.get("subject")
    annotations, references = doc.get("annotations", {}), doc.get("references", [])
    if not (
        isinstance(media_type, str)
        and isinstance(size, int)
        and isinstance(artifact_type, str)
        and (subject is None or isinstance(subject, str))
        and isinstance(annotations, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in annotations.items())
        and isinstance(references, list)
        and all(isinstance(r, str) for r in references)
    ):
        raise ValueError("a field has the wrong type")
    return ManifestRecord(
        digest=Digest(digest),
        media_type=media_type,
        size=size,
        artifact_type=artifact_type,
        subject=None if subject is None else Digest(subject),
        annotations=annotations,
        references=tuple(Digest(r) for r in references),
    )


# --------------------------------------------------------------------------- file steps (threads)


def _read(path: str) -> bytes | None:
    """The bytes of a small file, or ``None`` when it does not exist."""
    try:
        with open(path, "rb") as f:
            return f.read(_READ_MAX)
    except (FileNotFoundError, NotADirectoryError):
        return None


def _read_record(path: str, digest: Digest) -> ManifestRecord | None:
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


def _touch(path: str) -> None:
    """Create the empty file ``path`` if missing and make its name durable."""
    folder = os.path.dirname(path)
    while True:
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644))
            break
        except FileNotFoundError:
            _ensure_dir(folder)
    fsync_dir(folder)


def _remove(path: str) -> bool:
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


def _entries(folder: str) -> Iterator[str]:
    """The names in ``folder`` that are entries (not hidden); none when it is missing."""
    try:
        with os.scandir(folder) as it:
            for entry in it:
                if not entry.name.startswith("."):
                    yield entry.name
    except (FileNotFoundError, NotADirectoryError):
        return


def _page(names: Iterator[str], last: str | None, limit: int | None) -> list[str]:
    """The sorted names after ``last``, at most ``limit``, holding at most ``limit`` at once."""
    if last is not None:
        names = (n for n in names if n > last)
    if limit is None:
        return sorted(names)
    return heapq.nsmallest(max(limit, 0), names)


class _Repo:
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
        return any(True for _ in _entries(self.blobs)) or any(
            True for _ in _entries(self.manifests)
        )

    def put_manifest(self, record: ManifestRecord, tags: Sequence[str]) -> None:
        digest = record.digest
        if record.subject is not None:
            _touch(self.referrer(record.subject, digest))
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
        for tag in list(_entries(self.tags)):
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
        _remove(path)
        point("registry:delete-after-record")
        try:
            subject = decode_record(raw, digest).subject
        except ValueError:
            subject = None  # damaged: its entry, if any, stays dangling (and ignored)
        if subject is not None and _remove(self.referrer(subject, digest)):
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
        for name in sorted(_entries(os.path.join(self.referrers, subject))):
            digest = Digest(name)
            record = _read_record(os.path.join(self.manifests, name), digest)
            if record is not None and record.subject == subject:
                found.append(record)
        return found


def _locked(lock_path: str, fn: Callable[..., T], *args: object) -> T:
    with exclusive(lock_path):
        return fn(*args)


class LocalMetadata:
    """A :class:`~aiocontent.server.RegistryMetadata` in files under ``root``.

    Survives restarts and a crash at any instant (see the module docstring for
    the layout and guarantees); several objects and processes may share one
    root. Needs no closing; folders are created on first use.

    :param root: the metadata folder, for a LocalStore ``store.root / "registry"``.
    :raises TypeError: ``root`` is not a ``str`` or path-like.
    :raises ~aiocontent.InvalidArgumentError: ``root`` is empty.
    :raises ~aiocontent.InvalidArgumentError: (from every method) a repository
        name, tag or digest that could name a path outside its folder.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self._root = root_path(root)
        self._repos = os.path.join(self._root, REPOSITORIES)
        self._locks = os.path.join(self._root, LOCKS)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {str(self._root)!r}>"

    @property
    def root(self) -> Path:
        """The metadata folder, as an absolute path."""
        return self._root

    def _repo(self, repo: str) -> _Repo:
        return _Repo(os.path.join(self._repos, repo_folder_name(repo)))

    @staticmethod
    def _path(folder: str, digest: Digest) -> str:
        return os.path.join(folder, parse_digest_arg(digest))

    async def _exclusive(self, repo: str, fn: Callable[..., T], *args: object) -> T:
        """Run ``fn(*args)`` in a thread while holding ``repo``'s lock stripe."""
        stripe = hashlib.sha256(repo.encode("utf-8", "surrogatepass")).hexdigest()[:2]
        lock_path = os.path.join(self._locks, f"repo.{stripe}")
        try:
            locks = _STRIPE_LOCKS.get()
        except LookupError:
            locks = {}
            _STRIPE_LOCKS.set(locks)
        lock = locks.setdefault(lock_path, anyio.Lock())
        async with lock:
            return await anyio.to_thread.run_sync(_locked, lock_path, fn, *args)

    async def link_blob(self, repo: str, digest: Digest) -> None:
        """Let ``repo`` serve blob ``digest``; durable on return (idempotent)."""
        path = self._path(self._repo(repo).blobs, digest)
        await anyio.to_thread.run_sync(_touch, path)

    async def blob_linked(self, repo: str, digest: Digest) -> bool:
        """Whether ``repo`` may serve blob ``digest`` (one ``stat``)."""
        path = self._path(self._repo(repo).blobs, digest)
        return await anyio.to_thread.run_sync(os.path.isfile, path)

    async def unlink_blob(self, repo: str, digest: Digest) -> bool:
        """Stop ``repo`` serving ``digest``, durably; ``False`` if it was not linked."""
        path = self._path(self._repo(repo).blobs, digest)
        return await anyio.to_thread.run_sync(_remove, path)

    async def put_manifest(
        self, repo: str, record: ManifestRecord, tags: Sequence[str] = ()
    ) -> None:
        """Store ``record`` (and its referrer entry), then move each tag to it.

        Each step is durable before the next; a crash leaves every tag naming
        its old or its new manifest. Putting the same record again is cheap.
        """
        where = self._repo(repo)
        parse_digest_arg(record.digest)
        if record.subject is not None:
            parse_digest_arg(record.subject, "subject")
        names = [_tag_file_name(tag) for tag in tags]
        await self._exclusive(repo, where.put_manifest, record, names)

    async def manifest(self, repo: str, digest: Digest) -> ManifestRecord | None:
        """The record of manifest ``digest`` in ``repo`` (one file read), or ``None``."""
        path = self._path(self._repo(repo).manifests, digest)
        return await anyio.to_thread.run_sync(_read_record, path, Digest(digest))

    async def delete_manifest(self, repo: str, digest: Digest) -> bool:
        """Remove the tags naming ``digest``, then its record, then its referrer entry.

        :return: ``False`` when ``repo`` holds no such manifest.
        """
        where = self._repo(repo)
        dgst = parse_digest_arg(digest)
        return await self._exclusive(repo, where.delete_manifest, dgst)

    async def resolve_tag(self, repo: str, tag: str) -> Digest | None:
        """The digest ``tag`` names in ``repo`` (one file read), or ``None``."""
        where = self._repo(repo)
        return await anyio.to_thread.run_sync(where.resolve_tag, _tag_file_name(tag))

    async def delete_tag(self, repo: str, tag: str) -> bool:
        """Remove ``tag`` durably (its manifest stays); ``False`` if there was none."""
        path = os.path.join(self._repo(repo).tags, _tag_file_name(tag))
        return await anyio.to_thread.run_sync(_remove, path)

    async def tags(
        self, repo: str, *, last: str | None = None, limit: int | None = None
    ) -> list[str]:
        """The tags of ``repo``, sorted, after ``last``, at most ``limit`` (one ``scandir``)."""
        folder = self._repo(repo).tags
        return await anyio.to_thread.run_sync(lambda: _page(_entries(folder), last, limit))

    async def manifest_digests(self, repo: str) -> list[Digest]:
        """The manifests ``repo`` holds, sorted (one ``scandir``; garbage collection lists them)."""
        folder = self._repo(repo).manifests
        return await anyio.to_thread.run_sync(lambda: [Digest(n) for n in sorted(_entries(folder))])

    async def repositories(self, *, last: str | None = None, limit: int | None = None) -> list[str]:
        """The repositories holding a blob link or manifest, sorted, after ``last``."""
        return await anyio.to_thread.run_sync(self._list_repositories, last, limit)

    def _list_repositories(self, last: str | None, limit: int | None) -> list[str]:
        heap: list[tuple[str, str]] = []
        for folder in _entries(self._repos):
            name = repo_from_folder_name(folder)
            if name is not None and (last is None or name > last):
                heap.append((name, folder))
        heapq.heapify(heap)
        found: list[str] = []
        while heap and (limit is None or len(found) < limit):
            name, folder = heapq.heappop(heap)
            if _Repo(os.path.join(self._repos, folder)).exists():
                found.append(name)
        return found

    async def repository_exists(self, repo: str) -> bool:
        """Whether ``repo`` holds any blob link or manifest (and so maybe tags)."""
        return await anyio.to_thread.run_sync(self._repo(repo).exists)

    async def referrers(self, repo: str, subject: Digest) -> list[ManifestRecord]:
        """The manifests of ``repo`` whose subject is ``subject``, by digest."""
        where = self._repo(repo)
        return await anyio.to_thread.run_sync(where.referrers_of, parse_digest_arg(subject))
