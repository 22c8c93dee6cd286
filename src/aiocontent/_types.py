"""Records passed to and returned by stores: Descriptor, Info, Status and the options."""

from __future__ import annotations

import base64
import binascii
import dataclasses
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, TypeAlias

from ._digest import Digest
from ._messages import invalid, negative, quote, wrong_type

__all__ = (
    "Descriptor",
    "Info",
    "Opt",
    "Status",
    "WalkFunc",
    "WriterOpt",
    "WriterOpts",
    "with_descriptor",
    "with_labels",
    "with_ref",
)

#: Go's zero ``time.Time``, the default timestamp of empty records.
ZERO_TIME: Final = datetime(1, 1, 1, tzinfo=UTC)

#: containerd's limit on a label's key plus value, in UTF-8 bytes.
MAX_LABEL_SIZE: Final = 4096

#: OCI sizes are int64.
MAX_SIZE: Final = 2**63 - 1

_PLATFORM_KEYS: Final = ("architecture", "os", "os.version", "os.features", "variant")


def _check_size(size: object, what: str = "size") -> int:
    if isinstance(size, bool) or not isinstance(size, int):
        raise invalid(str(wrong_type(what, "an int", size)))
    if size < 0:
        raise negative(what, size)
    if size > MAX_SIZE:
        raise invalid(
            f"{what} {size} exceeds the largest size an OCI descriptor can hold ({MAX_SIZE})"
        )
    return size


def _decode_data(value: object) -> bytes | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid(f"descriptor data must be a base64 string, not {type(value).__name__}")
    cleaned = value.replace("\r", "").replace("\n", "")
    try:
        return base64.b64decode(cleaned.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise invalid(f"descriptor data {value[:64]!r} is not valid base64: {exc}") from exc


@dataclasses.dataclass(frozen=True, kw_only=True)
class Descriptor:
    """An OCI content descriptor (image-spec v1.1.1): what a blob is and where to find it.

    Immutable. ``digest`` is not validated here; ``size`` must be a non-negative
    ``int`` (else :class:`~aiocontent.InvalidArgumentError`). A store uses
    ``digest`` and ``size`` (when > 0) as the expected digest and total of a
    writer, and only ``digest`` to read.
    """

    media_type: str = ""
    digest: Digest = Digest("")
    size: int = 0
    urls: tuple[str, ...] = ()
    annotations: Mapping[str, str] | None = dataclasses.field(default=None, hash=False)
    data: bytes | None = None
    platform: Mapping[str, Any] | None = dataclasses.field(default=None, hash=False)
    artifact_type: str = ""

    if TYPE_CHECKING:
        # The accepted argument types, wider than the stored ones: a plain ``str``
        # digest, any iterable of URLs and any bytes-like data are converted.
        def __init__(
            self,
            *,
            media_type: str = "",
            digest: str = "",
            size: int = 0,
            urls: Iterable[str] = (),
            annotations: Mapping[str, str] | None = None,
            data: bytes | bytearray | memoryview | None = None,
            platform: Mapping[str, Any] | None = None,
            artifact_type: str = "",
        ) -> None: ...

    def __post_init__(self) -> None:
        _check_size(self.size, "descriptor size")
        if not isinstance(self.digest, str):
            raise wrong_type("digest", "a str", self.digest)
        if type(self.digest) is not Digest:
            object.__setattr__(self, "digest", Digest(self.digest))
        if not isinstance(self.urls, tuple):
            object.__setattr__(self, "urls", tuple(self.urls))
        if self.data is not None and not isinstance(self.data, bytes):
            object.__setattr__(self, "data", bytes(self.data))
        # Copy the mappings so that the caller's later changes do not reach a frozen record.
        if self.annotations is not None:
            object.__setattr__(self, "annotations", dict(self.annotations))
        if self.platform is not None:
            object.__setattr__(self, "platform", dict(self.platform))

    def to_dict(self) -> dict[str, Any]:
        """The OCI JSON object, with OCI's omit-empty rules.

        ``mediaType``, ``digest`` and ``size`` are always present; ``data`` is
        standard base64; annotation keys are sorted as Go writes them.
        """
        out: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": str(self.digest),
            "size": self.size,
        }
        if self.urls:
            out["urls"] = list(self.urls)
        if self.annotations:
            out["annotations"] = dict(sorted(self.annotations.items()))
        if self.data:
            out["data"] = base64.b64encode(self.data).decode("ascii")
        if self.platform is not None:
            out["platform"] = _platform_to_dict(self.platform)
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Descriptor:
        """Build a descriptor from its OCI JSON object.

        Missing keys and ``null`` give zero values; unknown keys are ignored.

        :raises ~aiocontent.InvalidArgumentError: ``size`` is not a non-negative
            integer, ``data`` is not valid base64, or a field has the wrong type.
        """
        if not isinstance(d, Mapping):
            raise wrong_type("descriptor", "a mapping", d)
        size = d.get("size")
        annotations = d.get("annotations")
        platform = d.get("platform")
        urls = d.get("urls")
        for key, value, kind in (
            ("mediaType", d.get("mediaType"), str),
            ("digest", d.get("digest"), str),
            ("artifactType", d.get("artifactType"), str),
            ("urls", urls, list),
            ("annotations", annotations, Mapping),
            ("platform", platform, Mapping),
        ):
            if value is not None and not isinstance(value, kind):
                raise invalid(
                    f"descriptor field {key!r} has the wrong type "
                    f"{type(value).__name__} ({value!r})"
                )
        if urls and not all(isinstance(u, str) for u in urls):
            raise invalid(f"descriptor field 'urls' must hold strings ({urls!r})")
        if annotations and not all(
            isinstance(k, str) and isinstance(v, str) for k, v in annotations.items()
        ):
            raise invalid(
                f"descriptor field 'annotations' must map strings to strings ({annotations!r})"
            )
        data = _decode_data(d.get("data"))
        return cls(
            media_type=d.get("mediaType") or "",
            digest=Digest(d.get("digest") or ""),
            size=_check_size(0 if size is None else size, "descriptor size"),
            urls=tuple(urls or ()),
            annotations=dict(annotations) if annotations else None,
            data=data or None,
            platform=_platform_from_dict(platform) if platform is not None else None,
            artifact_type=d.get("artifactType") or "",
        )


