"""The filter scanner: tokens with containerd's rules, and Go's quoted-string decoding."""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Final

#: Unicode White_Space, exactly (``str.isspace`` also accepts U+001C..U+001F).
_SPACES: Final = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
_QUOTES: Final = frozenset('"/|')
_SEPARATORS: Final = frozenset(",.")
_OPERATOR_CHARS: Final = frozenset("=!~")
_FIELD_CHARS: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
_SIMPLE_ESCAPES: Final = frozenset("abfnrtv\\")
_OCTAL_DIGITS: Final = frozenset("01234567")
_DIGIT_VALUES: Final = {c: int(c, 16) for c in "0123456789abcdefABCDEF"}
_NUMERIC_ESCAPES: Final = {"x": 2, "u": 4, "U": 8}

_FIELD_RUN: Final = re.compile(r"[A-Za-z0-9_]*")
_OPERATOR_RUN: Final = re.compile(r"[=!~]*")
#: Printable ASCII other than space and ``,``: the ASCII value chars.
_ASCII_VALUE_RUN: Final = re.compile(r"[!-+\--~]*")

EOF: Final = ""  # the "character" read at the end of input
NUL: Final = "\x00"

# Token kinds.
T_EOF: Final = 0
T_QUOTED: Final = 1
T_VALUE: Final = 2
T_FIELD: Final = 3
T_SEPARATOR: Final = 4
T_OPERATOR: Final = 5
T_ILLEGAL: Final = 6
T_OTHER: Final = 7


def _run_end(run: re.Pattern[str], s: str, i: int) -> int:
    """End of the longest run of *run*'s characters starting at *i* (*run* ends in ``*``)."""
    m = run.match(s, i)
    return i if m is None else m.end()


@functools.lru_cache(maxsize=4096)
def _is_value_char(ch: str) -> bool:
    """Value chars: not ``,``, not a space, general category L, M, N, P or S."""
    return ch != "," and ch not in _SPACES and unicodedata.category(ch)[0] in "LMNPS"


class Scanner:
    """Splits a filter into tokens one at a time, with containerd's rules (SPEC.md §1.2)."""

    __slots__ = ("_err", "_i", "_n", "_s", "_value_mode")

    def __init__(self, s: str) -> None:
        self._s = s
        self._n = len(s)
        self._i = 0  # index of the next unread character
        self._value_mode = False
        self._err = ""  # the first scanner error; later ones never replace it

    @property
    def offset(self) -> int:
        """Index just after the last token: where the lookahead looks."""
        return self._i

    @property
    def error(self) -> str:
        return self._err

    def _fail(self, msg: str) -> None:
        if not self._err:
            self._err = msg

    def peek(self) -> str:
        """The very next character, *without* skipping spaces; ``""`` at the end."""
        return self._s[self._i] if self._i < self._n else EOF

    def _next(self) -> str:
        if self._i >= self._n:
            return EOF
        ch = self._s[self._i]
        self._i += 1
        if ch == NUL:
            self._fail("unexpected null")
        return ch

    def scan(self) -> tuple[int, int, str]:
        """Read the next token; return ``(kind, index, text)``."""
        s, n = self._s, self._n
        i = self._i
        while i < n and s[i] in _SPACES:
            i += 1
        if i >= n:
            self._i = n
            return T_EOF, n, ""
        ch = s[i]
        self._i = i + 1
        if ch == NUL:
            self._fail("unexpected null")
            return T_ILLEGAL, i, ch
        if ch in _QUOTES:
            legal = self._scan_quoted(ch)
            return (T_QUOTED if legal else T_ILLEGAL), i, s[i : self._i]
        if ch in _SEPARATORS:
            self._value_mode = False
            return T_SEPARATOR, i, ch
        if ch in _OPERATOR_CHARS:
            end = _run_end(_OPERATOR_RUN, s, i)
            self._i = end
            self._value_mode = True
            return T_OPERATOR, i, s[i:end]
        if self._value_mode:
            self._i = self._value_run_end(i + 1)
            self._value_mode = False
            return T_VALUE, i, s[i : self._i]
        if ch in _FIELD_CHARS:
            end = _run_end(_FIELD_RUN, s, i)
            self._i = end
            return T_FIELD, i, s[i:end]
        return T_OTHER, i, ch

    def _value_run_end(self, i: int) -> int:
        s, n = self._s, self._n
        while True:
            i = _run_end(_ASCII_VALUE_RUN, s, i)
            if i < n and s[i] > "\x7f" and _is_value_char(s[i]):
                i += 1
            else:
                return i

    def _scan_quoted(self, quote: str) -> bool:
        """Consume a quoted literal whose opening *quote* was just read.

        Return ``False`` (with :attr:`error` set) for an unterminated literal or a bad
        escape. After a bad escape the scan still runs on to the closing quote.
        """
        legal = True
        ch = self._next()
        while ch != quote:
            if ch in ("\n", EOF, NUL):
                self._fail("quoted literal not terminated")
                return False
            if ch == "\\":
                ch, ok = self._scan_escape(quote)
                legal = legal and ok
            else:
                ch = self._next()
        return legal

    def _scan_escape(self, quote: str) -> tuple[str, bool]:
        """Check the escape after a backslash; return the next unexamined char and legality."""
        ch = self._next()
        if ch in _SIMPLE_ESCAPES or ch == quote:
            return self._next(), True
        if ch in _OCTAL_DIGITS:
            return self._scan_digits(ch, 8, 3)
        count = _NUMERIC_ESCAPES.get(ch)
        if count is not None:
            return self._scan_digits(self._next(), 16, count)
        self._fail("illegal escape sequence")
        return ch, False

    def _scan_digits(self, ch: str, base: int, count: int) -> tuple[str, bool]:
        while count > 0 and _DIGIT_VALUES.get(ch, 16) < base:
            ch = self._next()
            count -= 1
        if count > 0:
            self._fail("illegal numeric escape sequence")
            return ch, False
        return ch, True


