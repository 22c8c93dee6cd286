"""The OCI distribution error codes, each with its HTTP status, and their JSON responses.

Handlers raise :class:`RegistryError`; the app turns it into the spec's body
``{"errors": [{"code", "message", "detail"}]}``. Storage errors are translated
here too, at one boundary, so the content store never knows about HTTP.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response

from .._errors import (
    AlreadyExistsError,
    ContentError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    ShortReadError,
    UnavailableError,
)

__all__ = ("CODES", "RegistryError", "content_error_response", "error_response")

#: code -> (default HTTP status, the spec's message)
CODES: Final[Mapping[str, tuple[int, str]]] = {
    "BLOB_UNKNOWN": (404, "blob unknown to registry"),
    "BLOB_UPLOAD_INVALID": (400, "blob upload invalid"),
    "BLOB_UPLOAD_UNKNOWN": (404, "blob upload unknown to registry"),
    "DIGEST_INVALID": (400, "provided digest did not match uploaded content"),
    "MANIFEST_BLOB_UNKNOWN": (400, "manifest references a manifest or blob unknown to registry"),
    "MANIFEST_INVALID": (400, "manifest invalid"),
    "MANIFEST_UNKNOWN": (404, "manifest unknown to registry"),
    "NAME_INVALID": (400, "invalid repository name"),
    "NAME_UNKNOWN": (404, "repository name not known to registry"),
    "SIZE_INVALID": (400, "provided length did not match content length"),
    "TAG_INVALID": (400, "manifest tag did not match URI"),
    "UNAUTHORIZED": (401, "authentication required"),
    "DENIED": (403, "requested access to the resource is denied"),
    "UNSUPPORTED": (405, "the operation is unsupported"),
    "TOOMANYREQUESTS": (429, "too many requests"),
}


class RegistryError(Exception):
    """An OCI error response: ``code`` from :data:`CODES`, ``detail`` says what was wrong.

    ``status`` overrides the code's default HTTP status (e.g. 416 for an upload
    chunk that does not continue the session); ``headers`` go on the response;
    ``more`` adds further errors of the same code, one per detail.
    """

    def __init__(
        self,
        code: str,
        detail: Any = None,
        *,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
        more: Sequence[Any] = (),
    ) -> None:
        default_status, message = CODES[code]
        super().__init__(f"{code}: {detail}" if detail is not None else code)
        self.code = code
        self.message = message
        self.detail = detail
        self.status = status if status is not None else default_status
        self.headers = dict(headers or {})
        self.details = (detail, *more)


def error_response(request: Request, exc: Exception) -> Response:
    """The spec's JSON error response for ``exc`` (a :class:`RegistryError`); none on HEAD."""
    assert isinstance(exc, RegistryError)
    errors = [{"code": exc.code, "message": exc.message, "detail": d} for d in exc.details]
    body = {"errors": errors}
    content = b"" if request.method == "HEAD" else json.dumps(body).encode()
    # the body's own length wins over one copied from a success response's headers
    extra = {k: v for k, v in exc.headers.items() if k.lower() != "content-length"}
    headers = {"Docker-Distribution-API-Version": "registry/2.0", **extra}
    return Response(content, status_code=exc.status, headers=headers, media_type="application/json")


#: storage errors that reach the app unhandled -> (code, HTTP status, extra headers)
_CONTENT_ERRORS: Final[tuple[tuple[type[ContentError], str, int, Mapping[str, str]], ...]] = (
    (NotFoundError, "BLOB_UNKNOWN", 404, {}),
    (UnavailableError, "TOOMANYREQUESTS", 429, {"Retry-After": "1"}),
    (ShortReadError, "SIZE_INVALID", 400, {}),
    (InvalidArgumentError, "BLOB_UPLOAD_INVALID", 400, {}),
    (FailedPreconditionError, "BLOB_UPLOAD_INVALID", 400, {}),
    (AlreadyExistsError, "BLOB_UPLOAD_INVALID", 409, {}),
)


def content_error_response(request: Request, exc: Exception) -> Response:
    """A store error no handler translated, as the closest OCI error (never a 500)."""
    assert isinstance(exc, ContentError)
    for kind, code, status, headers in _CONTENT_ERRORS:
        if isinstance(exc, kind):
            return error_response(
                request, RegistryError(code, str(exc), status=status, headers=headers)
            )
    return error_response(request, RegistryError("UNSUPPORTED", str(exc), status=400))
