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

import hashlib
import heapq
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final, TypeVar

import anyio
import anyio.to_thread
from anyio.lowlevel import RunVar

from .._digest import Digest, parse_digest_arg
from .._local._flock import exclusive
from .._local._layout import root_path
from ._metadata import ManifestRecord
from ._metadata_files import RepoFolder, entries, page, read_record, remove_durably, touch
from ._metadata_records import repo_folder_name, repo_from_folder_name, tag_file_name

__all__ = ("LocalMetadata",)

T = TypeVar("T")

REPOSITORIES: Final = "repositories"
LOCKS: Final = "locks"

#: One in-process lock per lock stripe, per event loop (shared by every LocalMetadata).
_STRIPE_LOCKS: RunVar[dict[str, anyio.Lock]] = RunVar("aiocontent-registry-locks")


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

    def _repo(self, repo: str) -> RepoFolder:
        return RepoFolder(os.path.join(self._repos, repo_folder_name(repo)))

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
        await anyio.to_thread.run_sync(touch, path)

    async def blob_linked(self, repo: str, digest: Digest) -> bool:
        """Whether ``repo`` may serve blob ``digest`` (one ``stat``)."""
        path = self._path(self._repo(repo).blobs, digest)
        return await anyio.to_thread.run_sync(os.path.isfile, path)

    async def unlink_blob(self, repo: str, digest: Digest) -> bool:
        """Stop ``repo`` serving ``digest``, durably; ``False`` if it was not linked."""
        path = self._path(self._repo(repo).blobs, digest)
        return await anyio.to_thread.run_sync(remove_durably, path)

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
        names = [tag_file_name(tag) for tag in tags]
        await self._exclusive(repo, where.put_manifest, record, names)

    async def manifest(self, repo: str, digest: Digest) -> ManifestRecord | None:
        """The record of manifest ``digest`` in ``repo`` (one file read), or ``None``."""
        path = self._path(self._repo(repo).manifests, digest)
        return await anyio.to_thread.run_sync(read_record, path, Digest(digest))

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
        return await anyio.to_thread.run_sync(where.resolve_tag, tag_file_name(tag))

    async def delete_tag(self, repo: str, tag: str) -> bool:
        """Remove ``tag`` durably (its manifest stays); ``False`` if there was none."""
        path = os.path.join(self._repo(repo).tags, tag_file_name(tag))
        return await anyio.to_thread.run_sync(remove_durably, path)

    async def tags(
        self, repo: str, *, last: str | None = None, limit: int | None = None
    ) -> list[str]:
        """The tags of ``repo``, sorted, after ``last``, at most ``limit`` (one ``scandir``)."""
        folder = self._repo(repo).tags
        return await anyio.to_thread.run_sync(lambda: page(entries(folder), last, limit))

    async def manifest_digests(self, repo: str) -> list[Digest]:
        """The manifests ``repo`` holds, sorted (one ``scandir``; garbage collection lists them)."""
        folder = self._repo(repo).manifests
        return await anyio.to_thread.run_sync(lambda: [Digest(n) for n in sorted(entries(folder))])

    async def repositories(self, *, last: str | None = None, limit: int | None = None) -> list[str]:
        """The repositories holding a blob link or manifest, sorted, after ``last``."""
        return await anyio.to_thread.run_sync(self._list_repositories, last, limit)

    def _list_repositories(self, last: str | None, limit: int | None) -> list[str]:
        heap: list[tuple[str, str]] = []
        for folder in entries(self._repos):
            name = repo_from_folder_name(folder)
            if name is not None and (last is None or name > last):
                heap.append((name, folder))
        heapq.heapify(heap)
        found: list[str] = []
        while heap and (limit is None or len(found) < limit):
            name, folder = heapq.heappop(heap)
            if RepoFolder(os.path.join(self._repos, folder)).exists():
                found.append(name)
        return found

    async def repository_exists(self, repo: str) -> bool:
        """Whether ``repo`` holds any blob link or manifest (and so maybe tags)."""
        return await anyio.to_thread.run_sync(self._repo(repo).exists)

    async def referrers(self, repo: str, subject: Digest) -> list[ManifestRecord]:
        """The manifests of ``repo`` whose subject is ``subject``, by digest."""
        where = self._repo(repo)
        return await anyio.to_thread.run_sync(where.referrers_of, parse_digest_arg(subject))