def _platform_to_dict(platform: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "architecture": platform.get("architecture", ""),
        "os": platform.get("os", ""),
    }
    for key in ("os.version", "os.features", "variant"):
        if platform.get(key):
            out[key] = list(platform[key]) if key == "os.features" else platform[key]
    return out


def _platform_from_dict(platform: Mapping[str, Any]) -> dict[str, Any]:
    return {k: platform[k] for k in _PLATFORM_KEYS if platform.get(k) is not None}


@dataclasses.dataclass
class Info:
    """What a store knows about a committed blob.

    Timestamps are timezone-aware UTC; ``labels`` is ``{}`` when there are none
    and is always the caller's own copy.
    """

    digest: Digest = Digest("")
    size: int = 0
    created_at: datetime = ZERO_TIME
    updated_at: datetime = ZERO_TIME
    labels: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Status:
    """The state of an ingest (an unfinished write) under ``ref``.

    ``offset`` counts the bytes written, ``total`` the expected size (``0`` when
    unknown) and ``expected`` the expected digest when the store knows it.
    """

    ref: str = ""
    offset: int = 0
    total: int = 0
    expected: Digest | None = None
    started_at: datetime = ZERO_TIME
    updated_at: datetime = ZERO_TIME


@dataclasses.dataclass
class WriterOpts:
    """Options of :meth:`Ingester.writer`, set by :data:`WriterOpt` functions."""

    ref: str = ""
    desc: Descriptor = dataclasses.field(default_factory=Descriptor)


Opt: TypeAlias = Callable[[Info], None]
WriterOpt: TypeAlias = Callable[[WriterOpts], None]
WalkFunc: TypeAlias = Callable[[Info], Awaitable[None] | None]


