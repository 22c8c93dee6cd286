"""What the writers of every store share: an ingest's bookkeeping and the checks of each call.

Each store's writer (:class:`~aiocontent.MemoryStore`'s, :class:`~aiocontent.LocalStore`'s
and :class:`~aiocontent.S3Store`'s) holds one :class:`WriterState`, as anyio's
streams hold a :class:`~anyio.ResourceGuard`: the ref, the expected digest and
total, the offset, the times, the digester, whether the writer is open, and
the guard against two tasks using it at once. The state answers ``status()``
and ``digest()`` and raises the errors every writer raises alike; the store
keeps only what is its own (files, parts, an in-memory buffer) and its own
cancellation rules. The commit checks are functions, so a commit run in a
worker thread uses them too.
"""

from __future__ import annotations

from datetime import datetime
from typing import final

import anyio

from ._digest import Digest, Digester, parse_digest_arg
from ._messages import (
    digest_mismatch,
    negative,
    size_mismatch,
    truncate_out_of_range,
    writer_closed,
    wrong_type,
)
from ._types import Opt, Status, check_int, now, resolve_opts

__all__ = ("WriterState", "check_data", "commit_args", "verify_digest", "verify_size")


@final
class WriterState:
    """The bookkeeping of one open writer; see the module docstring.

    ``digester`` holds every byte written so far (resumed ones included) unless
    the store hashes behind its writes and says otherwise; ``offset`` and
    ``updated_at`` move with each write; ``open`` turns ``False`` on
    ``aclose()`` or ``commit()`` and ``committed`` after a successful commit.
    """

    __slots__ = (
        "committed",
        "digester",
        "expected",
        "guard",
        "offset",
        "open",
        "ref",
        "started_at",
        "total",
        "updated_at",
    )

    def __init__(
        self,
        ref: str,
        digester: Digester,
        *,
        expected: Digest | None,
        offset: int,
        total: int,
        started_at: datetime,
        updated_at: datetime,
    ) -> None:
        self.ref = ref
        self.digester = digester
        self.expected = expected
        self.offset = offset
        self.total = total
        self.started_at = started_at
        self.updated_at = updated_at
        self.open = True
        self.committed = False
        self.guard = anyio.ResourceGuard("using")

    def describe(self, store: str, digest: str | None = None) -> str:
        """The writer's ``repr``: ``<store writer ref=... offset=... digest=... state>``."""
        state = "committed" if self.committed else "open" if self.open else "closed"
        shown = digest if digest is not None else self.digester.digest()
        return (
            f"<{store} writer ref={self.ref!r} offset={self.offset} total={self.total} "
            f"digest={shown} {state}>"
        )

    def check_open(self, action: str) -> None:
        """:raises ~aiocontent.FailedPreconditionError: the writer is closed or committed."""
        if not self.open:
            raise writer_closed(self.ref, action)

    def moved(self, offset: int) -> None:
        """Record that the ingest now holds ``offset`` bytes, changed just now."""
        self.offset = offset
        self.updated_at = now()

    def check_truncate(self, size: int) -> None:
        """:raises ~aiocontent.InvalidArgumentError: ``size`` is not within ``0..offset``."""
        if not 0 <= size <= self.offset:
            raise truncate_out_of_range(self.ref, size, self.offset)

    def status(self) -> Status:
        """The writer's view of its ingest (also after close or commit)."""
        return Status(
            ref=self.ref,
            offset=self.offset,
            total=self.total,
            expected=self.expected,
            started_at=self.started_at,
            updated_at=self.updated_at,
        )

    def digest(self) -> Digest:
        """The digest of everything written so far."""
        return self.digester.digest()


def check_data(data: object) -> bytes | bytearray | memoryview:
    """``data`` if it is ``bytes``, ``bytearray`` or ``memoryview``, else ``TypeError``."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise wrong_type("data", "bytes-like", data)
    return data


def commit_args(
    ref: str, size: object, expected: object, opts: tuple[Opt, ...]
) -> tuple[int, Digest | None, dict[str, str]]:
    """Check ``commit(size, expected, *opts)``'s arguments before anything is touched.

    :return: the size, the parsed expected digest (``None`` when ``""``) and the labels.
    :raises TypeError: ``size`` is not an ``int`` or ``expected`` not a ``str``.
    :raises ~aiocontent.InvalidArgumentError: ``size < 0`` or ``expected`` does not parse.
    """
    checked = check_int(size, "commit size")
    if checked < 0:
        raise negative("commit size", checked, ref)
    want = parse_digest_arg(expected, "expected") if expected != "" else None
    return checked, want, resolve_opts(opts).labels


def verify_size(size: int, actual: int) -> None:
    """:raises ~aiocontent.FailedPreconditionError: ``size > 0`` and the ingest holds ``actual``."""
    if size > 0 and size != actual:
        raise size_mismatch(actual, size)


def verify_digest(actual: Digest, want: Digest | None) -> None:
    """:raises ~aiocontent.FailedPreconditionError: ``want`` is given and is not ``actual``."""
    if want is not None and actual != want:
        raise digest_mismatch(actual, want)
