"""collect_garbage: containerd's roots and edges, the grace period, dry runs, reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiocontent import (
    Descriptor,
    Digest,
    Info,
    InvalidArgumentError,
    LocalStore,
    Store,
    open_writer,
    with_descriptor,
    with_ref,
)
from aiocontent.gc import collect_garbage

from ._population import age, digest_of, populate, present, put, put_image


async def test_unreferenced_blob_is_deleted(store: Store) -> None:
    loose = await put(store, b"nobody needs me")
    report = await collect_garbage(store, grace=0)
    assert [str(d) for d in report.deleted] == [loose]
    assert report.deleted_bytes == len(b"nobody needs me")
    assert not await present(store, loose)


async def test_gc_root_keeps_everything_its_labels_reach(store: Store) -> None:
    image = await put_image(store, "kept", root=True)
    garbage = await put_image(store, "gone", root=False)
    report = await collect_garbage(store, grace=0)
    assert {str(d) for d in report.deleted} == set(garbage.blobs)
    assert report.kept == len(image.blobs)
    for digest in image.blobs:
        assert await present(store, digest)


async def test_references_are_followed_through_several_levels(store: Store) -> None:
    image = await put_image(store, "deep", root=False)
    index = await put(
        store,
        b"index",
        {"containerd.io/gc.root": "x", "containerd.io/gc.ref.content.m.0": image.manifest},
    )
    report = await collect_garbage(store, grace=0)
    assert report.deleted == ()
    assert report.kept == len(image.blobs) + 1
    assert await present(store, index)


async def test_only_gc_ref_content_keys_and_subkeys_are_edges(store: Store) -> None:
    bare = await put(store, b"bare")
    dotted = await put(store, b"dotted")
    lookalike = await put(store, b"lookalike")
    await put(
        store,
        b"root",
        {
            "containerd.io/gc.root": "x",
            "containerd.io/gc.ref.content": bare,
            "containerd.io/gc.ref.content.anything.at.all": dotted,
            "containerd.io/gc.ref.contentx": lookalike,
        },
    )
    report = await collect_garbage(store, grace=0)
    assert [str(d) for d in report.deleted] == [lookalike]


async def test_dangling_reference_is_ignored(store: Store) -> None:
    missing = digest_of(b"never stored")
    root = await put(
        store, b"root", {"containerd.io/gc.root": "x", "containerd.io/gc.ref.content.l.0": missing}
    )
    report = await collect_garbage(store, grace=0)
    assert report.deleted == () and await present(store, root)


async def test_dry_run_reports_and_deletes_nothing(store: Store) -> None:
    garbage = await put_image(store, "would go", root=False)
    report = await collect_garbage(store, grace=0, dry_run=True)
    assert report.dry_run
    assert {str(d) for d in report.deleted} == set(garbage.blobs)
    for digest in garbage.blobs:
        assert await present(store, digest)


async def test_recent_blob_is_kept_within_grace(store: Store) -> None:
    loose = await put(store, b"just written")
    report = await collect_garbage(store, grace=3600)
    assert report.deleted == () and await present(store, loose)


async def test_recent_parent_keeps_old_children(local: LocalStore) -> None:
    image = await put_image(local, "old children", root=False)
    for digest in image.children:
        age(local.root, digest, 7200)
    report = await collect_garbage(local, grace=3600)
    assert report.deleted == ()


async def test_old_garbage_goes_and_recent_garbage_stays(local: LocalStore) -> None:
    old = await put(local, b"old")
    new = await put(local, b"new")
    age(local.root, old, 7200)
    report = await collect_garbage(local, grace=3600)
    assert [str(d) for d in report.deleted] == [old]
    assert await present(local, new)


async def test_update_restarts_the_grace_period(local: LocalStore) -> None:
    used = await put(local, b"used again")
    age(local.root, used, 7200)
    await local.update(Info(digest=Digest(used), labels={"touched": "yes"}), "labels.touched")
    report = await collect_garbage(local, grace=3600)
    assert report.deleted == ()


async def test_ingest_survives_and_resumes_after_a_collection(store: Store) -> None:
    data = b"half of a blob"
    desc = Descriptor(digest=digest_of(data), size=len(data))
    async with await open_writer(store, with_ref("writing"), with_descriptor(desc)) as w:
        await w.write(data[:4])
    await collect_garbage(store, grace=0)
    assert [s.ref for s in await store.list_statuses()] == ["writing"]
    async with await open_writer(store, with_ref("writing"), with_descriptor(desc)) as w:
        assert (await w.status()).offset == 4
        await w.write(data[4:])
        await w.commit(desc.size, str(desc.digest))
    assert await present(store, str(desc.digest))


async def test_digest_an_ingest_expects_is_kept(store: Store) -> None:
    data = b"committed under another ref meanwhile"
    desc = Descriptor(digest=digest_of(data), size=len(data))
    async with await open_writer(store, with_ref("slow"), with_descriptor(desc)) as w:
        await w.write(data[:3])
    await put(store, data)
    report = await collect_garbage(store, grace=0)
    assert report.deleted == ()
    assert await present(store, str(desc.digest))


@pytest.mark.parametrize(("grace", "size"), [(-1, None), (float("nan"), None), (0, -5)])
async def test_bad_arguments_are_rejected_with_the_value(
    store: Store, grace: float, size: int | None
) -> None:
    await put(store, b"safe")
    with pytest.raises(InvalidArgumentError, match=str(size if size is not None else grace)):
        await collect_garbage(store, grace=grace, max_size=size)
    assert len(await _all(store)) == 1


async def _all(store: Store) -> list[Info]:
    out: list[Info] = []
    await store.walk(out.append)
    return out


async def test_population_of_many_blobs_keeps_exactly_the_rooted_half(tmp_path: Path) -> None:
    async with LocalStore(tmp_path / "many") as store:
        rooted, loose = await populate(store, 2000)
        dry = await collect_garbage(store, grace=0, dry_run=True)
        real = await collect_garbage(store, grace=0)
        expected = {d for image in loose for d in image.blobs}
        assert {str(d) for d in dry.deleted} == expected
        assert {str(d) for d in real.deleted} == expected
        assert {str(i.digest) for i in await _all(store)} == {
            d for image in rooted for d in image.blobs
        }
