"""The OCI grammar for repository names, tags, digests and upload ids, checked before storage."""

from __future__ import annotations

import re
from typing import Final

from .._digest import SHA256, SHA512, Digest
from .._errors import InvalidArgumentError
from ._errors import RegistryError

__all__ = (
    "MAX_NAME_LENGTH",
    "check_digest",
    "check_name",
    "check_tag",
    "check_upload_id",
    "is_digest",
)

#: Longest repository name accepted (as distribution's 255 characters)
MAX_NAME_LENGTH: Final = 255
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_NAME = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_TAG = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")
_UPLOAD_ID = re.compile(r"[0-9a-f]{32}")
#: algorithms a client may name for blobs and manifests
ALGORITHMS: Final = frozenset({SHA256, SHA512})


def check_name(name: str) -> str:
    """Return ``name`` if it is a valid repository name, else raise NAME_INVALID."""
    if len(name) > MAX_NAME_LENGTH or _NAME.fullmatch(name) is None:
        raise RegistryError("NAME_INVALID", {"name": name[:MAX_NAME_LENGTH]})
    return name


def check_tag(tag: str) -> str:
    """Return ``tag`` if it matches the tag grammar, else raise TAG_INVALID."""
    if _TAG.fullmatch(tag) is None:
        raise RegistryError("TAG_INVALID", {"tag": tag[:256]})
    return tag


def is_digest(reference: str) -> bool:
    """Whether a manifest reference is meant as a digest (tags never contain ``:``)."""
    return ":" in reference


def check_digest(value: str, code: str = "DIGEST_INVALID") -> Digest:
    """Parse ``value`` as a digest of a supported algorithm, else raise ``code``."""
    try:
        digest = Digest.parse(value)
    except InvalidArgumentError:
        raise RegistryError(code, {"digest": value[:256]}) from None
    if digest.algorithm not in ALGORITHMS:
        raise RegistryError(code, {"digest": value[:256], "reason": "unsupported algorithm"})
    return digest


def check_upload_id(upload_id: str) -> str:
    """Return ``upload_id`` if it has the form this server hands out, else BLOB_UPLOAD_UNKNOWN."""
    if _UPLOAD_ID.fullmatch(upload_id) is None:
        raise RegistryError("BLOB_UPLOAD_UNKNOWN", {"upload": upload_id[:64]})
    return upload_id