def check_labels(labels: object, *, drop_empty: bool) -> dict[str, str]:
    """Validate a label mapping and return a copy.

    :param drop_empty: leave out keys whose value is ``""``.
    :raises TypeError: not a mapping, or a key or value that is not a ``str``.
    :raises ~aiocontent.InvalidArgumentError: an empty key, or a key plus value
        longer than 4096 UTF-8 bytes.
    """
    if not isinstance(labels, Mapping):
        raise wrong_type("labels", "a mapping", labels)
    out: dict[str, str] = {}
    for key, value in labels.items():
        if not isinstance(key, str):
            raise wrong_type("label key", "a str", key)
        if not isinstance(value, str):
            raise wrong_type(f"label {quote(key[:64])} value", "a str", value)
        if not key:
            raise invalid("label key must not be empty")
        try:
            length = len(key.encode()) + len(value.encode())
        except UnicodeEncodeError as exc:
            raise invalid(f"label {quote(key[:64])} does not encode as UTF-8") from exc
        if length > MAX_LABEL_SIZE:
            raise invalid(
                f"label key and value length ({length} bytes) greater than maximum size "
                f"({MAX_LABEL_SIZE} bytes), key: {quote(key[:64])}"
            )
        if value or not drop_empty:
            out[key] = value
    return out


@dataclasses.dataclass(frozen=True)
class LabelUpdate:
    """A checked :meth:`~aiocontent.Manager.update` request, shared by every store.

    No fieldpaths, or ``"labels"``, replaces all labels; each ``"labels.<key>"``
    (the key verbatim, dots included) sets that key from the given labels, an
    empty or missing value removing it. A full replacement wins over keys.
    """

    replace_all: bool
    keys: tuple[str, ...]
    given: dict[str, str]

    @classmethod
    def parse(cls, info: object, fieldpaths: tuple[object, ...]) -> tuple[Digest, LabelUpdate]:
        """Check ``update(info, *fieldpaths)``'s arguments before anything is touched.

        :return: the blob's digest and the update.
        :raises TypeError: ``info`` is not an :class:`Info`, or a fieldpath or
            label is not a ``str``.
        :raises ~aiocontent.InvalidArgumentError: a malformed digest, an unknown
            fieldpath or a bad label.
        """
        if not isinstance(info, Info):
            raise wrong_type("info", "an Info", info)
        if not isinstance(info.digest, str):
            raise wrong_type("digest", "a str", info.digest)
        dgst = Digest(info.digest)
        dgst.validate()
        replace_all = not fieldpaths
        keys: list[str] = []
        for path in fieldpaths:
            if not isinstance(path, str):
                raise wrong_type("fieldpath", "a str", path)
            if path == "labels":
                replace_all = True
            elif path.startswith(_LABELS_PREFIX) and len(path) > len(_LABELS_PREFIX):
                keys.append(path[len(_LABELS_PREFIX) :])
            else:
                raise invalid(f"cannot update {quote(path)} field on content info {quote(dgst)}")
        given = check_labels(info.labels, drop_empty=False)
        return dgst, cls(replace_all, tuple(keys), given)

    def apply(self, current: Mapping[str, str]) -> dict[str, str]:
        """The labels after applying this update to ``current``."""
        if self.replace_all:
            return {key: value for key, value in self.given.items() if value}
        labels = dict(current)
        for key in self.keys:
            if value := self.given.get(key, ""):
                labels[key] = value
            else:
                labels.pop(key, None)
        return labels


_LABELS_PREFIX: Final = "labels."


