"""containerd's content testsuite cases (``content/testsuite``), one ``check_*`` each."""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack, aclosing
from typing import TypeAlias

from .._digest import Digest
from .._errors import AlreadyExistsError, FailedPreconditionError, NotFoundError
from .._helpers import copy, open_writer, write_blob
from .._interfaces import ReaderAt, Store, Writer
from .._types import Descriptor, Info, Status, with_descriptor, with_labels, with_ref
from ._support import (
    BytesReaderAt,
    Raises,
    ReadOnly,
    StoreFactory,
    as_context_manager,
    check_info,
    check_status,
    content,
    expect_equal,
    expect_ref_unavailable,
    fail,
    read_all,
    utcnow,
    write_chunks,
)


async def check_writer(factory: StoreFactory) -> None:
    """Four writers (no descriptor, size only, digest only, both) write and commit with labels."""
    __tracebackhide__ = True
    labels = {"containerd.io/gc.root": utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")}
    async with factory() as cs, AsyncExitStack() as stack:
        if not isinstance(cs, Store):
            fail(f"{type(cs).__name__} lacks methods of the Store protocol")
        cases: list[tuple[bytes, Digest, Writer]] = []
        for ref, use_size, use_digest in (
            ("c1", False, False),
            ("c2", True, False),
            ("c3", False, True),
            ("c4", True, True),
        ):
            data, dgst = content(256)
            desc = Descriptor(size=len(data) if use_size else 0, digest=dgst if use_digest else "")
            w = await open_writer(cs, with_ref(ref), with_descriptor(desc))
            stack.push_async_callback(w.aclose)
            if not isinstance(w, Writer):
                fail(f"{type(w).__name__} lacks methods of the Writer protocol")
            st = await w.status()
            expect_equal(st.expected, dgst if use_digest else None, f"Status.expected of {ref}")
            cases.append((data, dgst, w))
        for data, dgst, w in cases:
            await write_chunks(w, data, 32)
            pre = utcnow()
            await w.commit(0, "", with_labels(labels))
            post = utcnow()
            expect_equal(w.digest(), dgst, "digest() after commit")
            await check_info(cs, dgst, len(data), labels, (pre, post), (pre, post))
            expect_equal(await read_all(cs, dgst), data, f"content of {dgst}")


async def check_update_status(factory: StoreFactory) -> None:
    """Status offset, digest and timestamps follow each write; commit applies labels."""
    __tracebackhide__ = True
    labels = {"containerd.io/gc.root": utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")}
    data, d1 = content(256)
    async with factory() as cs:
        pre_start = utcnow()
        w = await open_writer(cs, with_ref("c1"), with_descriptor(Descriptor(size=256, digest=d1)))
        async with aclosing(w):
            post_start = utcnow()
            expected = Status(ref="c1", offset=0, total=256, expected=d1)
            started = (pre_start, post_start)
            await check_status(w, expected, Digest.from_bytes(b""), started, started)
            for end in (64, 192, 256):
                pre = utcnow()
                await w.write(data[expected.offset : end])
                post = utcnow()
                expected.offset = end
                await check_status(w, expected, Digest.from_bytes(data[:end]), started, (pre, post))
            pre = utcnow()
            await w.commit(0, "", with_labels(labels))
            post = utcnow()
        await check_info(cs, d1, 256, labels, (pre, post), (pre, post))


async def check_commit_exists(factory: StoreFactory) -> None:
    """Committing content that exists raises AlreadyExistsError and removes the ingest."""
    __tracebackhide__ = True
    data, d1 = content(256)
    async with factory() as cs:
        await write_blob(cs, "c1", data, Descriptor(digest=d1))
        for i, expected in enumerate((d1, "")):
            ref = f"c1-commitexists-{i}"
            w = await open_writer(cs, with_ref(ref))
            async with aclosing(w):
                await w.write(data)
                with Raises(
                    AlreadyExistsError, f"commit of existing content (expected={expected!r})"
                ):
                    await w.commit(len(data), expected)
            with Raises(NotFoundError, f"status of {ref!r} after AlreadyExistsError"):
                await cs.status(ref)


async def check_resume(factory: StoreFactory) -> None:
    """A closed writer's ingest resumes: offset, digest and timestamps continue."""
    __tracebackhide__ = True
    ref = "cb"
    data, dgst = content(256)
    first, second = data[:128], data[128:]
    desc = Descriptor(size=256, digest=dgst)
    async with factory() as cs:
        pre_start = utcnow()
        w1 = await open_writer(cs, with_ref(ref), with_descriptor(desc))
        post_start = utcnow()
        started = (pre_start, post_start)
        async with aclosing(w1):
            await w1.write(first)
            post_update = utcnow()
            expected = Status(ref=ref, offset=128, total=256, expected=dgst)
            first_digest = Digest.from_bytes(first)
            await check_status(w1, expected, first_digest, started, (post_start, post_update))
        w2 = await open_writer(cs, with_ref(ref), with_descriptor(desc))
        async with aclosing(w2):
            # The resumed status is the one from before the close.
            await check_status(w2, expected, first_digest, started, (post_start, post_update))
            pre_update = utcnow()
            await w2.write(second)
            post_update = utcnow()
            expected.offset = 256
            await check_status(w2, expected, dgst, started, (pre_update, post_update))
            pre = utcnow()
            await w2.commit(0, "")
            post = utcnow()
        await check_info(cs, dgst, 256, {}, (pre, post), (pre, post))


_ResumeFn: TypeAlias = Callable[[Writer, bytes, int, int, Digest], Awaitable[None]]


async def _check_resume(factory: StoreFactory, name: str, resume: _ResumeFn) -> None:
    __tracebackhide__ = True
    async with factory() as cs:
        for i, size in enumerate((500, 5000, 50000)):
            for j, fraction in enumerate((0.0, 0.1, 0.5, 0.9, 1.0)):
                data, dgst = content(size)
                limit = int(size * fraction)
                ref = f"ref-{i}-{j}"
                desc = Descriptor(size=size, digest=dgst)
                w = await open_writer(cs, with_ref(ref), with_descriptor(desc))
                async with aclosing(w):
                    await w.write(data[:limit])
                w = await open_writer(cs, with_ref(ref), with_descriptor(desc))
                async with aclosing(w):
                    st = await w.status()
                    expect_equal(st.offset, limit, f"{name}: resumed offset of {ref}")
                    pre = utcnow()
                    try:
                        await resume(w, data, limit, size, dgst)
                    except Exception as exc:
                        raise AssertionError(
                            f"{name}: resume of {ref} ({size} bytes, {limit} written) failed: "
                            f"{type(exc).__name__}: {exc}"
                        ) from exc
                    post = utcnow()
                await check_info(cs, dgst, size, {}, (pre, post), (pre, post))


async def _resume_truncate(w: Writer, data: bytes, written: int, size: int, dgst: Digest) -> None:
    await w.truncate(0)
    await write_chunks(w, data, 1024)
    await w.commit(size, dgst)


async def _resume_discard(w: Writer, data: bytes, written: int, size: int, dgst: Digest) -> None:
    await write_chunks(w, data[written:], 1024)
    await w.commit(size, dgst)


async def _resume_copy(w: Writer, data: bytes, written: int, size: int, dgst: Digest) -> None:
    await copy(w, ReadOnly(data), size, dgst)


async def _resume_copy_seeker(
    w: Writer, data: bytes, written: int, size: int, dgst: Digest
) -> None:
    await copy(w, io.BytesIO(data), size, dgst)


async def _resume_copy_reader_at(
    w: Writer, data: bytes, written: int, size: int, dgst: Digest
) -> None:
    await copy(w, BytesReaderAt(data), size, dgst)


async def check_resume_truncate(factory: StoreFactory) -> None:
    """Resume, then ``truncate(0)`` and write everything again."""
    __tracebackhide__ = True
    await _check_resume(factory, "check_resume_truncate", _resume_truncate)


async def check_resume_discard(factory: StoreFactory) -> None:
    """Resume and write only the bytes after the offset."""
    __tracebackhide__ = True
    await _check_resume(factory, "check_resume_discard", _resume_discard)


async def check_resume_copy(factory: StoreFactory) -> None:
    """Resume with :func:`~aiocontent.copy` from a source that can only be read."""
    __tracebackhide__ = True
    await _check_resume(factory, "check_resume_copy", _resume_copy)


async def check_resume_copy_seeker(factory: StoreFactory) -> None:
    """Resume with :func:`~aiocontent.copy` from a seekable source."""
    __tracebackhide__ = True
    await _check_resume(factory, "check_resume_copy_seeker", _resume_copy_seeker)


async def check_resume_copy_reader_at(factory: StoreFactory) -> None:
    """Resume with :func:`~aiocontent.copy` from a :class:`~aiocontent.ReaderAt` source."""
    __tracebackhide__ = True
    await _check_resume(factory, "check_resume_copy_reader_at", _resume_copy_reader_at)


async def check_small_blob(factory: StoreFactory) -> None:
    """A blob smaller than the read size reads back whole; reads at or past the end are empty."""
    __tracebackhide__ = True
    blob = b"foobar"
    dgst = Digest.from_bytes(blob)
    async with factory() as cs:
        w = await cs.writer(
            with_ref("check_small_blob"), with_descriptor(Descriptor(size=len(blob), digest=dgst))
        )
        async with aclosing(w):
            await w.write(blob)
            await w.commit(len(blob), dgst)
        ra = await cs.reader_at(Descriptor(digest=dgst))
        if not isinstance(ra, ReaderAt):
            fail(f"{type(ra).__name__} lacks methods of the ReaderAt protocol")
        async with as_context_manager(ra, "ReaderAt"):
            expect_equal(ra.size, len(blob), "ReaderAt.size")
            expect_equal(await ra.read_at(len(blob) + 1, 0), blob, "read_at(size + 1, 0)")
            expect_equal(await ra.read_at(4, 3), blob[3:], "read_at(4, 3)")
            expect_equal(await ra.read_at(1, len(blob)), b"", "read_at at the end")
            expect_equal(await ra.read_at(1, len(blob) + 10), b"", "read_at past the end")
            expect_equal(await ra.read_at(0, 0), b"", "read_at(0, 0)")
        expect_equal(await read_all(cs, dgst), blob, "read_blob of the small blob")


async def check_labels(factory: StoreFactory) -> None:
    """Labels set at commit, replaced by ``update(info)`` and merged by ``labels.<key>`` paths."""
    __tracebackhide__ = True
    data, d1 = content(256)
    async with factory() as cs:
        w = await open_writer(
            cs, with_ref("c1-checklabels"), with_descriptor(Descriptor(size=256, digest=d1))
        )
        async with aclosing(w):
            await w.write(data)
            root_time = utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")
            labels = {"k1": "v1", "k2": "v2", "containerd.io/gc.root": root_time}
            pre_commit = utcnow()
            await w.commit(0, "", with_labels(labels))
            post_commit = utcnow()
        committed = (pre_commit, post_commit)
        await check_info(cs, d1, 256, labels, committed, committed)

        labels["k1"] = "newvalue"
        del labels["k2"]
        labels["k3"] = "v3"
        info = Info(digest=d1, size=256, labels=dict(labels))
        pre = utcnow()
        returned = await cs.update(info)
        post = utcnow()
        expect_equal(returned.labels, labels, "labels returned by update(info)")
        await check_info(cs, d1, 256, labels, committed, (pre, post))

        info.labels = {"k1": "v1", "containerd.io/gc.root": root_time}
        pre = utcnow()
        await cs.update(info, "labels.k3", "labels.k1")
        post = utcnow()
        await check_info(cs, d1, 256, info.labels, committed, (pre, post))


async def check_commit_error_state(factory: StoreFactory) -> None:
    """Failed commits keep (or, for AlreadyExists, drop) the ingest and always release the ref."""
    __tracebackhide__ = True
    c1, d1 = content(256)
    _, d2 = content(256)
    more = c1 + b"more"
    ref = "c1-commiterror-state"
    async with factory() as cs:
        await write_blob(cs, "c1", c1, Descriptor(digest=d1))

        w = await open_writer(cs, with_ref(ref))
        async with aclosing(w):
            await w.write(c1)
            await expect_ref_unavailable(cs, ref)
            with Raises(AlreadyExistsError, "commit of existing content with its digest"):
                await w.commit(len(c1), d1)

        w = await open_writer(cs, with_ref(ref))
        async with aclosing(w):
            await expect_ref_unavailable(cs, ref)
            await w.write(c1)
            with Raises(AlreadyExistsError, "commit of existing content without digest"):
                await w.commit(len(c1), "")

        w = await open_writer(cs, with_ref(ref))
        async with aclosing(w):
            await expect_ref_unavailable(cs, ref)
            expect_equal((await w.status()).offset, 0, "offset after AlreadyExistsError")
            await w.write(more)
            with Raises(FailedPreconditionError, "commit with the wrong digest"):
                await w.commit(len(more), d2)

        w = await open_writer(cs, with_ref(ref))
        async with aclosing(w):
            await expect_ref_unavailable(cs, ref)
            expect_equal((await w.status()).offset, len(more), "offset after a wrong digest")
            with Raises(FailedPreconditionError, "commit with the wrong size"):
                await w.commit(len(c1), "")

        w = await open_writer(cs, with_ref(ref))
        async with aclosing(w):
            await expect_ref_unavailable(cs, ref)
            await w.commit(len(more), "")
        expect_equal(await read_all(cs, Digest.from_bytes(more)), more, "committed content")

        w = await open_writer(cs, with_ref(ref))
        async with aclosing(w):
            expect_equal((await w.status()).offset, 0, "offset of a new ingest after commit")
            await w.write(c1)
            await expect_ref_unavailable(cs, ref)
            with Raises(AlreadyExistsError, "commit of existing content, again"):
                await w.commit(len(c1), d1)

        w = await open_writer(cs, with_ref(ref))
        async with aclosing(w):
            await expect_ref_unavailable(cs, ref)
        w = await open_writer(cs, with_ref(ref))
        await w.aclose()
