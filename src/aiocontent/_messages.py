"""Every failure a store reports, worded in one place, in containerd's forms.

A message is ``<context>: <kind text>`` (SPEC.md §0), as Go builds it with
``fmt.Errorf("...: %w", errdefs.ErrX)``; :meth:`ContentError.with_context`
appends the kind text. Each builder returns the exception and the caller
raises it, chaining the cause (``raise content_not_found(d) from exc``) so that
OS details stay in ``__cause__`` rather than in the text. Messages name the
offending value and the store's terms (a digest, a ref), never a host path::

    content sha256:...: not found
    content sha256:...: already exists
    ingest ref "x": not found
    ingest ref "x": could not read startedat: not found
    ref x locked for 1.250s (since 2026-...): unavailable
    unexpected commit size 5, expected 6: failed precondition
    unexpected commit digest sha256:..., expected sha256:...: failed precondition
    ingest ref "x": stored total 9 differs from descriptor size 8: failed precondition
    cannot write on closed writer for ref "x": failed precondition
    truncate size 9 of ref "x" is out of range 0..4: invalid argument

Refs are quoted as Go's ``%q`` does (containerd's ``ingest ref %q``), so a ref
with quotes, newlines or escape sequences cannot forge or garble a message;
in ``ref <ref> locked for`` the ref stays bare, as in containerd.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from ._errors import (
    AlreadyExistsError,
    ContentError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    UnavailableError,
)

__all__ = (
    "closed",
    "content_corrupt",
    "content_exists",
    "content_not_found",
    "damaged_ingest",
    "digest_mismatch",
    "ingest_file_error",
    "ingest_io_error",
    "ingest_not_found",
    "invalid",
    "label_update_conflict",
    "lock_lost",
    "negative",
    "quote",
    "reader_closed",
    "ref_locked",
    "s3_failed",
    "size_mismatch",
    "total_mismatch",
    "truncate_out_of_range",
    "writer_closed",
    "wrong_type",
)

#: Longest ``repr`` of an offending value put in a message.
_REPR_MAX: Final = 80

_ESCAPES: Final = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    "\\": "\\\\",
    '"': '\\"',
}


def quote(text: str) -> str:
    """``text`` in double quotes with Go's ``%q`` escapes (printable characters kept)."""
    if text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return '"' + "".join(out) + '"'


