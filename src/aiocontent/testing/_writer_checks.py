"""Checks beyond containerd's: writers and refs (locks, truncate, resume totals, closing)."""

from __future__ import annotations

from contextlib import aclosing

import anyio

from .._digest import SHA256, SHA512, Digest
from .._errors import FailedPreconditionError, InvalidArgumentError, NotFoundError, UnavailableError
from .._helpers import open_writer
from .._interfaces import Writer
from .._types import Descriptor, with_descriptor, with_ref
from ._support import (
    WAKE_BOUND,
    Raises,
    StoreFactory,
    as_context_manager,
    content,
    expect_equal,
    expect_ref_unavailable,
    fail,
    read_all,
)


async def check_ref_not_available(factory: StoreFactory) -> None:
    """A held ref refuses a second writer with ``ref <ref> locked for``; status ignores locks."""
    __tracebackhide__ = True
    ref = "locked-ref"
    async with factory() as cs:
        w = await cs.writer(with_ref(ref))
        async with aclosing(w):
            await w.write(b"held")
            await expect_ref_unavailable(cs, ref)
            expect_equal((await cs.status(ref)).offset, 4, "status of a locked ingest")
            refs = [st.ref for st in await cs.list_statuses()]
            expect_equal(refs, [ref], "list_statuses while the ref is locked")
        w = await cs.writer(with_ref(ref))
        async with aclosing(w):
            expect_equal((await w.status()).offset, 4, "offset after the holder closed")


async def check_truncate_middle(factory: StoreFactory) -> None:
    """``truncate(k)`` for any ``0 <= k <= offset`` keeps the prefix and its digest."""
    __tracebackhide__ = True
    data, dgst = content(1000)
    async with factory() as cs:
        desc = Descriptor(size=len(data), digest=dgst)
        w = await cs.writer(with_ref("truncate"), with_descriptor(desc))
        async with aclosing(w):
            await w.write(data)
            await w.truncate(400)
            expect_equal((await w.status()).offset, 400, "offset after truncate(400)")
            expect_equal(w.digest(), Digest.from_bytes(data[:400]), "digest after truncate(400)")
            for size in (-1, 401):
                with Raises(InvalidArgumentError, f"truncate({size}) at offset 400"):
                    await w.truncate(size)
            expect_equal((await w.status()).offset, 400, "offset after refused truncates")
            await w.truncate(400)
            await w.truncate(300)
        expect_equal((await cs.status("truncate")).offset, 300, "stored offset after truncate")
        w = await cs.writer(with_ref("truncate"), with_descriptor(desc))
        async with aclosing(w):
            expect_equal((await w.status()).offset, 300, "resumed offset after truncate(300)")
            expect_equal(w.digest(), Digest.from_bytes(data[:300]), "resumed digest")
            await w.write(data[300:])
            await w.commit(len(data), dgst)
        expect_equal(await read_all(cs, dgst), data, "content after truncate and rewrite")

        # The prefix is re-hashed with the writer's algorithm.
        d512 = Digest.from_bytes(data, SHA512)
        w = await cs.writer(with_ref("truncate-512"), with_descriptor(Descriptor(digest=d512)))
        async with aclosing(w):
            await w.write(data[:700])
            await w.truncate(100)
            expect_equal(w.digest(), Digest.from_bytes(data[:100], SHA512), "sha512 prefix")
            await w.write(data[100:])
            await w.commit(len(data), d512)
        expect_equal((await cs.info(d512)).size, len(data), "size of the sha512 blob")


