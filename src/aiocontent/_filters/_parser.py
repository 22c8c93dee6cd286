"""The filter parser (SPEC.md §1.3) and its error, containerd's message byte for byte."""

from __future__ import annotations

from typing import NoReturn

from .._errors import InvalidArgumentError
from ._matchers import EQUAL, MATCHES, NOT_EQUAL, PRESENT, AllOf, Filter, Selector
from ._scanner import (
    EOF,
    NUL,
    T_FIELD,
    T_ILLEGAL,
    T_OPERATOR,
    T_QUOTED,
    T_VALUE,
    QuoteSyntaxError,
    Scanner,
    unquote,
)


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


class Parser:
    """Recursive-descent parser for the grammar of SPEC.md §1.3, written iteratively."""

    __slots__ = ("_input", "_scanner")

    def __init__(self, s: str) -> None:
        self._input = s
        self._scanner = Scanner(s)

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
            elif ch == EOF:
                break
            elif ch == NUL:
                # An illegal character's own message takes precedence (SPEC.md §1.3).
                self._raise(scanner.offset, "unexpected null")
            else:
                self._raise(scanner.offset, f"unexpected input: {ch}")
        return selectors[0] if len(selectors) == 1 else AllOf(selectors)

    def _selector(self) -> Selector:
        scanner = self._scanner
        path = [self._component()]
        while scanner.peek() == ".":
            scanner.scan()
            path.append(self._component())
        if scanner.peek() in (",", EOF):
            return Selector(tuple(path), PRESENT, "")
        operator = self._operator()
        return Selector(tuple(path), operator, self._value(operator == MATCHES))

    def _component(self) -> str:
        kind, index, text = self._scanner.scan()
        if kind == T_FIELD:
            return text
        if kind == T_QUOTED:
            return self._unquote(index, text, allow_alternate_quotes=False)
        if kind == T_ILLEGAL:
            self._raise(index, self._scanner.error)
        self._raise(index, "expected field or quoted")

    def _operator(self) -> str:
        kind, index, text = self._scanner.scan()
        if kind == T_OPERATOR:
            if text in (EQUAL, NOT_EQUAL, MATCHES):
                return text
            self._raise(index, f'unsupported operator "{text}"')
        if kind == T_ILLEGAL:
            self._raise(index, self._scanner.error)
        self._raise(index, 'expected an operator ("=="|"!="|"~=")')

    def _value(self, allow_alternate_quotes: bool) -> str:
        kind, index, text = self._scanner.scan()
        if kind in (T_VALUE, T_FIELD):
            return text
        if kind == T_QUOTED:
            return self._unquote(index, text, allow_alternate_quotes=allow_alternate_quotes)
        if kind == T_ILLEGAL:
            self._raise(index, self._scanner.error)
        self._raise(index, "expected value or quoted")

    def _unquote(self, index: int, text: str, *, allow_alternate_quotes: bool) -> str:
        if text[0] != '"' and not allow_alternate_quotes:
            self._raise(index, "invalid quote encountered")
        try:
            return unquote(text)
        except QuoteSyntaxError:
            self._raise(index, "unquoting failed: quote syntax error")
