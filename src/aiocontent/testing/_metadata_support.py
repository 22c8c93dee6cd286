"""What the registry metadata checks share: the factory types, made-up records, expectations.

Importing it loads no server dependency; the record type is taken from
:mod:`aiocontent.server._metadata` when a record is made.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from typing import TYPE_CHECKING, Final, TypeAlias

from .._digest import SHA256, Digest
from ._support import expect_equal, fail

if TYPE_CHECKING:
    from ..server._metadata import ManifestRecord, RegistryMetadata

__all__ = (
    "OCI_INDEX",
    "OCI_MANIFEST",
    "RACERS",
    "MetadataFactory",
    "SiblingOpener",
    "expect_pages",
    "expect_record",
    "new_blob",
    "new_record",
    "spread",
)

#: Makes a fresh, empty metadata each time it is called; leaving the context closes it.
MetadataFactory: TypeAlias = Callable[[], AbstractAsyncContextManager["RegistryMetadata"]]
#: Opens another object over the same storage as the one given (as another process would).
SiblingOpener: TypeAlias = Callable[
    ["RegistryMetadata"], AbstractAsyncContextManager["RegistryMetadata"]
]

OCI_MANIFEST: Final = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX: Final = "application/vnd.oci.image.index.v1+json"

#: Tasks racing in the concurrency checks.
RACERS: Final = 16

_serial = itertools.count(1)


def new_blob(algorithm: str = SHA256) -> Digest:
    """The digest of a made-up blob, new at each call."""
    return Digest.from_bytes(f"blob {next(_serial)}".encode(), algorithm)


def new_record(
    *,
    subject: Digest | None = None,
    artifact_type: str = "",
    annotations: Mapping[str, str] | None = None,
    references: Sequence[Digest] = (),
    media_type: str = OCI_MANIFEST,
    algorithm: str = SHA256,
) -> ManifestRecord:
    """A record of a new manifest (its digest is that of a made-up body)."""
    from ..server._metadata import ManifestRecord

    body = f'{{"manifest": {next(_serial)}}}'.encode()
    return ManifestRecord(
        digest=Digest.from_bytes(body, algorithm),
        media_type=media_type,
        size=len(body),
        artifact_type=artifact_type,
        subject=subject,
        annotations=dict(annotations or {}),
        references=tuple(references),
    )


def _fields(record: ManifestRecord) -> tuple[object, ...]:
    return (
        str(record.digest),
        record.media_type,
        record.size,
        record.artifact_type,
        None if record.subject is None else str(record.subject),
        dict(record.annotations),
        tuple(str(d) for d in record.references),
    )


def expect_record(actual: ManifestRecord | None, expected: ManifestRecord, what: str) -> None:
    __tracebackhide__ = True
    if actual is None:
        fail(f"{what}: got None, expected the record of {expected.digest}")
    expect_equal(_fields(actual), _fields(expected), what)


async def expect_pages(
    list_page: Callable[[str | None, int], Awaitable[list[str]]],
    expected: list[str],
    what: str,
) -> None:
    """Every page size walks ``expected`` page by page, each page after the last name."""
    __tracebackhide__ = True
    for size in (1, 2, 3, len(expected), len(expected) + 1):
        got: list[str] = []
        last: str | None = None
        for _ in range(len(expected) + 2):
            page = await list_page(last, size)
            if len(page) > size:
                fail(f"{what}: page of {len(page)} names with limit={size}")
            got += page
            if len(page) < size:
                break
            last = page[-1]
        expect_equal(got, expected, f"{what} in pages of {size}")


async def spread(
    md: RegistryMetadata, sibling: SiblingOpener | None, stack: AsyncExitStack, n: int
) -> list[RegistryMetadata]:
    """``md`` and up to ``n - 1`` siblings of it (only ``md`` without ``sibling``)."""
    objects = [md]
    if sibling is not None:
        for _ in range(n - 1):
            objects.append(await stack.enter_async_context(sibling(md)))
    return objects
