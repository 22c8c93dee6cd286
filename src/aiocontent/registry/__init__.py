"""Pulling OCI and Docker images from a registry (distribution API v2) into a store.

A module of its own so that ``import aiocontent`` stays light: importing this
one loads httpx.

.. versionadded:: 0.1
"""

from __future__ import annotations

from .._exports import publish as _publish
from .._registry._client import Credentials as Credentials
from .._registry._errors import RegistryAuthError as RegistryAuthError
from .._registry._errors import RegistryError as RegistryError
from .._registry._events import Progress as Progress
from .._registry._events import ProgressEvent as ProgressEvent
from .._registry._events import ProgressState as ProgressState
from .._registry._pull import ALL_PLATFORMS as ALL_PLATFORMS
from .._registry._pull import pull as pull
from .._registry._reference import Platform as Platform
from .._registry._reference import Reference as Reference
from .._registry._reference import parse_platform as parse_platform
from .._registry._reference import parse_reference as parse_reference

__all__ = (
    "ALL_PLATFORMS",
    "Credentials",
    "Platform",
    "Progress",
    "ProgressEvent",
    "ProgressState",
    "Reference",
    "RegistryAuthError",
    "RegistryError",
    "parse_platform",
    "parse_reference",
    "pull",
)

# Show public objects as ``aiocontent.registry.X`` in reprs, tracebacks and docs.
_publish(globals(), __name__)
