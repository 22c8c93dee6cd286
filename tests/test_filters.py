"""Tests for the filter language (SPEC.md §1): parsing, error messages, matching, adaptors."""

from __future__ import annotations

import dataclasses
import logging
import pickle
import time
from collections.abc import Sequence

import pytest

from aiocontent._errors import InvalidArgumentError
from aiocontent._filters import (
    ALWAYS,
    Adaptor,
    Filter,
    FilterParseError,
    adapt_info,
    adapt_status,
    parse,
    parse_all,
)


@dataclasses.dataclass
class Item:
    """An object of the corpus of containerd's ``filter_test.go``."""

    name: str
    other: str = ""
    labels: dict[str, str] = dataclasses.field(default_factory=dict)


CORPUS = [
    Item("foo", labels={"foo": "true"}),
    Item("bar"),
    Item("foo", labels={"foo": "present", "more complex label": "present"}),
    Item("bar", labels={"bar": "true"}),
    Item("fooer", labels={'more complex label with \\ and "': "present"}),
    Item("fooer", labels={'more complex label with \\ and ".post': "present"}),
    Item("baz", other="too complex, yo"),
    Item("bazo", other="abc"),
    Item("compound", labels={"foo": "omg_asdf.asdf-qwer"}),
]
ALL = list(range(len(CORPUS)))


def adapt_item(item: Item) -> Adaptor:
    """``name``/``other`` are present when non-empty; ``labels.<rest>`` when the key exists."""

    def field(path: Sequence[str]) -> tuple[str, bool]:
        if path[0] == "name":
            return item.name, item.name != ""
        if path[0] == "other":
            return item.other, item.other != ""
        if path[0] == "labels":
            key = ".".join(path[1:])
            return item.labels.get(key, ""), key in item.labels
        return "", False

    return field


def matching(f: Filter) -> list[int]:
    return [i for i, item in enumerate(CORPUS) if f.match(adapt_item(item))]


def fixed(value: str, present: bool = True) -> Adaptor:
    """An adaptor whose every field has the same value."""
    return lambda path: (value, present)


def parse_error(s: str) -> str:
    with pytest.raises(FilterParseError) as info:
        parse(s)
    return str(info.value)


# SPEC.md §1.8: F = filter_test.go, S = scanner_test.go inputs, R = further reference behaviour.
EXAMPLE_MATCHES = [
    ("F", "", ALL),
    ("F", "name", ALL),
    ("F", "labels.foo", [0, 2, 8]),
    ("F", "labels.foo,name", [0, 2, 8]),
    ("F", "labels.foo==true", [0]),
    ("F", "labels.foo==omg_asdf.asdf-qwer", [8]),
    ("F", "name==bar", [1, 3]),
    ("F", "name!=bar", [0, 2, 4, 5, 6, 7, 8]),
    ("F", "name==bar,labels.bar", [3]),
    ("F", 'other=="too complex, yo"', [6]),
    ("F", "other~=[abc]+,name!=foo", [6, 7]),
    ("F", "other~=/[abc]+/,name!=foo", [6, 7]),
    ("F", "other~=/[abc]{1,2}/,name!=foo", [6, 7]),
    ("F", r'other~=/[abc]{0,1}"\//,name!=foo', []),  # regex [abc]{0,1}"/
    ("F", "name==bar,labels.bar==true", [3]),
    ("F", "name==bar,labels.bar==wrong", []),
    ("F", 'name==foo,labels."more complex label"', [2]),
    ("F", r'labels."more complex label with \\ and \""==present', [4]),
    ("F", r'labels."more complex label with \\ and \"".post==present', [5]),
    ("S", "name==value,foo!=bar", []),
    ("S", r'name~="asdf\n\tfooo"', []),
    ("S", "compound.labels==punctuated_value.foo-bar", []),
    ("S", '"leading quote".postquote==value', []),
    ("S", r"input~=/foo\/bar/,id!=ff", []),  # regex foo/bar
    ("S", "input~=|foo/bar|,id!=ff", []),
    ("R", "name == bar", [1, 3]),
    ("R", "labels. foo", [0, 2, 8]),
    ("R", "name~=|ba|", [1, 3, 6, 7]),
    ("R", r"name~=|a\|b|", [1, 3, 6, 7]),  # regex a|b
    ("R", '"name"==bar', [1, 3]),
    ("R", r"name~=\d+", []),
    ("R", "name~=[", []),  # invalid regex: never matches
    ("R", "name==a=b", []),  # value "a=b"
    ("R", "other!=abc", [0, 1, 2, 3, 4, 5, 6, 8]),
    ("R", "labels.foo~=^$", [1, 3, 4, 5, 6, 7]),
    ("R", "1abc", []),
]

