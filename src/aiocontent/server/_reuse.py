"""Registry requests that reuse a stored blob tell garbage collection so.

A collection deletes what no root reaches and nothing used within its grace
period (the store's ``updated_at``). A manifest PUT, a cross-repository mount
or an upload of a blob the store already holds links an existing blob that may
be old and, until that moment, unreferenced: a collection running meanwhile may
have found it garbage. So such a request refreshes the blob's ``updated_at``
(:func:`reuse`) when it is older than :data:`REFRESH_AFTER` (a blob written or
refreshed more recently is inside any sensible grace period already), and a
manifest PUT that refreshed something checks once more, after linking, that
it is all still there (:func:`gone`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Final

from .._digest import Digest
from .._errors import NotFoundError
from .._gc_graph import mark_used
from .._interfaces import Store

__all__ = ("REFRESH_AFTER", "gone", "reuse")

#: Seconds after which a reused blob's use is refreshed (grace periods should be longer).
REFRESH_AFTER: Final = 60.0


async def reuse(store: Store, digest: Digest) -> bool:
    """Check that blob ``digest`` is stored; refresh its use when it was last used long ago.

    :return: ``True`` when it was refreshed: it was old enough for a running
        collection to have marked it garbage, so a caller linking it should
        check it is still there once linked.
    :raises ~aiocontent.NotFoundError: the blob is not (or no longer) stored.
    """
    info = await store.info(digest)
    recent = datetime.now(UTC) - timedelta(seconds=REFRESH_AFTER)
    if max(info.created_at, info.updated_at) > recent:
        return False
    await mark_used(store, digest)
    return True


async def gone(store: Store, digests: Iterable[Digest]) -> list[Digest]:
    """The ``digests`` the store no longer holds."""
    missing = []
    for digest in digests:
        try:
            await store.info(digest)
        except NotFoundError:
            missing.append(digest)
    return missing