async def check_open_writer_wakes_on_release(factory: StoreFactory) -> None:
    """``open_writer`` waits for a held ref, wakes promptly on release, and can be cancelled."""
    __tracebackhide__ = True
    ref = "wake"
    async with factory() as cs:
        holder = await cs.writer(with_ref(ref))
        opened: list[tuple[float, Writer]] = []

        async def wait_for_ref() -> None:
            w = await open_writer(cs, with_ref(ref))
            opened.append((anyio.current_time(), w))

        early = False
        released = 0.0
        with anyio.move_on_after(10 + WAKE_BOUND) as guard:
            async with anyio.create_task_group() as tg:
                tg.start_soon(wait_for_ref)
                await anyio.sleep(0.05)
                early = bool(opened)
                released = anyio.current_time()
                await holder.aclose()
        if early:
            fail("open_writer returned while another writer held the ref")
        if guard.cancelled_caught or not opened:
            fail("open_writer did not return after the holder released the ref")
        woke, w = opened[0]
        async with aclosing(w):
            if woke - released > WAKE_BOUND:
                fail(f"open_writer took {woke - released:.3f}s to notice the release")
            start = anyio.current_time()
            with anyio.move_on_after(0.1) as scope:
                extra = await open_writer(cs, with_ref(ref))
                await extra.aclose()
                fail("open_writer returned while another writer held the ref")
            if not scope.cancelled_caught:
                fail("cancelling open_writer did not end its wait")
            if anyio.current_time() - start > WAKE_BOUND:
                fail("cancelling open_writer took too long")


async def check_abort_active_writer(factory: StoreFactory) -> None:
    """``abort`` removes a held ingest; the holder's next call raises NotFoundError and releases."""
    __tracebackhide__ = True
    async with factory() as cs:
        for action in ("write", "truncate", "commit"):
            ref = f"abort-{action}"
            w = await cs.writer(with_ref(ref))
            async with aclosing(w):
                await w.write(b"hello")
                await cs.abort(ref)
                with Raises(NotFoundError, f"status after abort of {ref!r}"):
                    await cs.status(ref)
                refs = [st.ref for st in await cs.list_statuses()]
                expect_equal(refs, [], f"list_statuses after abort of {ref!r}")
                with Raises(NotFoundError, f"{action} after abort of {ref!r}"):
                    if action == "write":
                        await w.write(b" world")
                    elif action == "truncate":
                        await w.truncate(0)
                    else:
                        await w.commit(5, "")
                try:
                    again = await cs.writer(with_ref(ref))
                except UnavailableError as exc:
                    raise AssertionError(
                        f"{action} after abort did not release {ref!r}: {exc}"
                    ) from exc
                async with aclosing(again):
                    expect_equal((await again.status()).offset, 0, "offset after abort")
                await cs.abort(ref)
        with Raises(NotFoundError, "info of content whose ingest was aborted"):
            await cs.info(Digest.from_bytes(b"hello"))


async def check_ref_forms(factory: StoreFactory) -> None:
    """Refs with slashes, ``..``, spaces, unicode or 4 KiB of text are plain names."""
    __tracebackhide__ = True
    refs = ["a/b/c", "../../escape", "..", "with space", "ünïcödé ✓", "x" * 4096, "/abs"]
    async with factory() as cs:
        for i, ref in enumerate(refs):
            w = await cs.writer(with_ref(ref))
            async with aclosing(w):
                await w.write(bytes([i]) * (i + 1))
        statuses = await cs.list_statuses()
        expect_equal([st.ref for st in statuses], sorted(refs), "refs listed")
        for i, ref in enumerate(refs):
            expect_equal((await cs.status(ref)).offset, i + 1, f"offset of ref {ref[:40]!r}")
            w = await cs.writer(with_ref(ref))
            async with aclosing(w):
                await w.commit(i + 1, Digest.from_bytes(bytes([i]) * (i + 1)))
        expect_equal(await cs.list_statuses(), [], "ingests after committing every ref")


