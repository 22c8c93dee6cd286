"""containerd's filter language (``pkg/filters``), used by ``walk`` and ``list_statuses``.

A filter string is a comma-separated list of *selectors*, all of which must match::

    labels."containerd.io/gc.root",size~=^[0-9]{4}$,digest!=sha256:0123...

Each selector is a dotted field path, optionally followed by an operator (``==``,
``!=`` or ``~=``) and a value. Without an operator it tests that the field is
present. ``~=`` runs an unanchored :func:`re.search`. Values may be quoted with
``"``; after ``~=`` they may also be quoted with ``/`` or ``|``. Quoted strings use
Go's escape rules.

A filter is matched against an :data:`Adaptor`, a callable that maps a field path
to ``(value, present)``. :func:`adapt_info` and :func:`adapt_status` build the
adaptors the stores use.

The scanner and parser reproduce containerd's behaviour, error messages included
(SPEC.md §1). Parsing is iterative and linear in the length of the input.
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Final, NoReturn, Protocol, TypeAlias

from ._errors import InvalidArgumentError

__all__ = (
    "ALWAYS",
    "Adaptor",
    "Filter",
    "FilterParseError",
    "InfoLike",
    "StatusLike",
    "adapt_info",
    "adapt_status",
    "parse",
    "parse_all",
)

_log: Final = logging.getLogger("aiocontent")

#: Maps a non-empty field path to ``(value, present)``. An absent field reads as ``""``.
Adaptor: TypeAlias = Callable[[Sequence[str]], tuple[str, bool]]


# --------------------------------------------------------------------------- errors


class FilterParseError(InvalidArgumentError):
    """Raised by :func:`parse` for a filter string that is not well formed.

    The message is containerd's, byte for byte for ASCII input:
    ``filters: parse error: [<before> >|<char>|< <after>]: <msg>``, or
    ``filters: parse error: [<input>]: <msg>`` when the error is at the end of the input.
    Unlike the error of :func:`parse_all`, it does not end with ``: invalid argument``.

    :ivar input: the filter string.
    :ivar index: the code-point index of the offending token.
    :ivar pos: the same position as a byte offset into the UTF-8 encoding (containerd's).
    :ivar msg: the bare reason, for example ``expected field or quoted``.
    """

    def __init__(self, input: str, index: int, msg: str) -> None:
        self.input = input
        self.index = index
        self.msg = msg
        self.pos = len(input[:index].encode("utf-8", "surrogatepass"))
        if index < len(input):
            loc = f"[{input[:index]} >|{input[index]}|< {input[index + 1 :]}]"
        else:
            loc = f"[{input}]"
        super().__init__(f"filters: parse error: {loc}: {msg}")

    def __reduce__(self) -> tuple[type[FilterParseError], tuple[str, int, str]]:
        return (type(self), (self.input, self.index, self.msg))


# --------------------------------------------------------------------------- filters


class Filter(ABC):
    """A predicate over adaptors. Filters are immutable and safe to share."""

    __slots__ = ()

    @abstractmethod
    def match(self, adaptor: Adaptor) -> bool:
        """Return whether the object behind *adaptor* satisfies the filter.

        :param adaptor: maps a field path to ``(value, present)``.
        :return: ``True`` on a match. Matching never raises for a well-behaved adaptor;
            a selector whose regular expression does not compile is simply ``False``.
        """


class _Always(Filter):
    __slots__ = ()

    def match(self, adaptor: Adaptor) -> bool:
        return True

    def __repr__(self) -> str:
        return "ALWAYS"


#: The filter that matches everything: ``parse("")`` and ``parse_all()`` return it.
ALWAYS: Final[Filter] = _Always()

_PRESENT: Final = ""
_EQUAL: Final = "=="
_NOT_EQUAL: Final = "!="
_MATCHES: Final = "~="


class _Selector(Filter):
    """One ``fieldpath[op value]`` term."""

    __slots__ = ("_operator", "_path", "_regex", "_value")

    def __init__(self, path: tuple[str, ...], operator: str, value: str) -> None:
        self._path = path
        self._operator = operator
        self._value = value
        self._regex: re.Pattern[str] | None = None
        if operator == _MATCHES:
            compiled = _compile(value)
            if isinstance(compiled, re.Pattern):
                self._regex = compiled
            else:
                _log.error(
                    "filters: could not compile regular expression %r: %s; "
                    "the selector %s never matches",
                    value,
                    compiled,
                    self,
                )

    def match(self, adaptor: Adaptor) -> bool:
        value, present = adaptor(self._path)
        operator = self._operator
        if operator == _PRESENT:
            return present
        if not present:
            value = ""
        if operator == _EQUAL:
            return present and value == self._value
        if operator == _NOT_EQUAL:
            return value != self._value
        return self._regex is not None and self._regex.search(value) is not None

    def __repr__(self) -> str:
        path = ".".join(self._path)
        if self._operator == _PRESENT:
            return f"<selector {path}>"
        return f"<selector {path}{self._operator}{self._value!r}>"


class _All(Filter):
    """Matches when every filter matches (the selectors of one string)."""

    __slots__ = ("_filters",)

    def __init__(self, filters: Sequence[Filter]) -> None:
        self._filters = tuple(filters)

    def match(self, adaptor: Adaptor) -> bool:
        return all(f.match(adaptor) for f in self._filters)

    def __repr__(self) -> str:
        return f"All({list(self._filters)!r})"


class _Any(Filter):
    """Matches when any filter matches (the strings given to :func:`parse_all`)."""

    __slots__ = ("_filters",)

    def __init__(self, filters: Sequence[Filter]) -> None:
        self._filters = tuple(filters)

    def match(self, adaptor: Adaptor) -> bool:
        return any(f.match(adaptor) for f in self._filters)

    def __repr__(self) -> str:
        return f"Any({list(self._filters)!r})"


@functools.lru_cache(maxsize=256)
def _compile(pattern: str) -> re.Pattern[str] | str:
    """Compile *pattern*, or return the reason it does not compile (cached either way)."""
    try:
        return re.compile(pattern)
    except (re.error, OverflowError, RecursionError) as exc:
        return f"{type(exc).__name__}: {exc}"


# --------------------------------------------------------------------------- scanner

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

_EOF: Final = ""  # the "character" read at the end of input
_NUL: Final = "\x00"

# Token kinds.
_T_EOF: Final = 0
_T_QUOTED: Final = 1
_T_VALUE: Final = 2
_T_FIELD: Final = 3
_T_SEPARATOR: Final = 4
_T_OPERATOR: Final = 5
_T_ILLEGAL: Final = 6
_T_OTHER: Final = 7


def _run_end(run: re.Pattern[str], s: str, i: int) -> int:
    """End of the longest run of *run*'s characters starting at *i* (*run* ends in ``*``)."""
    m = run.match(s, i)
    return i if m is None else m.end()


@functools.lru_cache(maxsize=4096)
def _is_value_char(ch: str) -> bool:
    """Value chars: not ``,``, not a space, general category L, M, N, P or S."""
    return ch != "," and ch not in _SPACES and unicodedata.category(ch)[0] in "LMNPS"


class _Scanner:
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
        return self._s[self._i] if self._i < self._n else _EOF

    def _next(self) -> str:
        if self._i >= self._n:
            return _EOF
        ch = self._s[self._i]
        self._i += 1
        if ch == _NUL:
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
            return _T_EOF, n, ""
        ch = s[i]
        self._i = i + 1
        if ch == _NUL:
            self._fail("unexpected null")
            return _T_ILLEGAL, i, ch
        if ch in _QUOTES:
            legal = self._scan_quoted(ch)
            return (_T_QUOTED if legal else _T_ILLEGAL), i, s[i : self._i]
        if ch in _SEPARATORS:
            self._value_mode = False
            return _T_SEPARATOR, i, ch
        if ch in _OPERATOR_CHARS:
            end = _run_end(_OPERATOR_RUN, s, i)
            self._i = end
            self._value_mode = True
            return _T_OPERATOR, i, s[i:end]
        if self._value_mode:
            self._i = self._value_run_end(i + 1)
            self._value_mode = False
            return _T_VALUE, i, s[i : self._i]
        if ch in _FIELD_CHARS:
            end = _run_end(_FIELD_RUN, s, i)
            self._i = end
            return _T_FIELD, i, s[i:end]
        return _T_OTHER, i, ch

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
            if ch in ("\n", _EOF, _NUL):
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


class _QuoteSyntaxError(Exception):
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


def _unquote(text: str) -> str:
    """Decode a quoted token (quotes included) with Go's string-literal rules.

    ``/`` and ``|`` act as the double quote. Escapes give bytes (``\\xHH``,
    ``\\NNN``) or code points (``\\u``, ``\\U``; surrogates become U+FFFD); the bytes
    are decoded as UTF-8 with ``surrogateescape``.

    :raises _QuoteSyntaxError: for an octal escape above 0o377, a code point above
        U+10FFFF, or anything the scanner should already have rejected.
    """
    if len(text) < 2 or text[-1] != text[0]:
        raise _QuoteSyntaxError
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
            raise _QuoteSyntaxError
        kind = body[i + 1]
        i += 2
        if kind in _DECODED_ESCAPES:
            pending.append(_DECODED_ESCAPES[kind])
        elif kind == quote:
            pending.append(ord(quote))
        elif kind in _OCTAL_DIGITS:
            digits = body[i - 1 : i + 2]
            if len(digits) != 3 or not all(d in _OCTAL_DIGITS for d in digits):
                raise _QuoteSyntaxError
            code = int(digits, 8)
            if code > 0o377:
                raise _QuoteSyntaxError
            pending.append(code)
            i += 2
        elif kind in _NUMERIC_ESCAPES:
            width = _NUMERIC_ESCAPES[kind]
            digits = body[i : i + width]
            if len(digits) != width or not all(d in _DIGIT_VALUES for d in digits):
                raise _QuoteSyntaxError
            code = int(digits, 16)
            i += width
            if kind == "x":
                pending.append(code)
            else:
                if code > 0x10FFFF:
                    raise _QuoteSyntaxError
                if 0xD800 <= code <= 0xDFFF:
                    code = 0xFFFD
                pending += chr(code).encode("utf-8")
        else:
            raise _QuoteSyntaxError
    if pending:
        parts.append(pending.decode("utf-8", "surrogateescape"))
    return "".join(parts)


# --------------------------------------------------------------------------- parser


class _Parser:
    """Recursive-descent parser for the grammar of SPEC.md §1.3, written iteratively."""

    __slots__ = ("_input", "_scanner")

    def __init__(self, s: str) -> None:
        self._input = s
        self._scanner = _Scanner(s)

    def _raise(self, index: int, msg: str) -> NoReturn:
        raise FilterParseError(self._input, index, msg)

    def parse(self) -> Filter:
        scanner = self._scanner
        selectors = [self._selector()]
        while True:
            ch = scanner.peek()
            if ch == ",":
                scanner.scan()
                selectors.append(self._selector())
            elif ch == _EOF:
                break
            elif ch == _NUL:
                # An illegal character's own message takes precedence (SPEC.md §1.3).
                self._raise(scanner.offset, "unexpected null")
            else:
                self._raise(scanner.offset, f"unexpected input: {ch}")
        return selectors[0] if len(selectors) == 1 else _All(selectors)

    def _selector(self) -> _Selector:
        scanner = self._scanner
        path = [self._component()]
        while scanner.peek() == ".":
            scanner.scan()
            path.append(self._component())
        if scanner.peek() in (",", _EOF):
            return _Selector(tuple(path), _PRESENT, "")
        operator = self._operator()
        return _Selector(tuple(path), operator, self._value(operator == _MATCHES))

    def _component(self) -> str:
        kind, index, text = self._scanner.scan()
        if kind == _T_FIELD:
            return text
        if kind == _T_QUOTED:
            return self._unquote(index, text, allow_alternate_quotes=False)
        if kind == _T_ILLEGAL:
            self._raise(index, self._scanner.error)
        self._raise(index, "expected field or quoted")

    def _operator(self) -> str:
        kind, index, text = self._scanner.scan()
        if kind == _T_OPERATOR:
            if text in (_EQUAL, _NOT_EQUAL, _MATCHES):
                return text
            self._raise(index, f'unsupported operator "{text}"')
        if kind == _T_ILLEGAL:
            self._raise(index, self._scanner.error)
        self._raise(index, 'expected an operator ("=="|"!="|"~=")')

    def _value(self, allow_alternate_quotes: bool) -> str:
        kind, index, text = self._scanner.scan()
        if kind in (_T_VALUE, _T_FIELD):
            return text
        if kind == _T_QUOTED:
            return self._unquote(index, text, allow_alternate_quotes=allow_alternate_quotes)
        if kind == _T_ILLEGAL:
            self._raise(index, self._scanner.error)
        self._raise(index, "expected value or quoted")

    def _unquote(self, index: int, text: str, *, allow_alternate_quotes: bool) -> str:
        if text[0] != '"' and not allow_alternate_quotes:
            self._raise(index, "invalid quote encountered")
        try:
            return _unquote(text)
        except _QuoteSyntaxError:
            self._raise(index, "unquoting failed: quote syntax error")


# --------------------------------------------------------------------------- public API


def _check_str(s: object) -> str:
    if not isinstance(s, str):
        raise TypeError(f"filter must be str, not {type(s).__name__}")
    return s


def parse(s: str) -> Filter:
    """Parse one filter string: comma-separated selectors that must all match.

    ``""`` gives :data:`ALWAYS`. A regular expression that does not compile is not
    an error: its selector never matches, and a message is logged to the
    ``aiocontent`` logger.

    :param s: the filter string.
    :return: an immutable :class:`Filter`.
    :raises FilterParseError: if *s* is malformed; the message is containerd's.
    :raises TypeError: if *s* is not a ``str``.
    """
    _check_str(s)
    if s == "":
        return ALWAYS
    return _Parser(s).parse()


def parse_all(*ss: str) -> Filter:
    """Parse several filter strings into one filter that matches if **any** of them does.

    With no strings the result is :data:`ALWAYS`; an ``""`` element also makes the
    result match everything. Every string is parsed, in order.

    :param ss: the filter strings.
    :return: an immutable :class:`Filter`.
    :raises ~aiocontent.InvalidArgumentError: for the first malformed string, with the
        message ``<parse error message>: invalid argument``, chained from the
        :class:`FilterParseError`.
    :raises TypeError: if an element is not a ``str``.
    """
    filters: list[Filter] = []
    for s in ss:
        try:
            filters.append(parse(s))
        except FilterParseError as exc:
            raise InvalidArgumentError(f"{exc}: {InvalidArgumentError.kind_text}") from exc
    if not filters or any(f is ALWAYS for f in filters):
        return ALWAYS
    return filters[0] if len(filters) == 1 else _Any(filters)


class InfoLike(Protocol):
    """What :func:`adapt_info` reads from a blob's :class:`~aiocontent.Info`."""

    @property
    def digest(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def labels(self) -> Mapping[str, str]: ...


class StatusLike(Protocol):
    """What :func:`adapt_status` reads from an ingest's :class:`~aiocontent.Status`."""

    @property
    def ref(self) -> str: ...


def adapt_info(info: InfoLike) -> Adaptor:
    """Expose a blob's info to filters, as containerd's ``AdaptInfo`` does.

    Fields, decided by the first path component:

    - ``digest``: the digest as a string, present (further components are ignored);
    - ``size``: the decimal size, present (beyond containerd, which never matches it);
    - ``labels.<key>``: the label whose key is the rest of the path joined with ``.``,
      present only if it exists (so ``labels.a.b`` and ``labels."a.b"`` are the same);
    - anything else, and the empty path: absent, ``("", False)``.

    :param info: the blob's info; it is read at each match, not copied.
    :return: an adaptor for :meth:`Filter.match`.
    """

    def field(path: Sequence[str]) -> tuple[str, bool]:
        if not path:
            return "", False
        head = path[0]
        if head == "digest":
            return str(info.digest), True
        if head == "size":
            return str(info.size), True
        if head == "labels":
            labels = info.labels
            if not labels:
                return "", False
            key = ".".join(path[1:])
            if key in labels:
                return labels[key], True
        return "", False

    return field


def adapt_status(status: StatusLike) -> Adaptor:
    """Expose an ingest's status to filters: only ``ref`` is a field (present).

    :param status: the ingest's status.
    :return: an adaptor for :meth:`Filter.match`; every other path is ``("", False)``.
    """

    def field(path: Sequence[str]) -> tuple[str, bool]:
        if path and path[0] == "ref":
            return status.ref, True
        return "", False

    return field
