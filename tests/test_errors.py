"""The error hierarchy of API.md and containerd's errdefs kinds."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

import aiocontent
from aiocontent import (
    AlreadyExistsError,
    ContentError,
    Descriptor,
    Digest,
    FailedPreconditionError,
    InvalidArgumentError,
    LocalStore,
    MemoryStore,
    NotFoundError,
    ShortReadError,
    Store,
    UnavailableError,
    with_ref,
)
from aiocontent import _messages as messages
from aiocontent._local._layout import ingest_hex

DGST = Digest.from_bytes(b"never stored")

ALL_ERRORS = (
    ContentError,
    NotFoundError,
    AlreadyExistsError,
    UnavailableError,
    FailedPreconditionError,
    InvalidArgumentError,
    ShortReadError,
)

# The bases API.md lists for each class, in order.
HIERARCHY: tuple[tuple[type[Exception], tuple[type[BaseException], ...]], ...] = (
    (ContentError, (Exception,)),
    (NotFoundError, (ContentError, LookupError)),
    (AlreadyExistsError, (ContentError,)),
    (UnavailableError, (ContentError,)),
    (FailedPreconditionError, (ContentError,)),
    (InvalidArgumentError, (ContentError, ValueError)),
    (ShortReadError, (ContentError, EOFError)),
)

# Every errdefs kind containerd's content package uses, with its kind text (SPEC.md §0).
ERRDEFS_KINDS = (
    ("NotFound", "not found"),
    ("AlreadyExists", "already exists"),
    ("InvalidArgument", "invalid argument"),
    ("FailedPrecondition", "failed precondition"),
    ("Unavailable", "unavailable"),
)


@pytest.mark.parametrize(("cls", "bases"), HIERARCHY)
def test_direct_bases_are_as_api_lists(
    cls: type[Exception], bases: tuple[type[BaseException], ...]
) -> None:
    assert cls.__bases__ == bases


@pytest.mark.parametrize(("cls", "bases"), HIERARCHY)
def test_is_subclass_of_listed_bases(
    cls: type[Exception], bases: tuple[type[BaseException], ...]
) -> None:
    for base in bases:
        assert issubclass(cls, base)


@pytest.mark.parametrize("cls", ALL_ERRORS[1:])
def test_every_error_is_a_content_error(cls: type[ContentError]) -> None:
    assert issubclass(cls, ContentError)


@pytest.mark.parametrize(
    ("cls", "builtin"),
    [(NotFoundError, LookupError), (InvalidArgumentError, ValueError), (ShortReadError, EOFError)],
)
def test_can_be_caught_as_builtin(cls: type[ContentError], builtin: type[Exception]) -> None:
    with pytest.raises(builtin):
        raise cls("x")


@pytest.mark.parametrize(
    "cls", [AlreadyExistsError, UnavailableError, FailedPreconditionError, ContentError]
)
@pytest.mark.parametrize("builtin", [LookupError, ValueError, EOFError, OSError])
def test_other_errors_are_not_builtin_subclasses(
    cls: type[ContentError], builtin: type[Exception]
) -> None:
    assert not issubclass(cls, builtin)


def test_every_public_error_is_a_content_error() -> None:
    public = [
        getattr(aiocontent, name)
        for name in aiocontent.__all__
        if isinstance(getattr(aiocontent, name), type)
        and issubclass(getattr(aiocontent, name), BaseException)
    ]
    assert {cls.__name__ for cls in ALL_ERRORS} <= {cls.__name__ for cls in public}
    assert all(issubclass(cls, ContentError) for cls in public)


@pytest.mark.parametrize("cls", ALL_ERRORS)
def test_every_class_has_a_docstring(cls: type[ContentError]) -> None:
    assert cls.__doc__
    assert cls.__doc__.strip()
    assert cls.__doc__ is not Exception.__doc__


@pytest.mark.parametrize(("kind", "text"), ERRDEFS_KINDS)
def test_every_errdefs_kind_has_a_class(kind: str, text: str) -> None:
    cls = getattr(aiocontent, f"{kind}Error")
    assert issubclass(cls, ContentError)
    assert cls.kind_text == text


def test_kind_texts_are_distinct() -> None:
    texts = [cls.kind_text for cls in ALL_ERRORS]
    assert len(set(texts)) == len(texts)


@pytest.mark.parametrize("cls", ALL_ERRORS)
def test_with_context_message_format(cls: type[ContentError]) -> None:
    err = cls.with_context("content sha256:abc")
    assert type(err) is cls
    assert str(err) == f"content sha256:abc: {cls.kind_text}"


def test_with_context_not_found_example() -> None:
    err = NotFoundError.with_context("content sha256:abc")
    assert str(err) == "content sha256:abc: not found"
    assert isinstance(err, LookupError)


def test_with_context_returns_the_class_it_is_called_on() -> None:
    err: InvalidArgumentError = InvalidArgumentError.with_context("ref must not be empty")
    assert str(err) == "ref must not be empty: invalid argument"


def test_short_read_kind_text_is_go_unexpected_eof() -> None:
    assert ShortReadError.kind_text == "unexpected EOF"


# --------------------------------------------------------------------------- message forms
#
# Every store words its failures through ``aiocontent._messages``; these pin the
# forms (SPEC.md §0) and check that the stores agree on them.


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("plain/ref:1", '"plain/ref:1"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("back\\slash", '"back\\\\slash"'),
        ("line\nbreak\ttab", '"line\\nbreak\\ttab"'),
        ("\x1b]0;PWNED\x07", '"\\x1b]0;PWNED\\a"'),
        ("caf\u00e9 \u2603", '"caf\u00e9 \u2603"'),
        ("\u200b\udcff", '"\\u200b\\udcff"'),
    ],
)
def test_refs_are_quoted_as_go_percent_q(text: str, quoted: str) -> None:
    assert messages.quote(text) == quoted


@pytest.mark.parametrize(
    ("err", "cls", "text"),
    [
        (messages.content_not_found(DGST), NotFoundError, f"content {DGST}: not found"),
        (messages.content_exists(DGST), AlreadyExistsError, f"content {DGST}: already exists"),
        (messages.ingest_not_found("a b"), NotFoundError, 'ingest ref "a b": not found'),
        (
            messages.ingest_not_found("r", "could not read startedat"),
            NotFoundError,
            'ingest ref "r": could not read startedat: not found',
        ),
        (
            messages.total_mismatch("r", 9, 8),
            FailedPreconditionError,
            'ingest ref "r": stored total 9 differs from descriptor size 8: failed precondition',
        ),
        (
            messages.size_mismatch(5, 6),
            FailedPreconditionError,
            "unexpected commit size 5, expected 6: failed precondition",
        ),
        (
            messages.writer_closed("r", "write"),
            FailedPreconditionError,
            'cannot write on closed writer for ref "r": failed precondition',
        ),
        (
            messages.truncate_out_of_range("r", 9, 4),
            InvalidArgumentError,
            'truncate size 9 of ref "r" is out of range 0..4: invalid argument',
        ),
        (
            messages.negative("commit size", -1, "r"),
            InvalidArgumentError,
            'commit size -1 of ref "r" must not be negative: invalid argument',
        ),
    ],
)
def test_builders_use_containerds_forms(err: Exception, cls: type[Exception], text: str) -> None:
    assert type(err) is cls
    assert str(err) == text


def test_locked_message_keeps_containerds_bare_ref() -> None:
    err = messages.ref_locked("a b", datetime(2026, 1, 2, tzinfo=UTC), 1.5)
    assert isinstance(err, UnavailableError)
    assert str(err).startswith("ref a b locked for 1.500s (since 2026-01-02")
    assert str(err).endswith(": unavailable")


def test_wrong_type_names_the_value_briefly() -> None:
    err = messages.wrong_type("data", "bytes-like", "x" * 500)
    assert str(err).startswith("data must be bytes-like, not str ('xxx")
    assert len(str(err)) < 150


@asynccontextmanager
async def _memory(tmp_path: Path) -> AsyncIterator[Store]:
    async with MemoryStore() as cs:
        yield cs


@asynccontextmanager
async def _local(tmp_path: Path) -> AsyncIterator[Store]:
    async with LocalStore(tmp_path) as cs:
        yield cs


STORES = {"memory": _memory, "local": _local}
REF = 'odd "ref"\n'
QUOTED = '"odd \\"ref\\"\\n"'


@pytest.mark.parametrize("store", sorted(STORES))
class TestStoresAgree:
    """The same failure reads the same on every store, quoting the ref as containerd does."""

    async def test_missing_ingest(self, tmp_path: Path, store: str) -> None:
        async with STORES[store](tmp_path) as cs:
            for call in (cs.status, cs.abort):
                with pytest.raises(NotFoundError) as err:
                    await call(REF)
                assert str(err.value) == f"ingest ref {QUOTED}: not found"

    async def test_missing_blob(self, tmp_path: Path, store: str) -> None:
        async with STORES[store](tmp_path) as cs:
            with pytest.raises(NotFoundError) as err:
                await cs.reader_at(Descriptor(digest=DGST))
            assert str(err.value) == f"content {DGST}: not found"
            assert str(tmp_path) not in str(err.value)

    async def test_closed_writer(self, tmp_path: Path, store: str) -> None:
        async with STORES[store](tmp_path) as cs:
            w = await cs.writer(with_ref(REF))
            await w.aclose()
            with pytest.raises(FailedPreconditionError) as err:
                await w.write(b"x")
            assert str(err.value) == (
                f"cannot write on closed writer for ref {QUOTED}: failed precondition"
            )

    async def test_truncate_out_of_range(self, tmp_path: Path, store: str) -> None:
        async with STORES[store](tmp_path) as cs, await cs.writer(with_ref(REF)) as w:
            await w.write(b"abcd")
            with pytest.raises(InvalidArgumentError) as err:
                await w.truncate(9)
            assert str(err.value) == (
                f"truncate size 9 of ref {QUOTED} is out of range 0..4: invalid argument"
            )

    async def test_commit_mismatch(self, tmp_path: Path, store: str) -> None:
        async with STORES[store](tmp_path) as cs:
            w = await cs.writer(with_ref(REF))
            await w.write(b"abcd")
            with pytest.raises(FailedPreconditionError) as err:
                await w.commit(5)
            assert str(err.value) == "unexpected commit size 4, expected 5: failed precondition"


class TestLocalStatusSaysWhatIsMissing:
    """LocalStore's ``status`` names the ingest, not a host path; the OS error is the cause."""

    async def test_a_missing_file_is_named_without_a_path(self, tmp_path: Path) -> None:
        async with LocalStore(tmp_path) as cs:
            w = await cs.writer(with_ref("r"))
            await w.aclose()
            (tmp_path / "ingest" / ingest_hex("r") / "startedat").unlink()
            with pytest.raises(NotFoundError) as err:
                await cs.status("r")
        assert str(err.value) == 'ingest ref "r": could not read startedat: not found'
        assert isinstance(err.value.__cause__, FileNotFoundError)

    async def test_a_damaged_timestamp_names_its_value(self, tmp_path: Path) -> None:
        async with LocalStore(tmp_path) as cs:
            w = await cs.writer(with_ref("r"))
            await w.aclose()
            (tmp_path / "ingest" / ingest_hex("r") / "updatedat").write_text("yesterday")
            with pytest.raises(ContentError) as err:
                await cs.status("r")
        message = str(err.value)
        assert message.startswith('ingest ref "r": could not parse updatedat: ')
        assert "'yesterday'" in message
        assert str(tmp_path) not in message
