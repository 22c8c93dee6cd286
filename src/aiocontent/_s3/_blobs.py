"""The blob side of :class:`~._store.S3Store` on the bucket: labels sidecars, listings, fan-out.

A blob's times and labels live in its ``meta/`` sidecar, updated by
compare-and-swap on the sidecar's ETag so that no concurrent update is lost.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Coroutine
from typing import Any, Final, TypeVar

import anyio

from .._digest import Digest
from .._errors import InvalidArgumentError
from .._messages import label_update_conflict
from .._types import Info, LabelUpdate, now
from ._client import Head, Listed, S3Client
from ._connection import PreconditionFailed
from ._layout import Layout, Meta, created_fallback

__all__ = ("blob_infos", "gather", "read_meta", "update_labels")

T = TypeVar("T")

_log: Final = logging.getLogger("aiocontent")
_CONCURRENCY: Final = 16


async def read_meta(client: S3Client, layout: Layout, d: Digest) -> Meta:
    """The blob's sidecar (empty when it has none)."""
    got = await client.get(layout.meta(d))
    return Meta.loads(got[0]) if got is not None else Meta()


async def update_labels(
    client: S3Client, layout: Layout, d: Digest, head: Head, change: LabelUpdate
) -> Info:
    """Apply ``change`` to the labels of blob ``d`` (whose HEAD is ``head``), retrying on races.

    :raises ~aiocontent.UnavailableError: 100 attempts lost the race.
    """
    key = layout.meta(d)
    for attempt in range(100):
        got = await client.get(key)
        meta = Meta.loads(got[0]) if got is not None else Meta()
        labels = change.apply(meta.labels)
        created = meta.created_at or created_fallback(head.metadata, head.last_modified)
        new = Meta(created_at=created, updated_at=now(), labels=labels)
        try:
            if got is None:
                await client.put(key, new.dumps(), if_none_match=True)
            else:
                await client.put(key, new.dumps(), if_match=got[1].etag)
        except PreconditionFailed:
            await anyio.sleep(random.uniform(0, 0.005 * min(attempt + 1, 20)))
            continue
        assert new.updated_at is not None
        return Info(
            digest=d,
            size=head.size,
            created_at=created,
            updated_at=new.updated_at,
            labels=dict(labels),
        )
    raise label_update_conflict(d)


def _blob_digests(objects: list[Listed], base: str) -> list[tuple[Digest, Listed]]:
    """The objects of a ``blobs/`` listing that are blobs, with their digests.

    Keys that are not ``<alg>/<encoded>`` with a valid digest are skipped (and logged).
    """
    digests: list[tuple[Digest, Listed]] = []
    for o in objects:
        alg, sep, enc = o.key[len(base) :].partition("/")
        d = Digest(f"{alg}:{enc}")
        try:
            d.validate()
        except InvalidArgumentError:
            sep = ""
        if not sep or "/" in enc:
            _log.warning("walk: skipping %r: not a blob key", o.key)
            continue
        digests.append((d, o))
    return digests


async def blob_infos(
    client: S3Client, layout: Layout, objects: list[Listed], base: str
) -> list[Info]:
    """The infos of the blobs in one page of a ``blobs/`` listing, sidecars read concurrently."""
    digests = _blob_digests(objects, base)
    metas = await gather([read_meta(client, layout, d) for d, _ in digests])
    infos = []
    for (d, o), meta in zip(digests, metas, strict=True):
        created = meta.created_at or o.last_modified
        infos.append(
            Info(
                digest=d,
                size=o.size,
                created_at=created,
                updated_at=meta.updated_at or created,
                labels=dict(meta.labels),
            )
        )
    return infos


async def gather(coros: list[Coroutine[Any, Any, T]]) -> list[T]:
    """Run ``coros`` at most ``_CONCURRENCY`` at a time; results in order."""
    results: list[Any] = [None] * len(coros)
    limiter = anyio.CapacityLimiter(_CONCURRENCY)

    async def one(i: int, coro: Coroutine[Any, Any, T]) -> None:
        async with limiter:
            results[i] = await coro

    async with anyio.create_task_group() as tg:
        for i, coro in enumerate(coros):
            tg.start_soon(one, i, coro)
    return results