class QuoteSyntaxError(Exception):
    """A quoted literal scans but does not decode (octal above 0o377, code point too big)."""


_DECODED_ESCAPES: Final = {
    "a": 0x07,
    "b": 0x08,
    "f": 0x0C,
    "n": 0x0A,
    "r": 0x0D,
    "t": 0x09,
    "v": 0x0B,
    "\\": 0x5C,
}


def unquote(text: str) -> str:
    """Decode a quoted token (quotes included) with Go's string-literal rules.

    ``/`` and ``|`` act as the double quote. Escapes give bytes (``\\xHH``,
    ``\\NNN``) or code points (``\\u``, ``\\U``; surrogates become U+FFFD); the bytes
    are decoded as UTF-8 with ``surrogateescape``.

    :raises QuoteSyntaxError: for an octal escape above 0o377, a code point above
        U+10FFFF, or anything the scanner should already have rejected.
    """
    if len(text) < 2 or text[-1] != text[0]:
        raise QuoteSyntaxError
    quote = text[0]
    body = text[1:-1]
    if "\\" not in body:
        return body
    parts: list[str] = []
    pending = bytearray()
    i, n = 0, len(body)
    while i < n:
        ch = body[i]
        if ch != "\\":
            # A run of raw characters: kept as they are (even lone surrogates).
            end = body.find("\\", i)
            end = n if end < 0 else end
            if pending:
                parts.append(pending.decode("utf-8", "surrogateescape"))
                pending.clear()
            parts.append(body[i:end])
            i = end
            continue
        if i + 1 >= n:
            raise QuoteSyntaxError
        kind = body[i + 1]
        i += 2
        if kind in _DECODED_ESCAPES:
            pending.append(_DECODED_ESCAPES[kind])
        elif kind == quote:
            pending.append(ord(quote))
        elif kind in _OCTAL_DIGITS:
            digits = body[i - 1 : i + 2]
            if len(digits) != 3 or not all(d in _OCTAL_DIGITS for d in digits):
                raise QuoteSyntaxError
            code = int(digits, 8)
            if code > 0o377:
                raise QuoteSyntaxError
            pending.append(code)
            i += 2
        elif kind in _NUMERIC_ESCAPES:
            width = _NUMERIC_ESCAPES[kind]
            digits = body[i : i + width]
            if len(digits) != width or not all(d in _DIGIT_VALUES for d in digits):
                raise QuoteSyntaxError
            code = int(digits, 16)
            i += width
            if kind == "x":
                pending.append(code)
            else:
                if code > 0x10FFFF:
                    raise QuoteSyntaxError
                if 0xD800 <= code <= 0xDFFF:
                    code = 0xFFFD
                pending += chr(code).encode("utf-8")
        else:
            raise QuoteSyntaxError
    if pending:
        parts.append(pending.decode("utf-8", "surrogateescape"))
    return "".join(parts)
