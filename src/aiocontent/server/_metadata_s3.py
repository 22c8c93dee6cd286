"""Registry metadata in an S3Store's bucket, shared by every host serving that bucket.

Under ``<store prefix>registry/``::

    repositories/<repo>!/blobs/<digest>                empty: the repository may serve the blob
    repositories/<repo>!/manifests/<digest>            the ManifestRecord, compact JSON
    repositories/<repo>!/tags/<tag>                    the digest the tag names, as text
    repositories/<repo>!/referrers/<subject>/<digest>  empty: manifest <digest> has that subject
    locks/<sha256 of repo>                             the repository's manifest lock

``<repo>`` is the name verbatim (``/`` included) and ``!`` ends it: ``!`` sorts
before every character a repository name may hold (``[a-z0-9._/-]``), so keys
list in the order of the names and one ``ListObjectsV2`` with the delimiter
``!/`` and ``StartAfter`` pages through the repositories; tags are listed the
same way under ``tags/``. Names outside that grammar (and empty, ``.`` or
``..`` parts) raise :class:`~aiocontent.InvalidArgumentError`.

Agreement between hosts rests on S3's conditional writes:

- ``put_manifest`` and ``delete_manifest`` of one repository run one at a time
  across hosts, under a lock object taken with ``If-None-Match: *`` and kept by
  a renewed lease (S3Store's ref lock; a crashed holder's lock is taken over
  once its lease ran out). So a tag never moves to a manifest a racing delete
  removes, and of racing moves of one tag the last to get the lock wins.
- a tag moves by compare-and-swap: ``If-Match`` on the ETag read (or
  ``If-None-Match: *`` for a new tag), read again and retried on 412.
- ``put_manifest`` writes the referrer entry, then the record, then the tags;
  ``delete_manifest`` removes the tags, then the record, then the entry. A crash
  at any point leaves every tag naming an existing record; an entry whose record
  is missing is skipped by readers and rewritten by a retried put.

Blob links, lookups and ``delete_tag`` take no lock: each is one or two requests.
A repository exists while its first key is a blob link or a record (``blobs/``
and ``manifests/`` sort before ``referrers/`` and ``tags/``).
"""

from __future__ import annotations

import hashlib
import logging
import random
import re
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Final

import anyio

from .._digest import Digest, parse_digest_arg
from .._errors import InvalidArgumentError, UnavailableError
from .._s3._client import S3Client
from .._s3._connection import Missing, PreconditionFailed
from .._s3._lock import S3Lock
from ._metadata import ManifestRecord
from ._metadata_records import decode_record, encode_record, tag_file_name

if TYPE_CHECKING:
    from .._s3._store import S3Store

__all__ = ("S3Metadata",)

_log: Final = logging.getLogger("aiocontent.server")

#: The characters of repository names (the OCI grammar's), all sorting after ``!``.
_REPO_NAME: Final = re.compile(r"[a-z0-9._-]+(?:/[a-z0-9._-]+)*")
_END: Final = "!/"
_REPO_MAX: Final = 255
_PAGE: Final = 1000
_PLAIN_ETAG: Final = re.compile(r"[0-9a-f]{32}")
#: Existence checks of one catalog page in flight at once.
_PARALLEL: Final = 16


def _invalid(what: str, value: object, why: str) -> InvalidArgumentError:
    return InvalidArgumentError(f"{what} {value!r} {why}: {InvalidArgumentError.kind_text}")


def _check_repo(repo: str) -> str:
    if not isinstance(repo, str):
        raise TypeError(f"repository name must be a str, not {type(repo).__name__}")
    if len(repo) > _REPO_MAX or not _REPO_NAME.fullmatch(repo):
        raise _invalid("repository name", repo, "is not a name of the OCI grammar")
    if any(part in (".", "..") for part in repo.split("/")):
        raise _invalid("repository name", repo, "has a '.' or '..' part")
    return repo


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