def check_int(value: object, what: str) -> int:
    """``value`` if it is an ``int`` (not a ``bool``), else ``TypeError`` naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise wrong_type(what, "an int", value)
    return value


def check_str(value: object, what: str) -> str:
    """``value`` if it is a ``str``, else ``TypeError`` naming ``what``."""
    if not isinstance(value, str):
        raise wrong_type(what, "a str", value)
    return value


def check_callable(value: object, what: str) -> None:
    """:raises TypeError: ``value`` is not callable."""
    if not callable(value):
        raise wrong_type(what, "callable", value)


def check_descriptor(desc: object) -> Descriptor:
    """``desc`` if it is a :class:`Descriptor`, else ``TypeError``."""
    if not isinstance(desc, Descriptor):
        raise wrong_type("desc", "a Descriptor", desc)
    return desc


def put_digest(desc: object) -> Digest:
    """The digest :meth:`~aiocontent.SupportsPut.put` stores under: ``desc.digest``, required.

    :raises TypeError: ``desc`` is not a :class:`Descriptor`.
    :raises ~aiocontent.InvalidArgumentError: the digest is missing or malformed.
    """
    digest = check_descriptor(desc).digest
    if not digest:
        raise invalid(f"put needs a descriptor digest, got {digest!r}")
    return Digest.parse(digest)


def check_read_at(digest: str, n: object, offset: object) -> None:
    """Check :meth:`~aiocontent.ReaderAt.read_at`'s arguments.

    :raises TypeError: ``n`` or ``offset`` is not an ``int``.
    :raises ~aiocontent.InvalidArgumentError: either is negative.
    """
    n, offset = check_int(n, "n"), check_int(offset, "offset")
    if n < 0 or offset < 0:
        raise invalid(f"read_at of {digest}: n ({n}) and offset ({offset}) must not be negative")


def check_ref(ref: object) -> str:
    """Validate a writer ref: a non-empty ``str`` without NUL that encodes as UTF-8.

    :raises TypeError: not a ``str``.
    :raises ~aiocontent.InvalidArgumentError: empty, contains NUL, or not UTF-8.
    """
    text = check_str(ref, "ref")
    if not text:
        raise invalid("ref must not be empty")
    if "\x00" in text:
        raise invalid(f"ref {quote(text[:256])} must not contain NUL")
    try:
        text.encode()
    except UnicodeEncodeError as exc:
        raise invalid(f"ref {quote(text[:256])} does not encode as UTF-8") from exc
    return text


def with_labels(labels: Mapping[str, str]) -> Opt:
    """An :data:`Opt` that sets the labels of a committed blob.

    Labels are checked now; empty values are dropped.

    :raises TypeError: a key or value is not a ``str``.
    :raises ~aiocontent.InvalidArgumentError: an empty key or an oversized label.
    """
    checked = check_labels(labels, drop_empty=True)

    def opt(info: Info) -> None:
        info.labels = dict(checked)

    return opt


def with_ref(ref: str) -> WriterOpt:
    """A :data:`WriterOpt` naming the ingest (the writer's lock key and resume key).

    :raises TypeError: ``ref`` is not a ``str``.
    """
    check_str(ref, "ref")

    def opt(opts: WriterOpts) -> None:
        opts.ref = ref

    return opt


def with_descriptor(desc: Descriptor) -> WriterOpt:
    """A :data:`WriterOpt` giving the expected digest and size of the content.

    :raises TypeError: ``desc`` is not a :class:`Descriptor`.
    """
    check_descriptor(desc)

    def opt(opts: WriterOpts) -> None:
        opts.desc = desc

    return opt


def resolve_writer_opts(opts: Iterable[WriterOpt]) -> WriterOpts:
    """Apply writer options and validate the result, as every store's ``writer`` must.

    :raises ~aiocontent.InvalidArgumentError: empty or malformed ref, or a
        ``desc.digest`` that does not validate.
    """
    wopts = WriterOpts()
    for opt in opts:
        check_callable(opt, "writer option")
        opt(wopts)
    check_ref(wopts.ref)
    if wopts.desc.digest:
        wopts.desc.digest.validate()
    return wopts


def resolve_opts(opts: Iterable[Opt]) -> Info:
    """Apply commit options (:func:`with_labels`) to an empty :class:`Info`."""
    info = Info()
    for opt in opts:
        check_callable(opt, "commit option")
        opt(info)
    return info


def now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)
