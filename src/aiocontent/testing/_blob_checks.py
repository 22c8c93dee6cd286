"""Checks beyond containerd's: blobs and the store's arguments (missing, delete, filters,
update fieldpaths, invalid arguments).
"""

from __future__ import annotations

from contextlib import aclosing

import anyio

from .._digest import Digest
from .._errors import InvalidArgumentError, NotFoundError
from .._helpers import write_blob
from .._types import Descriptor, Info, with_descriptor, with_labels, with_ref
from ._support import Raises, StoreFactory, check_info, content, expect_equal, snapshot, utcnow


async def check_not_found(factory: StoreFactory) -> None:
    """Missing blobs and ingests raise NotFoundError naming them."""
    __tracebackhide__ = True
    missing = Digest.from_bytes(b"not in the store")
    async with factory() as cs:
        with Raises(NotFoundError, "info of a missing blob", missing):
            await cs.info(missing)
        with Raises(NotFoundError, "reader_at of a missing blob", missing):
            await cs.reader_at(Descriptor(digest=missing))
        with Raises(NotFoundError, "delete of a missing blob", missing):
            await cs.delete(missing)
        with Raises(NotFoundError, "update of a missing blob", missing):
            await cs.update(Info(digest=missing, labels={"a": "b"}))
        with Raises(NotFoundError, "status of a missing ingest"):
            await cs.status("missing-ref")
        with Raises(NotFoundError, "abort of a missing ingest", "missing-ref"):
            await cs.abort("missing-ref")
        expect_equal(await cs.list_statuses(), [], "list_statuses of an empty store")
        seen: list[Info] = []
        await cs.walk(seen.append)
        expect_equal(seen, [], "walk of an empty store")


async def check_delete(factory: StoreFactory) -> None:
    """Deleting a blob removes it and its labels; committing it again starts unlabelled."""
    __tracebackhide__ = True
    data, dgst = content(300)
    async with factory() as cs:
        await write_blob(cs, "del", data, Descriptor(digest=dgst), with_labels({"a": "1"}))
        expect_equal((await cs.info(dgst)).labels, {"a": "1"}, "labels before delete")
        await cs.delete(dgst)
        with Raises(NotFoundError, "info after delete"):
            await cs.info(dgst)
        with Raises(NotFoundError, "reader_at after delete"):
            await cs.reader_at(Descriptor(digest=dgst))
        seen: list[Info] = []
        await cs.walk(seen.append)
        expect_equal(seen, [], "walk after delete")
        await write_blob(cs, "del", data, Descriptor(digest=dgst))
        expect_equal((await cs.info(dgst)).labels, {}, "labels after delete and re-commit")


