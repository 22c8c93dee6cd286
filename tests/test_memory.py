"""MemoryStore behaviour the conformance suite does not cover."""

from __future__ import annotations

import array
from collections.abc import Awaitable, Callable

import anyio
import pytest

from aiocontent import (
    SHA384,
    Descriptor,
    Digest,
    FailedPreconditionError,
    Info,
    NotFoundError,
    Store,
    SupportsLockWait,
    SupportsSiblings,
    SupportsSingleFlight,
    UnavailableError,
    Writer,
    with_descriptor,
    with_ref,
)
from aiocontent._memory import MemoryStore

DATA = b"hello, memory store"
DGST = Digest.from_bytes(DATA)


async def _commit_blob(cs: MemoryStore, data: bytes = DATA) -> Digest:
    w = await cs.writer(with_ref("blob"))
    await w.write(data)
    await w.commit(len(data))
    return w.digest()


class TestStore:
    async def test_async_with_gives_the_store(self) -> None:
        store = MemoryStore()
        async with store as cs:
            assert cs is store

    def test_offers_store_and_capabilities(self) -> None:
        cs = MemoryStore()
        assert isinstance(cs, Store)
        assert isinstance(cs, SupportsSingleFlight)
        assert isinstance(cs, SupportsLockWait)
        assert not isinstance(cs, SupportsSiblings)

    def test_flights_is_one_table_per_store(self) -> None:
        cs = MemoryStore()
        assert cs.flights is cs.flights
        assert cs.flights is not MemoryStore().flights

    async def test_repr_counts_blobs_ingests_and_locks(self) -> None:
        async with MemoryStore() as cs:
            await _commit_blob(cs)
            w = await cs.writer(with_ref("open"))
            assert repr(cs) == (f"<MemoryStore blobs=1 bytes={len(DATA)} ingests=1 locked=1 open>")
            await w.aclose()
        assert repr(cs).endswith("locked=0 closed>")

    async def test_writer_repr_names_ref_offset_and_state(self) -> None:
        async with MemoryStore() as cs:
            w = await cs.writer(with_ref("r"), with_descriptor(Descriptor(size=5)))
            await w.write(b"abc")
            assert repr(w) == (
                f"<MemoryStore writer ref='r' offset=3 total=5 "
                f"digest={Digest.from_bytes(b'abc')} open>"
            )
            await w.aclose()
            assert repr(w).endswith(" closed>")
            w = await cs.writer(with_ref("r"))
            await w.commit()
            assert repr(w).endswith(" committed>")

    async def test_reader_repr_names_digest_and_size(self) -> None:
        async with MemoryStore() as cs:
            dgst = await _commit_blob(cs)
            ra = await cs.reader_at(Descriptor(digest=dgst))
            assert repr(ra) == f"<MemoryStore reader {dgst} size={len(DATA)} open>"
            await ra.aclose()
            assert repr(ra).endswith(" closed>")


STORE_CALLS: dict[str, Callable[[MemoryStore], Awaitable[object]]] = {
    "writer": lambda cs: cs.writer(with_ref("new")),
    "info": lambda cs: cs.info(DGST),
    "reader_at": lambda cs: cs.reader_at(Descriptor(digest=DGST)),
    "update": lambda cs: cs.update(Info(digest=DGST)),
    "walk": lambda cs: cs.walk(lambda info: None),
    "delete": lambda cs: cs.delete(DGST),
    "status": lambda cs: cs.status("ref"),
    "list_statuses": lambda cs: cs.list_statuses(),
    "abort": lambda cs: cs.abort("ref"),
}


class TestClose:
    @pytest.mark.parametrize("call", sorted(STORE_CALLS))
    async def test_calls_after_aclose_fail(self, call: str) -> None:
        cs = MemoryStore()
        await _commit_blob(cs)
        await cs.aclose()
        with pytest.raises(FailedPreconditionError, match="MemoryStore is closed"):
            await STORE_CALLS[call](cs)

    async def test_writer_opened_before_aclose_keeps_working(self) -> None:
        cs = MemoryStore()
        w = await cs.writer(with_ref("r"))
        await cs.aclose()
        await w.write(DATA)
        await w.commit(len(DATA), DGST)
        assert w.digest() == DGST

    async def test_aclose_twice_is_a_no_op(self) -> None:
        cs = MemoryStore()
        await cs.aclose()
        await cs.aclose()

    async def test_read_after_reader_aclose_fails(self) -> None:
        async with MemoryStore() as cs:
            ra = await cs.reader_at(Descriptor(digest=await _commit_blob(cs)))
            await ra.aclose()
            await ra.aclose()
            with pytest.raises(FailedPreconditionError, match="is closed"):
                await ra.read_at(1, 0)


