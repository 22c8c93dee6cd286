"""Model-based tests: random operation sequences checked against a plain in-memory model.

A hypothesis :class:`~hypothesis.stateful.RuleBasedStateMachine` opens writers,
writes, truncates, closes, commits, aborts, deletes, updates labels, walks,
reads and asks for statuses, in any order, and compares every result and every
error with :class:`Model`. It also closes and reopens the store object
(``LocalStore`` then starts over on the same root and must show the same
contents). Each test case runs on one event loop held by a blocking portal, so
the machine drives asyncio and trio alike.

Chunks come from a small fixed set and refs from a few names (slashes, ``..``
and non-ASCII included), so equal digests under different refs, commits of
existing content and contended refs happen often.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import anyio.from_thread
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from aiocontent import (
    SHA256,
    SHA512,
    AlreadyExistsError,
    Descriptor,
    Digest,
    FailedPreconditionError,
    Info,
    InvalidArgumentError,
    MemoryStore,
    NotFoundError,
    Status,
    UnavailableError,
    Writer,
    with_descriptor,
    with_labels,
    with_ref,
)
from aiocontent._local import LocalStore

from ._fs import blob_problems, held_locks

T = TypeVar("T")

REFS = ("a", "b", "layer/../x", "ünï ☃")
CHUNKS = (b"", b"a", b"abc", b"hello world\n", bytes(range(256)) * 3)
#: Digests a writer may be told to expect: those of a chunk, or of two chunks.
POOL = tuple(dict.fromkeys(Digest.from_bytes(a + b) for a in CHUNKS for b in (b"", *CHUNKS[1:3])))
LABEL_KEYS = ("k1", "k2")
label_maps = st.dictionaries(
    st.sampled_from(LABEL_KEYS), st.sampled_from(("", "v1", "v2")), max_size=2
)
FILTERS = ("", "labels.k1==v1", "labels.k2", "size==3", "digest~=^sha512:")


@dataclass
class ModelIngest:
    """An ingest as the model knows it."""

    data: bytearray = field(default_factory=bytearray)
    total: int = 0
    expected: Digest | None = None


@dataclass
class ModelWriter:
    """An open writer and whether its ingest was aborted under it."""

    writer: Writer
    aborted: bool = False


@dataclass
class Model:
    """What the store must contain."""

    blobs: dict[Digest, tuple[bytes, dict[str, str]]] = field(default_factory=dict)
    ingests: dict[str, ModelIngest] = field(default_factory=dict)


class StoreMachine(RuleBasedStateMachine):
    """Drives one store through a portal and checks it against :class:`Model`."""

    backend: ClassVar[str] = "asyncio"
    kind: ClassVar[str] = "memory"

    def __init__(self) -> None:
        super().__init__()
        self.model = Model()
        self.open: dict[str, ModelWriter] = {}
        self.closed: list[Writer] = []
        self._stack = contextlib.ExitStack()
        self.portal = self._stack.enter_context(
            anyio.from_thread.start_blocking_portal(self.backend)
        )
        self.root = Path(tempfile.mkdtemp(prefix="aiocontent-model-"))
        self._stack.callback(shutil.rmtree, self.root, True)
        self.store = self.call(self._make_store)

    # ------------------------------------------------------------------ plumbing

    def call(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        return self.portal.call(fn, *args)

    async def _make_store(self) -> MemoryStore | LocalStore:
        if self.kind == "local":
            return LocalStore(self.root / "content")
        return MemoryStore()

    def expect_error(
        self, exc_type: type[BaseException], fn: Callable[..., Awaitable[object]], *args: Any
    ) -> BaseException:
        with pytest.raises(exc_type) as info:
            self.call(fn, *args)
        return info.value

    def retire(self, ref: str) -> None:
        """The writer of ``ref`` is closed from now on (it released the ref)."""
        mw = self.open.pop(ref)
        self.closed = [*self.closed[-2:], mw.writer]

    async def _close_all(self) -> None:
        for mw in self.open.values():
            await mw.writer.aclose()

    def teardown(self) -> None:
        try:
            self.call(self._close_all)
            self.open.clear()
            if self.kind == "local":
                self.check_everything()
                root = self.root / "content"
                assert blob_problems(root) == []
                assert held_locks(root) == []
            self.call(self.store.aclose)
        finally:
            self._stack.close()

    # ------------------------------------------------------------------ writers

    @initialize(chunk=st.sampled_from(CHUNKS), labels=label_maps)
    def start_with_a_blob(self, chunk: bytes, labels: dict[str, str]) -> None:
        self.call(self._commit_blob, chunk, labels)
        self.model.blobs[Digest.from_bytes(chunk)] = (chunk, {k: v for k, v in labels.items() if v})

    async def _commit_blob(self, chunk: bytes, labels: dict[str, str]) -> None:
        async with await self.store.writer(with_ref("initial")) as w:
            await w.write(chunk)
            await w.commit(len(chunk), "", with_labels(labels))

    @rule(
        ref=st.sampled_from(REFS),
        expect=st.one_of(st.none(), st.sampled_from(POOL)),
        size=st.sampled_from((0, 3, 12)),
    )
    def open_writer(self, ref: str, expect: Digest | None, size: int) -> None:
        desc = Descriptor(digest=expect or "", size=size)
        opts = (with_ref(ref), with_descriptor(desc))
        ingest = self.model.ingests.get(ref)
        if ref in self.open:
            err = self.expect_error(UnavailableError, self.store.writer, *opts)
            assert f"ref {ref} locked for" in str(err)
            return
        if expect is not None and expect in self.model.blobs:
            self.expect_error(AlreadyExistsError, self.store.writer, *opts)
            return
        if ingest is not None and size > 0 and 0 < ingest.total != size:
            self.expect_error(FailedPreconditionError, self.store.writer, *opts)
            return
        w = self.call(self.store.writer, *opts)
        if ingest is None:
            ingest = self.model.ingests[ref] = ModelIngest(total=size)
        elif size > 0:
            ingest.total = size
        ingest.expected = expect
        self.open[ref] = ModelWriter(w)
        status = self.call(w.status)
        assert (status.ref, status.offset, status.total, status.expected) == (
            ref,
            len(ingest.data),
            ingest.total,
            expect,
        )
        assert w.digest() == Digest.from_bytes(bytes(ingest.data))

    @precondition(lambda self: self.open)
    @rule(data=st.data(), chunk=st.sampled_from(CHUNKS))
    def write(self, data: st.DataObject, chunk: bytes) -> None:
        ref = data.draw(st.sampled_from(sorted(self.open)))
        mw = self.open[ref]
        if mw.aborted:
            self.expect_error(NotFoundError, mw.writer.write, chunk)
            self.retire(ref)
            return
        assert self.call(mw.writer.write, chunk) == len(chunk)
        ingest = self.model.ingests[ref]
        ingest.data += chunk
        assert mw.writer.digest() == Digest.from_bytes(bytes(ingest.data))
        assert self.call(mw.writer.status).offset == len(ingest.data)

    @precondition(lambda self: self.open)
    @rule(data=st.data())
    def truncate(self, data: st.DataObject) -> None:
        ref = data.draw(st.sampled_from(sorted(self.open)))
        mw = self.open[ref]
        if mw.aborted:
            self.expect_error(NotFoundError, mw.writer.truncate, 0)
            self.retire(ref)
            return
        ingest = self.model.ingests[ref]
        size = data.draw(st.integers(0, len(ingest.data) + 1))
        if size > len(ingest.data):
            self.expect_error(InvalidArgumentError, mw.writer.truncate, size)
            return
        self.call(mw.writer.truncate, size)
        del ingest.data[size:]
        assert mw.writer.digest() == Digest.from_bytes(bytes(ingest.data))
        assert self.call(mw.writer.status).offset == size

    @precondition(lambda self: self.open)
    @rule(data=st.data())
    def aclose(self, data: st.DataObject) -> None:
        ref = data.draw(st.sampled_from(sorted(self.open)))
        self.call(self.open[ref].writer.aclose)
        self.retire(ref)

    @precondition(lambda self: self.open)
    @rule(
        data=st.data(),
        size_mode=st.sampled_from(("none", "right", "wrong")),
        expected_mode=st.sampled_from(("none", "right", "wrong", "sha512")),
        labels=label_maps,
    )
    def commit(
        self, data: st.DataObject, size_mode: str, expected_mode: str, labels: dict[str, str]
    ) -> None:
        ref = data.draw(st.sampled_from(sorted(self.open)))
        mw = self.open[ref]
        w = mw.writer
        ingest = self.model.ingests.get(ref)
        content = bytes(ingest.data) if ingest is not None else b""
        size = {"none": 0, "right": len(content), "wrong": len(content) + 1}[size_mode]
        expected = {
            "none": "",
            "right": Digest.from_bytes(content),
            "wrong": Digest.from_bytes(content + b"!"),
            "sha512": Digest.from_bytes(content, SHA512),
        }[expected_mode]
        opts = (with_labels(labels),)
        self.retire(ref)
        if mw.aborted:
            self.expect_error(NotFoundError, w.commit, size, expected, *opts)
            return
        assert ingest is not None
        key = Digest.from_bytes(content, SHA512 if expected_mode == "sha512" else SHA256)
        if (size_mode == "wrong" and size > 0) or expected_mode == "wrong":
            self.expect_error(FailedPreconditionError, w.commit, size, expected, *opts)
        elif key in self.model.blobs:
            self.expect_error(AlreadyExistsError, w.commit, size, expected, *opts)
            del self.model.ingests[ref]
        else:
            self.call(w.commit, size, expected, *opts)
            assert w.digest() == key
            del self.model.ingests[ref]
            self.model.blobs[key] = (content, {k: v for k, v in labels.items() if v})
        # Commit closes the writer whatever happened.
        self.expect_error(FailedPreconditionError, w.write, b"x")

    @precondition(lambda self: self.closed)
    @rule(data=st.data(), op=st.sampled_from(("write", "truncate", "commit", "aclose")))
    def use_closed_writer(self, data: st.DataObject, op: str) -> None:
        w = data.draw(st.sampled_from(self.closed))
        if op == "aclose":
            self.call(w.aclose)
        elif op == "write":
            self.expect_error(FailedPreconditionError, w.write, b"late")
        elif op == "truncate":
            self.expect_error(FailedPreconditionError, w.truncate, 0)
        else:
            self.expect_error(FailedPreconditionError, w.commit)

    # ------------------------------------------------------------------ ingests

    @rule(ref=st.sampled_from(REFS))
    def abort(self, ref: str) -> None:
        if ref not in self.model.ingests:
            self.expect_error(NotFoundError, self.store.abort, ref)
            return
        self.call(self.store.abort, ref)
        del self.model.ingests[ref]
        if ref in self.open:
            self.open[ref].aborted = True

    def status(self, ref: str) -> None:
        ingest = self.model.ingests.get(ref)
        if ingest is None:
            self.expect_error(NotFoundError, self.store.status, ref)
            return
        self.check_status(self.call(self.store.status, ref), ref, ingest)

    def check_status(self, got: Status, ref: str, ingest: ModelIngest) -> None:
        assert (got.ref, got.offset, got.total, got.expected) == (
            ref,
            len(ingest.data),
            ingest.total,
            ingest.expected,
        )

    def list_statuses(self) -> None:
        got = self.call(self.store.list_statuses)
        assert [s.ref for s in got] == sorted(self.model.ingests)
        for s in got:
            self.check_status(s, s.ref, self.model.ingests[s.ref])

    # ------------------------------------------------------------------ blobs

    def pick_digest(self, data: st.DataObject) -> Digest:
        return data.draw(st.sampled_from(sorted({*self.model.blobs, *POOL[:4]})))

    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        dgst = self.pick_digest(data)
        if dgst not in self.model.blobs:
            self.expect_error(NotFoundError, self.store.delete, dgst)
            return
        self.call(self.store.delete, dgst)
        del self.model.blobs[dgst]

    @rule(
        data=st.data(),
        labels=label_maps,
        paths=st.sampled_from(((), ("labels",), ("labels.k1",), ("labels.k1", "labels.k2"))),
    )
    def update(self, data: st.DataObject, labels: dict[str, str], paths: tuple[str, ...]) -> None:
        dgst = self.pick_digest(data)
        info = Info(digest=dgst, labels=labels)
        if dgst not in self.model.blobs:
            self.expect_error(NotFoundError, self.store.update, info, *paths)
            return
        content, old = self.model.blobs[dgst]
        if not paths or "labels" in paths:
            new = {k: v for k, v in labels.items() if v}
        else:
            new = dict(old)
            for path in paths:
                key = path.removeprefix("labels.")
                if labels.get(key):
                    new[key] = labels[key]
                else:
                    new.pop(key, None)
        got = self.call(self.store.update, info, *paths)
        self.model.blobs[dgst] = (content, new)
        assert (got.digest, got.size, got.labels) == (dgst, len(content), new)

    def update_bad_fieldpath(self, dgst: Digest) -> None:
        info = Info(digest=dgst, labels={"k1": "changed"})
        self.expect_error(InvalidArgumentError, self.store.update, info, "labels.k1", "size")
        assert self.call(self.store.info, dgst).labels == self.model.blobs[dgst][1]

    def reader_at(self, dgst: Digest) -> None:
        if dgst not in self.model.blobs:
            self.expect_error(NotFoundError, self.store.reader_at, Descriptor(digest=dgst))
            return
        assert self.call(self._read_all, dgst) == self.model.blobs[dgst][0]

    async def _read_all(self, dgst: Digest) -> bytes:
        async with await self.store.reader_at(Descriptor(digest=dgst)) as ra:
            return await ra.read_at(ra.size + 1, 0)

    def walk(self, flt: str) -> None:
        got = self.call(self._walk, flt)
        want = {}
        for dgst, (content, labels) in self.model.blobs.items():
            if (
                flt == ""
                or (flt == "labels.k1==v1" and labels.get("k1") == "v1")
                or (flt == "labels.k2" and "k2" in labels)
                or (flt == "size==3" and len(content) == 3)
                or (flt == "digest~=^sha512:" and dgst.algorithm == SHA512)
            ):
                want[dgst] = (len(content), labels)
        assert got == want

    async def _walk(self, flt: str) -> dict[Digest, tuple[int, dict[str, str]]]:
        seen: dict[Digest, tuple[int, dict[str, str]]] = {}

        def visit(info: Info) -> None:
            seen[info.digest] = (info.size, info.labels)

        await self.store.walk(visit, flt)
        return seen

    @rule(
        data=st.data(),
        what=st.sampled_from(("status", "list_statuses", "walk", "reader_at", "bad_update")),
    )
    def observe(self, data: st.DataObject, what: str) -> None:
        """Look at the store without changing it (a bad update changes nothing)."""
        if what == "status":
            self.status(data.draw(st.sampled_from(REFS)))
        elif what == "list_statuses":
            self.list_statuses()
        elif what == "walk":
            self.walk(data.draw(st.sampled_from(FILTERS)))
        elif what == "reader_at":
            self.reader_at(self.pick_digest(data))
        elif self.model.blobs:
            self.update_bad_fieldpath(data.draw(st.sampled_from(sorted(self.model.blobs))))

    # ------------------------------------------------------------------ the store object

    @rule()
    def reopen(self) -> None:
        """Close every writer and the store, then open the store again (same root)."""
        self.call(self._close_all)
        for ref in list(self.open):
            self.retire(ref)
        if self.kind == "local":
            self.call(self.store.aclose)
            self.store = self.call(self._make_store)
            for ingest in self.model.ingests.values():
                ingest.expected = None  # only the writer's store object knows it
        self.check_everything()

    def check_everything(self) -> None:
        self.list_statuses()
        self.walk("")
        for dgst, (content, labels) in self.model.blobs.items():
            info = self.call(self.store.info, dgst)
            assert (info.size, info.labels) == (len(content), labels)
            assert self.call(self._read_all, dgst) == content

    @invariant()
    def refs_of_open_writers_stay_locked(self) -> None:
        for ref in self.open:
            assert ref in self.model.ingests or self.open[ref].aborted


MODEL_SETTINGS = settings(
    max_examples=50,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize("kind", ["memory", "local"])
def test_store_matches_the_model(kind: str, backend: str) -> None:
    machine = type(
        f"StoreMachine_{kind}_{backend}", (StoreMachine,), {"kind": kind, "backend": backend}
    )
    run_state_machine_as_test(machine, settings=MODEL_SETTINGS)