async def check_filters(factory: StoreFactory) -> None:
    """``walk`` filters on digest, size and labels; ``list_statuses`` on ref; filters OR."""
    __tracebackhide__ = True
    a, da = content(100)
    b, db = content(1024)
    c, dc = content(300)
    async with factory() as cs:
        await write_blob(
            cs,
            "a",
            a,
            Descriptor(digest=da),
            with_labels({"kind": "config", "containerd.io/gc.root": "now"}),
        )
        await write_blob(cs, "b", b, Descriptor(digest=db), with_labels({"kind": "layer"}))
        await write_blob(cs, "c", c, Descriptor(digest=dc))

        async def walked(*filters: str) -> set[Digest]:
            seen: set[Digest] = set()

            async def visit(info: Info) -> None:
                await anyio.lowlevel.checkpoint()
                seen.add(info.digest)

            await cs.walk(visit, *filters)
            return seen

        for filters, expected in (
            ((), {da, db, dc}),
            (("",), {da, db, dc}),
            ((f"digest=={da}",), {da}),
            (("size==1024",), {db}),
            (("size~=^[0-9]{3}$",), {da, dc}),
            (("labels.kind==layer",), {db}),
            (('labels."containerd.io/gc.root"',), {da}),
            (("labels.kind!=layer",), {da, dc}),
            (("labels.kind~=^la",), {db}),
            (("labels.kind==config", "size==300"), {da, dc}),
            (("labels.kind==config,size==100",), {da}),
            (("labels.kind==config,size==300",), set()),
        ):
            expect_equal(await walked(*filters), expected, f"walk with filters {filters!r}")

        calls: list[Info] = []

        def stop(info: Info) -> None:
            calls.append(info)
            raise LookupError("stop the walk")

        with Raises(LookupError, "an exception raised by the walk function"):
            await cs.walk(stop)
        expect_equal(len(calls), 1, "walk calls after the function raised")

        for ref in ("layer-2", "config-1", "layer-1"):
            w = await cs.writer(with_ref(ref))
            async with aclosing(w):
                await w.write(ref.encode())

        async def listed(*filters: str) -> list[str]:
            return [st.ref for st in await cs.list_statuses(*filters)]

        for filters, refs in (
            ((), ["config-1", "layer-1", "layer-2"]),
            (("ref==layer-1",), ["layer-1"]),
            (("ref~=^layer-",), ["layer-1", "layer-2"]),
            (("ref==config-1", "ref==layer-2"), ["config-1", "layer-2"]),
            (("ref==nothing",), []),
        ):
            expect_equal(await listed(*filters), refs, f"list_statuses with filters {filters!r}")
        for st in await cs.list_statuses():
            expect_equal(st.offset, len(st.ref), f"offset of ingest {st.ref!r}")

        for bad in ("name==", "labels.", ",x", "ref==a,"):
            with Raises(InvalidArgumentError, f"walk with malformed filter {bad!r}"):
                await cs.walk(stop, bad)
            with Raises(InvalidArgumentError, f"list_statuses with malformed filter {bad!r}"):
                await cs.list_statuses("ref==layer-1", bad)
        expect_equal(len(calls), 1, "walk calls with a malformed filter")


async def check_update_fieldpaths(factory: StoreFactory) -> None:
    """``update`` fieldpaths: ``labels`` replaces, ``labels.<key>`` merges, others are refused."""
    __tracebackhide__ = True
    data, dgst = content(128)
    async with factory() as cs:
        pre = utcnow()
        await write_blob(
            cs, "u", data, Descriptor(digest=dgst), with_labels({"a": "1", "b": "2", "c": "3"})
        )
        post = utcnow()
        created = (await cs.info(dgst)).created_at

        async def update(labels: dict[str, str], *paths: str) -> dict[str, str]:
            before = utcnow()
            returned = await cs.update(Info(digest=dgst, labels=labels), *paths)
            after = utcnow()
            info = await check_info(
                cs, dgst, len(data), returned.labels, (pre, post), (before, after)
            )
            expect_equal(info.created_at, created, "created_at after update")
            expect_equal(returned.size, len(data), "size returned by update")
            return returned.labels

        merged = await update({"a": "x", "b": ""}, "labels.a", "labels.b", "labels.z")
        expect_equal(merged, {"a": "x", "c": "3"}, "labels after merging labels.a/b/z")
        dotted = await update({"x.y": "1"}, "labels.x.y")
        expect_equal(dotted, {"a": "x", "c": "3", "x.y": "1"}, "labels after labels.x.y")
        expect_equal(await update({"q": "1", "e": ""}, "labels"), {"q": "1"}, "labels replaced")
        expect_equal(await update({"r": "2"}), {"r": "2"}, "labels replaced (no fieldpaths)")
        mixed = await update({"s": "3"}, "labels.r", "labels")
        expect_equal(mixed, {"s": "3"}, "labels replaced when mixed with labels.<key>")

        for paths in (("size",), ("labels.s", "digest"), ("Labels",), ("created_at",)):
            with Raises(InvalidArgumentError, f"update with fieldpaths {paths!r}"):
                await cs.update(Info(digest=dgst, labels={"zzz": "1"}), *paths)
        info = await cs.info(dgst)
        expect_equal(info.labels, {"s": "3"}, "labels after refused updates")

        info.labels["mutated"] = "yes"
        expect_equal((await cs.info(dgst)).labels, {"s": "3"}, "labels after mutating a copy")
        returned = await cs.update(Info(digest=dgst, labels={"t": "4"}))
        returned.labels["mutated"] = "yes"
        expect_equal((await cs.info(dgst)).labels, {"t": "4"}, "labels after mutating a copy")


