"""Checks of optional capabilities; each does nothing for a store without it.

Single-flight (:class:`~aiocontent.SupportsSingleFlight`), sibling store objects
(:class:`~aiocontent.SupportsSiblings`) and one-step puts (:class:`~aiocontent.SupportsPut`).
"""

from __future__ import annotations

from contextlib import aclosing

import anyio

from .._digest import Digest
from .._errors import FailedPreconditionError, NotFoundError, UnavailableError
from .._helpers import open_writer, write_blob
from .._interfaces import Store, SupportsPut, SupportsSiblings, SupportsSingleFlight, Writer
from .._types import Descriptor, with_labels, with_ref
from ._support import (
    Raises,
    StoreFactory,
    content,
    expect_equal,
    expect_ref_unavailable,
    fail,
    read_all,
)


async def check_single_flight(factory: StoreFactory) -> None:
    """Concurrent ``write_blob`` calls for one digest read one source; a failure hands over.

    Runs only for stores offering :class:`~aiocontent.SupportsSingleFlight`.
    """
    __tracebackhide__ = True
    async with factory() as cs:
        if not isinstance(cs, SupportsSingleFlight):
            return
        await _single_flight_round(cs, fail_first=False)
        await _single_flight_round(cs, fail_first=True)


class _SourceFailed(Exception):
    """Raised by the first source read in :func:`check_single_flight`."""


class _CountingSource:
    """An async-``read`` source that counts its reads and can fail the first read of a round."""

    def __init__(self, data: bytes, gate: anyio.Event, round_: _Round) -> None:
        self._data = data
        self._pos = 0
        self._gate = gate
        self._round = round_
        self.reads = 0

    async def read(self, n: int = -1) -> bytes:
        self.reads += 1
        await self._gate.wait()
        if self._round.failure is not None and not self._round.failed:
            self._round.failed = True
            raise self._round.failure
        end = len(self._data) if n < 0 else self._pos + n
        chunk = self._data[self._pos : end]
        self._pos += len(chunk)
        return chunk


class _Round:
    def __init__(self, failure: _SourceFailed | None) -> None:
        self.failure = failure
        self.failed = False


async def _single_flight_round(cs: Store, *, fail_first: bool) -> None:
    __tracebackhide__ = True
    what = "single-flight with a failing leader" if fail_first else "single-flight"
    tasks = 5
    data, dgst = content(10_000)
    gate = anyio.Event()
    round_ = _Round(_SourceFailed("leader source failed") if fail_first else None)
    sources = [_CountingSource(data, gate, round_) for _ in range(tasks)]
    outcomes: list[BaseException | None] = [None] * tasks
    prefix = "sf-fail" if fail_first else "sf"

    async def run(i: int) -> None:
        try:
            await write_blob(
                cs, f"{prefix}-{i}", sources[i], Descriptor(digest=dgst, size=len(data))
            )
        except Exception as exc:
            outcomes[i] = exc

    with anyio.move_on_after(30) as guard:
        async with anyio.create_task_group() as tg:
            for i in range(tasks):
                tg.start_soon(run, i)
            await anyio.wait_all_tasks_blocked()
            gate.set()
    if guard.cancelled_caught:
        fail(f"{what}: write_blob calls did not finish")
    read = sum(1 for source in sources if source.reads)
    failures = [exc for exc in outcomes if exc is not None]
    if fail_first:
        if len(failures) != 1 or failures[0] is not round_.failure:
            fail(f"{what}: expected only the leader's own exception, got {failures!r}")
        expect_equal(read, 2, f"{what}: sources read (the leader's and one follower's)")
    else:
        if failures:
            fail(f"{what}: write_blob failed: {failures!r}")
        expect_equal(read, 1, f"{what}: sources read")
    expect_equal(await read_all(cs, dgst), data, f"{what}: committed content")


async def check_cross_object_lock(factory: StoreFactory) -> None:
    """A sibling store object on the same storage respects the ref lock and waits for it.

    Runs only for stores offering :class:`~aiocontent.SupportsSiblings`.
    """
    __tracebackhide__ = True
    ref = "shared-ref"
    data, dgst = content(100)
    async with factory() as cs:
        if not isinstance(cs, SupportsSiblings):
            return
        async with cs.sibling() as other:
            holder = await cs.writer(with_ref(ref))
            async with aclosing(holder):
                await holder.write(data[:10])
                await expect_ref_unavailable(other, ref)
            # Released: the sibling gets the ref, and the lock now excludes the first store.
            opened: list[Writer] = []

            async def wait_for_ref() -> None:
                opened.append(await open_writer(other, with_ref(ref)))

            holder = await cs.writer(with_ref(ref))
            early = False
            with anyio.move_on_after(10) as guard:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(wait_for_ref)
                    await anyio.sleep(0.05)
                    early = bool(opened)
                    await holder.aclose()
            if early:
                fail("open_writer on the sibling returned while the ref was held")
            if guard.cancelled_caught or not opened:
                fail("open_writer on the sibling did not proceed after the release")
            w = opened[0]
            async with aclosing(w):
                expect_equal((await w.status()).offset, 10, "sibling's resumed offset")
                await expect_ref_unavailable(cs, ref)
                await w.write(data[10:])
                await w.commit(len(data), dgst)
        expect_equal(await read_all(cs, dgst), data, "content committed by the sibling")


async def check_put(factory: StoreFactory) -> None:
    """``put`` verifies before storing, keeps an existing blob, and ends the ref's ingest.

    Runs only for stores offering :class:`~aiocontent.SupportsPut`.
    """
    __tracebackhide__ = True
    data = b"put me" * 100
    dgst = Digest.from_bytes(data)
    desc = Descriptor(digest=dgst, size=len(data))
    async with factory() as cs:
        if not isinstance(cs, SupportsPut):
            return
        with Raises(FailedPreconditionError, "put of bytes that do not match the digest"):
            await cs.put("put-ref", data[:-1] + b"!", desc)
        with Raises(FailedPreconditionError, "put of bytes shorter than desc.size"):
            await cs.put("put-ref", data[:-1], Descriptor(digest=dgst, size=len(data)))
        with Raises(NotFoundError, "info after rejected puts"):
            await cs.info(dgst)

        w = await cs.writer(with_ref("put-ref"))
        with Raises(UnavailableError, "put while a writer holds the ref"):
            await cs.put("put-ref", data, desc)
        await w.write(data[:10])
        await w.aclose()

        await cs.put("put-ref", data, desc, with_labels({"k": "v"}))
        expect_equal(await read_all(cs, dgst), data, "content stored by put")
        expect_equal((await cs.info(dgst)).labels, {"k": "v"}, "labels stored by put")
        with Raises(NotFoundError, "status of the ref's ingest after put"):
            await cs.status("put-ref")

        await cs.put("other-ref", data, desc, with_labels({"k": "changed"}))
        expect_equal((await cs.info(dgst)).labels, {"k": "v"}, "labels after a second put")
