"""Re-hashing committed blobs and moving bad ones aside (:meth:`~aiocontent.LocalStore.verify`)."""

from __future__ import annotations

import dataclasses
import logging
import os
import stat
from typing import Final, Literal

from .._digest import Digest
from .._fileio import FileIO
from .._messages import content_not_found
from . import _fault
from ._blobs import blob_entries, valid_name
from ._flock import exclusive
from ._hashing import hash_fd
from ._layout import (
    DIR_MODE,
    Layout,
)

__all__ = ("Problem", "verify_blobs")

_log: Final = logging.getLogger("aiocontent")


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


def check_exist_sync(layout: Layout, digests: list[Digest]) -> None:
    for dgst in digests:
        if not os.path.lexists(layout.blob_path(dgst)):
            raise content_not_found(dgst)


def verify_targets_sync(layout: Layout) -> list[tuple[str, str]]:
    return [(alg, entry.name) for alg, entry in blob_entries(layout)]


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


def verify_one_sync(layout: Layout, alg: str, name: str, quarantine: bool) -> Problem | None:
    path = os.path.join(layout.blobs, alg, name)
    rel = layout.relative(path)
    label = f"{alg}:{name}"
    dgst = valid_name(alg, name)
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


async def verify_blobs(
    fileio: FileIO, layout: Layout, parsed: list[Digest], quarantine: bool
) -> list[Problem]:
    """:meth:`~aiocontent.LocalStore.verify` after its argument checks, one thread trip per blob."""
    if parsed:
        await fileio.run(check_exist_sync, layout, parsed)
        targets = [(str(d.algorithm), d.encoded) for d in dict.fromkeys(parsed)]
    else:
        targets = await fileio.run(verify_targets_sync, layout)
    problems = []
    for alg, name in targets:
        problem = await fileio.run(verify_one_sync, layout, alg, name, quarantine)
        if problem is not None:
            problems.append(problem)
    return problems