EXAMPLE_ERRORS = [
    (
        "F",
        "labels.|foo|==omg_asdf.asdf-qwer",
        "filters: parse error: [labels. >|||< foo|==omg_asdf.asdf-qwer]: invalid quote encountered",
    ),
    (
        "F",
        r'labels.?"more complex label with \\ and \"".post==present',
        r'filters: parse error: [labels. >|?|< "more complex label with \\ and \"".post==present]: expected field or quoted',  # noqa: E501
    ),
    (
        "F",
        "name==foo,",
        "filters: parse error: [name==foo,]: expected field or quoted",
    ),
    (
        "F",
        "labels.",
        "filters: parse error: [labels.]: expected field or quoted",
    ),
    (
        "F",
        "image~=,id?=?fbaq",
        "filters: parse error: [image~= >|,|< id?=?fbaq]: expected value or quoted",
    ),
    (
        "F",
        "labels.ns/key==value",
        "filters: parse error: [labels.ns >|/|< key==value]: quoted literal not terminated",
    ),
    (
        "F",
        "labels.key==/value",
        "filters: parse error: [labels.key== >|/|< value]: quoted literal not terminated",
    ),
    (
        "S",
        "name~=[abc]+,foo=test",
        'filters: parse error: [name~=[abc]+,foo >|=|< test]: unsupported operator "="',
    ),
    (
        "S",
        "foo\x00bar",
        "filters: parse error: [foo >|\x00|< bar]: unexpected null",
    ),
    (
        "S",
        "foo = bar    ",
        'filters: parse error: [foo  >|=|<  bar    ]: unsupported operator "="',
    ),
    (
        "S",
        "labels.containerd.io/key==value",
        "filters: parse error: [labels.containerd.io >|/|< key==value]: quoted literal not terminated",  # noqa: E501
    ),
    (
        "S",
        'labels."containerd.io\nkey"==value',
        'filters: parse error: [labels. >|"|< containerd.io\nkey"==value]: quoted literal not terminated',  # noqa: E501
    ),
    (
        "S",
        r'labels."\g"',
        r'filters: parse error: [labels. >|"|< \g"]: illegal escape sequence',
    ),
    (
        "S",
        r'labels."\xaz"',
        r'filters: parse error: [labels. >|"|< \xaz"]: illegal numeric escape sequence',
    ),
    (
        "R",
        "name==bar ",
        "filters: parse error: [name==bar >| |< ]: unexpected input:  ",
    ),
    (
        "R",
        "name ",
        'filters: parse error: [name ]: expected an operator ("=="|"!="|"~=")',
    ),
    (
        "R",
        "name ,labels.foo",
        'filters: parse error: [name  >|,|< labels.foo]: expected an operator ("=="|"!="|"~=")',
    ),
    (
        "R",
        "name==/bar/",
        "filters: parse error: [name== >|/|< bar/]: invalid quote encountered",
    ),
    (
        "R",
        "name===bar",
        'filters: parse error: [name >|=|< ==bar]: unsupported operator "==="',
    ),
    (
        "R",
        "name<bar",
        'filters: parse error: [name >|<|< bar]: expected an operator ("=="|"!="|"~=")',
    ),
    (
        "R",
        "labels.'foo'",
        "filters: parse error: [labels. >|'|< foo']: expected field or quoted",
    ),
    (
        "R",
        "|name|==bar",
        "filters: parse error: [ >|||< name|==bar]: invalid quote encountered",
    ),
    (
        "R",
        ",name",
        "filters: parse error: [ >|,|< name]: expected field or quoted",
    ),
    (
        "R",
        r"name~=/\d+/",
        r"filters: parse error: [name~= >|/|< \d+/]: illegal escape sequence",
    ),
    (
        "R",
        "name!=",
        "filters: parse error: [name!=]: expected value or quoted",
    ),
    (
        "R",
        "name==foo bar",
        "filters: parse error: [name==foo >| |< bar]: unexpected input:  ",
    ),
    (
        "R",
        'name=="a"b',
        'filters: parse error: [name=="a" >|b|< ]: unexpected input: b',
    ),
    (
        "R",
        "name==.foo",
        "filters: parse error: [name== >|.|< foo]: expected value or quoted",
    ),
    (
        "R",
        r'name=="\400"',
        r'filters: parse error: [name== >|"|< \400"]: unquoting failed: quote syntax error',
    ),
]


