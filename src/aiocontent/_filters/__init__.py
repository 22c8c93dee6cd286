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

from collections.abc import Mapping, Sequence
from typing import Protocol

from .._errors import InvalidArgumentError
from ._matchers import ALWAYS as ALWAYS
from ._matchers import Adaptor as Adaptor
from ._matchers import AnyOf
from ._matchers import Filter as Filter
from ._parser import FilterParseError as FilterParseError
from ._parser import Parser

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
    return Parser(s).parse()


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
    return filters[0] if len(filters) == 1 else AnyOf(filters)


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
