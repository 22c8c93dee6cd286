"""Serve a content store as an OCI registry (the Distribution API v1.1).

``create_app(store)`` gives an ASGI application that any ASGI server runs; it
needs the ``[server]`` extra (Starlette, and bcrypt and PyJWT for the
authentication classes), imported on first use of ``create_app`` or of those
classes. The registry metadata (:class:`RegistryMetadata`, its records and
implementations) needs no extra, so tools such as garbage collection can read a
registry's tags without the web stack. ``import aiocontent`` never imports this
module.
"""

from __future__ import annotations

import contextlib
import importlib
from typing import TYPE_CHECKING, Any, Final

from .._exports import publish
from ._metadata import ManifestRecord as ManifestRecord
from ._metadata import RegistryMetadata as RegistryMetadata
from ._metadata_local import LocalMetadata as LocalMetadata
from ._metadata_memory import MemoryMetadata as MemoryMetadata
from ._metadata_s3 import S3Metadata as S3Metadata

if TYPE_CHECKING:
    from ._app import create_app as create_app
    from ._auth import Access as Access
    from ._auth import Auth as Auth
    from ._htpasswd import HtpasswdAuth as HtpasswdAuth
    from ._token import TokenAuth as TokenAuth
    from ._upstream import Upstream as Upstream

__all__ = (
    "Access",
    "Auth",
    "HtpasswdAuth",
    "LocalMetadata",
    "ManifestRecord",
    "MemoryMetadata",
    "RegistryMetadata",
    "S3Metadata",
    "TokenAuth",
    "Upstream",
    "create_app",
)

#: names imported on first use (they need the server extra) -> their private module
_ON_FIRST_USE: Final = {
    "create_app": "_app",
    "Access": "_auth",
    "Auth": "_auth",
    "HtpasswdAuth": "_htpasswd",
    "TokenAuth": "_token",
    "Upstream": "_upstream",
}

publish(globals(), __name__)


def __getattr__(name: str) -> Any:
    """Import :func:`create_app` or an auth class (and with it Starlette) on first use."""
    module = _ON_FIRST_USE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        obj = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    except ModuleNotFoundError as exc:
        raise ImportError(
            f"aiocontent.server.{name} needs the server extra ({exc.name} is missing): "
            "pip install 'aiocontent[server]'"
        ) from exc
    with contextlib.suppress(AttributeError, TypeError):
        obj.__module__ = __name__
    globals()[name] = obj
    return obj
