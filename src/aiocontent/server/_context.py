"""What every handler shares: the store, the metadata and the response helpers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from .._digest import Digest
from .._interfaces import Store
from ._metadata import RegistryMetadata

__all__ = ("API_HEADERS", "CHUNK", "Registry", "digest_headers")

#: Sent on every response (clients probe for it on ``GET /v2/``)
API_HEADERS: Final[Mapping[str, str]] = {"Docker-Distribution-API-Version": "registry/2.0"}
#: Request bodies are written, and blobs read, in pieces of at most this size
CHUNK: Final = 1 << 20


@dataclass(frozen=True, slots=True)
class Registry:
    """The app's state: a content store, its registry metadata and the read-only switch."""

    store: Store
    metadata: RegistryMetadata
    read_only: bool = False


def digest_headers(digest: Digest, size: int | None = None) -> dict[str, str]:
    """``Docker-Content-Digest`` and ``ETag`` (and ``Content-Length`` when ``size`` is given)."""
    headers = {**API_HEADERS, "Docker-Content-Digest": str(digest), "ETag": f'"{digest}"'}
    if size is not None:
        headers["Content-Length"] = str(size)
    return headers
