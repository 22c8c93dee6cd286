"""Filters as matchers: :class:`Filter`, the selector of one field path, and all/any."""

from __future__ import annotations

import functools
import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Final, TypeAlias

_log: Final = logging.getLogger("aiocontent")

#: Maps a non-empty field path to ``(value, present)``. An absent field reads as ``""``.
Adaptor: TypeAlias = Callable[[Sequence[str]], tuple[str, bool]]


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

PRESENT: Final = ""
EQUAL: Final = "=="
NOT_EQUAL: Final = "!="
MATCHES: Final = "~="


class Selector(Filter):
    """One ``fieldpath[op value]`` term."""

    __slots__ = ("_operator", "_path", "_regex", "_value")

    def __init__(self, path: tuple[str, ...], operator: str, value: str) -> None:
        self._path = path
        self._operator = operator
        self._value = value
        self._regex: re.Pattern[str] | None = None
        if operator == MATCHES:
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
        if operator == PRESENT:
            return present
        if not present:
            value = ""
        if operator == EQUAL:
            return present and value == self._value
        if operator == NOT_EQUAL:
            return value != self._value
        return self._regex is not None and self._regex.search(value) is not None

    def __repr__(self) -> str:
        path = ".".join(self._path)
        if self._operator == PRESENT:
            return f"<selector {path}>"
        return f"<selector {path}{self._operator}{self._value!r}>"


class AllOf(Filter):
    """Matches when every filter matches (the selectors of one string)."""

    __slots__ = ("_filters",)

    def __init__(self, filters: Sequence[Filter]) -> None:
        self._filters = tuple(filters)

    def match(self, adaptor: Adaptor) -> bool:
        return all(f.match(adaptor) for f in self._filters)

    def __repr__(self) -> str:
        return f"All({list(self._filters)!r})"


class AnyOf(Filter):
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
