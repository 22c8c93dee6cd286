"""LocalStore: containerd's file content store, for anyio (asyncio and trio)."""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import logging
import operator
import os
import re
import shutil
import stat
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final, Literal, TypeAlias

import anyio
from anyio.abc import AsyncResource

from .._digest import Algorithm, Digest, parse_digest_arg
from .._errors import (
    ContentError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
)
from .._fileio import FileIO
from .._filters import ALWAYS, adapt_info, adapt_status, parse_all
from .._locks import RefLocks
from .._singleflight import Flights
from .._types import (
    Descriptor,
    Info,
    LabelUpdate,
    Opt,
    Status,
    WalkFunc,
    WriterOpt,
    check_ref,
    check_str,
    now,
    resolve_opts,
    resolve_writer_opts,
)
from . import _fault
from ._flock import exclusive, try_lock_ref, unlock_ref
from ._layout import DIR_MODE, Layout, from_ns, ingest_hex, read_status, root_path
from ._meta import META_CACHE, Meta, read_meta, remove_meta, write_meta
from ._put import put_sync, remove_stale_temps
from ._reader import LocalReaderAt, open_blob
from ._writer import HASHES, LocalWriter, hash_fd, open_ingest

__all__ = ("LocalStore", "Problem")

_log: Final = logging.getLogger("aiocontent")

#: Blobs whose info one thread trip of ``walk`` gathers.
_WALK_BATCH: Final = 1024

_EMPTY_META: Final = Meta()
_NAME: Final = operator.attrgetter("name")
_NAME_CHECKS: dict[str, Callable[[str], object]] = {}


@dataclasses.dataclass(frozen=True)
class Problem:
    """A blob that :meth:`LocalStore.verify` found wrong.

    :ivar digest: the digest the blob is stored under (``<alg>:<file name>``).
    :ivar kind: ``"corrupt"`` (the bytes do not hash to the name),
        ``"misnamed"`` (the name is not a valid digest for its folder, or the
        entry is not a regular file) or ``"unreadable"`` (an I/O error).
    :ivar detail: a human-readable explanation naming the path inside the root.

    .. versionadded:: 0.1
    """

    digest: str
    kind: Literal["corrupt", "misnamed", "unreadable"]
    detail: str


def _content_not_found(dgst: str) -> NotFoundError:
    return NotFoundError(f"content {dgst}: {NotFoundError.kind_text}")


