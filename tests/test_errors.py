"""The error hierarchy of API.md and containerd's errdefs kinds."""

from __future__ import annotations

import pytest

import aiocontent
from aiocontent import (
    AlreadyExistsError,
    ContentError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    ShortReadError,
    UnavailableError,
)

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
