"""Parsing command-line values and formatting records for the ``aiocontent`` commands.

Times are shown in UTC: RFC 3339 with a ``Z`` in JSON, ``YYYY-MM-DDTHH:MM:SSZ``
in tables (to the second). Sizes in tables use binary units (KiB, MiB, ...).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from .._digest import Digest
from .._errors import InvalidArgumentError
from .._types import Info, Status, check_labels

__all__ = (
    "format_labels",
    "format_table",
    "format_time",
    "human_size",
    "info_to_json",
    "iso_time",
    "parse_digests",
    "parse_duration",
    "parse_labels",
    "progress_text",
    "status_to_json",
    "to_json",
)

_UNITS: Final = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")

_DURATION: Final = re.compile(r"([0-9]+)([smhdw])")
_DURATION_UNITS: Final = {
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}


def human_size(n: int) -> str:
    """``n`` bytes in binary units: ``0 B``, ``999 B``, ``1.5 KiB``, ``12.0 MiB``."""
    if n < 1024:
        return f"{n} B"
    value = float(n)
    unit = 0
    while value >= 1024 and unit < len(_UNITS) - 1:
        value /= 1024
        unit += 1
    return f"{value:.1f} {_UNITS[unit]}"


def iso_time(t: datetime) -> str:
    """``t`` in UTC as RFC 3339 with microseconds and a ``Z``."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def format_time(t: datetime) -> str:
    """``t`` in UTC for tables, to the second: ``2025-01-31T12:00:00Z``."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def progress_text(offset: int, total: int) -> str:
    """An ingest's progress: ``1.0 MiB / 4.0 MiB (25%)``, or just the offset without a total."""
    if total <= 0:
        return human_size(offset)
    percent = offset * 100 // total
    return f"{human_size(offset)} / {human_size(total)} ({percent}%)"


def info_to_json(info: Info) -> dict[str, Any]:
    """A blob's info as a JSON object."""
    return {
        "digest": str(info.digest),
        "size": info.size,
        "created_at": iso_time(info.created_at),
        "updated_at": iso_time(info.updated_at),
        "labels": dict(sorted(info.labels.items())),
    }


def status_to_json(status: Status) -> dict[str, Any]:
    """An ingest's status as a JSON object (``expected`` is ``null`` when unknown)."""
    return {
        "ref": status.ref,
        "offset": status.offset,
        "total": status.total,
        "expected": str(status.expected) if status.expected else None,
        "started_at": iso_time(status.started_at),
        "updated_at": iso_time(status.updated_at),
    }


def to_json(value: object) -> str:
    """Indented JSON, keeping non-ASCII text as it is."""
    return json.dumps(value, indent=2, ensure_ascii=False)


def format_labels(labels: Mapping[str, str]) -> str:
    """Labels as ``k=v,k2=v2`` sorted by key, or ``-`` when there are none."""
    if not labels:
        return "-"
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def format_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Left-aligned columns separated by two spaces; the last column is not padded."""
    table = [list(headers), *(list(row) for row in rows)]
    widths = [max(len(row[i]) for row in table) for i in range(len(headers))]
    lines = []
    for row in table:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)


def parse_duration(text: str) -> timedelta:
    """A duration such as ``90s``, ``30m``, ``24h``, ``7d``, ``2w`` or ``1h30m``.

    :raises ~aiocontent.InvalidArgumentError: not a sequence of ``<integer><unit>``
        with a unit among ``s m h d w``.
    """
    pos = 0
    total = timedelta()
    stripped = text.strip()
    for match in _DURATION.finditer(stripped):
        if match.start() != pos:
            break
        total += int(match.group(1)) * _DURATION_UNITS[match.group(2)]
        pos = match.end()
    if not stripped or pos != len(stripped):
        raise InvalidArgumentError(
            f"invalid duration {text!r}: use a number and a unit s, m, h, d or w "
            "(90s, 30m, 24h, 7d): invalid argument"
        )
    return total


def parse_labels(items: Iterable[str], *, allow_empty: bool) -> dict[str, str]:
    """``k=v`` arguments as a mapping, checked like :func:`aiocontent.with_labels`.

    :param allow_empty: keep ``k=`` as an empty value (``label`` uses it to remove);
        otherwise empty values are dropped.
    :raises ~aiocontent.InvalidArgumentError: an item without ``=``, an empty key
        or an oversized label.
    """
    labels: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise InvalidArgumentError(
                f"label {item!r} must have the form key=value: invalid argument"
            )
        if not key:
            raise InvalidArgumentError(f"label {item!r} has an empty key: invalid argument")
        labels[key] = value
    checked = check_labels(labels, drop_empty=not allow_empty)
    return checked


def parse_digests(values: Iterable[str]) -> list[Digest]:
    """Validate every digest before any is used, so bad input changes nothing.

    :raises ~aiocontent.InvalidArgumentError: a malformed digest, named in the message.
    """
    return [Digest.parse(value) for value in values]
