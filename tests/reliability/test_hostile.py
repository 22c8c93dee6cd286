"""A hostile-input corpus: every bad argument gets API.md's error and touches nothing.

Each case runs against a store that already holds a labelled blob and an
ingest, inside a sentinel tree: files and folders around the store root (its
parent, siblings, the names a path traversal would reach) and the current
directory. After the call the test checks that

- the error type is the one API.md gives (``TypeError`` for wrong types,
  :class:`~aiocontent.InvalidArgumentError` for malformed values, and so on);
- no file outside the root was created, changed or removed;
- the store's contents (blob, labels, ingest) are unchanged.

Cases run on ``MemoryStore`` and ``LocalStore`` wherever they apply.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from aiocontent import (
    AlreadyExistsError,
    ContentError,
    Descriptor,
    Digest,
    FailedPreconditionError,
    Info,
    InvalidArgumentError,
    MemoryStore,
    NotFoundError,
    Status,
    Writer,
    exists,
    with_descriptor,
    with_labels,
    with_ref,
)
from aiocontent._local import LocalStore

from ._fs import tree_snapshot

BLOB = b"sentinel blob"
BLOB_DGST = Digest.from_bytes(BLOB)
LABELS = {"keep": "me"}
INGEST_REF = "pending"
INGEST_DATA = b"half"
A64 = "a" * 64

# --------------------------------------------------------------------------- the corpus

MALFORMED_DIGESTS: dict[str, str] = {
    "traversal": "sha256:../../x",
    "deep-traversal": "sha256:../../../../../x",
    "traversal-padded": "sha256:../../" + "a" * 58,
    "traversal-in-algorithm": "../../sha256:" + A64,
    "absolute-path": "/etc/passwd",
    "absolute-encoded": "sha256:/" + "a" * 63,
    "slash-inside": "sha256:" + "a" * 32 + "/" + "a" * 31,
    "dotdot-suffix": "sha256:" + A64 + "/..",
    "uppercase-hex": "sha256:" + "A" * 64,
    "uppercase-algorithm": "SHA256:" + A64,
    "too-short": "sha256:abc",
    "too-long": "sha256:" + "a" * 65,
    "sha512-length-of-sha256": "sha512:" + A64,
    "unknown-algorithm": "md5:d41d8cd98f00b204e9800998ecf8427e",
    "unknown-algorithm-long": "blake3:" + A64,
    "no-colon": A64,
    "empty-encoded": "sha256:",
    "only-colon": ":",
    "empty-algorithm": ":" + A64,
    "nul-inside": "sha256:" + "a" * 63 + "\x00",
    "only-nul": "\x00",
    "10-KiB": "sha256:" + "a" * 10240,
    "10-KiB-no-colon": "x" * 10240,
    "trailing-newline": "sha256:" + A64 + "\n",
    "leading-space": " sha256:" + A64,
    "non-hex": "sha256:" + "g" * 64,
    "dots": "sha256:" + "." * 64,
    "unicode-digits": "sha256:" + "٣" * 64,
    "lone-surrogate": "sha256:" + "\ud800" * 64,
    "backslash-traversal": "sha256:..\\..\\" + "a" * 58,
}

WRONG_TYPE_DIGESTS: dict[str, object] = {
    "none": None,
    "int": 123,
    "bytes": b"sha256:" + A64.encode(),
    "float": 1.5,
    "list": ["sha256:" + A64],
}

#: Refs that are not refs (API.md: non-empty, no NUL, UTF-8).
BAD_REFS: dict[str, str] = {
    "empty": "",
    "nul": "a\x00b",
    "only-nul": "\x00",
    "lone-surrogate": "layer-\ud800",
}

#: Refs that look dangerous but are plain names: they must work and name no path.
ODD_REFS: dict[str, str] = {
    "traversal": "../../x",
    "deep-traversal": "../../../../../../tmp/x",
    "absolute": "/etc/passwd",
    "slashes": "a/b/c",
    "dotdot": "..",
    "dot": ".",
    "backslashes": "..\\..\\x",
    "unicode": "ünïcödé ☃ 𝄞",
    "rtl-override": "\u202egpj.exe",
    "4-KiB": "r" * 4096,
    "space": " ",
    "newline": "line\nbreak",
    "control": "\x01\x02\x1b[31m",
    "percent": "%2e%2e%2fx",
    "glob": "*",
    "dash": "-rf",
    "tilde": "~root",
}

#: Filters with syntax errors (walk and list_statuses must refuse them).
MALFORMED_FILTERS: dict[str, str] = {
    "missing-value": "name==",
    "trailing-dot": "labels.",
    "lone-comma": ",",
    "trailing-comma": "name==foo,",
    "trailing-space": "name==bar ",
    "nul": "foo\x00bar",
    "bad-quote": "labels.|foo|==x",
    "unterminated": 'labels."abc',
    "bad-escape": r'labels."\g"',
    "single-equals": "name=bar",
    "triple-equals": "name===bar",
    "less-than": "name<bar",
    "huge-value-then-junk": "name==" + "v" * 100_000 + " x",
    "huge-path-trailing-dot": "labels." * 20_000,
    "huge-commas": "," * 50_000,
}

WRONG_TYPE_FILTERS: dict[str, object] = {"none": None, "int": 1, "bytes": b"name==x"}

BAD_FIELDPATHS: dict[str, str] = {
    "size": "size",
    "digest": "digest",
    "created-at": "created_at",
    "empty": "",
    "labels-dot": "labels.",
    "capitalised": "Labels.keep",
    "nul": "labels\x00",
    "traversal": "../labels",
    "huge": "x" * 100_000,
}

BAD_LABELS: dict[str, tuple[object, type[Exception]]] = {
    "empty-key": ({"": "v"}, InvalidArgumentError),
    "oversized": ({"k": "v" * 4096}, InvalidArgumentError),
    "int-key": ({1: "v"}, TypeError),
    "int-value": ({"k": 1}, TypeError),
    "none-value": ({"k": None}, TypeError),
    "not-a-mapping": ([("k", "v")], TypeError),
}


# --------------------------------------------------------------------------- the arena


@dataclass
class Arena:
    """A store root inside a sentinel tree, with a blob and an ingest in the store."""

    outer: Path
    root: Path
    before: dict[str, tuple[int, int, int]]

    def untouched_outside(self) -> None:
        assert tree_snapshot(self.outer, skip=self.root) == self.before


def _build_sentinels(outer: Path) -> Path:
    """Files where traversals from ``outer/mid/root`` would land; returns the root."""
    mid = outer / "mid"
    for folder in (outer, mid, mid / "sibling" / "blobs" / "sha256", outer / "etc", outer / "tmp"):
        folder.mkdir(parents=True, exist_ok=True)
    for path in (
        outer / "x",
        outer / "etc" / "passwd",
        outer / "tmp" / "x",
        mid / "x",
        mid / "sentinel",
        mid / "sibling" / "x",
        mid / "sibling" / "blobs" / "sha256" / A64,
    ):
        path.write_bytes(b"sentinel " + path.name.encode())
        os.chmod(path, 0o644)
    return mid / "root"


@pytest.fixture
def anyio_backend() -> str:
    """Argument checks come before any I/O, so one backend is enough here.

    (The model-based tests run both stores on both backends.)
    """
    return "asyncio"


@pytest.fixture(params=["memory", "local"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def arena_store(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Arena, MemoryStore | LocalStore]]:
    outer = tmp_path / "outer"
    root = _build_sentinels(outer)
    # A store that wrongly used relative paths would write into the tree too.
    monkeypatch.chdir(outer / "mid")
    async with AsyncExitStack() as stack:
        store: MemoryStore | LocalStore = MemoryStore() if kind == "memory" else LocalStore(root)
        stack.push_async_callback(store.aclose)
        async with await store.writer(with_ref("blob")) as w:
            await w.write(BLOB)
            await w.commit(len(BLOB), BLOB_DGST, with_labels(LABELS))
        async with await store.writer(with_ref(INGEST_REF)) as w:
            await w.write(INGEST_DATA)
        arena = Arena(outer, root, tree_snapshot(outer, skip=root))
        yield arena, store
        arena.untouched_outside()
        await _assert_contents_unchanged(store)


async def _assert_contents_unchanged(store: MemoryStore | LocalStore) -> None:
    info = await store.info(BLOB_DGST)
    assert (info.size, info.labels) == (len(BLOB), LABELS)
    async with await store.reader_at(Descriptor(digest=BLOB_DGST)) as ra:
        assert await ra.read_at(len(BLOB) + 1, 0) == BLOB
    statuses: list[Status] = await store.list_statuses()
    assert [(s.ref, s.offset) for s in statuses] == [(INGEST_REF, len(INGEST_DATA))]
    seen: list[Digest] = []
    await store.walk(lambda i: seen.append(i.digest))
    assert seen == [BLOB_DGST]


Arenas = tuple[Arena, MemoryStore | LocalStore]


# --------------------------------------------------------------------------- digests

DigestOp = Callable[[MemoryStore | LocalStore, Any], Awaitable[object]]


async def _commit_expecting(cs: MemoryStore | LocalStore, value: Any) -> None:
    w = await cs.writer(with_ref("commit-bad-expected"))
    try:
        await w.write(b"data")
        await w.commit(0, value)
    finally:
        await w.aclose()
        await cs.abort("commit-bad-expected")


async def _writer_expecting(cs: MemoryStore | LocalStore, value: Any) -> None:
    w = await cs.writer(with_ref("writer-bad-desc"), with_descriptor(Descriptor(digest=value)))
    await w.aclose()  # not reached when the digest is refused


async def _reader_at(cs: MemoryStore | LocalStore, value: Any) -> None:
    ra = await cs.reader_at(Descriptor(digest=value))
    await ra.aclose()  # not reached when the digest is refused


async def _verify(cs: MemoryStore | LocalStore, value: Any) -> None:
    # verify is a LocalStore extra; the memory store answers for it through info.
    await (cs.verify(value) if isinstance(cs, LocalStore) else cs.info(value))


DIGEST_OPS: dict[str, DigestOp] = {
    "info": lambda cs, v: cs.info(v),
    "delete": lambda cs, v: cs.delete(v),
    "update": lambda cs, v: cs.update(Info(digest=v, labels={"x": "y"})),
    "reader_at": _reader_at,
    "writer-descriptor": _writer_expecting,
    "commit-expected": _commit_expecting,
    "exists": lambda cs, v: exists(cs, Descriptor(digest=v)),
    "verify": _verify,
}


def _names_value(message: str, value: str) -> bool:
    """Whether an error message names ``value`` (or its encoded part)."""
    return any(
        part and (part[:16] in message or repr(part[:16])[1:-1] in message)
        for part in (value, value.partition(":")[2])
    )


@pytest.mark.parametrize("op", sorted(DIGEST_OPS))
@pytest.mark.parametrize("value", MALFORMED_DIGESTS.values(), ids=MALFORMED_DIGESTS.keys())
async def test_malformed_digest_is_invalid_argument(
    arena_store: Arenas, op: str, value: str
) -> None:
    _, cs = arena_store
    with pytest.raises(InvalidArgumentError) as err:
        await DIGEST_OPS[op](cs, value)
    if value.isprintable() and len(value) <= 200 and "\\" not in value:
        assert _names_value(str(err.value), value), str(err.value)


@pytest.mark.parametrize("op", sorted(set(DIGEST_OPS) - {"commit-expected"}))
@pytest.mark.parametrize("value", WRONG_TYPE_DIGESTS.values(), ids=WRONG_TYPE_DIGESTS.keys())
async def test_digest_of_wrong_type_is_type_error(
    arena_store: Arenas, op: str, value: object
) -> None:
    _, cs = arena_store
    with pytest.raises(TypeError):
        await DIGEST_OPS[op](cs, value)


@pytest.mark.parametrize("value", WRONG_TYPE_DIGESTS.values(), ids=WRONG_TYPE_DIGESTS.keys())
async def test_commit_expected_of_wrong_type_is_type_error(
    arena_store: Arenas, value: object
) -> None:
    _, cs = arena_store
    with pytest.raises(TypeError):
        await _commit_expecting(cs, value)


async def test_well_formed_missing_digest_is_not_found_everywhere(arena_store: Arenas) -> None:
    _, cs = arena_store
    missing = Digest.from_bytes(b"never stored")
    for op in ("info", "delete", "update", "reader_at"):
        with pytest.raises(NotFoundError):
            await DIGEST_OPS[op](cs, missing)
    assert not await exists(cs, Descriptor(digest=missing))


# --------------------------------------------------------------------------- refs


@pytest.mark.parametrize("ref", BAD_REFS.values(), ids=BAD_REFS.keys())
async def test_writer_refuses_a_malformed_ref(arena_store: Arenas, ref: str) -> None:
    _, cs = arena_store
    with pytest.raises(InvalidArgumentError):
        await cs.writer(with_ref(ref))


@pytest.mark.parametrize("op", ["status", "abort"])
@pytest.mark.parametrize("ref", BAD_REFS.values(), ids=BAD_REFS.keys())
async def test_ingest_lookup_of_a_malformed_ref_is_a_content_error(
    arena_store: Arenas, op: str, ref: str
) -> None:
    _, cs = arena_store
    with pytest.raises((NotFoundError, InvalidArgumentError)):
        await getattr(cs, op)(ref)


@pytest.mark.parametrize("value", [None, 1, b"ref", ["ref"]], ids=["none", "int", "bytes", "list"])
def test_with_ref_of_wrong_type_is_type_error(value: object) -> None:
    with pytest.raises(TypeError):
        with_ref(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("op", ["status", "abort"])
@pytest.mark.parametrize("value", [None, 1, b"ref"], ids=["none", "int", "bytes"])
async def test_ingest_lookup_of_wrong_type_is_type_error(
    arena_store: Arenas, op: str, value: object
) -> None:
    _, cs = arena_store
    with pytest.raises(TypeError):
        await getattr(cs, op)(value)


async def _round_trip(cs: MemoryStore | LocalStore, ref: str, data: bytes) -> None:
    async with await cs.writer(with_ref(ref)) as w:
        await w.write(data[:3])
    assert (await cs.status(ref)).offset == 3
    assert ref in [s.ref for s in await cs.list_statuses()]
    async with await cs.writer(with_ref(ref)) as w:
        assert (await w.status()).offset == 3
        await w.write(data[3:])
        await w.commit(len(data), Digest.from_bytes(data))
    with pytest.raises(NotFoundError):
        await cs.status(ref)


@pytest.mark.parametrize("ref", ODD_REFS.values(), ids=ODD_REFS.keys())
async def test_odd_ref_is_a_plain_name_that_works(arena_store: Arenas, ref: str) -> None:
    arena, cs = arena_store
    data = b"odd ref " + ref.encode()
    await _round_trip(cs, ref, data)
    await cs.delete(Digest.from_bytes(data))
    if isinstance(cs, LocalStore):
        # Nothing under the root is named after the ref.
        names = {p.name for p in arena.root.rglob("*")}
        assert ref not in names or ref in {".", ".."}


@pytest.mark.parametrize("ref", ODD_REFS.values(), ids=ODD_REFS.keys())
async def test_odd_ref_can_be_aborted(arena_store: Arenas, ref: str) -> None:
    _, cs = arena_store
    async with await cs.writer(with_ref(ref)) as w:
        await w.write(b"abandon")
    await cs.abort(ref)
    with pytest.raises(NotFoundError):
        await cs.status(ref)


# --------------------------------------------------------------------------- filters


@pytest.mark.parametrize("op", ["walk", "list_statuses"])
@pytest.mark.parametrize("flt", MALFORMED_FILTERS.values(), ids=MALFORMED_FILTERS.keys())
async def test_malformed_filter_is_invalid_argument(arena_store: Arenas, op: str, flt: str) -> None:
    _, cs = arena_store
    with pytest.raises(InvalidArgumentError):
        if op == "walk":
            await cs.walk(lambda info: None, "name==ok", flt)
        else:
            await cs.list_statuses("ref==ok", flt)


@pytest.mark.parametrize("op", ["walk", "list_statuses"])
@pytest.mark.parametrize("flt", WRONG_TYPE_FILTERS.values(), ids=WRONG_TYPE_FILTERS.keys())
async def test_filter_of_wrong_type_is_type_error(
    arena_store: Arenas, op: str, flt: object
) -> None:
    _, cs = arena_store
    with pytest.raises(TypeError):
        if op == "walk":
            await cs.walk(lambda info: None, flt)  # type: ignore[arg-type]
        else:
            await cs.list_statuses(flt)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "flt",
    [
        "labels.keep==" + "v" * 100_000,
        "labels." + '"' + "k" * 100_000 + '"',
        ",".join(["labels.keep==nope"] * 5_000),
        "labels.keep~=" + "(" * 10 + "x" + ")" * 10 + "{100000}",
    ],
    ids=["huge-value", "huge-key", "many-selectors", "absurd-regex"],
)
async def test_huge_well_formed_filter_matches_nothing(arena_store: Arenas, flt: str) -> None:
    _, cs = arena_store
    seen: list[Info] = []
    await cs.walk(seen.append, flt)
    assert seen == []


async def test_walk_of_non_callable_is_type_error(arena_store: Arenas) -> None:
    _, cs = arena_store
    with pytest.raises(TypeError):
        await cs.walk(None)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- field paths, labels


@pytest.mark.parametrize("path", BAD_FIELDPATHS.values(), ids=BAD_FIELDPATHS.keys())
async def test_unknown_fieldpath_is_invalid_argument(arena_store: Arenas, path: str) -> None:
    _, cs = arena_store
    with pytest.raises(InvalidArgumentError):
        await cs.update(Info(digest=BLOB_DGST, labels={"keep": "changed"}), "labels.keep", path)


@pytest.mark.parametrize("path", [None, 1, b"labels"], ids=["none", "int", "bytes"])
async def test_fieldpath_of_wrong_type_is_type_error(arena_store: Arenas, path: object) -> None:
    _, cs = arena_store
    with pytest.raises(TypeError):
        await cs.update(Info(digest=BLOB_DGST, labels={"keep": "changed"}), path)  # type: ignore[arg-type]


@pytest.mark.parametrize("labels, exc", BAD_LABELS.values(), ids=BAD_LABELS.keys())
async def test_update_with_bad_labels_changes_nothing(
    arena_store: Arenas, labels: Any, exc: type[Exception]
) -> None:
    _, cs = arena_store
    with pytest.raises(exc):
        await cs.update(Info(digest=BLOB_DGST, labels=labels))


@pytest.mark.parametrize("labels, exc", BAD_LABELS.values(), ids=BAD_LABELS.keys())
def test_with_labels_refuses_bad_labels(labels: Any, exc: type[Exception]) -> None:
    with pytest.raises(exc):
        with_labels(labels)


async def test_update_of_wrong_type_is_type_error(arena_store: Arenas) -> None:
    _, cs = arena_store
    with pytest.raises(TypeError):
        await cs.update({"digest": BLOB_DGST})  # type: ignore[arg-type]


# --------------------------------------------------------------------------- sizes and data


async def _open(cs: MemoryStore | LocalStore) -> Writer:
    w = await cs.writer(with_ref(INGEST_REF))
    assert (await w.status()).offset == len(INGEST_DATA)
    return w


@pytest.mark.parametrize("size", [-1, -(2**63), -(2**100)], ids=["-1", "int64-min", "-2^100"])
async def test_negative_commit_size_is_invalid_argument_and_keeps_the_ingest(
    arena_store: Arenas, size: int
) -> None:
    _, cs = arena_store
    w = await _open(cs)
    with pytest.raises(InvalidArgumentError):
        await w.commit(size)
    await w.aclose()


@pytest.mark.parametrize("size", [2**63, 2**100, len(INGEST_DATA) + 1])
async def test_absurd_commit_size_is_a_failed_precondition_and_keeps_the_ingest(
    arena_store: Arenas, size: int
) -> None:
    _, cs = arena_store
    w = await _open(cs)
    with pytest.raises(FailedPreconditionError):
        await w.commit(size)
    await w.aclose()


@pytest.mark.parametrize("size", [-1, len(INGEST_DATA) + 1, 2**64, -(2**100)])
async def test_truncate_out_of_range_is_invalid_argument(arena_store: Arenas, size: int) -> None:
    _, cs = arena_store
    async with await _open(cs) as w:
        with pytest.raises(InvalidArgumentError):
            await w.truncate(size)
        assert w.digest() == Digest.from_bytes(INGEST_DATA)


@pytest.mark.parametrize("op", ["commit", "truncate"])
@pytest.mark.parametrize("size", ["3", 1.5, True, None], ids=["str", "float", "bool", "none"])
async def test_size_of_wrong_type_is_type_error(arena_store: Arenas, op: str, size: object) -> None:
    _, cs = arena_store
    w = await _open(cs)
    with pytest.raises(TypeError):
        await getattr(w, op)(size)
    await w.aclose()


@pytest.mark.parametrize("data", ["text", None, 42, [1, 2]], ids=["str", "none", "int", "list"])
async def test_write_of_wrong_type_is_type_error(arena_store: Arenas, data: object) -> None:
    _, cs = arena_store
    async with await _open(cs) as w:
        with pytest.raises(TypeError):
            await w.write(data)  # type: ignore[arg-type]
        assert (await w.status()).offset == len(INGEST_DATA)


@pytest.mark.parametrize(
    "n, offset", [(-1, 0), (0, -1), (-(2**100), 0), (1, -(2**63))], ids=["n", "off", "n^", "off^"]
)
async def test_negative_read_at_is_invalid_argument(
    arena_store: Arenas, n: int, offset: int
) -> None:
    _, cs = arena_store
    async with await cs.reader_at(Descriptor(digest=BLOB_DGST)) as ra:
        with pytest.raises(InvalidArgumentError):
            await ra.read_at(n, offset)


@pytest.mark.parametrize("n, offset", [(2**62, 0), (2**100, 0), (1, 2**62), (2**62, 2**100)])
async def test_absurd_read_at_reads_what_there_is(arena_store: Arenas, n: int, offset: int) -> None:
    _, cs = arena_store
    async with await cs.reader_at(Descriptor(digest=BLOB_DGST)) as ra:
        assert await ra.read_at(n, offset) == BLOB[offset:]


@pytest.mark.parametrize("size", [-1, -(2**63), -(2**100)], ids=["-1", "int64-min", "-2^100"])
def test_descriptor_refuses_a_negative_size(size: int) -> None:
    with pytest.raises(InvalidArgumentError):
        Descriptor(digest=BLOB_DGST, size=size)


@pytest.mark.parametrize("size", [1.5, "3", None], ids=["float", "str", "none"])
def test_descriptor_refuses_a_size_that_is_not_an_int(size: object) -> None:
    # API.md: "Descriptor(...) ... reject a negative or non-int size" (either error type).
    with pytest.raises((InvalidArgumentError, TypeError)):
        Descriptor(digest=BLOB_DGST, size=size)  # type: ignore[arg-type]


async def test_writer_for_a_committed_digest_is_already_exists(arena_store: Arenas) -> None:
    _, cs = arena_store
    with pytest.raises(AlreadyExistsError):
        await cs.writer(with_ref("again"), with_descriptor(Descriptor(digest=BLOB_DGST)))


async def test_writer_option_of_wrong_type_is_type_error(arena_store: Arenas) -> None:
    _, cs = arena_store
    with pytest.raises(TypeError):
        await cs.writer("ref")  # type: ignore[arg-type]


def test_every_error_is_a_content_error() -> None:
    for exc in (InvalidArgumentError, NotFoundError, FailedPreconditionError, AlreadyExistsError):
        assert issubclass(exc, ContentError)