@pytest.mark.parametrize(
    ("source", "text", "expected"),
    EXAMPLE_MATCHES,
    ids=[f"{s}:{t!r}" for s, t, _ in EXAMPLE_MATCHES],
)
def test_example_filter_matches_expected_corpus_objects(
    source: str, text: str, expected: list[int]
) -> None:
    assert matching(parse(text)) == expected


@pytest.mark.parametrize(
    ("source", "text", "message"), EXAMPLE_ERRORS, ids=[f"{s}:{t!r}" for s, t, _ in EXAMPLE_ERRORS]
)
def test_example_filter_raises_reference_parse_error(source: str, text: str, message: str) -> None:
    assert parse_error(text) == message


# --------------------------------------------------------------------------- parse / parse_all


def test_empty_string_parses_to_always() -> None:
    assert parse("") is ALWAYS


def test_always_matches_an_adaptor_with_no_fields() -> None:
    assert ALWAYS.match(lambda path: ("", False))


def test_parse_error_is_invalid_argument_without_kind_suffix() -> None:
    with pytest.raises(InvalidArgumentError) as info:
        parse("name==")
    assert isinstance(info.value, FilterParseError)
    assert isinstance(info.value, ValueError)
    assert str(info.value) == "filters: parse error: [name==]: expected value or quoted"


def test_parse_error_exposes_reason_and_position() -> None:
    with pytest.raises(FilterParseError) as info:
        parse("name==bar baz")
    assert (info.value.input, info.value.index, info.value.pos) == ("name==bar baz", 9, 9)
    assert info.value.msg == "unexpected input:  "


def test_parse_error_survives_pickling() -> None:
    with pytest.raises(FilterParseError) as info:
        parse("name===x")
    copy = pickle.loads(pickle.dumps(info.value))
    assert type(copy) is FilterParseError
    assert str(copy) == str(info.value)


def test_parse_all_reports_first_error_as_invalid_argument() -> None:
    with pytest.raises(InvalidArgumentError) as info:
        parse_all("name==bar", "name==")
    assert type(info.value) is InvalidArgumentError
    assert str(info.value) == (
        "filters: parse error: [name==]: expected value or quoted: invalid argument"
    )
    assert isinstance(info.value.__cause__, FilterParseError)


def test_parse_all_stops_at_the_first_malformed_string() -> None:
    with pytest.raises(InvalidArgumentError, match=r"\[name!=\]"):
        parse_all("name", "name!=", "name==bar ")


def test_parse_all_without_strings_is_always() -> None:
    assert parse_all() is ALWAYS


