"""The errors aiocontent raises on purpose, one class per containerd errdefs kind.

Every class derives from :class:`ContentError`; two also derive from a builtin
whose meaning they share, so callers may catch either::

    ContentError
    ├── NotFoundError            (also LookupError)  the blob, ingest or label target is missing
    ├── AlreadyExistsError                           the blob is already committed
    ├── UnavailableError                             the ref is locked by another writer
    ├── FailedPreconditionError                      size or digest mismatch, closed writer
    ├── InvalidArgumentError     (also ValueError)   malformed digest, ref, filter, path, size
    └── ShortReadError           (also EOFError)     a source ended too early

Messages follow containerd: ``<context>: <kind text>``, for example
``content sha256:...: not found``; :meth:`ContentError.with_context` builds them.
"""

from __future__ import annotations

from typing import Self

__all__ = (
    "AlreadyExistsError",
    "ContentError",
    "FailedPreconditionError",
    "InvalidArgumentError",
    "NotFoundError",
    "ShortReadError",
    "UnavailableError",
)


class ContentError(Exception):
    """Base of every error the library raises on purpose."""

    #: containerd's text for this kind, appended to messages by :meth:`with_context`.
    kind_text = "unknown"

    @classmethod
    def with_context(cls, context: str) -> Self:
        """Build ``cls(f"{context}: {kind_text}")``, containerd's ``%w`` wrapping."""
        return cls(f"{context}: {cls.kind_text}")


class NotFoundError(ContentError, LookupError):
    """Raised when a blob, an ingest or the target of a label update does not exist."""

    kind_text = "not found"


class AlreadyExistsError(ContentError):
    """Raised when a blob with the requested digest is already committed.

    :func:`aiocontent.copy` and :func:`aiocontent.write_blob` treat it as success.
    """

    kind_text = "already exists"


class UnavailableError(ContentError):
    """Raised when a ref is locked by another open writer.

    The message reads ``ref <ref> locked for <duration> (since <time>): unavailable``.
    :func:`aiocontent.open_writer` waits for the release instead of raising.
    """

    kind_text = "unavailable"


class FailedPreconditionError(ContentError):
    """Raised when the state does not allow the operation.

    Examples: a commit whose size or digest does not match what was written (the
    ingest data stays for a later resume), or any use of a closed or committed writer.
    """

    kind_text = "failed precondition"


class InvalidArgumentError(ContentError, ValueError):
    """Raised for a malformed value: digest, ref, filter, field path, label or size.

    Nothing stored is changed by a call that raises it.
    """

    kind_text = "invalid argument"


class ShortReadError(ContentError, EOFError):
    """Raised when a source ends before the number of bytes the caller expected."""

    kind_text = "unexpected EOF"
