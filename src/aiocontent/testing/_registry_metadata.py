"""The conformance suite of registry metadata: ``await check_registry_metadata(factory)``.

Any :class:`~aiocontent.server.RegistryMetadata` (in memory, in files, in a
bucket shared by several hosts) must pass it. Each ``check_metadata_<name>``
opens a fresh, empty metadata with ``async with factory() as md:`` and checks
one behaviour, raising :class:`AssertionError` with a message naming the
expectation. With ``sibling``, a callable opening *another* object over the
same storage as a given one (what a second process or host would see), the
concurrency checks spread their tasks over several objects and
:func:`check_metadata_siblings` checks that each sees the others' writes.

Importing this module loads neither Starlette nor any other server dependency;
the record type is taken from :mod:`aiocontent.server._metadata` when a check runs.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from typing import TYPE_CHECKING, Final, TypeAlias

import anyio

from .._digest import SHA256, SHA512, Digest
from ._support import expect_equal, fail

if TYPE_CHECKING:
    from ..server._metadata import ManifestRecord, RegistryMetadata

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


# --------------------------------------------------------------------------- helpers


def _blob(algorithm: str = SHA256) -> Digest:
    return Digest.from_bytes(f"blob {next(_serial)}".encode(), algorithm)


def _record(
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


def _expect_record(actual: ManifestRecord | None, expected: ManifestRecord, what: str) -> None:
    __tracebackhide__ = True
    if actual is None:
        fail(f"{what}: got None, expected the record of {expected.digest}")
    expect_equal(_fields(actual), _fields(expected), what)


async def _expect_pages(
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


async def _spread(
    md: RegistryMetadata, sibling: SiblingOpener | None, stack: AsyncExitStack, n: int
) -> list[RegistryMetadata]:
    """``md`` and up to ``n - 1`` siblings of it (only ``md`` without ``sibling``)."""
    objects = [md]
    if sibling is not None:
        for _ in range(n - 1):
            objects.append(await stack.enter_async_context(sibling(md)))
    return objects


# --------------------------------------------------------------------------- checks


async def check_metadata_blob_links(
    factory: MetadataFactory, sibling: SiblingOpener | None = None
) -> None:
    """Links are per repository, idempotent, for sha256 and sha512; unlink says if it did."""
    __tracebackhide__ = True
    b256, b512 = _blob(), _blob(SHA512)
    async with factory() as md:
        expect_equal(await md.blob_linked("lib/a", b256), False, "blob_linked before a link")
        expect_equal(await md.unlink_blob("lib/a", b256), False, "unlink_blob of no link")
        await md.link_blob("lib/a", b256)
        await md.link_blob("lib/a", b256)
        await md.link_blob("lib/a", b512)
        expect_equal(await md.blob_linked("lib/a", b256), True, "blob_linked after a link")
        expect_equal(await md.blob_linked("lib/a", b512), True, "sha512 blob_linked")
        expect_equal(await md.blob_linked("lib/b", b256), False, "link seen in another repo")
        expect_equal(await md.blob_linked("lib", b256), False, "link seen in the parent name")
        expect_equal(await md.unlink_blob("lib/a", b256), True, "unlink_blob of a link")
        expect_equal(await md.blob_linked("lib/a", b256), False, "blob_linked after unlink")
        expect_equal(await md.unlink_blob("lib/a", b256), False, "second unlink_blob")
        expect_equal(await md.blob_linked("lib/a", b512), True, "other link after an unlink")


async def check_metadata_manifests(
    factory: MetadataFactory, sibling: SiblingOpener | None = None
) -> None:
    """A record comes back field for field, in its repository only; a re-put is harmless."""
    __tracebackhide__ = True
    full = _record(
        subject=_record().digest,
        artifact_type="application/vnd.example.sbom",
        annotations={"org.opencontainers.image.created": "2026-01-01T00:00:00Z", "k": "ü"},
        references=(_blob(), _blob(SHA512)),
    )
    plain = _record(media_type=OCI_INDEX, algorithm=SHA512)
    async with factory() as md:
        expect_equal(await md.manifest("r", full.digest), None, "manifest() before a put")
        await md.put_manifest("r", full)
        await md.put_manifest("r", plain)
        _expect_record(await md.manifest("r", full.digest), full, "manifest() of a full record")
        _expect_record(await md.manifest("r", plain.digest), plain, "sha512 index record")
        expect_equal(await md.manifest("other", full.digest), None, "record in another repo")
        await md.put_manifest("r", full)
        _expect_record(await md.manifest("r", full.digest), full, "record after a second put")
        expect_equal(await md.tags("r"), [], "tags after puts without tags")


async def check_metadata_tags_move(
    factory: MetadataFactory, sibling: SiblingOpener | None = None
) -> None:
    """A put moves its tags; other tags and the old manifest stay."""
    __tracebackhide__ = True
    m1, m2 = _record(), _record()
    async with factory() as md:
        expect_equal(await md.resolve_tag("r", "latest"), None, "resolve_tag of no tag")
        await md.put_manifest("r", m1, ["latest", "v1"])
        expect_equal(await md.resolve_tag("r", "latest"), m1.digest, "latest after the put")
        expect_equal(await md.resolve_tag("r", "v1"), m1.digest, "v1 after the put")
        await md.put_manifest("r", m2, ["latest", "v2"])
        expect_equal(await md.resolve_tag("r", "latest"), m2.digest, "latest after a move")
        expect_equal(await md.resolve_tag("r", "v1"), m1.digest, "v1 after latest moved")
        _expect_record(await md.manifest("r", m1.digest), m1, "the untagged-from manifest")
        expect_equal(await md.tags("r"), ["latest", "v1", "v2"], "tags after the move")
        expect_equal(await md.resolve_tag("other", "latest"), None, "tag in another repo")
        await md.put_manifest("r", m2, ["latest"])
        expect_equal(await md.resolve_tag("r", "latest"), m2.digest, "latest re-put in place")


async def check_metadata_delete_tag(
    factory: MetadataFactory, sibling: SiblingOpener | None = None
) -> None:
    """delete_tag drops that tag only; the manifest stays reachable by digest."""
    __tracebackhide__ = True
    m = _record()
    async with factory() as md:
        expect_equal(await md.delete_tag("r", "latest"), False, "delete_tag of no tag")
        await md.put_manifest("r", m, ["latest", "stable"])
        expect_equal(await md.delete_tag("r", "latest"), True, "delete_tag of a tag")
        expect_equal(await md.delete_tag("r", "latest"), False, "second delete_tag")
        expect_equal(await md.resolve_tag("r", "latest"), None, "deleted tag resolves")
        expect_equal(await md.resolve_tag("r", "stable"), m.digest, "the other tag")
        _expect_record(await md.manifest("r", m.digest), m, "manifest after delete_tag")
        expect_equal(await md.tags("r"), ["stable"], "tags after delete_tag")


async def check_metadata_delete_manifest(
    factory: MetadataFactory, sibling: SiblingOpener | None = None
) -> None:
    """delete_manifest drops the record, every tag naming it and its referrer entry."""
    __tracebackhide__ = True
    subject = _record()
    gone = _record(subject=subject.digest, artifact_type="x/y")
    kept = _record(subject=subject.digest, artifact_type="x/y")
    async with factory() as md:
        expect_equal(await md.delete_manifest("r", gone.digest), False, "delete of nothing")
        await md.put_manifest("r", subject, ["base"])
        await md.put_manifest("r", gone, ["a", "b"])
        await md.put_manifest("r", kept, ["c"])
        await md.link_blob("r", _blob())
        expect_equal(await md.delete_manifest("r", gone.digest), True, "delete_manifest")
        expect_equal(await md.manifest("r", gone.digest), None, "record after the delete")
        for tag in ("a", "b"):
            expect_equal(await md.resolve_tag("r", tag), None, f"tag {tag} of a deleted one")
        expect_equal(await md.tags("r"), ["base", "c"], "tags after delete_manifest")
        refs = [r.digest for r in await md.referrers("r", subject.digest)]
        expect_equal(refs, [kept.digest], "referrers after deleting one")
        expect_equal(await md.delete_manifest("r", gone.digest), False, "second delete")
        _expect_record(await md.manifest("r", kept.digest), kept, "the other manifest")
        await md.put_manifest("r", gone, ["a"])
        expect_equal(await md.resolve_tag("r", "a"), gone.digest, "tag after a re-put")
        refs = sorted(r.digest for r in await md.referrers("r", subject.digest))
        expect_equal(refs, sorted([gone.digest, kept.digest]), "referrers after a re-put")


async def check_metadata_referrers(
    factory: MetadataFactory, sibling: SiblingOpener | None = None
) -> None:
    """Referrers of a subject, records in full, per repository; the subject may be absent."""
    __tracebackhide__ = True
    subject, other = _record().digest, _record().digest
    sbom = _record(subject=subject, artifact_type="application/sbom", annotations={"a": "1"})
    sig = _record(subject=subject, artifact_type="application/sig", algorithm=SHA512)
    unrelated = _record(subject=other)
    async with factory() as md:
        expect_equal(await md.referrers("r", subject), [], "referrers of an unknown subject")
        for record in (sbom, sig, unrelated, _record()):
            await md.put_manifest("r", record)
        got = sorted(await md.referrers("r", subject), key=lambda r: str(r.digest))
        want = sorted([sbom, sig], key=lambda r: str(r.digest))
        expect_equal(len(got), 2, f"number of referrers of {subject}")
        for actual, expected in zip(got, want, strict=True):
            _expect_record(actual, expected, "a referrer's record")
        expect_equal(await md.referrers("elsewhere", subject), [], "referrers in another repo")
        expect_equal(await md.manifest("r", subject), None, "the subject itself (never put)")
        only = await md.referrers("r", other)
        expect_equal([r.digest for r in only], [unrelated.digest], "referrers of the other")


async def check_metadata_tag_pages(
    factory: MetadataFactory, sibling: SiblingOpener | None = None
) -> None:
    """tags() is sorted by code point; ``last``/``limit`` page through it exactly."""
    __tracebackhide__ = True
    names = ["latest", "v1", "v1.0", "v1.0-rc", "V2", "_x", "a" * 128, "9", "v1_0", "A-b.c"]
    m = _record()
    async with factory() as md:
        expect_equal(await md.tags("r"), [], "tags of an unknown repository")
        shuffled = names[:]
        random.Random(len(names)).shuffle(shuffled)
        for i in range(0, len(shuffled), 3):
            await md.put_manifest("r", m, shuffled[i : i + 3])
        ordered = sorted(names)
        expect_equal(await md.tags("r"), ordered, "tags()")
        expect_equal(await md.tags("r", limit=0), [], "tags(limit=0)")
        expect_equal(await md.tags("r", last=ordered[-1]), [], "tags after the last")
        expect_equal(await md.tags("r", last="v1.0-"), ordered[ordered.index("v1.0-rc") :], "")
        expect_equal(await md.tags("r", limit=3), ordered[:3], "tags(limit=3)")

        async def page(last: str | None, limit: int) -> list[str]:
            return await md.tags("r", last=last, limit=limit)

        await _expect_pages(page, ordered, "tags")


async def check_metadata_repositories(
    factory: MetadataFactory, sibling: SiblingOpener | None = None
) -> None:
    """A repository exists while it holds a blob link or manifest; listed sorted, paged."""
    __tracebackhide__ = True
    blob, m = _blob(), _record()
    names = ["b/x", "a", "a/b", "a-b", "a.b", "a__b/c-d/e.f"]
    async with factory() as md:
        expect_equal(await md.repositories(), [], "repositories() when empty")
        expect_equal(await md.repository_exists("a"), False, "repository_exists when empty")
        for i, name in enumerate(names):
            if i % 2:
                await md.link_blob(name, blob)
            else:
                await md.put_manifest(name, m, ["t"])
        ordered = sorted(names)
        expect_equal(await md.repositories(), ordered, "repositories()")
        for name in names:
            expect_equal(await md.repository_exists(name), True, f"repository_exists({name!r})")
        for name in ("b", "a/b/c", "c"):
            expect_equal(await md.repository_exists(name), False, f"exists({name!r}), not made")
        expect_equal(await md.repositories(limit=0), [], "repositories(limit=0)")
        expect_equal(await md.repositories(last="a/"), ordered[ordered.index("a/b") :], "")

        async def page(last: str | None, limit: int) -> list[str]:
            return await md.repositories(last=last, limit=limit)

        await _expect_pages(page, ordered, "repositories")
        await md.unlink_blob("a", blob)
        await md.delete_manifest("b/x", m.digest)
        expect_equal(await md.repository_exists("a"), False, "exists after its last unlink")
        expect_equal(await md.repository_exists("b/x"), False, "exists after its last delete")
        gone = [n for n in ordered if n not in ("a", "b/x")]
        expect_equal(await md.repositories(), gone, "repositories() after emptying two")
        await _expect_pages(page, gone, "repositories after emptying two")


async def check_metadata_names(
    factory: MetadataFactory, sibling: SiblingOpener | None = None
) -> None:
    """Nested names are separate repositories; every tag shape of the grammar works."""
    __tracebackhide__ = True
    tags = ["A", "_", "z" * 128, "v1.2.3-rc_1", "0", "x--y..z"]
    parent, child, deep = _record(), _record(), _record()
    async with factory() as md:
        await md.put_manifest("a", parent, ["t"])
        await md.put_manifest("a/b", child, ["t", *tags])
        await md.put_manifest("a/b/c/d/e/f/g", deep, ["t"])
        expect_equal(await md.resolve_tag("a", "t"), parent.digest, "tag of 'a'")
        expect_equal(await md.resolve_tag("a/b", "t"), child.digest, "tag of 'a/b'")
        expect_equal(await md.resolve_tag("a/b/c/d/e/f/g", "t"), deep.digest, "deep tag")
        expect_equal(await md.tags("a"), ["t"], "tags of 'a' (not its children's)")
        expect_equal(await md.tags("a/b"), sorted(["t", *tags]), "tags of 'a/b'")
        for tag in tags:
            expect_equal(await md.resolve_tag("a/b", tag), child.digest, f"tag {tag!r}")
        expect_equal(await md.manifest("a", child.digest), None, "child record in parent")
        await md.delete_manifest("a", parent.digest)
        expect_equal(await md.repository_exists("a/b"), True, "child after parent emptied")


async def check_metadata_concurrent_tag_moves(
    factory: MetadataFactory, sibling: SiblingOpener | None = None
) -> None:
    """16 puts racing for one tag: it names one of them, and all stay reachable by digest."""
    __tracebackhide__ = True
    records = [_record() for _ in range(RACERS)]
    async with factory() as md, AsyncExitStack() as stack:
        objects = await _spread(md, sibling, stack, 4)
        await md.put_manifest("race", _record(), ["latest"])

        async def put(i: int) -> None:
            await objects[i % len(objects)].put_manifest("race", records[i], ["latest", f"t{i}"])

        async with anyio.create_task_group() as tg:
            for i in range(RACERS):
                tg.start_soon(put, i)
        winner = await md.resolve_tag("race", "latest")
        if winner not in {r.digest for r in records}:
            fail(f"after {RACERS} concurrent moves 'latest' names {winner!r}, none of them")
        for i, record in enumerate(records):
            for view in objects:
                _expect_record(await view.manifest("race", record.digest), record, f"record {i}")
            expect_equal(await md.resolve_tag("race", f"t{i}"), record.digest, f"tag t{i}")
        want = sorted(["latest", *(f"t{i}" for i in range(RACERS))])
        expect_equal(await md.tags("race"), want, "tags after the race")


async def check_metadata_concurrent_put_delete(
    factory: MetadataFactory, sibling: SiblingOpener | None = None
) -> None:
    """A tag never names a deleted manifest, whatever order racing puts and deletes take."""
    __tracebackhide__ = True
    async with factory() as md, AsyncExitStack() as stack:
        objects = await _spread(md, sibling, stack, 2)
        for round_ in range(8):
            m = _record()
            async with anyio.create_task_group() as tg:
                for i in range(4):
                    view = objects[i % len(objects)]
                    tg.start_soon(view.put_manifest, "r", m, ["t"])
                    tg.start_soon(view.delete_manifest, "r", m.digest)
            tagged = await md.resolve_tag("r", "t")
            if tagged is not None and await md.manifest("r", tagged) is None:
                fail(f"round {round_}: tag 't' names {tagged}, whose record is gone")


async def check_metadata_concurrent_links(
    factory: MetadataFactory, sibling: SiblingOpener | None = None
) -> None:
    """Concurrent links into new and shared repositories all land; each lists once."""
    __tracebackhide__ = True
    blobs = [_blob() for _ in range(RACERS)]
    async with factory() as md, AsyncExitStack() as stack:
        objects = await _spread(md, sibling, stack, 4)
        async with anyio.create_task_group() as tg:
            for i, blob in enumerate(blobs):
                view = objects[i % len(objects)]
                tg.start_soon(view.link_blob, "shared", blob)
                tg.start_soon(view.link_blob, f"own/{i:02d}", blob)
        for i, blob in enumerate(blobs):
            expect_equal(await md.blob_linked("shared", blob), True, f"shared link {i}")
            expect_equal(await md.blob_linked(f"own/{i:02d}", blob), True, f"own link {i}")
        want = sorted(["shared", *(f"own/{i:02d}" for i in range(RACERS))])
        expect_equal(await md.repositories(), want, "repositories after concurrent links")


async def check_metadata_siblings(
    factory: MetadataFactory, sibling: SiblingOpener | None = None
) -> None:
    """Another object on the same storage sees every change at once (needs ``sibling``)."""
    __tracebackhide__ = True
    if sibling is None:
        return
    blob, m = _blob(), _record(subject=_record().digest)
    async with factory() as md, sibling(md) as other:
        await md.link_blob("r", blob)
        await md.put_manifest("r", m, ["latest"])
        expect_equal(await other.blob_linked("r", blob), True, "sibling sees the link")
        _expect_record(await other.manifest("r", m.digest), m, "sibling sees the record")
        expect_equal(await other.resolve_tag("r", "latest"), m.digest, "sibling sees the tag")
        expect_equal(await other.repositories(), ["r"], "sibling lists the repository")
        assert m.subject is not None
        refs = [r.digest for r in await other.referrers("r", m.subject)]
        expect_equal(refs, [m.digest], "sibling sees the referrer")
        expect_equal(await other.delete_manifest("r", m.digest), True, "sibling's delete")
        expect_equal(await md.resolve_tag("r", "latest"), None, "tag after sibling's delete")
        expect_equal(await other.unlink_blob("r", blob), True, "sibling's unlink")
        expect_equal(await md.repository_exists("r"), False, "repo after sibling emptied it")


# --------------------------------------------------------------------------- all of them

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
