"""The on-disk layout of a local content root, byte-compatible with containerd's.

::

    <root>/blobs/<alg>/<encoded>        committed blobs (read-only)
    <root>/ingest/<sha256 hex of ref>/  ref, data, startedat, updatedat, total
    <root>/locks/<sha256 hex of ref>    cross-process ref locks (flock), beyond containerd
    <root>/locks/meta.<xx>              striped locks for label changes and commits
    <root>/meta/<alg>/<encoded>         labels and recorded updated_at, beyond containerd
    <root>/quarantine/<alg>/<name>      blobs moved aside by ``verify(quarantine=True)``
    <root>/tmp/put-<pid>-<random>       blobs being written by ``put``, beyond containerd

Everything here is synchronous and runs in worker threads. Paths are built only
from validated digests and from the SHA-256 of a ref, so no argument ever names
a path by itself. Timestamps are Go's ``time.MarshalText`` (RFC 3339 with up to
nine fractional digits and any zone offset); they are read strictly and written
in UTC with at most six fractional digits.
"""

from __future__ import annotations

import hashlib
import os
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Final

from .._digest import Digest
from .._messages import invalid, wrong_type
from .._types import Status
from . import _fault

__all__ = (
    "IngestFileError",
    "Layout",
    "format_timestamp",
    "from_ns",
    "ingest_hex",
    "parse_int64",
    "parse_timestamp",
    "read_status",
    "read_timestamp",
    "write_file",
    "write_timestamp",
)

BLOBS: Final = "blobs"
INGEST: Final = "ingest"
LOCKS: Final = "locks"
META: Final = "meta"
QUARANTINE: Final = "quarantine"
TMP: Final = "tmp"

#: Mode of the directories containerd creates (before the umask).
DIR_MODE: Final = 0o755
#: Mode of the files containerd creates in an ingest (before the umask).
FILE_MODE: Final = 0o666

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_INT64_MAX: Final = (1 << 63) - 1
_INT64: Final = re.compile(rb"[+-]?[0-9]+")
_RFC3339: Final = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|([+-])(\d{2}):(\d{2}))",
    re.ASCII,
)


def ingest_hex(ref: str) -> str:
    """The ingest folder name of ``ref``: the SHA-256 hex of its UTF-8 bytes.

    Never fails: a ref read from disk that was not UTF-8 (decoded with
    ``surrogateescape``) maps back to its bytes, and any other lone surrogate
    (a ref no writer accepts) gets a name no ingest has.
    """
    try:
        raw = ref.encode()
    except UnicodeEncodeError:
        try:
            raw = ref.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            raw = ref.encode("utf-8", "surrogatepass")
    return hashlib.sha256(raw).hexdigest()


class Layout:
    """The paths of one content root. Every method is pure string work."""

    __slots__ = ("blobs", "ingest", "locks", "meta", "quarantine", "root", "tmp")

    def __init__(self, root: str) -> None:
        self.root = root
        self.blobs = os.path.join(root, BLOBS)
        self.ingest = os.path.join(root, INGEST)
        self.locks = os.path.join(root, LOCKS)
        self.meta = os.path.join(root, META)
        self.quarantine = os.path.join(root, QUARANTINE)
        self.tmp = os.path.join(root, TMP)

    def blob_dir(self, dgst: Digest) -> str:
        """``blobs/<alg>`` of a *validated* digest."""
        return os.path.join(self.blobs, dgst.algorithm)

    def blob_path(self, dgst: Digest) -> str:
        """``blobs/<alg>/<encoded>`` of a *validated* digest."""
        return os.path.join(self.blobs, dgst.algorithm, dgst.encoded)

    def meta_path(self, dgst: Digest) -> str:
        """``meta/<alg>/<encoded>`` of a *validated* digest."""
        return os.path.join(self.meta, dgst.algorithm, dgst.encoded)

    def meta_lock_path(self, dgst: Digest) -> str:
        """The striped lock serialising label changes and commits of ``dgst``."""
        return os.path.join(self.locks, f"meta.{dgst.encoded[:2]}")

    def ingest_dir(self, hexname: str) -> str:
        return os.path.join(self.ingest, hexname)

    def ref_lock_path(self, hexname: str) -> str:
        return os.path.join(self.locks, hexname)

    def relative(self, path: str) -> str:
        """``path`` relative to the root, for messages."""
        return os.path.relpath(path, self.root)


# --------------------------------------------------------------------------- timestamps


