"""Records and options: Descriptor (OCI, SPEC.md §3), Info, Status, WriterOpts, with_*."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from aiocontent import (
    Descriptor,
    Digest,
    Info,
    InvalidArgumentError,
    Status,
    WriterOpts,
    with_descriptor,
    with_labels,
    with_ref,
)

DGST = "sha256:e58fcf7418d4390dec8e8fb69d88c06ec07039d651fedd3aa72af9972e7d046b"
EMPTY_JSON_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
ZERO = datetime(1, 1, 1, tzinfo=UTC)


# --- Descriptor construction -------------------------------------------------------------


def test_descriptor_defaults() -> None:
    d = Descriptor()
    assert (d.media_type, d.digest, d.size, d.urls) == ("", "", 0, ())
    assert (d.annotations, d.data, d.platform, d.artifact_type) == (None, None, None, "")


def test_descriptor_keyword_construction() -> None:
    d = Descriptor(media_type="m", digest=DGST, size=3, urls=("u",), artifact_type="a")
    assert (d.media_type, d.digest, d.size, d.urls, d.artifact_type) == ("m", DGST, 3, ("u",), "a")


def test_descriptor_rejects_positional_arguments() -> None:
    with pytest.raises(TypeError):
        Descriptor("m", DGST, 3)  # type: ignore[call-arg]


def test_descriptor_digest_becomes_digest_type() -> None:
    assert type(Descriptor(digest=DGST).digest) is Digest


def test_descriptor_does_not_validate_digest() -> None:
    assert Descriptor(digest="garbage").digest == "garbage"


def test_descriptor_is_frozen() -> None:
    d = Descriptor(size=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.size = 2  # type: ignore[misc]


def test_descriptor_is_hashable_and_compares_by_value() -> None:
    assert Descriptor(digest=DGST, size=1) == Descriptor(digest=DGST, size=1)
    assert hash(Descriptor(digest=DGST, size=1)) == hash(Descriptor(digest=DGST, size=1))


@pytest.mark.parametrize("size", [-1, -(2**63)])
def test_descriptor_negative_size_raises_invalid_argument(size: int) -> None:
    with pytest.raises(InvalidArgumentError, match=str(size)):
        Descriptor(size=size)


@pytest.mark.parametrize("size", [1.0, "1", None, True, False])
def test_descriptor_non_int_size_raises_invalid_argument(size: object) -> None:
    with pytest.raises(InvalidArgumentError):
        Descriptor(size=size)  # type: ignore[arg-type]


def test_descriptor_urls_list_becomes_tuple() -> None:
    assert Descriptor(urls=["a", "b"]).urls == ("a", "b")


def test_descriptor_annotations_are_copied() -> None:
    annotations = {"a": "1"}
    d = Descriptor(annotations=annotations)
    annotations["b"] = "2"
    assert d.annotations == {"a": "1"}


def test_descriptor_data_bytearray_becomes_bytes() -> None:
    d = Descriptor(data=bytearray(b"xy"))
    assert d.data == b"xy"
    assert type(d.data) is bytes


# --- to_dict / from_dict -----------------------------------------------------------------


def test_to_dict_of_empty_descriptor_writes_only_required_keys() -> None:
    assert Descriptor().to_dict() == {"mediaType": "", "digest": "", "size": 0}


def test_to_dict_required_keys_come_first_in_go_order() -> None:
    full = Descriptor(
        media_type="m",
        digest=DGST,
        size=1,
        urls=("u",),
        annotations={"k": "v"},
        data=b"x",
        platform={"architecture": "amd64", "os": "linux"},
        artifact_type="t",
    )
    assert list(full.to_dict()) == [
        "mediaType",
        "digest",
        "size",
        "urls",
        "annotations",
        "data",
        "platform",
        "artifactType",
    ]


@pytest.mark.parametrize(
    ("field", "value", "key"),
    [
        ("urls", (), "urls"),
        ("annotations", {}, "annotations"),
        ("annotations", None, "annotations"),
        ("data", b"", "data"),
        ("data", None, "data"),
        ("platform", None, "platform"),
        ("artifact_type", "", "artifactType"),
    ],
)
def test_to_dict_omits_empty_optional_fields(field: str, value: Any, key: str) -> None:
    d = Descriptor(digest=DGST, size=1, **{field: value})
    assert key not in d.to_dict()


def test_to_dict_sorts_annotation_keys() -> None:
    d = Descriptor(annotations={"b": "2", "a": "1", "c": "3"})
    assert list(d.to_dict()["annotations"]) == ["a", "b", "c"]


def test_to_dict_writes_data_as_standard_base64() -> None:
    assert Descriptor(data=b"\xfb\xff").to_dict()["data"] == "+/8="


def test_platform_writes_architecture_and_os_always_and_others_when_set() -> None:
    d = Descriptor(platform={"os": "linux", "architecture": "arm64", "variant": ""})
    assert d.to_dict()["platform"] == {"architecture": "arm64", "os": "linux"}


def test_platform_with_every_key_including_dotted_ones() -> None:
    platform = {
        "architecture": "amd64",
        "os": "windows",
        "os.version": "10.0.17763.1",
        "os.features": ["win32k"],
        "variant": "v2",
    }
    written = Descriptor(platform=platform).to_dict()["platform"]
    assert written == platform
    assert list(written) == ["architecture", "os", "os.version", "os.features", "variant"]


def test_empty_platform_mapping_is_written() -> None:
    assert Descriptor(platform={}).to_dict()["platform"] == {"architecture": "", "os": ""}


def test_round_trip_full_descriptor() -> None:
    d = Descriptor(
        media_type="application/vnd.oci.image.manifest.v1+json",
        digest=DGST,
        size=7,
        urls=("https://example.com/a",),
        annotations={"org.opencontainers.image.title": "x"},
        data=b"payload",
        platform={"architecture": "amd64", "os": "linux", "os.features": ["sse4"]},
        artifact_type="application/vnd.example",
    )
    again = Descriptor.from_dict(d.to_dict())
    assert again == d
    assert again.to_dict() == d.to_dict()


def test_from_dict_missing_keys_give_zero_values() -> None:
    assert Descriptor.from_dict({}) == Descriptor()


def test_from_dict_nulls_give_zero_values() -> None:
    d = Descriptor.from_dict(
        {
            "mediaType": None,
            "digest": None,
            "size": None,
            "urls": None,
            "annotations": None,
            "data": None,
            "platform": None,
            "artifactType": None,
        }
    )
    assert d == Descriptor()


def test_from_dict_ignores_unknown_keys() -> None:
    d = Descriptor.from_dict({"digest": DGST, "size": 1, "extra": [1], "MediaTypeX": "m"})
    assert d == Descriptor(digest=DGST, size=1)


def test_from_dict_does_not_validate_digest() -> None:
    assert Descriptor.from_dict({"digest": "nope"}).digest == "nope"


def test_from_dict_ignores_unknown_platform_keys() -> None:
    d = Descriptor.from_dict({"platform": {"architecture": "amd64", "os": "linux", "cpu": "x"}})
    assert d.platform == {"architecture": "amd64", "os": "linux"}


@pytest.mark.parametrize("size", [-1, 1.5, 1.0, "1", True, [1]])
def test_from_dict_bad_size_raises_invalid_argument(size: object) -> None:
    with pytest.raises(InvalidArgumentError):
        Descriptor.from_dict({"size": size})


@pytest.mark.parametrize(
    ("encoded", "decoded"),
    [
        ("e30=", b"{}"),
        ("e3\r\n0=", b"{}"),
        ("\ne30=\n", b"{}"),
        ("+/8=", b"\xfb\xff"),
        ("YWJj", b"abc"),
    ],
)
def test_from_dict_decodes_standard_base64_skipping_cr_lf(encoded: str, decoded: bytes) -> None:
    assert Descriptor.from_dict({"data": encoded}).data == decoded


@pytest.mark.parametrize("encoded", ["-_8=", "e30", "e30=e30=", "e 30=", "=", "é30=", "e30=="])
def test_from_dict_malformed_base64_raises_invalid_argument(encoded: str) -> None:
    with pytest.raises(InvalidArgumentError):
        Descriptor.from_dict({"data": encoded})


def test_from_dict_non_str_data_raises_invalid_argument() -> None:
    with pytest.raises(InvalidArgumentError):
        Descriptor.from_dict({"data": 5})


def test_from_dict_empty_data_is_omitted_on_re_encode() -> None:
    d = Descriptor.from_dict({"digest": DGST, "size": 0, "data": ""})
    assert "data" not in d.to_dict()


@pytest.mark.parametrize(
    "doc",
    [
        {"mediaType": 1},
        {"digest": 1},
        {"artifactType": []},
        {"urls": "https://x"},
        {"urls": [1]},
        {"annotations": ["a"]},
        {"annotations": {"a": 1}},
        {"platform": "linux"},
    ],
)
def test_from_dict_wrong_field_type_raises_invalid_argument(doc: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgumentError):
        Descriptor.from_dict(doc)


def test_from_dict_rejects_non_mapping_with_type_error() -> None:
    with pytest.raises(TypeError):
        Descriptor.from_dict([("size", 1)])  # type: ignore[arg-type]


def test_descriptor_empty_json_example() -> None:
    doc = {
        "mediaType": "application/vnd.oci.empty.v1+json",
        "digest": EMPTY_JSON_DIGEST,
        "size": 2,
        "data": "e30=",
    }
    d = Descriptor.from_dict(doc)
    assert d.data == b"{}"
    assert Digest.from_bytes(d.data) == d.digest
    assert d.size == len(d.data)
    assert d.to_dict() == doc


# --- Info, Status, WriterOpts ------------------------------------------------------------


def test_info_defaults() -> None:
    info = Info()
    assert (info.digest, info.size, info.labels) == ("", 0, {})
    assert info.created_at == info.updated_at == ZERO
    assert info.created_at.tzinfo is not None


def test_info_labels_default_is_not_shared() -> None:
    a, b = Info(), Info()
    a.labels["x"] = "1"
    assert b.labels == {}


def test_info_is_mutable() -> None:
    info = Info()
    info.size = 5
    info.labels = {"a": "b"}
    assert (info.size, info.labels) == (5, {"a": "b"})


def test_status_defaults() -> None:
    status = Status()
    assert (status.ref, status.offset, status.total, status.expected) == ("", 0, 0, None)
    assert status.started_at == status.updated_at == ZERO


def test_status_is_mutable() -> None:
    status = Status()
    status.offset = 3
    assert status.offset == 3


def test_writer_opts_defaults() -> None:
    opts = WriterOpts()
    assert opts.ref == ""
    assert opts.desc == Descriptor()


def test_writer_opts_is_mutable() -> None:
    opts = WriterOpts()
    opts.ref = "r"
    assert opts.ref == "r"


# --- options -----------------------------------------------------------------------------


def _apply_labels(labels: Mapping[str, str]) -> dict[str, str]:
    info = Info()
    with_labels(labels)(info)
    return info.labels


def test_with_labels_sets_labels() -> None:
    assert _apply_labels({"a": "1", "b": "2"}) == {"a": "1", "b": "2"}


def test_with_labels_drops_empty_values() -> None:
    assert _apply_labels({"a": "", "b": "2"}) == {"b": "2"}


@pytest.mark.parametrize("labels", [{1: "a"}, {"a": 1}, {"a": None}, {b"a": "b"}])
def test_with_labels_non_str_key_or_value_raises_type_error(labels: dict[Any, Any]) -> None:
    with pytest.raises(TypeError):
        with_labels(labels)


def test_with_labels_non_mapping_raises_type_error() -> None:
    with pytest.raises(TypeError):
        with_labels([("a", "b")])  # type: ignore[arg-type]


def test_with_labels_empty_key_raises_invalid_argument() -> None:
    with pytest.raises(InvalidArgumentError):
        with_labels({"": "v"})


def test_with_labels_accepts_key_plus_value_of_exactly_4096_bytes() -> None:
    assert _apply_labels({"k": "v" * 4095}) == {"k": "v" * 4095}


@pytest.mark.parametrize(
    "labels",
    [{"k": "v" * 4096}, {"k" * 4097: "v"}, {"k": "é" * 2048}],
)
def test_with_labels_over_4096_bytes_raises_invalid_argument(labels: dict[str, str]) -> None:
    with pytest.raises(InvalidArgumentError, match="4096"):
        with_labels(labels)


def test_with_labels_copies_its_input() -> None:
    labels = {"a": "1"}
    opt = with_labels(labels)
    labels["a"] = "changed"
    assert _apply_labels({"a": "1"}) == {"a": "1"}
    info = Info()
    opt(info)
    assert info.labels == {"a": "1"}


def test_with_labels_gives_each_info_its_own_dict() -> None:
    opt = with_labels({"a": "1"})
    first, second = Info(), Info()
    opt(first)
    opt(second)
    first.labels["b"] = "2"
    assert second.labels == {"a": "1"}


def test_with_ref_sets_ref() -> None:
    opts = WriterOpts()
    with_ref("layer-1")(opts)
    assert opts.ref == "layer-1"


@pytest.mark.parametrize("ref", [None, 1, b"ref"])
def test_with_ref_non_str_raises_type_error(ref: object) -> None:
    with pytest.raises(TypeError):
        with_ref(ref)  # type: ignore[arg-type]


def test_with_descriptor_sets_descriptor() -> None:
    desc = Descriptor(digest=DGST, size=3)
    opts = WriterOpts()
    with_descriptor(desc)(opts)
    assert opts.desc is desc


@pytest.mark.parametrize("desc", [None, {"digest": DGST}, DGST])
def test_with_descriptor_non_descriptor_raises_type_error(desc: object) -> None:
    with pytest.raises(TypeError):
        with_descriptor(desc)  # type: ignore[arg-type]
