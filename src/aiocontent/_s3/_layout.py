"""Object keys and the small JSON records S3Store keeps beside the content.

Under ``<prefix>`` (LocalStore's layout, with S3 objects for files)::

    blobs/<alg>/<encoded>      committed content, only ever complete and verified
    meta/<alg>/<encoded>       {"created_at", "updated_at", "labels"} of that blob
    ingest/<hex>/state         {"ref", "started_at", "updated_at", "total", "expected",
                                "length", "upload"}  (hex = sha256 of the UTF-8 ref)
    ingest/<hex>/data          the ingest's bytes: the first ``length`` bytes are valid;
                               an open multipart upload ``upload`` to this same key
                               holds the bytes written since (not readable until
                               completed, which a resuming writer does)
    locks/<hex>                the ref lock: {"ref", "owner", "since", "lease", "n"}
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

from .._digest import Digest
from .._local._layout import ingest_hex
from .._types import ZERO_TIME


def fmt_time(t: datetime) -> str:
    """RFC 3339 in UTC with microseconds, e.g. ``2024-01-02T03:04:05.123456Z``."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(s: object) -> datetime | None:
    """The inverse of :func:`fmt_time`; ``None`` for anything else."""
    if not isinstance(s, str):
        return None
    try:
        t = datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t.astimezone(UTC) if t.tzinfo else t.replace(tzinfo=UTC)


class Layout:
    """Keys of one store under its bucket and prefix."""

    __slots__ = ("prefix",)

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def blobs(self) -> str:
        return f"{self.prefix}blobs/"

    def blob(self, dgst: Digest) -> str:
        return f"{self.prefix}blobs/{dgst.algorithm}/{dgst.encoded}"

    def meta(self, dgst: Digest) -> str:
        return f"{self.prefix}meta/{dgst.algorithm}/{dgst.encoded}"

    def ingests(self) -> str:
        return f"{self.prefix}ingest/"

    @staticmethod
    def ref_hex(ref: str) -> str:
        """The SHA-256 hex of the ref's UTF-8 bytes, as LocalStore names ingest folders."""
        return ingest_hex(ref)

    def ingest(self, ref: str) -> str:
        return f"{self.prefix}ingest/{self.ref_hex(ref)}/"

    def state(self, ref: str) -> str:
        return self.ingest(ref) + "state"

    def data(self, ref: str) -> str:
        return self.ingest(ref) + "data"

    def lock(self, ref: str) -> str:
        return f"{self.prefix}locks/{self.ref_hex(ref)}"


@dataclasses.dataclass
class IngestState:
    """The persisted part of an ingest's status."""

    ref: str
    started_at: datetime
    updated_at: datetime
    total: int = 0
    expected: Digest | None = None
    length: int = 0
    upload: str | None = None

    def dumps(self) -> bytes:
        return json.dumps(
            {
                "ref": self.ref,
                "started_at": fmt_time(self.started_at),
                "updated_at": fmt_time(self.updated_at),
                "total": self.total,
                "expected": self.expected,
                "length": self.length,
                "upload": self.upload,
            },
            separators=(",", ":"),
        ).encode()

    @classmethod
    def loads(cls, raw: bytes) -> IngestState | None:
        """Parse a state object; ``None`` when it is damaged."""
        try:
            d = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return None
        if not isinstance(d, dict) or not isinstance(d.get("ref"), str):
            return None
        started, updated = parse_time(d.get("started_at")), parse_time(d.get("updated_at"))
        total, length = d.get("total", 0), d.get("length", 0)
        expected, upload = d.get("expected"), d.get("upload")
        if started is None or updated is None:
            return None
        if not isinstance(total, int) or not isinstance(length, int) or length < 0:
            return None
        return cls(
            ref=d["ref"],
            started_at=started,
            updated_at=updated,
            total=max(total, 0),
            expected=Digest(expected) if isinstance(expected, str) and expected else None,
            length=length,
            upload=upload if isinstance(upload, str) and upload else None,
        )


@dataclasses.dataclass
class Meta:
    """A blob's sidecar: creation and update times and labels."""

    created_at: datetime | None = None
    updated_at: datetime | None = None
    labels: dict[str, str] = dataclasses.field(default_factory=dict)

    def dumps(self) -> bytes:
        d: dict[str, Any] = {"labels": self.labels}
        if self.created_at is not None:
            d["created_at"] = fmt_time(self.created_at)
        if self.updated_at is not None:
            d["updated_at"] = fmt_time(self.updated_at)
        return json.dumps(d, separators=(",", ":"), ensure_ascii=False).encode()

    @classmethod
    def loads(cls, raw: bytes) -> Meta:
        """Parse a sidecar; a damaged one reads as empty."""
        try:
            d = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return cls()
        if not isinstance(d, dict):
            return cls()
        labels = d.get("labels")
        if not isinstance(labels, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and k and v for k, v in labels.items()
        ):
            labels = {}
        return cls(
            created_at=parse_time(d.get("created_at")),
            updated_at=parse_time(d.get("updated_at")),
            labels=dict(labels),
        )


def created_fallback(metadata: dict[str, str], last_modified: datetime) -> datetime:
    """A blob's creation time without a sidecar: its metadata, else Last-Modified."""
    return parse_time(metadata.get("created-at")) or last_modified or ZERO_TIME