def from_ns(ns: int) -> datetime:
    """An aware UTC datetime from nanoseconds since the epoch, truncated to microseconds."""
    return _EPOCH + timedelta(microseconds=ns // 1000)


def format_timestamp(dt: datetime) -> str:
    """Go's ``MarshalText`` of ``dt`` in UTC: ``2024-01-02T03:04:05.12Z``.

    At most six fractional digits, trailing zeros trimmed, no ``.`` for a whole
    second; the zero time is ``0001-01-01T00:00:00Z``.
    """
    u = dt.astimezone(UTC)
    frac = f"{u.microsecond:06d}".rstrip("0")
    return (
        f"{u.year:04d}-{u.month:02d}-{u.day:02d}T{u.hour:02d}:{u.minute:02d}:{u.second:02d}"
        f"{'.' + frac if frac else ''}Z"
    )


def parse_timestamp(text: str) -> datetime:
    """Parse Go's RFC 3339 with nanoseconds strictly; return aware UTC.

    Upper-case ``T`` and ``Z``, a fraction of one digit or more (digits past
    the sixth are dropped), ``Z`` or ``±hh:mm``.

    :raises ValueError: the text is not such a timestamp or is out of range.
    """
    m = _RFC3339.fullmatch(text)
    if m is None:
        raise ValueError(f"{text!r} is not an RFC 3339 timestamp")
    year, month, day, hour, minute, second = (int(g) for g in m.group(1, 2, 3, 4, 5, 6))
    frac = m.group(7) or ""
    micro = int((frac + "000000")[:6])
    if m.group(8) == "Z":
        tz = UTC
    else:
        oh, om = int(m.group(10)), int(m.group(11))
        if oh >= 24 or om >= 60:
            raise ValueError(f"{text!r} has an out-of-range zone offset")
        delta = timedelta(hours=oh, minutes=om)
        tz = timezone(-delta if m.group(9) == "-" else delta)
    try:
        return datetime(year, month, day, hour, minute, second, micro, tzinfo=tz).astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"{text!r} is out of range: {exc}") from None


def write_file(path: str, data: bytes, *, sync: bool = False) -> None:
    """Create or truncate ``path`` (mode 0666 before the umask) and write ``data``."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
    if sync:
        flags |= os.O_SYNC
    fd = os.open(path, flags, FILE_MODE)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def write_timestamp(path: str, dt: datetime) -> None:
    """containerd's timestamp write: ``<path>.tmp`` written synchronously, then renamed."""
    tmp = path + ".tmp"
    write_file(tmp, format_timestamp(dt).encode(), sync=True)
    _fault.point("timestamp:before-rename")
    os.replace(tmp, path)


class IngestFileError(Exception):
    """A file of an ingest folder is missing or does not parse.

    Internal: callers say what it means in the store's terms
    (:func:`~aiocontent._messages.ingest_file_error`), the OS error stays the cause.

    :ivar name: the file's name inside the ingest folder (``data``, ``startedat``...).
    :ivar missing: ``True`` when the file does not exist.
    :ivar detail: why it does not parse (``""`` when missing).
    """

    def __init__(self, name: str, *, missing: bool, detail: str = "") -> None:
        super().__init__(f"{name}: {'missing' if missing else detail}")
        self.name = name
        self.missing = missing
        self.detail = detail


def read_timestamp(path: str) -> datetime:
    """Read a timestamp file.

    :raises IngestFileError: the file is missing or does not parse.
    """
    name = os.path.basename(path)
    try:
        with open(path, "rb") as f:
            raw = f.read(256)
    except FileNotFoundError as exc:
        raise IngestFileError(name, missing=True) from exc
    try:
        return parse_timestamp(raw.decode("ascii"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise IngestFileError(name, missing=False, detail=str(exc)) from exc


def parse_int64(raw: bytes) -> int:
    """Go's ``strconv.ParseInt(s, 10, 64)`` with failures as 0: sign and digits only."""
    if not _INT64.fullmatch(raw):
        return 0
    value = int(raw)
    if not -_INT64_MAX - 1 <= value <= _INT64_MAX:
        return 0
    return value


def read_total(path: str) -> int:
    """The ingest's ``total``: 0 when missing, unparsable or out of range."""
    try:
        with open(path, "rb") as f:
            return parse_int64(f.read(64))
    except OSError:
        return 0


def read_ref(path: str) -> str:
    """The ingest's ``ref`` file.

    :raises IngestFileError: the file is missing.
    """
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError as exc:
        raise IngestFileError("ref", missing=True) from exc
    return raw.decode("utf-8", "surrogateescape")


def read_status(ingest_dir: str) -> Status:
    """An ingest's status read from disk, in containerd's order.

    ``offset`` is the size of ``data``; ``updated_at`` the later of ``updatedat``
    and the data's mtime (``updatedat`` is only written on close); ``total`` 0
    when absent; ``expected`` is not known on disk.

    :raises IngestFileError: ``data``, ``ref``, ``startedat`` or ``updatedat``
        is missing (the ingest is gone or being created), or a timestamp does
        not parse (the ingest is damaged).
    """
    try:
        st = os.stat(os.path.join(ingest_dir, "data"))
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise IngestFileError("data", missing=True) from exc
    ref = read_ref(os.path.join(ingest_dir, "ref"))
    started = read_timestamp(os.path.join(ingest_dir, "startedat"))
    updated = read_timestamp(os.path.join(ingest_dir, "updatedat"))
    mtime = from_ns(st.st_mtime_ns)
    return Status(
        ref=ref,
        offset=st.st_size,
        total=read_total(os.path.join(ingest_dir, "total")),
        expected=None,
        started_at=started,
        updated_at=max(updated, mtime),
    )


def root_path(root: str | os.PathLike[str]) -> Path:
    """The root as an absolute :class:`~pathlib.Path` (a later ``chdir`` cannot move it)."""
    if not isinstance(root, str | os.PathLike):
        raise wrong_type("root", "a str or os.PathLike", root)
    text = os.fspath(root)
    if not isinstance(text, str):
        raise wrong_type("root", "a str path", text)
    if not text or "\x00" in text:
        raise invalid(f"content root {text!r} must be a non-empty path without NUL")
    return Path(os.path.abspath(text))
