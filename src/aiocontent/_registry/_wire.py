"""What the registry client reads and writes on the wire: challenges, Basic, Retry-After, errors."""

from __future__ import annotations

import base64
import email.utils
import json
import math
import re
from datetime import UTC, datetime
from typing import Final

import httpx

__all__ = ("basic", "error_detail", "origin_of", "parse_challenge", "retry_after")

_PARAM: Final = re.compile(r'\s*([A-Za-z0-9_.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?')


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """Split a ``WWW-Authenticate`` value into its scheme (lower-case) and parameters."""
    scheme, _, rest = header.strip().partition(" ")
    params: dict[str, str] = {}
    pos = 0
    while pos < len(rest) and (m := _PARAM.match(rest, pos)) and m.end() > pos:
        quoted, bare = m.group(2), m.group(3)
        value = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare or ""
        params[m.group(1).lower()] = value
        pos = m.end()
    return scheme.lower(), params


def basic(creds: tuple[str, str]) -> str:
    raw = f"{creds[0]}:{creds[1]}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def origin_of(url: httpx.URL) -> str:
    return f"{url.scheme}://{url.netloc.decode('ascii', 'replace')}"


def retry_after(resp: httpx.Response) -> float | None:
    """Seconds the answer asks to wait (delta or HTTP date), ``None`` when absent or unusable."""
    value = resp.headers.get("Retry-After", "").strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return max(seconds, 0.0) if math.isfinite(seconds) else None


def error_detail(body: bytes) -> str:
    """The registry's error codes and messages, or a short excerpt of the body."""
    try:
        errors = json.loads(body).get("errors")
        parts = [f"{e.get('code', '')} {e.get('message', '')}".strip() for e in errors]
        return "; ".join(p for p in parts if p)[:500]
    except (ValueError, AttributeError, TypeError, RecursionError):
        return body[:200].decode("utf-8", "replace").strip()