def _put_args(data: object, desc: object) -> tuple[Digest, bytes]:
    """Check :meth:`LocalStore.put`'s data and descriptor; returns the digest and an immutable copy.

    :raises TypeError: ``data`` is not bytes-like or ``desc`` not a Descriptor.
    :raises ~aiocontent.InvalidArgumentError: the digest is missing or malformed.
    :raises ~aiocontent.FailedPreconditionError: ``len(data)`` differs from ``desc.size``.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"data must be bytes-like, not {type(data).__name__}")
    if not isinstance(desc, Descriptor):
        raise TypeError(f"desc must be a Descriptor, not {type(desc).__name__}")
    if not desc.digest:
        raise InvalidArgumentError(
            f"put needs a descriptor digest, got {desc.digest!r}: {InvalidArgumentError.kind_text}"
        )
    dgst = parse_digest_arg(desc.digest)
    # bytes are kept as they are; a mutable buffer is copied so that what is
    # hashed is what is written.
    raw = data if isinstance(data, bytes) else memoryview(data).cast("B").tobytes()
    if desc.size > 0 and len(raw) != desc.size:
        raise FailedPreconditionError(
            f"unexpected commit size {len(raw)}, expected {desc.size}: "
            f"{FailedPreconditionError.kind_text}"
        )
    return dgst, raw


# --------------------------------------------------------------------------- thread side


def _stat_blob(layout: Layout, dgst: Digest) -> os.stat_result:
    try:
        st = os.stat(layout.blob_path(dgst))
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise _content_not_found(dgst) from exc
    if not stat.S_ISREG(st.st_mode):
        raise _content_not_found(dgst)
    return st


def _make_info(dgst: Digest, st: os.stat_result, meta: Meta) -> Info:
    created = from_ns(st.st_mtime_ns)
    return Info(
        digest=dgst,
        size=st.st_size,
        created_at=created,
        updated_at=meta.updated_at or created,
        labels=meta.labels,
    )


def _info_sync(layout: Layout, dgst: Digest) -> Info:
    st = _stat_blob(layout, dgst)
    return _make_info(dgst, st, read_meta(layout.meta_path(dgst)))


def _blob_entries(layout: Layout) -> list[tuple[str, os.DirEntry[str]]]:
    """Entries of every registered-algorithm folder of ``blobs/``, in lexical order."""
    try:
        top = sorted(os.scandir(layout.blobs), key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return []
    out: list[tuple[str, os.DirEntry[str]]] = []
    for alg_entry in top:
        if not alg_entry.is_dir(follow_symlinks=False):
            _log.debug("walk: skipping stray entry blobs/%s", alg_entry.name)
            continue
        if not Algorithm(alg_entry.name).available:
            _log.debug("walk: skipping unknown algorithm folder blobs/%s", alg_entry.name)
            continue
        try:
            with os.scandir(alg_entry.path) as it:
                entries = list(it)
            entries.sort(key=_NAME)
        except OSError as exc:
            _log.warning("walk: cannot list blobs/%s: %s", alg_entry.name, exc)
            continue
        out.extend((alg_entry.name, entry) for entry in entries)
    return out


def _valid_name(alg: str, name: str) -> Digest | None:
    dgst = Digest(f"{alg}:{name}")
    try:
        dgst.validate()
    except InvalidArgumentError:
        return None
    return dgst


#: What one blob of a walk needs: its digest, its entry and its metadata file's entry.
_WalkItem: TypeAlias = tuple[Digest, os.DirEntry[str], "os.DirEntry[str] | None"]


def _meta_entries(layout: Layout, alg: str) -> dict[str, os.DirEntry[str]]:
    """The metadata files of one algorithm, by name (one listing instead of an open per blob)."""
    try:
        with os.scandir(os.path.join(layout.meta, alg)) as it:
            return {e.name: e for e in it if "." not in e.name}
    except (FileNotFoundError, NotADirectoryError):
        return {}


def _name_check(alg: str) -> Callable[[str], object]:
    """A quick test that a file name is the encoded part of an ``alg`` digest.

    The same rule as :meth:`Digest.validate` for a registered algorithm: exactly
    ``2 * size`` lower-case hex digits.
    """
    check = _NAME_CHECKS.get(alg)
    if check is None:
        size = Algorithm(alg).size
        check = _NAME_CHECKS[alg] = re.compile(f"[a-f0-9]{{{2 * size}}}", re.ASCII).fullmatch
    return check


def _list_blobs_sync(layout: Layout) -> list[_WalkItem]:
    out: list[_WalkItem] = []
    metas: dict[str, dict[str, os.DirEntry[str]]] = {}
    for alg, entry in _blob_entries(layout):
        name = entry.name
        dgst = Digest(f"{alg}:{name}") if _name_check(alg)(name) else None
        if dgst is None or not entry.is_file(follow_symlinks=False):
            _log.warning("walk: skipping blobs/%s/%s: not a blob", alg, entry.name)
            continue
        if alg not in metas:
            metas[alg] = _meta_entries(layout, alg)
        out.append((dgst, entry, metas[alg].get(name)))
    return out


def _walk_infos_sync(layout: Layout, items: list[_WalkItem]) -> list[Info]:
    """The :class:`Info` of each listed blob; blobs deleted meanwhile are skipped."""
    out = []
    for dgst, entry, meta_entry in items:
        try:
            st = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue  # deleted while walking
        if not stat.S_ISREG(st.st_mode):
            continue
        meta = _EMPTY_META
        if meta_entry is not None:
            with contextlib.suppress(FileNotFoundError):  # labels removed meanwhile
                meta = META_CACHE.get(meta_entry.path, meta_entry.stat(follow_symlinks=False))
        created = from_ns(st.st_mtime_ns)
        out.append(
            Info(
                digest=dgst,
                size=st.st_size,
                created_at=created,
                updated_at=meta.updated_at or created,
                labels=dict(meta.labels),
            )
        )
    return out


def _update_sync(layout: Layout, dgst: Digest, change: LabelUpdate) -> Info:
    _stat_blob(layout, dgst)  # a missing blob creates no lock file
    with exclusive(layout.meta_lock_path(dgst)):
        st = _stat_blob(layout, dgst)
        meta_path = layout.meta_path(dgst)
        labels = change.apply(read_meta(meta_path).labels)
        stamp = now()
        write_meta(meta_path, Meta(labels, stamp))
    try:
        ns = time.time_ns()
        os.utime(layout.blob_path(dgst), ns=(ns, st.st_mtime_ns))
    except OSError as exc:
        _log.debug("update: could not set the access time of %s: %s", dgst, exc)
    info = _make_info(dgst, st, Meta(dict(labels), stamp))
    return info


def _delete_sync(layout: Layout, dgst: Digest) -> None:
    path = layout.blob_path(dgst)
    if not os.path.lexists(path):  # a missing blob creates no lock file
        raise _content_not_found(dgst)
    with exclusive(layout.meta_lock_path(dgst)):
        try:
            os.unlink(path)
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise _content_not_found(dgst) from exc
        except IsADirectoryError:
            shutil.rmtree(path)
        _fault.point("delete:after-blob")
        remove_meta(layout.meta_path(dgst))


def _list_statuses_sync(layout: Layout) -> list[Status]:
    try:
        entries = list(os.scandir(layout.ingest))
    except (FileNotFoundError, NotADirectoryError):
        return []
    out = []
    for entry in entries:
        if not entry.is_dir(follow_symlinks=False):
            continue
        try:
            out.append(read_status(entry.path))
        except NotFoundError:
            continue  # vanished (committed or aborted) or still being created
        except ContentError as exc:
            _log.warning("skipping damaged ingest %s: %s", entry.path, exc)
    out.sort(key=lambda st: st.ref)
    return out


def _status_sync(layout: Layout, ref: str) -> Status:
    try:
        return read_status(layout.ingest_dir(ingest_hex(ref)))
    except NotFoundError as exc:
        raise NotFoundError(f'ingest ref "{ref}": {exc}') from exc


def _remove_tree(folder: str) -> None:
    """Remove ``folder`` recursively; entries vanishing meanwhile are fine."""
    for _ in range(3):
        try:
            shutil.rmtree(folder)
        except FileNotFoundError:
            if not os.path.lexists(folder):
                return
        else:
            return
    shutil.rmtree(folder)


def _drop_hash_state(folder: str) -> None:
    with contextlib.suppress(OSError):
        HASHES.drop(os.stat(os.path.join(folder, "data")))


def _abort_sync(layout: Layout, ref: str, hexname: str, unlocked_here: bool) -> None:
    folder = layout.ingest_dir(hexname)
    if not os.path.isdir(folder):
        raise NotFoundError(f'ingest ref "{ref}": {NotFoundError.kind_text}')
    _drop_hash_state(folder)
    _remove_tree(folder)
    if unlocked_here:
        lock_path = layout.ref_lock_path(hexname)
        fd = try_lock_ref(lock_path) if os.path.exists(lock_path) else None
        if fd is not None:
            unlock_ref(fd, remove=lock_path)


def _prune_one_sync(layout: Layout, hexname: str, cutoff: datetime) -> bool:
    lock_path = layout.ref_lock_path(hexname)
    fd = try_lock_ref(lock_path)
    if fd is None:
        return False
    removed = False
    try:
        folder = layout.ingest_dir(hexname)
        try:
            st = read_status(folder)
        except NotFoundError:
            return False
        except ContentError:
            pass  # damaged: prune by the folder's own time below
        else:
            if st.updated_at > cutoff:
                return False
        _drop_hash_state(folder)
        _remove_tree(folder)
        removed = True
        return True
    finally:
        unlock_ref(fd, remove=lock_path if removed else None)


def _check_exist_sync(layout: Layout, digests: list[Digest]) -> None:
    for dgst in digests:
        if not os.path.lexists(layout.blob_path(dgst)):
            raise _content_not_found(dgst)


def _verify_targets_sync(layout: Layout) -> list[tuple[str, str]]:
    return [(alg, entry.name) for alg, entry in _blob_entries(layout)]


def _quarantine(layout: Layout, alg: str, name: str) -> str:
    folder = os.path.join(layout.quarantine, alg)
    os.makedirs(folder, DIR_MODE, exist_ok=True)
    target = os.path.join(folder, name)
    n = 0
    while os.path.lexists(target):
        n += 1
        target = os.path.join(folder, f"{name}.{n}")
    os.rename(os.path.join(layout.blobs, alg, name), target)
    _fault.point("quarantine:after-move")
    return target


def _verify_one_sync(layout: Layout, alg: str, name: str, quarantine: bool) -> Problem | None:
    path = os.path.join(layout.blobs, alg, name)
    rel = layout.relative(path)
    label = f"{alg}:{name}"
    dgst = _valid_name(alg, name)
    problem: Problem | None = None
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None  # deleted meanwhile
    except OSError as exc:
        return Problem(label, "unreadable", f"{rel}: {exc}")
    if dgst is None:
        problem = Problem(label, "misnamed", f"{rel}: the name is not a valid {alg} digest")
    elif not stat.S_ISREG(st.st_mode):
        problem = Problem(label, "misnamed", f"{rel}: not a regular file")
    else:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                actual = hash_fd(fd, dgst.algorithm)[0].digest()
            finally:
                os.close(fd)
        except FileNotFoundError:
            return None
        except OSError as exc:
            return Problem(label, "unreadable", f"{rel}: {exc}")
        if actual != dgst:
            problem = Problem(label, "corrupt", f"{rel}: the content hashes to {actual}")
    if problem is None or not quarantine:
        return problem
    if dgst is None:
        target = _quarantine(layout, alg, name)
    else:
        with exclusive(layout.meta_lock_path(dgst)):
            target = _quarantine(layout, alg, name)
            meta_path = layout.meta_path(dgst)
            if os.path.exists(meta_path):
                os.rename(meta_path, target + ".meta")
    return dataclasses.replace(
        problem, detail=f"{problem.detail}; moved to {layout.relative(target)}"
    )


# --------------------------------------------------------------------------- the store


class LocalStore(AsyncResource):
    """containerd's local content store on a directory, for asyncio and trio.

    The layout is containerd's (``blobs/<alg>/<encoded>``, ``ingest/<sha256
    hex of ref>/`` with ``ref``, ``data``, ``startedat``, ``updatedat`` and
    ``total``), so a containerd content root opens as is and ingests left here
    resume in containerd. Beyond containerd, labels and the recorded
    ``updated_at`` persist in ``meta/``, refs are also locked across store
    objects and processes (``flock`` on ``locks/``), and commits are durable
    and crash-safe: a file under ``blobs/`` always has the content its name
    says, is read-only and carries its labels.

    Usable right after construction; folders are created on first use. Use it
    as ``async with LocalStore(root) as cs:`` or call :meth:`aclose`;
    afterwards new calls raise :class:`~aiocontent.FailedPreconditionError`
    while writers and readers opened before keep working until closed.

    It offers :class:`~aiocontent.SupportsSingleFlight`,
    :class:`~aiocontent.SupportsLockWait`, :class:`~aiocontent.SupportsPut`
    and :class:`~aiocontent.SupportsSiblings`.

    :param root: the content root, for example
        ``/var/lib/containerd/io.containerd.content.v1.content``.
    :raises TypeError: ``root`` is not a ``str`` or path-like.
    :raises ~aiocontent.InvalidArgumentError: ``root`` is empty.

    .. versionadded:: 0.1
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self._root = root_path(root)
        self._layout = Layout(str(self._root))
        self._io = FileIO(fault=_fault.point if _fault.ENABLED else None)
        self._locks = RefLocks()
        self._flights = Flights()
        self._writers: dict[str, LocalWriter] = {}
        self._expected: dict[str, Digest | None] = {}
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<{type(self).__name__} {str(self._root)!r} writers={len(self._writers)} {state}>"

    @property
    def root(self) -> Path:
        """The content root, as an absolute path."""
        return self._root

    @property
    def flights(self) -> Flights:
        """This store's table of running :func:`~aiocontent.write_blob` leaders."""
        return self._flights

    def _check_open(self) -> None:
        if self._closed:
            raise FailedPreconditionError(
                f"{type(self).__name__} {str(self._root)!r} is closed: "
                f"{FailedPreconditionError.kind_text}"
            )

    async def wait_unlocked(self, ref: str, *, poll: float) -> None:
        """Wait for ``ref`` to be released.

        Wakes as soon as a writer of this store object releases it; when no
        writer here holds it (another store object or process may), returns
        after ``poll`` seconds so that the caller retries.
        """
        check_str(ref, "ref")
        if self._locks.is_locked(ref):
            await self._locks.wait_unlocked(ref)
            return
        await anyio.sleep(max(0.0, poll))

    def sibling(self) -> AbstractAsyncContextManager[LocalStore]:
        """A new :class:`LocalStore` on the same root, closed when the context ends.

        It shares no in-process state with this one; their writers exclude
        each other through the file locks, like two processes.
        """
        return self._sibling()

    @asynccontextmanager
    async def _sibling(self) -> AsyncIterator[LocalStore]:
        self._check_open()
        store = LocalStore(self._root)
        try:
            yield store
        finally:
            await store.aclose()

    async def aclose(self) -> None:
        """Close the store: new calls raise :class:`~aiocontent.FailedPreconditionError`.

        Writers and readers opened before keep working until closed; the
        store's threads stop after the last of them. Calling it again does nothing.
        """
        if not self._closed:
            self._closed = True
            self._io.close()
        await anyio.lowlevel.checkpoint()

    # ------------------------------------------------------------------ Ingester

    async def writer(self, *opts: WriterOpt) -> LocalWriter:
        """Open a writer for the ref given by :func:`~aiocontent.with_ref`.

        An existing ingest for the ref (also one written by containerd) is
        resumed: offset and digest continue from its data, re-hashed in one
        worker-thread call unless a writer of this process closed it and the
        data file is unchanged. ``desc.digest`` selects the hashing algorithm
        (SHA256 when absent) and is reported as ``Status.expected``;
        ``desc.size > 0`` sets the expected total (and is stored when the
        ingest had none).

        :raises ~aiocontent.InvalidArgumentError: empty or malformed ref, or a
            ``desc.digest`` that does not validate.
        :raises ~aiocontent.UnavailableError: another writer (of this or another
            store object or process) holds the ref; the message says since when.
        :raises ~aiocontent.AlreadyExistsError: ``desc.digest`` is already committed.
        :raises ~aiocontent.FailedPreconditionError: ``desc.size`` differs from
            the total stored with the ingest (the ingest is untouched), or the
            store is closed.
        """
        wopts = resolve_writer_opts(opts)
        ref, desc = wopts.ref, wopts.desc
        expected = desc.digest or None
        self._check_open()
        token = self._locks.try_lock(ref)
        hexname = ingest_hex(ref)
        try:
            opened = await self._io.run(
                open_ingest, self._layout, ref, hexname, expected, desc.size
            )
        except BaseException:
            self._locks.unlock(token)
            raise
        self._io.retain()
        w = LocalWriter(self, ref, hexname, opened, self._io.data_file(opened.raw), token, expected)
        self._writers[ref] = w
        self._expected[ref] = expected
        try:
            await anyio.lowlevel.checkpoint_if_cancelled()
        except BaseException:
            with anyio.CancelScope(shield=True):
                await w.aclose()
            raise
        return w

    async def put(
        self, ref: str, data: bytes | bytearray | memoryview, desc: Descriptor, *opts: Opt
    ) -> None:
        """Store a small in-memory blob in one worker-thread trip, without an ingest.

        See :meth:`aiocontent.SupportsPut.put` for the contract. The bytes are
        hashed, written to a read-only file under ``<root>/tmp/``, synced and
        published exactly as a commit publishes (labels first, then the rename
        into ``blobs/<alg>/`` and a folder sync, under the blob's lock), so the
        crash guarantees are a commit's. ``ref`` is held within this store
        object for the call; its cross-process lock is taken only to remove an
        unfinished ingest left under ``ref``, as a commit would have.

        :raises TypeError: ``data`` is not bytes-like, ``desc`` not a Descriptor.
        :raises ~aiocontent.InvalidArgumentError: bad ref, missing or malformed
            digest, or a bad label.
        :raises ~aiocontent.UnavailableError: a writer of this store object holds ``ref``.
        :raises ~aiocontent.FailedPreconditionError: size or digest mismatch
            (nothing is stored), or the store is closed.
        :raises OSError: writing, syncing or publishing failed (nothing is stored).
        """
        check_ref(ref)
        dgst, view = _put_args(data, desc)
        labels = resolve_opts(opts).labels
        self._check_open()
        token = self._locks.try_lock(ref)
        try:
            # Shielded like a commit: once started, the put runs to its end.
            with anyio.CancelScope(shield=True):
                await self._io.run(put_sync, self._layout, ref, dgst, view, labels)
        finally:
            self._locks.unlock(token)
        await anyio.lowlevel.checkpoint_if_cancelled()

    # ------------------------------------------------------------------ Provider

    async def reader_at(self, desc: Descriptor) -> LocalReaderAt:
        """Open the blob ``desc.digest`` for positional reads (only the digest is used).

        :raises ~aiocontent.NotFoundError: no such blob.
        :raises ~aiocontent.InvalidArgumentError: the digest is malformed.
        :raises ~aiocontent.FailedPreconditionError: the store is closed.
        """
        if not isinstance(desc, Descriptor):
            raise TypeError(f"desc must be a Descriptor, not {type(desc).__name__}")
        dgst = parse_digest_arg(desc.digest)
        self._check_open()
        fd, size = await self._io.run(open_blob, self._layout, dgst)
        self._io.retain()
        reader = LocalReaderAt(self._io, dgst, fd, size)
        try:
            await anyio.lowlevel.checkpoint_if_cancelled()
        except BaseException:
            await reader.aclose()
            raise
        return reader

    # ------------------------------------------------------------------ Manager

    async def info(self, dgst: str) -> Info:
        """The blob's :class:`~aiocontent.Info` with its labels.

        ``created_at`` is the commit time (the blob's mtime); ``updated_at`` the
        time of the last :meth:`update`, else the commit time. Reads never move it.

        :raises ~aiocontent.NotFoundError: no such blob.
        :raises ~aiocontent.InvalidArgumentError: the digest is malformed.
        :raises ~aiocontent.FailedPreconditionError: the store is closed.
        """
        parsed = parse_digest_arg(dgst)
        self._check_open()
        return await self._io.run(_info_sync, self._layout, parsed)

    async def update(self, info: Info, *fieldpaths: str) -> Info:
        """Change a blob's labels durably; see :meth:`aiocontent.Manager.update`.

        :raises ~aiocontent.InvalidArgumentError: a malformed digest, an unknown
            fieldpath or a bad label; nothing changes.
        :raises ~aiocontent.NotFoundError: no such blob.
        :raises ~aiocontent.FailedPreconditionError: the store is closed.
        """
        dgst, change = LabelUpdate.parse(info, fieldpaths)
        self._check_open()
        return await self._io.run(_update_sync, self._layout, dgst, change)

    async def walk(self, fn: WalkFunc, *filters: str) -> None:
        """Call ``fn`` for each blob matching any filter, in lexical (digest) order.

        Only regular files directly inside a registered algorithm's folder whose
        names are valid digests are blobs; anything else is skipped and logged.
        Blobs deleted while walking are skipped; a missing ``blobs/`` yields
        nothing. An exception from ``fn`` stops the walk and propagates.

        :raises ~aiocontent.InvalidArgumentError: a malformed filter.
        :raises ~aiocontent.FailedPreconditionError: the store is closed.
        """
        if not callable(fn):
            raise TypeError(f"fn must be callable, not {type(fn).__name__}")
        selected = parse_all(*filters)
        everything = selected is ALWAYS
        self._check_open()
        items = await self._io.run(_list_blobs_sync, self._layout)
        for start in range(0, len(items), _WALK_BATCH):
            batch = items[start : start + _WALK_BATCH]
            for info in await self._io.run(_walk_infos_sync, self._layout, batch):
                if everything or selected.match(adapt_info(info)):
                    result = fn(info)
                    if result is not None and inspect.isawaitable(result):
                        await result

    async def delete(self, dgst: str) -> None:
        """Remove a blob and its labels.

        :raises ~aiocontent.NotFoundError: no such blob.
        :raises ~aiocontent.InvalidArgumentError: the digest is malformed.
        :raises ~aiocontent.FailedPreconditionError: the store is closed.
        """
        parsed = parse_digest_arg(dgst)
        self._check_open()
        await self._io.run(_delete_sync, self._layout, parsed)

    # ------------------------------------------------------------------ IngestManager

    async def status(self, ref: str) -> Status:
        """The status of the ingest under ``ref``, read from disk (locks are ignored).

        ``expected`` is known only for ingests a writer of this store object opened.

        :raises ~aiocontent.NotFoundError: no such ingest.
        :raises ~aiocontent.ContentError: a timestamp file of the ingest is damaged.
        :raises ~aiocontent.FailedPreconditionError: the store is closed.
        """
        check_str(ref, "ref")
        self._check_open()
        st = await self._io.run(_status_sync, self._layout, ref)
        if st.ref == ref:
            st.expected = self._expected.get(ref)
        return st

    async def list_statuses(self, *filters: str) -> list[Status]:
        """The statuses of the ingests matching any filter (field ``ref``), sorted by ref.

        Ingests that vanish while listing, non-folders and damaged ingests
        (logged) are skipped.

        :raises ~aiocontent.InvalidArgumentError: a malformed filter.
        :raises ~aiocontent.FailedPreconditionError: the store is closed.
        """
        selected = parse_all(*filters)
        self._check_open()
        statuses = await self._io.run(_list_statuses_sync, self._layout)
        out = []
        for st in statuses:
            if selected.match(adapt_status(st)):
                st.expected = self._expected.get(st.ref)
                out.append(st)
        return out

    async def abort(self, ref: str) -> None:
        """Remove the ingest under ``ref``, even while a writer holds it.

        A writer of this store object holding it raises
        :class:`~aiocontent.NotFoundError` on its next ``write``, ``truncate`` or
        ``commit`` and releases the ref; a writer elsewhere fails at commit.

        :raises ~aiocontent.NotFoundError: no such ingest.
        :raises ~aiocontent.FailedPreconditionError: the store is closed.
        """
        check_str(ref, "ref")
        self._check_open()
        await self._io.run(
            _abort_sync, self._layout, ref, ingest_hex(ref), not self._locks.is_locked(ref)
        )
        self._expected.pop(ref, None)
        w = self._writers.get(ref)
        if w is not None:
            w.mark_aborted()

    # ------------------------------------------------------------------ extras

    async def prune_ingests(self, older_than: timedelta) -> list[str]:
        """Remove the ingests not updated for ``older_than``; return their refs, sorted.

        "Updated" is ``Status.updated_at`` (the later of ``updatedat`` and the
        data's mtime). An ingest whose ref is locked (here, by another store
        object or by another process) is never removed. Temporary files a
        crash left behind (label files' ``meta/<alg>/<encoded>.tmp-*`` copies
        and :meth:`put`'s files under ``tmp/``) are removed too once they are
        an hour old, whatever ``older_than`` says; a live writer holds one for
        milliseconds.

        :raises TypeError: ``older_than`` is not a :class:`~datetime.timedelta`.
        :raises ~aiocontent.InvalidArgumentError: ``older_than`` is negative.
        :raises ~aiocontent.FailedPreconditionError: the store is closed.
        """
        if not isinstance(older_than, timedelta):
            raise TypeError(f"older_than must be a timedelta, not {type(older_than).__name__}")
        if older_than < timedelta(0):
            raise InvalidArgumentError(
                f"older_than {older_than} must not be negative: {InvalidArgumentError.kind_text}"
            )
        self._check_open()
        statuses = await self._io.run(_list_statuses_sync, self._layout)
        cutoff = now() - older_than
        pruned = []
        for st in statuses:
            if st.updated_at > cutoff or self._locks.is_locked(st.ref):
                continue
            token = self._locks.try_lock(st.ref)
            try:
                removed = await self._io.run(
                    _prune_one_sync, self._layout, ingest_hex(st.ref), cutoff
                )
            finally:
                self._locks.unlock(token)
            if removed:
                self._expected.pop(st.ref, None)
                pruned.append(st.ref)
        await self._io.run(remove_stale_temps, self._layout)
        return pruned

    async def verify(self, *digests: str, quarantine: bool = False) -> list[Problem]:
        """Re-hash blobs off the event loop and report the bad ones.

        With no digests, every entry of every registered algorithm's folder is
        checked, so misnamed files are found too. With ``quarantine=True`` each
        bad entry is moved under ``<root>/quarantine/<alg>/`` (its labels beside
        it), after which ``info``/``reader_at`` raise
        :class:`~aiocontent.NotFoundError` and ``walk`` skips it.

        :return: the problems found, in lexical order of the blobs' paths.
        :raises ~aiocontent.InvalidArgumentError: a malformed digest.
        :raises ~aiocontent.NotFoundError: a named digest is not in the store
            (checked before anything is hashed).
        :raises ~aiocontent.FailedPreconditionError: the store is closed.
        """
        parsed = [parse_digest_arg(d) for d in digests]
        if not isinstance(quarantine, bool):
            raise TypeError(f"quarantine must be a bool, not {type(quarantine).__name__}")
        self._check_open()
        if parsed:
            await self._io.run(_check_exist_sync, self._layout, parsed)
            targets = [(str(d.algorithm), d.encoded) for d in dict.fromkeys(parsed)]
        else:
            targets = await self._io.run(_verify_targets_sync, self._layout)
        problems = []
        for alg, name in targets:
            problem = await self._io.run(_verify_one_sync, self._layout, alg, name, quarantine)
            if problem is not None:
                problems.append(problem)
        return problems
