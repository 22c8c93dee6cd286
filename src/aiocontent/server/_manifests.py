"""Manifest GET, HEAD, PUT and DELETE by tag or digest."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ._context import Registry
from ._errors import RegistryError

__all__ = ("delete", "get", "put")


async def get(registry: Registry, request: Request, name: str, arg: str) -> Response:
    raise RegistryError("UNSUPPORTED", "not yet")


put = delete = get
