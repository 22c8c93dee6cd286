"""Digests: go-digest v1.0.0 validation (SPEC.md §2), accessors, algorithms, digesters."""

from __future__ import annotations

import hashlib

import pytest

from aiocontent import (
    CANONICAL,
    SHA256,
    SHA384,
    SHA512,
    Algorithm,
    Digest,
    Digester,
    InvalidArgumentError,
)

FORMAT = "invalid checksum digest format"
LENGTH = "invalid checksum digest length"
UNSUPPORTED = "unsupported digest algorithm"

D384 = (
    "d3fc7881460b7e22e3d172954463dddd7866d17597e7248453c48b3e9d26d9596b"
    "f9c4a9cf8072c9d5bad76e19af801d"
)
EMPTY_SHA256 = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

VALID = (
    "sha256:e58fcf7418d4390dec8e8fb69d88c06ec07039d651fedd3aa72af9972e7d046b",
    f"sha384:{D384}",
    "sha512:" + "0" * 128,
)

# Every example row of SPEC.md §2, with the error go-digest's order of checks gives.
INVALID = (
    ("sha256:", FORMAT),
    (":", FORMAT),
    ("", FORMAT),
    ("d41d8cd98f00b204e9800998ecf8427e", FORMAT),
    ("sha256:d41d8cd98f00b204e9800m98ecf8427e", LENGTH),
    ("sha256:abcdef0123456789", LENGTH),
    ("sha512:" + "abcdef0123456789" * 4, LENGTH),
    ("foo:d41d8cd98f00b204e9800998ecf8427e", UNSUPPORTED),
    (f"sha384__foo+bar:{D384}", FORMAT),
    (f"sha384.foo+bar:{D384}", UNSUPPORTED),
    (f"sha384_foo+bar:{D384}", UNSUPPORTED),
    ("sha256+b64:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564", UNSUPPORTED),
    ("sha256:E58FCF7418D4390DEC8E8FB69D88C06EC07039D651FEDD3AA72AF9972E7D046B", FORMAT),
    ("sha256:" + "g" * 64, FORMAT),
    ("sha256:" + "a" * 65, LENGTH),
    ("sha256:" + "a" * 64 + "\n", LENGTH),
    ("SHA256:" + "a" * 64, FORMAT),
    ("md5:d41d8cd98f00b204e9800998ecf8427e", UNSUPPORTED),
    ("blake3:" + "a" * 64, UNSUPPORTED),
    (":" + "a" * 64, FORMAT),
    ("sha256:" + "a" * 32 + ":" + "a" * 31, FORMAT),
    ("sha256 :" + "a" * 64, FORMAT),
    ("foo:bar baz", FORMAT),
    ("foo:a.b", FORMAT),
    ("a:b", UNSUPPORTED),
)


@pytest.mark.parametrize("s", VALID)
def test_parse_accepts_valid_digest(s: str) -> None:
    d = Digest.parse(s)
    assert d == s
    assert type(d) is Digest


@pytest.mark.parametrize("s", VALID)
def test_validate_accepts_valid_digest(s: str) -> None:
    Digest(s).validate()


@pytest.mark.parametrize(("s", "reason"), INVALID)
def test_validate_rejects_with_reference_reason(s: str, reason: str) -> None:
    with pytest.raises(InvalidArgumentError) as exc_info:
        Digest(s).validate()
    message = str(exc_info.value)
    assert reason in message
    assert repr(s) in message
    assert message.endswith(": invalid argument")


@pytest.mark.parametrize(("s", "reason"), INVALID)
def test_parse_rejects_with_reference_reason(s: str, reason: str) -> None:
    with pytest.raises(InvalidArgumentError, match=reason):
        Digest.parse(s)


def test_length_counts_utf8_bytes_like_go() -> None:
    # Go measures the encoded part in bytes: 63 ASCII + one 2-byte char is 65 bytes long.
    with pytest.raises(InvalidArgumentError, match=LENGTH):
        Digest("sha256:" + "a" * 63 + "é").validate()


def test_length_of_64_utf8_bytes_with_non_ascii_is_a_format_error() -> None:
    with pytest.raises(InvalidArgumentError, match=FORMAT):
        Digest("sha256:" + "a" * 62 + "é").validate()


def test_constructing_a_digest_does_not_validate() -> None:
    assert Digest("not a digest") == "not a digest"


@pytest.mark.parametrize("value", [None, 5, b"sha256:" + b"a" * 64])
def test_parse_rejects_non_str_with_type_error(value: object) -> None:
    with pytest.raises(TypeError):
        Digest.parse(value)  # type: ignore[arg-type]


def test_algorithm_and_encoded_split_at_first_colon_without_validating() -> None:
    d = Digest("foo:bar:baz")
    assert d.algorithm == "foo"
    assert type(d.algorithm) is Algorithm
    assert d.encoded == "bar:baz"


@pytest.mark.parametrize("accessor", ["algorithm", "encoded"])
def test_accessor_without_colon_raises_invalid_argument(accessor: str) -> None:
    with pytest.raises(InvalidArgumentError, match="'x'"):
        getattr(Digest("x"), accessor)


