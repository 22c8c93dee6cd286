"""Registry metadata checks on one object: links, records, tags, referrers, listings, names."""

from __future__ import annotations

import random

from .._digest import SHA512
from ._metadata_support import (
    OCI_INDEX,
    MetadataFactory,
    SiblingOpener,
    expect_pages,
    expect_record,
    new_blob,
    new_record,
)
from ._support import expect_equal

__all__ = (
    "check_metadata_blob_links",
    "check_metadata_delete_manifest",
    "check_metadata_delete_tag",
    "check_metadata_manifests",
    "check_metadata_names",
    "check_metadata_referrers",
    "check_metadata_repositories",
    "check_metadata_tag_pages",
    "check_metadata_tags_move",
)


async def check_metadata_blob_links(
    factory: MetadataFactory, sibling: SiblingOpener | None = None
) -> None:
    """Links are per repository, idempotent, for sha256 and sha512; unlink says if it did."""
    __tracebackhide__ = True
    b256, b512 = new_blob(), new_blob(SHA512)
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
    full = new_record(
        subject=new_record().digest,
        artifact_type="application/vnd.example.sbom",
        annotations={"org.opencontainers.image.created": "2026-01-01T00:00:00Z", "k": "ü"},
        references=(new_blob(), new_blob(SHA512)),
    )
    plain = new_record(media_type=OCI_INDEX, algorithm=SHA512)
    async with factory() as md:
        expect_equal(await md.manifest("r", full.digest), None, "manifest() before a put")
        await md.put_manifest("r", full)
        await md.put_manifest("r", plain)
        expect_record(await md.manifest("r", full.digest), full, "manifest() of a full record")
        expect_record(await md.manifest("r", plain.digest), plain, "sha512 index record")
        expect_equal(await md.manifest("other", full.digest), None, "record in another repo")
        await md.put_manifest("r", full)
        expect_record(await md.manifest("r", full.digest), full, "record after a second put")
        expect_equal(await md.tags("r"), [], "tags after puts without tags")


async def check_metadata_tags_move(
    factory: MetadataFactory, sibling: SiblingOpener | None = None
) -> None:
    """A put moves its tags; other tags and the old manifest stay."""
    __tracebackhide__ = True
    m1, m2 = new_record(), new_record()
    async with factory() as md:
        expect_equal(await md.resolve_tag("r", "latest"), None, "resolve_tag of no tag")
        await md.put_manifest("r", m1, ["latest", "v1"])
        expect_equal(await md.resolve_tag("r", "latest"), m1.digest, "latest after the put")
        expect_equal(await md.resolve_tag("r", "v1"), m1.digest, "v1 after the put")
        await md.put_manifest("r", m2, ["latest", "v2"])
        expect_equal(await md.resolve_tag("r", "latest"), m2.digest, "latest after a move")
        expect_equal(await md.resolve_tag("r", "v1"), m1.digest, "v1 after latest moved")
        expect_record(await md.manifest("r", m1.digest), m1, "the untagged-from manifest")
        expect_equal(await md.tags("r"), ["latest", "v1", "v2"], "tags after the move")
        expect_equal(await md.resolve_tag("other", "latest"), None, "tag in another repo")
        await md.put_manifest("r", m2, ["latest"])
        expect_equal(await md.resolve_tag("r", "latest"), m2.digest, "latest re-put in place")


async def check_metadata_delete_tag(
    factory: MetadataFactory, sibling: SiblingOpener | None = None
) -> None:
    """delete_tag drops that tag only; the manifest stays reachable by digest."""
    __tracebackhide__ = True
    m = new_record()
    async with factory() as md:
        expect_equal(await md.delete_tag("r", "latest"), False, "delete_tag of no tag")
        await md.put_manifest("r", m, ["latest", "stable"])
        expect_equal(await md.delete_tag("r", "latest"), True, "delete_tag of a tag")
        expect_equal(await md.delete_tag("r", "latest"), False, "second delete_tag")
        expect_equal(await md.resolve_tag("r", "latest"), None, "deleted tag resolves")
        expect_equal(await md.resolve_tag("r", "stable"), m.digest, "the other tag")
        expect_record(await md.manifest("r", m.digest), m, "manifest after delete_tag")
        expect_equal(await md.tags("r"), ["stable"], "tags after delete_tag")