class TestMessages:
    async def test_missing_blob_message_is_containerds(self) -> None:
        async with MemoryStore() as cs:
            with pytest.raises(NotFoundError) as info:
                await cs.info(DGST)
        assert str(info.value) == f"content {DGST}: not found"

    @pytest.mark.parametrize("call", ["status", "abort"])
    async def test_missing_ingest_message_is_containerds(self, call: str) -> None:
        async with MemoryStore() as cs:
            with pytest.raises(NotFoundError) as info:
                await getattr(cs, call)("some/ref")
        assert str(info.value) == 'ingest ref "some/ref": not found'

    async def test_locked_ref_message_says_for_how_long(self) -> None:
        async with MemoryStore() as cs:
            w = await cs.writer(with_ref("r"))
            with pytest.raises(UnavailableError, match=r"^ref r locked for [0-9.]+s \(since "):
                await cs.writer(with_ref("r"))
            await w.aclose()


class TestWriter:
    @pytest.mark.parametrize(
        "data",
        [bytearray(DATA), memoryview(DATA), memoryview(DATA)[2:9]],
        ids=["bytearray", "memoryview", "memoryview-slice"],
    )
    async def test_write_accepts_bytes_like(self, data: bytearray | memoryview) -> None:
        async with MemoryStore() as cs:
            w = await cs.writer(with_ref("r"))
            assert await w.write(data) == len(bytes(data))
            assert w.digest() == Digest.from_bytes(bytes(data))
            await w.aclose()

    async def test_write_of_a_typed_memoryview_counts_bytes(self) -> None:
        words = array.array("H", [1, 2, 3])
        async with MemoryStore() as cs:
            w = await cs.writer(with_ref("r"))
            assert await w.write(memoryview(words)) == 6
            assert w.digest() == Digest.from_bytes(words.tobytes())
            await w.aclose()

    async def test_write_of_str_is_a_type_error(self) -> None:
        async with MemoryStore() as cs:
            w = await cs.writer(with_ref("r"))
            with pytest.raises(TypeError, match="bytes-like"):
                await w.write("text")  # type: ignore[arg-type]
            assert (await w.status()).offset == 0
            await w.aclose()

    @pytest.mark.parametrize(
        ("size", "expected"), [("1", ""), (1.0, ""), (True, ""), (0, b"sha256:")]
    )
    async def test_commit_with_wrong_types_is_a_type_error_and_keeps_the_ingest(
        self, size: object, expected: object
    ) -> None:
        async with MemoryStore() as cs:
            w = await cs.writer(with_ref("r"))
            await w.write(DATA)
            with pytest.raises(TypeError):
                await w.commit(size, expected)  # type: ignore[arg-type]
            assert (await cs.status("r")).offset == len(DATA)
            assert (await cs.writer(with_ref("r"))).digest() == DGST

    async def test_descriptor_digest_selects_the_algorithm(self) -> None:
        dgst = Digest.from_bytes(DATA, SHA384)
        async with MemoryStore() as cs:
            w = await cs.writer(with_ref("r"), with_descriptor(Descriptor(digest=dgst)))
            await w.write(DATA)
            assert w.digest() == dgst
            await w.commit(len(DATA), dgst)
            assert (await cs.info(dgst)).size == len(DATA)

    async def test_store_status_reports_the_expected_digest(self) -> None:
        async with MemoryStore() as cs:
            w = await cs.writer(with_ref("r"), with_descriptor(Descriptor(digest=DGST)))
            assert (await cs.status("r")).expected == DGST
            await w.aclose()

    async def test_timestamps_are_aware_utc_with_microseconds(self) -> None:
        async with MemoryStore() as cs:
            w = await cs.writer(with_ref("r"))
            await w.write(DATA)
            st = await w.status()
            await w.commit()
            info = await cs.info(DGST)
        for stamp in (st.started_at, st.updated_at, info.created_at, info.updated_at):
            assert stamp.utcoffset() is not None
            assert stamp.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
        assert st.updated_at > st.started_at

    async def test_reader_keeps_reading_a_deleted_blob(self) -> None:
        async with MemoryStore() as cs:
            dgst = await _commit_blob(cs)
            ra = await cs.reader_at(Descriptor(digest=dgst))
            await cs.delete(dgst)
            assert await ra.read_at(100, 0) == DATA
            await ra.aclose()


