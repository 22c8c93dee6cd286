"""Serve a content store as an OCI registry (the Distribution API v1.1).

Needs the ``[server]`` extra (Starlette); ``import aiocontent`` never imports it.
``create_app(store)`` gives an ASGI application that any ASGI server runs.
"""

from __future__ import annotations

import contextlib

from ._app import create_app as create_app
from ._metadata import ManifestRecord as ManifestRecord
from ._metadata import RegistryMetadata as RegistryMetadata
from ._metadata_memory import MemoryMetadata as MemoryMetadata

__all__ = ("ManifestRecord", "MemoryMetadata", "RegistryMetadata", "create_app")

for _name in __all__:
    _obj = globals()[_name]
    if getattr(_obj, "__module__", "").startswith("aiocontent.server._"):
        with contextlib.suppress(AttributeError, TypeError):
            _obj.__module__ = __name__
del _name, _obj