def test_parse_all_matches_when_any_filter_matches() -> None:
    f = parse_all("name==foo,labels.foo==true", "other==abc", "name==compound")
    assert matching(f) == [0, 7, 8]


def test_parse_all_with_one_string_matches_like_parse() -> None:
    assert matching(parse_all("name==bar")) == matching(parse("name==bar")) == [1, 3]


def test_parse_all_empty_element_matches_everything() -> None:
    assert matching(parse_all("name==nothing", "")) == ALL


def test_parse_all_empty_element_does_not_hide_a_later_error() -> None:
    with pytest.raises(InvalidArgumentError):
        parse_all("", "name==")


@pytest.mark.parametrize("bad", [b"name==foo", None, 3, ["name"]])
def test_parse_rejects_non_str_with_type_error(bad: object) -> None:
    with pytest.raises(TypeError, match=type(bad).__name__):
        parse(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [b"name==foo", None, 3])
def test_parse_all_rejects_non_str_element_with_type_error(bad: object) -> None:
    with pytest.raises(TypeError, match=type(bad).__name__):
        parse_all("name==foo", bad)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- lexical rules


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a, b", []),  # a space may follow a comma
        ("labels.foo ==true", [0]),  # and may precede an operator
        ("name==\tbar", [1, 3]),  # and may follow it
        ('labels. "foo"', [0, 2, 8]),  # and may follow a dot
        ("  name==foo", [0, 2]),  # and may lead the filter
    ],
)
def test_spaces_are_skipped_before_tokens(text: str, expected: list[int]) -> None:
    assert matching(parse(text)) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "labels .foo",
            'filters: parse error: [labels  >|.|< foo]: expected an operator ("=="|"!="|"~=")',
        ),
        ("a,,b", "filters: parse error: [a, >|,|< b]: expected field or quoted"),
        ("a==b,", "filters: parse error: [a==b,]: expected field or quoted"),
        ("name== ", "filters: parse error: [name== ]: expected value or quoted"),
        ("  ", "filters: parse error: [  ]: expected field or quoted"),
        ("name==~x", 'filters: parse error: [name >|=|< =~x]: unsupported operator "==~"'),
        ('name=="a""b"', 'filters: parse error: [name=="a" >|"|< b"]: unexpected input: "'),
    ],
)
def test_lookahead_does_not_skip_spaces(text: str, message: str) -> None:
    assert parse_error(text) == message


WHITE_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + ("\u2028\u2029\u202f\u205f\u3000")
)


@pytest.mark.parametrize("space", list(WHITE_SPACE), ids=lambda c: f"U+{ord(c):04X}")
def test_unicode_white_space_separates_tokens(space: str) -> None:
    assert matching(parse(f"name{space}=={space}bar")) == [1, 3]


@pytest.mark.parametrize(
    "char", ["\x1c", "\x1d", "\x1e", "\x1f", "\u200b", "\u180e", "\ufeff"], ids=ascii
)
def test_non_white_space_is_not_skipped(char: str) -> None:
    assert parse_error(f"name{char}==bar") == (
        f'filters: parse error: [name >|{char}|< ==bar]: expected an operator ("=="|"!="|"~=")'
    )


@pytest.mark.parametrize("space", ["\x85", "\u3000"], ids=ascii)
def test_white_space_ends_a_value(space: str) -> None:
    assert parse_error(f"name==bar{space}") == (
        f"filters: parse error: [name==bar >|{space}|< ]: unexpected input: {space}"
    )


@pytest.mark.parametrize(
    "value", ["héllo", "日本語", "a\u0301", "x²½", "€$+<>", "«quoted»", "a=b:c/d\"e'f.g"], ids=ascii
)
def test_unicode_letters_marks_numbers_punctuation_symbols_are_value_chars(value: str) -> None:
    assert parse(f"name=={value}").match(fixed(value))


