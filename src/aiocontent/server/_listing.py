"""Tags list, the catalog and the referrers API."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ._context import Registry
from ._errors import RegistryError

__all__ = ("catalog", "referrers", "tags")


async def tags(registry: Registry, request: Request, name: str, arg: str) -> Response:
    raise RegistryError("UNSUPPORTED", "not yet")


referrers = tags


async def catalog(registry: Registry, request: Request) -> Response:
    raise RegistryError("UNSUPPORTED", "not yet")
