"""What :func:`~._run.serve` is asked to run: the store, the address, the server's behaviour."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ._auth import Auth
from ._listen import Listen
from ._upstream import Upstream

__all__ = ("S3Location", "ServeOptions")


@dataclass(frozen=True, slots=True)
class S3Location:
    """Where an :class:`~aiocontent.S3Store` lives; credentials come from the environment."""

    bucket: str
    endpoint_url: str | None = None
    prefix: str = ""
    region_name: str = "us-east-1"
    #: Seconds a lock (an upload session's, a repository's) outlives a host that died.
    lock_lease: float = 30.0

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


@dataclass
class ServeOptions:
    """How :func:`serve` runs: the store (root or bucket), the address, the server's behaviour."""

    root: Path
    listen: Listen
    backend: Literal["asyncio", "trio"] = "asyncio"
    read_only: bool = False
    #: Checks every request's credentials (``None``: anyone may push).
    auth: Auth | None = None
    #: Seconds requests in flight get to finish after SIGTERM/SIGINT.
    shutdown_timeout: float = 10.0
    #: Write one line per request to :data:`~._asgi.ACCESS_LOGGER`.
    access_log: bool = True
    #: Be a read-only pull-through cache of this registry.
    upstream: Upstream | None = None
    #: Serve an S3Store in this bucket (and its registry metadata there) instead of ``root``.
    s3: S3Location | None = None

    @property
    def where(self) -> str:
        """The store served, for messages: the root folder or ``s3://bucket/prefix``."""
        return str(self.s3 or self.root)