async def _two_at_once(first: Awaitable[object], second: Awaitable[object]) -> list[str]:
    """Run two calls concurrently and return the name of what each raised ("" for none)."""
    outcomes = ["", ""]

    async def run(i: int, call: Awaitable[object]) -> None:
        try:
            await call
        except anyio.BusyResourceError:
            outcomes[i] = "busy"

    async with anyio.create_task_group() as tg:
        tg.start_soon(run, 0, first)
        tg.start_soon(run, 1, second)
    return outcomes


class TestOneTaskAtATime:
    async def test_overlapping_writes_raise_busy(self) -> None:
        async with MemoryStore() as cs:
            w = await cs.writer(with_ref("r"))
            outcomes = await _two_at_once(w.write(b"a"), w.write(b"b"))
            assert sorted(outcomes) == ["", "busy"]
            assert (await w.status()).offset == 1
            await w.aclose()

    async def test_commit_during_write_raises_busy(self) -> None:
        async with MemoryStore() as cs:
            w = await cs.writer(with_ref("r"))
            outcomes = await _two_at_once(w.write(b"a"), w.commit())
            assert sorted(outcomes) == ["", "busy"]
            await w.aclose()

    async def test_status_during_write_is_allowed(self) -> None:
        async with MemoryStore() as cs:
            w = await cs.writer(with_ref("r"))
            assert await _two_at_once(w.write(b"a"), w.status()) == ["", ""]
            await w.aclose()


class TestCancellation:
    @pytest.mark.parametrize("action", ["write", "truncate"])
    async def test_cancelled_change_applies_nothing(self, action: str) -> None:
        async with MemoryStore() as cs:
            w = await cs.writer(with_ref("r"))
            await w.write(DATA)
            with anyio.CancelScope() as scope:
                scope.cancel()
                if action == "write":
                    await w.write(b"more")
                else:
                    await w.truncate(2)
            assert scope.cancelled_caught
            assert (await w.status()).offset == len(DATA)
            assert w.digest() == DGST
            assert (await cs.status("r")).offset == len(DATA)
            await w.write(b"!")
            assert w.digest() == Digest.from_bytes(DATA + b"!")
            await w.aclose()

    async def test_cancelled_commit_keeps_the_ingest_and_releases_the_ref(self) -> None:
        async with MemoryStore() as cs:
            w = await cs.writer(with_ref("r"))
            await w.write(DATA)
            with anyio.CancelScope() as scope:
                scope.cancel()
                await w.commit(len(DATA), DGST)
            assert scope.cancelled_caught
            with pytest.raises(NotFoundError):
                await cs.info(DGST)
            with pytest.raises(FailedPreconditionError):
                await w.write(b"x")
            again = await cs.writer(with_ref("r"))
            assert again.digest() == DGST
            await again.commit(len(DATA), DGST)

    async def test_cancelled_writer_leaves_the_ref_free(self) -> None:
        async with MemoryStore() as cs:
            with anyio.CancelScope() as scope:
                scope.cancel()
                await cs.writer(with_ref("r"))
            assert scope.cancelled_caught
            with pytest.raises(NotFoundError):
                await cs.status("r")
            await (await cs.writer(with_ref("r"))).aclose()


class TestLockWait:
    async def test_wait_unlocked_returns_at_once_for_a_free_ref(self) -> None:
        async with MemoryStore() as cs:
            with anyio.fail_after(1):
                await cs.wait_unlocked("free", poll=100)

    async def test_wait_unlocked_wakes_on_release(self) -> None:
        async with MemoryStore() as cs:
            w: Writer = await cs.writer(with_ref("r"))
            woke = anyio.Event()

            async def waiter() -> None:
                await cs.wait_unlocked("r", poll=100)
                woke.set()

            with anyio.fail_after(5):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(waiter)
                    await anyio.wait_all_tasks_blocked()
                    assert not woke.is_set()
                    await w.aclose()
            assert woke.is_set()