@pytest.mark.parametrize("char", ["\x1c", "\x7f", "\u200b", "\ue000"], ids=ascii)
def test_other_categories_end_a_value(char: str) -> None:
    assert parse_error(f"name==ab{char}") == (
        f"filters: parse error: [name==ab >|{char}|< ]: unexpected input: {char}"
    )


def test_value_may_start_with_any_character() -> None:
    assert parse("name==\x1cab").match(fixed("\x1cab"))


@pytest.mark.parametrize("text", ["1abc", "_x", "a", "A_1"])
def test_any_run_of_field_chars_is_a_field(text: str) -> None:
    assert parse(text).match(fixed("", present=True))


def test_hyphen_is_not_a_field_char() -> None:
    assert parse_error("a-b") == (
        'filters: parse error: [a >|-|< b]: expected an operator ("=="|"!="|"~=")'
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("\x00", "filters: parse error: [ >|\x00|< ]: unexpected null"),
        ("labels.\x00", "filters: parse error: [labels. >|\x00|< ]: unexpected null"),
        ("name==\x00", "filters: parse error: [name== >|\x00|< ]: unexpected null"),
        ("name==a\x00", "filters: parse error: [name==a >|\x00|< ]: unexpected null"),
        ('name=="a\x00b"', 'filters: parse error: [name== >|"|< a\x00b"]: unexpected null'),
    ],
    ids=ascii,
)
def test_nul_is_unexpected_null_wherever_it_occurs(text: str, message: str) -> None:
    assert parse_error(text) == message


def test_non_ascii_character_at_error_position_is_shown_whole() -> None:
    assert parse_error("labels.é") == (
        "filters: parse error: [labels. >|é|< ]: expected field or quoted"
    )


def test_parse_error_pos_is_a_utf8_byte_offset() -> None:
    with pytest.raises(FilterParseError) as info:
        parse('name=="é"x')
    assert str(info.value) == 'filters: parse error: [name=="é" >|x|< ]: unexpected input: x'
    assert (info.value.index, info.value.pos) == (9, 10)


# --------------------------------------------------------------------------- quoted strings


@pytest.mark.parametrize(
    ("literal", "decoded"),
    [
        (r'"\x41"', "A"),
        (r'"\101"', "A"),
        (r'"\u00e9"', "é"),
        (r'"\U0001F600"', "😀"),
        (r'"\a\b\f\n\r\t\v\\"', "\a\b\f\n\r\t\v\\"),
        (r'"say \"hi\""', 'say "hi"'),
        (r'"\ud800"', "\ufffd"),
        (r'"\U0000DFFF"', "\ufffd"),
        (r'"\xc3\xa9"', "é"),
        (r'"\303\251"', "é"),
        (r'"\xff"', "\udcff"),
        (r'"\377x"', "\udcffx"),
        (r'"é\x41"', "éA"),
        ('"plain, with spaces"', "plain, with spaces"),
        ("\"'single' and /slash/ and |bar|\"", "'single' and /slash/ and |bar|"),
        ('""', ""),
    ],
    ids=ascii,
)
def test_double_quoted_value_decodes_go_escapes(literal: str, decoded: str) -> None:
    f = parse(f"name=={literal}")
    assert f.match(fixed(decoded))
    assert not f.match(fixed(decoded + "_"))


