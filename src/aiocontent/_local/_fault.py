"""Private crash-injection hook for reliability tests of the local store.

The environment variable ``AIOCONTENT_FAULT`` is read once, at import. When it
is unset (the normal case) every :func:`point` call is a single global lookup
and nothing happens. When set, it names one point and optionally the hit count
and the way to die::

    AIOCONTENT_FAULT=<point>[#<n>][@kill|@exit]

The process dies at the ``n``-th time (default 1) it reaches ``<point>``:
``@kill`` (the default) sends itself SIGKILL, like a power cut for the process
(the page cache survives); ``@exit`` calls ``os._exit(70)``. Points run inside
worker threads, with the store's files in the state described below.

Points, in the order a writer meets them:

``writer:after-mkdir``
    a new ingest folder exists, none of its files do.
``writer:after-files``
    ``ref``, ``startedat``, ``updatedat`` (and ``total``) are written, ``data`` is not created.
``timestamp:before-rename``
    a ``startedat.tmp``/``updatedat.tmp`` is written and not yet renamed.
``write:after-data``
    a chunk is in ``data`` but the writer's offset and hash do not count it yet.
``truncate:after-truncate``
    ``data`` is cut, the hash not yet recomputed.
``close:before-updatedat``
    ``data`` is synced and closed, ``updatedat`` not yet rewritten.
``close:before-hashstate``
    ``updatedat`` is rewritten, the SHA-256 state file not yet written.
``commit:after-fsync``
    ``data`` is read-only, has its times and is synced; no label is written.
``meta:before-rename``
    a label file's temporary copy is written and synced, not yet renamed
    (commit or put with labels, and ``update``).
``commit:after-labels``
    the labels are durable (or stale ones removed); the blob is not renamed.
``commit:after-rename``
    the blob is in ``blobs/``, its folder not yet synced.
``commit:after-dirsync``
    the blob is durable; the ingest folder still exists.
``commit:during-cleanup``
    the ingest folder is partly removed.
``commit:after-cleanup``
    the ingest is gone; the ref's lock file is still there.
``put:after-data``
    a put's temporary file under ``tmp/`` holds the bytes, not yet synced.
``put:after-fsync``
    that file is read-only, has its times and is synced; no label is written.
``put:after-labels``
    the put's labels are durable (or stale ones removed); the blob is not renamed.
``put:after-rename``
    the put's blob is in ``blobs/``, its folder not yet synced.
``delete:after-blob``
    a deleted blob is gone, its label file not yet.
``quarantine:after-move``
    a bad blob is moved aside, its label file not yet.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Final

__all__ = ("ENABLED", "ENV", "point")

ENV: Final = "AIOCONTENT_FAULT"


def _parse(spec: str | None) -> tuple[str, int, str] | None:
    if not spec:
        return None
    name, _, how = spec.partition("@")
    name, _, count = name.partition("#")
    return name, int(count) if count else 1, how or "kill"


_SPEC: Final = _parse(os.environ.get(ENV))
#: ``True`` when a point is armed; the data path only calls :func:`point` then.
ENABLED: Final = _SPEC is not None
_hits = 0
_hits_lock = threading.Lock()


def point(name: str) -> None:
    """Die here if ``AIOCONTENT_FAULT`` names this point (see the module docstring)."""
    if _SPEC is None or _SPEC[0] != name:
        return
    global _hits
    with _hits_lock:
        _hits += 1
        if _hits < _SPEC[1]:
            return
    if _SPEC[2] == "exit":
        os._exit(70)
    os.kill(os.getpid(), signal.SIGKILL)
