"""Parsing command-line values, formatting records, and every line the commands print.

Times are shown in UTC: RFC 3339 with a ``Z`` in JSON, ``YYYY-MM-DDTHH:MM:SSZ``
in tables (to the second). Sizes in tables use binary units (KiB, MiB, ...).

Text the commands do not control (refs, labels, file names, a registry's
messages, log records, blobs) can hold escape sequences that would drive the
terminal. Everything printed goes through :func:`escape` here: :func:`echo` for
result lines, :func:`warn` for ``aiocontent: ...`` lines on stderr (also capped
at :data:`MAX_MESSAGE` characters), :func:`format_table` for cells,
:func:`to_json` for JSON (which stays valid and decodes to the same values),
:func:`shorten` for progress-bar names, :func:`library_warnings` for the
library's log, :func:`report_bug` for an unexpected exception and
:class:`TerminalText` for a blob written to a terminal.
"""

from __future__ import annotations

import codecs
import json
import logging
import re
import traceback
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import click

from .._digest import Digest
from .._errors import InvalidArgumentError
from .._types import Info, Status, check_labels

__all__ = (
    "MAX_MESSAGE",
    "PROG",
    "TerminalText",
    "echo",
    "escape",
    "format_labels",
    "format_table",
    "format_time",
    "human_size",
    "info_to_json",
    "iso_time",
    "library_warnings",
    "parse_digests",
    "parse_duration",
    "parse_labels",
    "progress_text",
    "report_bug",
    "shorten",
    "status_to_json",
    "to_json",
    "warn",
)

#: The program name shown in messages and help, also under ``python -m aiocontent``.
PROG: Final = "aiocontent"

#: The longest message after ``aiocontent: ``, in characters after escaping; the
#: middle of a longer one is cut (15,000 platforms in a registry's error are 161 KiB).
MAX_MESSAGE: Final = 1000
#: Of :data:`MAX_MESSAGE`, the characters kept from the end (where the kind of
#: error and the hints are).
_MESSAGE_TAIL: Final = 250
#: Room for the `` ... [N characters cut] ... `` marker.
_MARKER_ROOM: Final = 40

#: Unicode categories shown as escapes: controls (C0, DEL, C1), format characters
#: (bidi overrides, zero-width), lone surrogates, line and paragraph separators.
_ESCAPED: Final = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
#: Format characters kept: zero-width (non-)joiners shape emoji and scripts such as Persian.
_JOINERS: Final = frozenset({"\u200c", "\u200d"})
_NAMED: Final = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}

_UNITS: Final = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")

_DURATION: Final = re.compile(r"([0-9]+)([smhdw])")
_DURATION_UNITS: Final = {
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}


def _is_escaped(char: str) -> bool:
    # isprintable() is False for a superset of _ESCAPED (also spaces, unassigned and
    # private-use code points, which stay as they are)
    return (
        not char.isprintable() and unicodedata.category(char) in _ESCAPED and char not in _JOINERS
    )


def _visible(char: str) -> str:
    """``char`` itself, or an escape such as ``\\x1b``, ``\\u202e`` or ``\\n`` for it."""
    if not _is_escaped(char):
        return char
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def escape(text: object) -> str:
    """``str(text)`` with every non-printable character as a visible escape, on one line.

    Controls (C0 with ESC, BEL, CR, LF and TAB; DEL; C1), format characters
    (bidi overrides, zero-width), lone surrogates and line separators become
    ``\\x1b``, ``\\u202e``, ``\\n`` and the like; printable text in any script is
    kept, with the zero-width joiners that shape emoji and some scripts. A
    backslash is kept as it is, so the result is for reading, not parsing.
    """
    s = str(text)
    if s.isprintable():
        return s
    return "".join(map(_visible, s))


def _fitting(pieces: Iterable[str], width: int) -> int:
    """How many of ``pieces``, taken in order, fit in ``width`` characters together."""
    count = used = 0
    for piece in pieces:
        used += len(piece)
        if used > width:
            break
        count += 1
    return count


def _clip(text: str) -> str:
    """``text`` escaped; beyond :data:`MAX_MESSAGE` characters its middle is cut and counted."""
    if len(text) <= MAX_MESSAGE and text.isprintable():
        return text
    pieces = list(map(_visible, text))
    if sum(map(len, pieces)) <= MAX_MESSAGE:
        return "".join(pieces)
    # an escape is never split; the marker fits in the room left for it
    head = _fitting(pieces, MAX_MESSAGE - _MESSAGE_TAIL - _MARKER_ROOM)
    tail = len(pieces) - _fitting(reversed(pieces), _MESSAGE_TAIL)
    marker = f" ... [{tail - head} characters cut] ... "
    return "".join([*pieces[:head], marker, *pieces[tail:]])