@pytest.mark.parametrize(
    ("text", "matching_value", "other_value"),
    [
        (r"name~=/a\/b/", "a/b", "ab"),  # regex a/b
        (r"name~=|a\|b|", "b", "c"),  # regex a|b
        (r"name~=/\\d/", "7", "d"),  # regex \d
        (r"name~=/\x41\101/", "AA", "A"),  # regex AA
        ('name~=/"/', '"', "'"),  # regex "
        ("name~=|/|", "/", "|"),  # regex /
    ],
    ids=ascii,
)
def test_alternate_quotes_decode_with_their_own_quote_escape(
    text: str, matching_value: str, other_value: str
) -> None:
    f = parse(text)
    assert f.match(fixed(matching_value))
    assert not f.match(fixed(other_value))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (r'name=="\400"', "unquoting failed: quote syntax error"),
        (r'name=="\777"', "unquoting failed: quote syntax error"),
        (r'name=="\U00110000"', "unquoting failed: quote syntax error"),
        (r'name=="\x4"', "illegal numeric escape sequence"),
        (r'name=="\u12"', "illegal numeric escape sequence"),
        (r'name=="\18"', "illegal numeric escape sequence"),
        (r'name=="\8"', "illegal escape sequence"),
        (r'name=="\/"', "illegal escape sequence"),
        (r'name=="\'"', "illegal escape sequence"),
        (r"name~=/\"/", "illegal escape sequence"),
        (r"name~=|\/|", "illegal escape sequence"),
        (r'name=="\g', "illegal escape sequence"),  # the first error wins over "not terminated"
        ('name=="ab', "quoted literal not terminated"),
        ('name=="a\\"', "quoted literal not terminated"),
    ],
    ids=ascii,
)
def test_bad_quoted_literal_is_reported_at_the_opening_quote(text: str, message: str) -> None:
    quote = 6  # every input here is name, a two-character operator, then the quote
    assert parse_error(text) == (
        f"filters: parse error: [{text[:quote]} >|{text[quote]}|< {text[quote + 1 :]}]: {message}"
    )


@pytest.mark.parametrize("text", ["name==/bar/", "name!=|bar|", "/name/==bar", "labels.|a|"])
def test_alternate_quotes_are_only_for_regex_values(text: str) -> None:
    assert parse_error(text).endswith(": invalid quote encountered")


def test_quoted_label_key_may_contain_slash() -> None:
    info = BlobInfo("sha256:ab", 3, {"containerd.io/gc.root": "2024"})
    assert parse('labels."containerd.io/gc.root"').match(adapt_info(info))


# --------------------------------------------------------------------------- matching


@pytest.mark.parametrize(
    ("text", "value", "present", "expected"),
    [
        ("f", "", True, True),
        ("f", "x", False, False),
        ("f==x", "x", True, True),
        ("f==x", "x", False, False),
        ('f==""', "", False, False),
        ("f!=x", "y", True, True),
        ("f!=x", "", False, True),
        ('f!=""', "", False, False),
        ("f~=^$", "", False, True),
        ("f~=b", "abc", True, True),
        ("f~=^b", "abc", True, False),
    ],
)
def test_operator_semantics(text: str, value: str, present: bool, expected: bool) -> None:
    assert parse(text).match(fixed(value, present)) is expected


def test_absent_field_reads_as_empty_whatever_the_adaptor_says() -> None:
    assert parse("f~=^$").match(fixed("junk", present=False))


@pytest.mark.parametrize("pattern", ["[", "(", "a{99999999999}", "(?<=a+)b"])
def test_invalid_regex_never_matches_and_logs(
    pattern: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="aiocontent"):
        f = parse(f"name~=|{pattern}|")
        assert not f.match(fixed(pattern))
        assert not f.match(fixed(""))
    records = [r for r in caplog.records if r.name == "aiocontent"]
    assert records
    assert pattern in records[0].getMessage()


def test_invalid_regex_does_not_warn(recwarn: pytest.WarningsRecorder) -> None:
    parse("name~=[").match(fixed("["))
    assert len(recwarn) == 0


def test_regex_is_an_unanchored_search() -> None:
    assert parse(r"name~=o{2}").match(fixed("xfoox"))


# --------------------------------------------------------------------------- adaptors


@dataclasses.dataclass
class BlobInfo:
    """Just the fields adapt_info reads."""

    digest: str
    size: int
    labels: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class IngestStatus:
    ref: str