def test_algorithm_constants_have_the_registered_names() -> None:
    assert (SHA256, SHA384, SHA512, CANONICAL) == ("sha256", "sha384", "sha512", "sha256")
    assert all(type(a) is Algorithm for a in (SHA256, SHA384, SHA512, CANONICAL))


@pytest.mark.parametrize(
    ("attribute", "constant"),
    [("SHA256", SHA256), ("SHA384", SHA384), ("SHA512", SHA512), ("CANONICAL", CANONICAL)],
)
def test_algorithm_attributes_are_the_module_constants(attribute: str, constant: Algorithm) -> None:
    assert getattr(Algorithm, attribute) is constant


def test_canonical_is_sha256_object() -> None:
    assert CANONICAL is SHA256


@pytest.mark.parametrize(
    ("name", "available", "size"),
    [
        ("sha256", True, 32),
        ("sha384", True, 48),
        ("sha512", True, 64),
        ("md5", False, 0),
        ("", False, 0),
        ("SHA256", False, 0),
    ],
)
def test_available_and_size(name: str, available: bool, size: int) -> None:
    assert Algorithm(name).available is available
    assert Algorithm(name).size == size


@pytest.mark.parametrize("name", ["md5", "", "blake3", "SHA256"])
def test_digester_of_unknown_algorithm_raises_invalid_argument(name: str) -> None:
    with pytest.raises(InvalidArgumentError):
        Algorithm(name).digester()


def test_digester_error_names_the_algorithm() -> None:
    with pytest.raises(InvalidArgumentError, match="md5"):
        Algorithm("md5").digester()


@pytest.mark.parametrize("algorithm", [SHA256, SHA384, SHA512])
def test_from_bytes_with_each_algorithm(algorithm: Algorithm) -> None:
    expected = f"{algorithm}:{hashlib.new(algorithm, b'hello').hexdigest()}"
    assert Digest.from_bytes(b"hello", algorithm) == expected
    assert algorithm.from_bytes(b"hello") == expected
    Digest.from_bytes(b"hello", algorithm).validate()


@pytest.mark.parametrize("algorithm", ["sha256", "sha384", "sha512"])
def test_from_bytes_accepts_plain_str_algorithm(algorithm: str) -> None:
    assert Digest.from_bytes(b"x", algorithm).algorithm == algorithm


def test_from_bytes_defaults_to_sha256() -> None:
    assert Digest.from_bytes(b"hello") == "sha256:" + hashlib.sha256(b"hello").hexdigest()


@pytest.mark.parametrize("data", [b"abc", bytearray(b"abc"), memoryview(b"abc")])
def test_from_bytes_accepts_bytes_like(data: bytes | bytearray | memoryview) -> None:
    assert Digest.from_bytes(data) == Digest.from_bytes(b"abc")


def test_from_bytes_with_md5_raises_invalid_argument() -> None:
    with pytest.raises(InvalidArgumentError, match="md5"):
        Digest.from_bytes(b"abc", "md5")


def test_from_bytes_returns_digest_type() -> None:
    assert type(Digest.from_bytes(b"")) is Digest


def test_empty_input_digest() -> None:
    assert Digest.from_bytes(b"") == EMPTY_SHA256
    assert SHA256.digester().digest() == EMPTY_SHA256


def test_digester_digest_does_not_finalise() -> None:
    digester = SHA256.digester()
    digester.update(b"hello ")
    assert digester.digest() == Digest.from_bytes(b"hello ")
    digester.update(b"world")
    assert digester.digest() == Digest.from_bytes(b"hello world")
    assert digester.digest() == Digest.from_bytes(b"hello world")


@pytest.mark.parametrize("algorithm", [SHA256, SHA384, SHA512])
def test_digester_uses_its_algorithm(algorithm: Algorithm) -> None:
    digester = Digester(algorithm)
    digester.update(b"abc")
    assert digester.algorithm == algorithm
    assert digester.digest() == Digest.from_bytes(b"abc", algorithm)


def test_digester_copy_is_independent() -> None:
    digester = SHA256.digester()
    digester.update(b"a")
    clone = digester.copy()
    clone.update(b"b")
    assert digester.digest() == Digest.from_bytes(b"a")
    assert clone.digest() == Digest.from_bytes(b"ab")


def test_digester_update_rejects_str() -> None:
    with pytest.raises(TypeError):
        SHA256.digester().update("abc")  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [None, 256, b"sha256"])
def test_from_bytes_rejects_non_str_algorithm(value: object) -> None:
    with pytest.raises(TypeError):
        Digest.from_bytes(b"x", value)  # type: ignore[arg-type]


def test_digester_rejects_non_str_algorithm() -> None:
    with pytest.raises(TypeError):
        Digester(None)  # type: ignore[arg-type]


def test_digest_is_a_str() -> None:
    d = Digest(EMPTY_SHA256)
    assert isinstance(d, str)
    assert {d: 1}[Digest(EMPTY_SHA256)] == 1
    assert d == EMPTY_SHA256