def shorten(text: object, width: int) -> str:
    """``text`` escaped (see :func:`escape`) in at most ``width`` characters: a longer
    one ends in ``…`` where it was cut, never inside an escape."""
    pieces = list(map(_visible, str(text)))
    if sum(map(len, pieces)) <= width:
        return "".join(pieces)
    return "".join(pieces[: _fitting(pieces, width - 1)]) + "…"


def _terminal_char(char: str) -> str:
    if char in "\n\t":
        return char
    if "\udc80" <= char <= "\udcff":  # a byte that is not UTF-8, kept by surrogateescape
        return f"\\x{ord(char) - 0xDC00:02x}"
    return _visible(char)


class TerminalText:
    """Turns a stream of bytes into UTF-8 text that is safe on a terminal.

    Text is kept with its newlines and tabs; other non-printable characters
    (see :func:`escape`) and bytes that are not UTF-8 become escapes such as
    ``\\x1b`` and ``\\xff``. A character split between two chunks is kept whole.
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")

    def feed(self, data: bytes, *, final: bool = False) -> bytes:
        """The safe text for ``data``; ``final`` for the last chunk (or ``b""`` after it)."""
        text = self._decoder.decode(data, final)
        if not text.replace("\n", " ").replace("\t", " ").isprintable():
            text = "".join(map(_terminal_char, text))
        return text.encode("utf-8", "surrogatepass")


def echo(text: object) -> None:
    """Print ``text`` as one line on standard output, escaped (see :func:`escape`)."""
    click.echo(escape(text))


def warn(message: object) -> None:
    """Print ``aiocontent: <message>`` on stderr, escaped and capped at :data:`MAX_MESSAGE`.

    Every error, note and hint the commands print goes through here.
    """
    click.echo(f"{PROG}: {_clip(str(message))}", err=True)


class _WarnHandler(logging.Handler):
    """Prints the library's log records as ``aiocontent: warning: ...`` lines."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            warn(f"{record.levelname.lower()}: {record.getMessage()}")
        except Exception:  # pragma: no cover - logging's own policy for a failing handler
            self.handleError(record)


@contextmanager
def library_warnings() -> Iterator[None]:
    """Within the block, the ``aiocontent`` logger's warnings and errors go to :func:`warn`.

    Without it they would reach stderr raw through :data:`logging.lastResort`.
    """
    logger = logging.getLogger(PROG)
    handler = _WarnHandler(logging.WARNING)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


def report_bug(exc: BaseException) -> None:
    """Print an unexpected exception's traceback on stderr, every line escaped and capped,
    then ``aiocontent: unexpected error: ...``."""
    for chunk in traceback.format_exception(exc):
        for line in chunk.rstrip("\n").split("\n"):
            click.echo(_clip(line), err=True)
    warn(f"unexpected error: {type(exc).__name__}: {exc} (a bug: please report it)")


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


def _json_escape(char: str) -> str:
    if not _is_escaped(char):
        return char
    data = char.encode("utf-16-be", "surrogatepass")
    return "".join(f"\\u{data[i]:02x}{data[i + 1]:02x}" for i in range(0, len(data), 2))


def to_json(value: object) -> str:
    """Indented JSON, keeping printable non-ASCII text as it is.

    Non-printable characters (see :func:`escape`) are written as ``\\uXXXX``, so
    the text is safe on a terminal and decodes to the same values.
    """
    text = json.dumps(value, indent=2, ensure_ascii=False)
    # json.dumps escapes C0 itself, so a newline left in the text is the indentation's
    if text.replace("\n", " ").isprintable():
        return text
    return "\n".join(
        line if line.isprintable() else "".join(map(_json_escape, line))
        for line in text.split("\n")
    )


def format_labels(labels: Mapping[str, str]) -> str:
    """Labels as ``k=v,k2=v2`` sorted by key, or ``-`` when there are none."""
    if not labels:
        return "-"
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def format_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Left-aligned columns separated by two spaces; the last column is not padded.

    Every cell is escaped (see :func:`escape`), so a row is one line.
    """
    table = [list(headers), *([escape(cell) for cell in row] for row in rows)]
    widths = [max(len(row[i]) for row in table) for i in range(len(headers))]
    lines = []
    for row in table:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)


def parse_duration(text: str) -> timedelta:
    """A duration such as ``90s``, ``30m``, ``24h``, ``7d``, ``2w`` or ``1h30m`` (or ``0``).

    :raises ~aiocontent.InvalidArgumentError: not a sequence of ``<integer><unit>``
        with a unit among ``s m h d w``, or reaching back before the year 1.
    """
    pos = 0
    total = timedelta()
    stripped = text.strip()
    if stripped == "0":  # zero needs no unit
        return total
    try:
        for match in _DURATION.finditer(stripped):
            if match.start() != pos:
                break
            total += int(match.group(1)) * _DURATION_UNITS[match.group(2)]
            pos = match.end()
        datetime.now(UTC) - total  # an age is subtracted from now
    except OverflowError:
        raise InvalidArgumentError(
            f"duration {text!r} is too long: it reaches back before the year 1: invalid argument"
        ) from None
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