async def check_closed_writer(factory: StoreFactory) -> None:
    """After ``aclose`` or ``commit``: write/truncate/commit fail, digest and status answer."""
    __tracebackhide__ = True
    data, dgst = content(100)
    async with factory() as cs:
        for how in ("aclose", "commit"):
            ref = f"closed-by-{how}"
            w = await cs.writer(with_ref(ref), with_descriptor(Descriptor(size=100, digest=dgst)))
            await w.write(data)
            if how == "aclose":
                await w.aclose()
            else:
                await w.commit(100, dgst)
            with Raises(FailedPreconditionError, f"write after {how}"):
                await w.write(b"x")
            with Raises(FailedPreconditionError, f"truncate after {how}"):
                await w.truncate(0)
            with Raises(FailedPreconditionError, f"commit after {how}"):
                await w.commit(100, dgst)
            await w.aclose()
            expect_equal(w.digest(), dgst, f"digest() after {how}")
            st = await w.status()
            expect_equal((st.ref, st.offset, st.total), (ref, 100, 100), f"status after {how}")
            # The ref was released; leaving ``async with`` closes a writer.
            again = await cs.writer(with_ref(ref))
            async with as_context_manager(again, "Writer") as entered:
                expect_equal(entered, again, "the writer given by async with")
            with Raises(FailedPreconditionError, "write after leaving async with"):
                await again.write(b"x")
            if how == "aclose":
                await cs.abort(ref)
        expect_equal((await cs.info(dgst)).size, 100, "size of the committed blob")


async def check_resume_totals(factory: StoreFactory) -> None:
    """A stored total must match ``desc.size``; an ingest without one adopts it."""
    __tracebackhide__ = True
    data, dgst = content(200)
    async with factory() as cs:
        w = await cs.writer(with_ref("total"), with_descriptor(Descriptor(size=200)))
        async with aclosing(w):
            await w.write(data[:50])
        with Raises(FailedPreconditionError, "resume with a different desc.size"):
            await cs.writer(with_ref("total"), with_descriptor(Descriptor(size=300)))
        st = await cs.status("total")
        expect_equal((st.offset, st.total), (50, 200), "ingest after a refused resume")
        w = await cs.writer(with_ref("total"))
        async with aclosing(w):
            expect_equal((await w.status()).total, 200, "total resumed without desc.size")

        w = await cs.writer(with_ref("no-total"))
        async with aclosing(w):
            expect_equal((await w.status()).total, 0, "total without desc.size")
            await w.write(data[:50])
        w = await cs.writer(with_ref("no-total"), with_descriptor(Descriptor(size=200)))
        async with aclosing(w):
            expect_equal((await w.status()).total, 200, "adopted total")
        expect_equal((await cs.status("no-total")).total, 200, "stored adopted total")
        w = await cs.writer(with_ref("no-total"), with_descriptor(Descriptor(digest=dgst)))
        async with aclosing(w):
            st = await w.status()
            expect_equal((st.offset, st.total), (50, 200), "status after adopting")
            await w.write(data[50:])
            await w.commit(200, dgst)


async def check_commit_other_algorithm(factory: StoreFactory) -> None:
    """An ``expected`` digest of another algorithm is checked by re-hashing."""
    __tracebackhide__ = True
    data, d256 = content(500)
    d512 = Digest.from_bytes(data, SHA512)
    async with factory() as cs:
        w = await cs.writer(with_ref("rehash"))
        async with aclosing(w):
            await w.write(data)
            expect_equal(w.digest().algorithm, SHA256, "default algorithm")
            with Raises(FailedPreconditionError, "commit with a wrong sha512 digest"):
                await w.commit(0, Digest.from_bytes(b"other", SHA512))
        expect_equal((await cs.status("rehash")).offset, 500, "ingest after a failed commit")
        w = await cs.writer(with_ref("rehash"))
        async with aclosing(w):
            await w.commit(500, d512)
        expect_equal((await cs.info(d512)).size, 500, "size of the blob named by sha512")
        expect_equal(await read_all(cs, d512), data, "content of the sha512 blob")
        with Raises(NotFoundError, "info of the sha256 digest of a blob committed as sha512"):
            await cs.info(d256)
