"""Registry metadata checks of concurrency: racing tasks, on one object or on siblings."""

from __future__ import annotations

from contextlib import AsyncExitStack

import anyio

from ._metadata_support import (
    RACERS,
    MetadataFactory,
    SiblingOpener,
    expect_record,
    new_blob,
    new_record,
    spread,
)
from ._support import expect_equal, fail

__all__ = (
    "check_metadata_concurrent_links",
    "check_metadata_concurrent_put_delete",
    "check_metadata_concurrent_tag_moves",
    "check_metadata_siblings",
)


async def check_metadata_concurrent_tag_moves(
    factory: MetadataFactory, sibling: SiblingOpener | None = None
) -> None:
    """16 puts racing for one tag: it names one of them, and all stay reachable by digest."""
    __tracebackhide__ = True
    records = [new_record() for _ in range(RACERS)]
    async with factory() as md, AsyncExitStack() as stack:
        objects = await spread(md, sibling, stack, 4)
        await md.put_manifest("race", new_record(), ["latest"])

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
                expect_record(await view.manifest("race", record.digest), record, f"record {i}")
            expect_equal(await md.resolve_tag("race", f"t{i}"), record.digest, f"tag t{i}")
        want = sorted(["latest", *(f"t{i}" for i in range(RACERS))])
        expect_equal(await md.tags("race"), want, "tags after the race")


async def check_metadata_concurrent_put_delete(
    factory: MetadataFactory, sibling: SiblingOpener | None = None
) -> None:
    """A tag never names a deleted manifest, whatever order racing puts and deletes take."""
    __tracebackhide__ = True
    async with factory() as md, AsyncExitStack() as stack:
        objects = await spread(md, sibling, stack, 2)
        for round_ in range(8):
            m = new_record()
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
    blobs = [new_blob() for _ in range(RACERS)]
    async with factory() as md, AsyncExitStack() as stack:
        objects = await spread(md, sibling, stack, 4)
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
    blob, m = new_blob(), new_record(subject=new_record().digest)
    async with factory() as md, sibling(md) as other:
        await md.link_blob("r", blob)
        await md.put_manifest("r", m, ["latest"])
        expect_equal(await other.blob_linked("r", blob), True, "sibling sees the link")
        expect_record(await other.manifest("r", m.digest), m, "sibling sees the record")
        expect_equal(await other.resolve_tag("r", "latest"), m.digest, "sibling sees the tag")
        expect_equal(await other.repositories(), ["r"], "sibling lists the repository")
        assert m.subject is not None
        refs = [r.digest for r in await other.referrers("r", m.subject)]
        expect_equal(refs, [m.digest], "sibling sees the referrer")
        expect_equal(await other.delete_manifest("r", m.digest), True, "sibling's delete")
        expect_equal(await md.resolve_tag("r", "latest"), None, "tag after sibling's delete")
        expect_equal(await other.unlink_blob("r", blob), True, "sibling's unlink")
        expect_equal(await md.repository_exists("r"), False, "repo after sibling emptied it")