@pytest.mark.parametrize(
    ("info", "path", "expected"),
    [
        (BlobInfo("foo", 0), [], ("", False)),
        (BlobInfo("foo", 0), ["digest"], ("foo", True)),
        (BlobInfo("foo", 0), ["digest", "more"], ("foo", True)),
        (BlobInfo("foo", 0, {"foo": "bar"}), ["labels", "foo"], ("bar", True)),
        (
            BlobInfo("foo", 0, {"foo.bar.qux": "quux"}),
            ["labels", "foo", "bar", "qux"],
            ("quux", True),
        ),
        (BlobInfo("foo", 0, {"foo": "bar"}), ["labels", "nope"], ("", False)),
        (BlobInfo("foo", 0), ["labels", "foo"], ("", False)),
        (BlobInfo("foo", 0, {"": "empty"}), ["labels"], ("empty", True)),
        (BlobInfo("foo", 0), ["name"], ("", False)),
    ],
)
def test_info_adaptor_fields(info: BlobInfo, path: list[str], expected: tuple[str, bool]) -> None:
    assert adapt_info(info)(path) == expected


@pytest.mark.parametrize(("size", "expected"), [(0, "0"), (3, "3"), (1024, "1024")])
def test_info_size_is_the_decimal_size(size: int, expected: str) -> None:
    assert adapt_info(BlobInfo("foo", size))(["size"]) == (expected, True)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("size==1024", True),
        ("size==01024", False),
        ("size!=3", True),
        ("size~=^[0-9]{4}$", True),
        ("size~=^[0-9]{3}$", False),
        ("size", True),
    ],
)
def test_info_size_filters_compare_strings(text: str, expected: bool) -> None:
    assert parse(text).match(adapt_info(BlobInfo("sha256:00", 1024))) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("digest==sha256:abc", True),
        ('digest=="sha256:abc"', True),
        ("digest~=^sha256:", True),
        ("digest!=sha256:abc", False),
        ("labels.a.b==x", True),
        ('labels."a.b"==x', True),
        ('labels."a".b==x', True),
        ("labels.a", False),
        ("created_at", False),
    ],
)
def test_info_filters(text: str, expected: bool) -> None:
    info = BlobInfo("sha256:abc", 7, {"a.b": "x"})
    assert parse(text).match(adapt_info(info)) is expected


def test_info_adaptor_reads_the_info_when_matching() -> None:
    info = BlobInfo("sha256:abc", 7)
    adaptor = adapt_info(info)
    info.labels["k"] = "v"
    assert parse("labels.k==v").match(adaptor)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ref~=^layer-", True),
        ("ref==layer-1", True),
        ("ref!=layer-1", False),
        ("ref", True),
        ("digest", False),
        ("ref.x==layer-1", True),
        ("labels.ref", False),
    ],
)
def test_status_filters_match_on_ref(text: str, expected: bool) -> None:
    assert parse(text).match(adapt_status(IngestStatus("layer-1"))) is expected


def test_status_adaptor_empty_path_is_absent() -> None:
    assert adapt_status(IngestStatus("x"))([]) == ("", False)


# --------------------------------------------------------------------------- scale


def test_huge_filter_parses_in_linear_time() -> None:
    count = 12_000
    text = ",".join(f"labels.k{i}==v{i}" for i in range(count))
    assert len(text) > 100 * 1024
    info = BlobInfo("sha256:00", 1, {f"k{i}": f"v{i}" for i in range(count)})
    start = time.perf_counter()
    f = parse(text)
    elapsed = time.perf_counter() - start
    assert f.match(adapt_info(info))
    info.labels["k0"] = "other"
    assert not f.match(adapt_info(info))
    assert elapsed < 10


def test_long_field_path_parses_without_recursion() -> None:
    parts = ["a"] * 60_000
    info = BlobInfo("sha256:00", 1, {".".join(parts): "deep"})
    assert parse("labels." + ".".join(parts) + "==deep").match(adapt_info(info))


def test_huge_quoted_value_parses() -> None:
    value = 'x\\"' * 40_000
    assert parse(f'name=="{value}"').match(fixed('x"' * 40_000))