class S3Metadata:
    """A :class:`~aiocontent.server.RegistryMetadata` in an S3Store's bucket.

    Any number of objects, processes and hosts on one bucket and prefix serve
    one registry (see the module docstring for the layout and the guarantees).
    It uses the store's S3 client: close the store, not this object.

    :param store: the :class:`~aiocontent.S3Store` whose bucket and prefix hold it.
    :param prefix: where under the store's prefix, ``registry/`` by default.
    :param lease: seconds a repository lock outlives a host that stopped
        renewing it (default: the store's ``lock_lease``).
    :raises ~aiocontent.InvalidArgumentError: (from every method) a repository
        name outside the OCI grammar, a tag that is not one key segment or a
        digest that does not parse.
    :raises ~aiocontent.UnavailableError: (from ``put_manifest`` and
        ``delete_manifest``) the repository's lock stayed held for twice its lease.
    :raises OSError: an S3 request failed (the message names operation and key).
    """

    def __init__(
        self, store: S3Store, prefix: str = "registry/", *, lease: float | None = None
    ) -> None:
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        self._store = store
        self._client: S3Client = store._client
        self._base = f"{store.prefix}{prefix}"
        self._repos = f"{self._base}repositories/"
        self._lease = float(lease if lease is not None else store._lease)
        self._owner = store._owner
        self._local_locks: dict[str, anyio.Lock] = {}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._client.url(self._base)!r}>"

    @property
    def store(self) -> S3Store:
        """The store whose bucket holds this metadata."""
        return self._store

    # ------------------------------------------------------------------ keys

    def _repo(self, repo: str) -> str:
        return f"{self._repos}{_check_repo(repo)}{_END}"

    def _blob_key(self, repo: str, digest: Digest) -> str:
        return f"{self._repo(repo)}blobs/{parse_digest_arg(digest)}"

    def _record_key(self, repo: str, digest: Digest) -> str:
        return f"{self._repo(repo)}manifests/{parse_digest_arg(digest)}"

    def _tag_key(self, repo: str, tag: str) -> str:
        return f"{self._repo(repo)}tags/{tag_file_name(tag)}"

    def _referrers(self, repo: str, subject: Digest) -> str:
        return f"{self._repo(repo)}referrers/{parse_digest_arg(subject, 'subject')}/"

    # ------------------------------------------------------------------ the repository lock

    @asynccontextmanager
    async def _locked(self, repo: str) -> AsyncIterator[None]:
        """Hold ``repo``'s lock: first in this object, then in the bucket."""
        local = self._local_locks.setdefault(repo, anyio.Lock())
        try:
            async with local:
                lock = await self._acquire(repo)
                try:
                    yield
                finally:
                    with anyio.CancelScope(shield=True):
                        await lock.release()
        finally:
            if not local.locked() and local.statistics().tasks_waiting == 0:
                self._local_locks.pop(repo, None)

    async def _acquire(self, repo: str) -> S3Lock:
        key = f"{self._base}locks/{hashlib.sha256(repo.encode()).hexdigest()}"
        deadline = time.monotonic() + 2 * self._lease + 5
        pause = 0.005
        while True:
            lock = S3Lock(self._client, key, f"registry:{repo}", self._owner, self._lease)
            try:
                await lock.acquire()
            except UnavailableError:
                if time.monotonic() > deadline:
                    raise
                await anyio.sleep(random.uniform(pause / 2, pause))
                pause = min(pause * 2, 0.05)
                continue
            return lock

    # ------------------------------------------------------------------ blobs

    async def link_blob(self, repo: str, digest: Digest) -> None:
        """Let ``repo`` serve blob ``digest`` (one PUT; idempotent)."""
        key = self._blob_key(repo, digest)
        await self._store._ready()
        await self._client.put(key, b"")

    async def blob_linked(self, repo: str, digest: Digest) -> bool:
        """Whether ``repo`` may serve blob ``digest`` (one HEAD)."""
        key = self._blob_key(repo, digest)
        await self._store._ready()
        return await self._client.head(key) is not None

    async def unlink_blob(self, repo: str, digest: Digest) -> bool:
        """Stop ``repo`` serving ``digest``; ``False`` if it was not linked."""
        return await self._remove(self._blob_key(repo, digest))

    async def _remove(self, key: str) -> bool:
        await self._store._ready()
        if await self._client.head(key) is None:
            return False
        await self._client.delete(key)
        return True

    # ------------------------------------------------------------------ manifests and tags

    async def put_manifest(
        self, repo: str, record: ManifestRecord, tags: Sequence[str] = ()
    ) -> None:
        """Store ``record`` (and its referrer entry), then move each tag to it.

        Runs under the repository's lock; each tag moves by compare-and-swap.
        """
        record_key = self._record_key(repo, record.digest)
        entry = None
        if record.subject is not None:
            entry = self._referrers(repo, record.subject) + str(record.digest)
        tag_keys = [self._tag_key(repo, tag) for tag in tags]
        await self._store._ready()
        async with self._locked(repo):
            if entry is not None:
                await self._client.put(entry, b"")
            await self._client.put(record_key, encode_record(record))
            for key in tag_keys:
                await self._move_tag(key, record.digest)

    async def _move_tag(self, key: str, digest: Digest) -> None:
        body = str(digest).encode()
        for attempt in range(1000):
            got = await self._client.get(key)
            if got is not None and got[0] == body:
                return
            try:
                if got is None:
                    await self._client.put(key, body, if_none_match=True)
                else:
                    await self._client.put(key, body, if_match=got[1].etag)
                return
            except (PreconditionFailed, Missing):  # moved or deleted meanwhile: read again
                await anyio.sleep(random.uniform(0, 0.002 * min(attempt + 1, 50)))
        raise UnavailableError.with_context(f"tag {key} kept changing while moved to {digest}")

    async def manifest(self, repo: str, digest: Digest) -> ManifestRecord | None:
        """The record of manifest ``digest`` in ``repo`` (one GET), or ``None``."""
        key = self._record_key(repo, digest)
        await self._store._ready()
        return await self._read_record(key, Digest(digest))

    async def _read_record(self, key: str, digest: Digest) -> ManifestRecord | None:
        got = await self._client.get(key)
        if got is None:
            return None
        try:
            return decode_record(got[0], digest)
        except ValueError as exc:
            _log.warning("ignoring damaged manifest record %s: %s", self._client.url(key), exc)
            return None

    async def delete_manifest(self, repo: str, digest: Digest) -> bool:
        """Remove the tags naming ``digest``, then its record, then its referrer entry.

        :return: ``False`` when ``repo`` holds no such manifest.
        """
        record_key = self._record_key(repo, digest)
        dgst = Digest(digest)
        await self._store._ready()
        async with self._locked(repo):
            record = await self._read_record(record_key, dgst)
            if record is None and await self._client.head(record_key) is None:
                return False
            body = str(dgst).encode()
            for listed in await self._client.list_all(f"{self._repo(repo)}tags/"):
                if _PLAIN_ETAG.fullmatch(listed.etag) and listed.etag != _md5(body):
                    continue  # the ETag is the MD5 of another digest
                got = await self._client.get(listed.key)
                if got is not None and got[0] == body:
                    await self._client.delete(listed.key)
            await self._client.delete(record_key)
            if record is not None and record.subject is not None:
                await self._client.delete(self._referrers(repo, record.subject) + str(dgst))
        return True

    async def resolve_tag(self, repo: str, tag: str) -> Digest | None:
        """The digest ``tag`` names in ``repo`` (one GET), or ``None``."""
        key = self._tag_key(repo, tag)
        await self._store._ready()
        got = await self._client.get(key)
        if got is None:
            return None
        try:
            return parse_digest_arg(got[0].decode("ascii"))
        except (UnicodeDecodeError, InvalidArgumentError):
            _log.warning("ignoring damaged tag %s: %r", self._client.url(key), got[0][:100])
            return None

    async def delete_tag(self, repo: str, tag: str) -> bool:
        """Remove ``tag`` (its manifest stays); ``False`` if there was none."""
        return await self._remove(self._tag_key(repo, tag))

    # ------------------------------------------------------------------ listings

    async def tags(
        self, repo: str, *, last: str | None = None, limit: int | None = None
    ) -> list[str]:
        """The tags of ``repo``, sorted, after ``last``, at most ``limit`` (pages of 1000)."""
        prefix = f"{self._repo(repo)}tags/"
        await self._store._ready()
        found: list[str] = []
        token: str | None = None
        start = None if last is None else prefix + last
        while limit is None or len(found) < limit:
            want = _PAGE if limit is None else min(limit - len(found), _PAGE)
            objects, _, token = await self._client.list_page(
                prefix, token, start_after=start, max_keys=want
            )
            found += [o.key[len(prefix) :] for o in objects]
            if token is None:
                break
        return found

    async def manifest_digests(self, repo: str) -> list[Digest]:
        """The manifests ``repo`` holds, sorted (one listing; garbage collection lists them).

        A key under ``manifests/`` that is not a digest is skipped and logged.
        """
        prefix = f"{self._repo(repo)}manifests/"
        await self._store._ready()
        found: list[Digest] = []
        for listed in await self._client.list_all(prefix):
            name = listed.key[len(prefix) :]
            try:
                found.append(parse_digest_arg(name))
            except InvalidArgumentError:
                _log.warning("ignoring a stray key %s", self._client.url(listed.key))
        return sorted(found)

    async def repositories(self, *, last: str | None = None, limit: int | None = None) -> list[str]:
        """The repositories holding a blob link or manifest, sorted, after ``last``."""
        await self._store._ready()
        found: list[str] = []
        token: str | None = None
        start = None if last is None else f"{self._repos}{last}{_END}~"
        while limit is None or len(found) < limit:
            want = _PAGE if limit is None else min(limit - len(found), _PAGE)
            _, prefixes, token = await self._client.list_page(
                self._repos, token, _END, start_after=start, max_keys=want
            )
            names = [p[len(self._repos) : -len(_END)] for p in prefixes]
            found += [n for n, ok in zip(names, await self._all_exist(names), strict=True) if ok]
            if token is None:
                break
        return found if limit is None else found[:limit]

    async def _all_exist(self, names: list[str]) -> list[bool]:
        answers = [False] * len(names)
        limiter = anyio.Semaphore(_PARALLEL)

        async def one(i: int) -> None:
            async with limiter:
                answers[i] = await self._exists(names[i])

        async with anyio.create_task_group() as tg:
            for i in range(len(names)):
                tg.start_soon(one, i)
        return answers

    async def _exists(self, repo: str) -> bool:
        prefix = f"{self._repos}{repo}{_END}"
        objects, _, _ = await self._client.list_page(prefix, max_keys=1)
        return bool(objects) and objects[0].key[len(prefix) :].startswith(("blobs/", "manifests/"))

    async def repository_exists(self, repo: str) -> bool:
        """Whether ``repo`` holds any blob link or manifest (one listing of one key)."""
        _check_repo(repo)
        await self._store._ready()
        return await self._exists(repo)

    async def referrers(self, repo: str, subject: Digest) -> list[ManifestRecord]:
        """The manifests of ``repo`` whose subject is ``subject``, by digest."""
        prefix = self._referrers(repo, subject)
        await self._store._ready()
        entries = sorted(o.key[len(prefix) :] for o in await self._client.list_all(prefix))
        records: list[ManifestRecord | None] = [None] * len(entries)
        limiter = anyio.Semaphore(_PARALLEL)

        async def one(i: int) -> None:
            digest = Digest(entries[i])
            async with limiter:
                records[i] = await self._read_record(self._record_key(repo, digest), digest)

        async with anyio.create_task_group() as tg:
            for i in range(len(entries)):
                tg.start_soon(one, i)
        return [r for r in records if r is not None and r.subject == subject]
