"""Pulling OCI and Docker images from a registry (distribution API v2) into a store."""

from __future__ import annotations

from ._client import Credentials as Credentials
from ._errors import RegistryAuthError as RegistryAuthError
from ._errors import RegistryError as RegistryError
from ._events import Progress as Progress
from ._events import ProgressEvent as ProgressEvent
from ._events import ProgressState as ProgressState
from ._pull import pull as pull
from ._reference import Platform as Platform
from ._reference import Reference as Reference
from ._reference import parse_platform as parse_platform
from ._reference import parse_reference as parse_reference

__all__ = (
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
