"""The conformance suite of registry metadata: ``await check_registry_metadata(factory)``.

Any :class:`~aiocontent.server.RegistryMetadata` (in memory, in files, in a
bucket shared by several hosts) must pass it. Each ``check_metadata_<name>``
opens a fresh, empty metadata with ``async with factory() as md:`` and checks
one behaviour, raising :class:`AssertionError` with a message naming the
expectation. With ``sibling``, a callable opening *another* object over the
same storage as a given one (what a second process or host would see), the
concurrency checks spread their tasks over several objects and
:func:`check_metadata_siblings` checks that each sees the others' writes.

The checks live by theme: ``_metadata_checks`` (one object) and
``_metadata_race_checks`` (concurrency and siblings), sharing
``_metadata_support``. This module lists them in the order
:func:`check_registry_metadata` runs them.

Importing this module loads neither Starlette nor any other server dependency;
the record type is taken from :mod:`aiocontent.server._metadata` when a check runs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final

from ._metadata_checks import (
    check_metadata_blob_links,
    check_metadata_delete_manifest,
    check_metadata_delete_tag,
    check_metadata_manifests,
    check_metadata_names,
    check_metadata_referrers,
    check_metadata_repositories,
    check_metadata_tag_pages,
    check_metadata_tags_move,
)
from ._metadata_race_checks import (
    check_metadata_concurrent_links,
    check_metadata_concurrent_put_delete,
    check_metadata_concurrent_tag_moves,
    check_metadata_siblings,
)
from ._metadata_support import MetadataFactory, SiblingOpener

__all__ = (
    "MetadataFactory",
    "SiblingOpener",
    "check_metadata_blob_links",
    "check_metadata_concurrent_links",
    "check_metadata_concurrent_put_delete",
    "check_metadata_concurrent_tag_moves",
    "check_metadata_delete_manifest",
    "check_metadata_delete_tag",
    "check_metadata_manifests",
    "check_metadata_names",
    "check_metadata_referrers",
    "check_metadata_repositories",
    "check_metadata_siblings",
    "check_metadata_tag_pages",
    "check_metadata_tags_move",
    "check_registry_metadata",
)

_METADATA_CHECKS: Final[
    tuple[Callable[[MetadataFactory, SiblingOpener | None], Awaitable[None]], ...]
] = (
    check_metadata_blob_links,
    check_metadata_manifests,
    check_metadata_tags_move,
    check_metadata_delete_tag,
    check_metadata_delete_manifest,
    check_metadata_referrers,
    check_metadata_tag_pages,
    check_metadata_repositories,
    check_metadata_names,
    check_metadata_concurrent_tag_moves,
    check_metadata_concurrent_put_delete,
    check_metadata_concurrent_links,
    check_metadata_siblings,
)


async def check_registry_metadata(
    factory: MetadataFactory, sibling: SiblingOpener | None = None
) -> None:
    """Run every registry metadata check on fresh objects from ``factory``.

    :param factory: called once per check; must give a new, empty
        :class:`~aiocontent.server.RegistryMetadata` as an async context manager.
    :param sibling: optional; opens another object over the same storage as
        the one given (as another process or host would), for the concurrency
        and visibility checks.
    :raises AssertionError: the first failing check, named in the message.
    """
    __tracebackhide__ = True
    for check in _METADATA_CHECKS:
        try:
            await check(factory, sibling)
        except AssertionError as exc:
            raise AssertionError(f"{check.__name__}: {exc}") from exc
