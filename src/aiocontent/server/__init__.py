"""Serve a content store as an OCI registry (the Distribution API v1.1).

``create_app(store)`` gives an ASGI application that any ASGI server runs; it
needs the ``[server]`` extra (Starlette), imported on first use of
``create_app``. The registry metadata (:class:`RegistryMetadata`, its records and
implementations) needs no extra, so tools such as garbage collection can read a
registry's tags without the web stack. ``import aiocontent`` never imports this
module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._exports import publish
from ._metadata import ManifestRecord as ManifestRecord
from ._metadata import RegistryMetadata as RegistryMetadata
from ._metadata_local import LocalMetadata as LocalMetadata
from ._metadata_memory import MemoryMetadata as MemoryMetadata

if TYPE_CHECKING:
    from ._app import create_app as create_app

__all__ = (
    "LocalMetadata",
    "ManifestRecord",
    "MemoryMetadata",
    "RegistryMetadata",
    "create_app",
)

publish(globals(), __name__)


def __getattr__(name: str) -> Any:
    """Import :func:`create_app` (and with it Starlette) on first use."""
    if name != "create_app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        from ._app import create_app
    except ModuleNotFoundError as exc:
        raise ImportError(
            f"aiocontent.server.create_app needs the server extra ({exc.name} is missing): "
            "pip install 'aiocontent[server]'"
        ) from exc
    create_app.__module__ = __name__
    globals()["create_app"] = create_app
    return create_app