async def check_metadata_delete_manifest(
    factory: MetadataFactory, sibling: SiblingOpener | None = None
) -> None:
    """delete_manifest drops the record, every tag naming it and its referrer entry."""
    __tracebackhide__ = True
    subject = new_record()
    gone = new_record(subject=subject.digest, artifact_type="x/y")
    kept = new_record(subject=subject.digest, artifact_type="x/y")
    async with factory() as md:
        expect_equal(await md.delete_manifest("r", gone.digest), False, "delete of nothing")
        await md.put_manifest("r", subject, ["base"])
        await md.put_manifest("r", gone, ["a", "b"])
        await md.put_manifest("r", kept, ["c"])
        await md.link_blob("r", new_blob())
        expect_equal(await md.delete_manifest("r", gone.digest), True, "delete_manifest")
        expect_equal(await md.manifest("r", gone.digest), None, "record after the delete")
        for tag in ("a", "b"):
            expect_equal(await md.resolve_tag("r", tag), None, f"tag {tag} of a deleted one")
        expect_equal(await md.tags("r"), ["base", "c"], "tags after delete_manifest")
        refs = [r.digest for r in await md.referrers("r", subject.digest)]
        expect_equal(refs, [kept.digest], "referrers after deleting one")
        expect_equal(await md.delete_manifest("r", gone.digest), False, "second delete")
        expect_record(await md.manifest("r", kept.digest), kept, "the other manifest")
        await md.put_manifest("r", gone, ["a"])
        expect_equal(await md.resolve_tag("r", "a"), gone.digest, "tag after a re-put")
        refs = sorted(r.digest for r in await md.referrers("r", subject.digest))
        expect_equal(refs, sorted([gone.digest, kept.digest]), "referrers after a re-put")


async def check_metadata_referrers(
    factory: MetadataFactory, sibling: SiblingOpener | None = None
) -> None:
    """Referrers of a subject, records in full, per repository; the subject may be absent."""
    __tracebackhide__ = True
    subject, other = new_record().digest, new_record().digest
    sbom = new_record(subject=subject, artifact_type="application/sbom", annotations={"a": "1"})
    sig = new_record(subject=subject, artifact_type="application/sig", algorithm=SHA512)
    unrelated = new_record(subject=other)
    async with factory() as md:
        expect_equal(await md.referrers("r", subject), [], "referrers of an unknown subject")
        for record in (sbom, sig, unrelated, new_record()):
            await md.put_manifest("r", record)
        got = sorted(await md.referrers("r", subject), key=lambda r: str(r.digest))
        want = sorted([sbom, sig], key=lambda r: str(r.digest))
        expect_equal(len(got), 2, f"number of referrers of {subject}")
        for actual, expected in zip(got, want, strict=True):
            expect_record(actual, expected, "a referrer's record")
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
    m = new_record()
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

        await expect_pages(page, ordered, "tags")


async def check_metadata_repositories(
    factory: MetadataFactory, sibling: SiblingOpener | None = None
) -> None:
    """A repository exists while it holds a blob link or manifest; listed sorted, paged."""
    __tracebackhide__ = True
    blob, m = new_blob(), new_record()
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

        await expect_pages(page, ordered, "repositories")
        await md.unlink_blob("a", blob)
        await md.delete_manifest("b/x", m.digest)
        expect_equal(await md.repository_exists("a"), False, "exists after its last unlink")
        expect_equal(await md.repository_exists("b/x"), False, "exists after its last delete")
        gone = [n for n in ordered if n not in ("a", "b/x")]
        expect_equal(await md.repositories(), gone, "repositories() after emptying two")
        await expect_pages(page, gone, "repositories after emptying two")


async def check_metadata_names(
    factory: MetadataFactory, sibling: SiblingOpener | None = None
) -> None:
    """Nested names are separate repositories; every tag shape of the grammar works."""
    __tracebackhide__ = True
    tags = ["A", "_", "z" * 128, "v1.2.3-rc_1", "0", "x--y..z"]
    parent, child, deep = new_record(), new_record(), new_record()
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
