"""Errors of the registry client, under :class:`~aiocontent.ContentError`.

::

    ContentError
    └── RegistryError            the registry failed or refused a request (after retries)
        └── RegistryAuthError    the registry wants credentials it did not accept

A manifest or blob the registry does not have raises
:class:`~aiocontent.NotFoundError`; bytes that do not match their digest raise
:class:`~aiocontent.FailedPreconditionError`; a malformed reference or platform
raises :class:`~aiocontent.InvalidArgumentError`.
"""

from __future__ import annotations

from .._errors import ContentError

__all__ = ("RegistryAuthError", "RegistryError")


class RegistryError(ContentError):
    """Raised when a registry request fails for good: connection errors, 5xx or 429
    after the retries, an unexpected status or an unusable answer.

    ``status`` is the last HTTP status code, ``None`` when no answer came.

    .. versionadded:: 0.1
    """

    kind_text = "registry error"

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class RegistryAuthError(RegistryError):
    """Raised when the registry answers 401 or 403 and the credentials given
    (or their absence) do not get through its challenge.

    .. versionadded:: 0.1
    """

    kind_text = "unauthorized"