def _short_repr(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _REPR_MAX else text[: _REPR_MAX - 3] + "..."


# --------------------------------------------------------------------------- blobs


def content_not_found(dgst: str) -> NotFoundError:
    """``content <dgst>: not found``."""
    return NotFoundError.with_context(f"content {dgst}")


def content_corrupt(dgst: str, actual: str, where: str) -> FailedPreconditionError:
    """``content <dgst>: stored bytes hash to <actual> (<where>)``: a blob read back wrong."""
    return FailedPreconditionError.with_context(
        f"content {dgst}: stored bytes hash to {actual} ({where})"
    )


def content_exists(dgst: str) -> AlreadyExistsError:
    """``content <dgst>: already exists``."""
    return AlreadyExistsError.with_context(f"content {dgst}")


# --------------------------------------------------------------------------- ingests


def _ingest(ref: str, detail: str) -> str:
    return f"ingest ref {quote(ref)}" + (f": {detail}" if detail else "")


def ingest_not_found(ref: str, detail: str = "") -> NotFoundError:
    """``ingest ref "<ref>": not found``, or ``ingest ref "<ref>": <detail>: not found``."""
    return NotFoundError.with_context(_ingest(ref, detail))


def damaged_ingest(ref: str, detail: str) -> ContentError:
    """``ingest ref "<ref>": <detail>``: a file of the ingest does not parse (no errdefs kind)."""
    return ContentError(_ingest(ref, detail))


def ingest_io_error(ref: str, detail: str) -> OSError:
    """``ingest ref "<ref>": <detail>``: the storage behind an ingest failed (no errdefs kind)."""
    return OSError(_ingest(ref, detail))


def ingest_file_error(ref: str, name: str, *, missing: bool, detail: str = "") -> ContentError:
    """A file of a local ingest folder is missing or damaged, in the store's terms.

    Missing ``data`` means no ingest (``ingest ref "<ref>": not found``); another
    missing file ``ingest ref "<ref>": could not read <name>: not found``; a file
    that does not parse ``ingest ref "<ref>": could not parse <name>: <detail>``.
    """
    if not missing:
        return damaged_ingest(ref, f"could not parse {name}: {detail}")
    return ingest_not_found(ref, "" if name == "data" else f"could not read {name}")


def total_mismatch(ref: str, stored: int, given: int) -> FailedPreconditionError:
    """A resumed ingest whose stored total differs from the descriptor's size."""
    return FailedPreconditionError.with_context(
        _ingest(ref, f"stored total {stored} differs from descriptor size {given}")
    )


def ref_locked(ref: str, since: datetime, elapsed: float) -> UnavailableError:
    """containerd's ``ref <ref> locked for <elapsed> (since <time>): unavailable``."""
    return UnavailableError.with_context(
        f"ref {ref} locked for {elapsed:.3f}s (since {since.isoformat()})"
    )


def lock_lost(ref: str) -> UnavailableError:
    """The ref's lock was taken over by another holder (its lease ran out) while writing."""
    return UnavailableError.with_context(f"ref {ref} lock was taken over while writing")


# --------------------------------------------------------------------------- writers


def writer_closed(ref: str, action: str) -> FailedPreconditionError:
    """``cannot <action> on closed writer for ref "<ref>"`` (closed or committed)."""
    return FailedPreconditionError.with_context(
        f"cannot {action} on closed writer for ref {quote(ref)}"
    )


def size_mismatch(actual: int, expected: int) -> FailedPreconditionError:
    """``unexpected commit size <actual>, expected <expected>``."""
    return FailedPreconditionError.with_context(
        f"unexpected commit size {actual}, expected {expected}"
    )


def digest_mismatch(actual: str, expected: str) -> FailedPreconditionError:
    """``unexpected commit digest <actual>, expected <expected>``."""
    return FailedPreconditionError.with_context(
        f"unexpected commit digest {actual}, expected {expected}"
    )


def truncate_out_of_range(ref: str, size: int, offset: int) -> InvalidArgumentError:
    """``truncate size <size> of ref "<ref>" is out of range 0..<offset>``."""
    return InvalidArgumentError.with_context(
        f"truncate size {size} of ref {quote(ref)} is out of range 0..{offset}"
    )


def negative(what: str, value: object, ref: str | None = None) -> InvalidArgumentError:
    """``<what> <value> [of ref "<ref>"] must not be negative``."""
    of = f" of ref {quote(ref)}" if ref is not None else ""
    return InvalidArgumentError.with_context(f"{what} {value}{of} must not be negative")


# --------------------------------------------------------------------------- the rest


def closed(what: str) -> FailedPreconditionError:
    """``<what> is closed``: a store (or its client) used after ``aclose``."""
    return FailedPreconditionError.with_context(f"{what} is closed")


def reader_closed(dgst: str) -> FailedPreconditionError:
    """``reader of <dgst> is closed``."""
    return closed(f"reader of {dgst}")


def label_update_conflict(dgst: str) -> OSError:
    """Labels of ``dgst`` could not be updated: other writers kept changing them."""
    return OSError(f"content {dgst}: label update kept conflicting with other writers")


def s3_failed(op: str, where: str, detail: object) -> OSError:
    """``S3 <op> <where> failed: <detail>``: the object store refused or failed a request."""
    return OSError(f"S3 {op} {where} failed: {detail}")


def invalid(context: str) -> InvalidArgumentError:
    """``<context>: invalid argument``, for a one-off bad value (name it in ``context``)."""
    return InvalidArgumentError.with_context(context)


def wrong_type(what: str, expected: str, value: object) -> TypeError:
    """``<what> must be <expected>, not <type> (<repr>)``: an argument of the wrong type."""
    return TypeError(
        f"{what} must be {expected}, not {type(value).__name__} ({_short_repr(value)})"
    )