async def check_invalid_arguments(factory: StoreFactory) -> None:
    """Malformed refs, digests, filters and sizes raise InvalidArgumentError and change nothing."""
    __tracebackhide__ = True
    data, dgst = content(64)
    async with factory() as cs:
        await write_blob(cs, "blob", data, Descriptor(digest=dgst), with_labels({"k": "v"}))
        w = await cs.writer(with_ref("keep"))
        async with aclosing(w):
            await w.write(b"0123456789")
        keep_digest = Digest.from_bytes(b"0123456789")
        before = await snapshot(cs)

        with Raises(InvalidArgumentError, "writer() with an empty ref"):
            await cs.writer(with_ref(""))
        with Raises(InvalidArgumentError, "writer() without a ref"):
            await cs.writer()
        with Raises(InvalidArgumentError, "writer() with a ref containing NUL"):
            await cs.writer(with_ref("a\x00b"))
        for bad in ("sha256:nothex", "md5:d41d8cd98f00b204e9800998ecf8427e", "nocolon"):
            with Raises(InvalidArgumentError, f"writer() with descriptor digest {bad!r}"):
                await cs.writer(with_ref("bad-desc"), with_descriptor(Descriptor(digest=bad)))
        with Raises(NotFoundError, "status of a ref whose writer() was refused"):
            await cs.status("bad-desc")

        for bad in ("bad", "sha256:../../../etc/passwd", "sha256:" + "A" * 64, ""):
            with Raises(InvalidArgumentError, f"info({bad!r})"):
                await cs.info(bad)
            with Raises(InvalidArgumentError, f"reader_at with digest {bad!r}"):
                await cs.reader_at(Descriptor(digest=bad))
            with Raises(InvalidArgumentError, f"delete({bad!r})"):
                await cs.delete(bad)
            with Raises(InvalidArgumentError, f"update of digest {bad!r}"):
                await cs.update(Info(digest=Digest(bad), labels={"k": "x"}))
        with Raises(InvalidArgumentError, "walk with a malformed filter"):
            await cs.walk(lambda info: None, "labels.")
        with Raises(InvalidArgumentError, "list_statuses with a malformed filter"):
            await cs.list_statuses(",x")

        ra = await cs.reader_at(Descriptor(digest=dgst))
        async with aclosing(ra):
            for n, offset in ((-1, 0), (1, -1)):
                with Raises(InvalidArgumentError, f"read_at({n}, {offset})"):
                    await ra.read_at(n, offset)

        w = await cs.writer(with_ref("keep"))
        async with aclosing(w):
            for size in (-1, 11):
                with Raises(InvalidArgumentError, f"truncate({size}) at offset 10"):
                    await w.truncate(size)
            with Raises(InvalidArgumentError, "commit(-1)"):
                await w.commit(-1)
        for bad in ("sha256:xyz", "nocolon", "md5:d41d8cd98f00b204e9800998ecf8427e"):
            w = await cs.writer(with_ref("keep"))
            async with aclosing(w):
                expect_equal(w.digest(), keep_digest, "resumed digest after a refused commit")
                with Raises(InvalidArgumentError, f"commit with expected {bad!r}"):
                    await w.commit(0, bad)

        expect_equal(await snapshot(cs), before, "store contents after invalid arguments")
        w = await cs.writer(with_ref("bad-desc"))
        await w.aclose()
