"""Nothing the CLI prints can drive the terminal: non-printable characters come out escaped.

Refs, labels, file names and a registry's messages are data the CLI does not
control; ``\\x1b]0;PWNED\\x07`` (set the window title) must reach the terminal as
those visible characters, on stdout and stderr, in tables, plain lines, JSON
and progress bars, and an endless error line is cut to a readable length.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import unicodedata
from pathlib import Path

import anyio
import pytest
from click.testing import CliRunner, Result

from aiocontent import Descriptor, with_descriptor, with_labels, with_ref
from aiocontent._cli import ExitCode, _commands_blobs, cli, main
from aiocontent._cli._output import (
    MAX_MESSAGE,
    escape,
    format_table,
    library_warnings,
    shorten,
    to_json,
    warn,
)
from aiocontent._local import LocalStore

PWNED = "\x1b]0;PWNED\x07"
PWNED_SHOWN = "\\x1b]0;PWNED\\x07"
#: How the library's messages quote a ref holding ``PWNED`` (Go's ``%q``, as containerd's do).
PWNED_QUOTED = "\\x1b]0;PWNED\\a"
#: What must never reach a terminal raw.
ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
#: The format characters kept: the zero-width joiner and non-joiner.
JOINERS = frozenset({"\u200c", "\u200d"})
#: Every escape sequence the output layer writes.
AN_ESCAPE = re.compile(r"\\(x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8}|[tnr])")


def raw_controls(text: str) -> list[str]:
    """The characters of ``text`` a terminal could act on (newlines between lines allowed)."""
    return [
        c
        for c in text.replace("\n", "")
        if unicodedata.category(c) in ESCAPED_CATEGORIES and c not in JOINERS
    ]


def run(root: Path, *args: str, input: bytes | None = None) -> Result:
    return CliRunner().invoke(
        cli, [*args, "--root", str(root)], input=input, catch_exceptions=False, env={}
    )


def leave_ingest(root: Path, ref: str) -> None:
    async def main() -> None:
        async with LocalStore(root) as store:
            cw = await store.writer(with_ref(ref), with_descriptor(Descriptor(size=10)))
            async with cw:
                await cw.write(b"abc")

    anyio.run(main)


def put_labelled(root: Path, labels: dict[str, str]) -> str:
    async def main() -> str:
        async with LocalStore(root) as store:
            cw = await store.writer(with_ref("labelled"))
            async with cw:
                await cw.write(b"labelled blob")
                await cw.commit(0, "", with_labels(labels))
                return str(cw.digest())

    return anyio.run(main)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "store"


class TestEscape:
    def test_window_title_sequence_becomes_visible_text(self) -> None:
        assert escape(f"error {PWNED} here") == f"error {PWNED_SHOWN} here"

    @pytest.mark.parametrize(
        ("char", "shown"),
        [
            ("\r", "\\r"),
            ("\n", "\\n"),
            ("\t", "\\t"),
            ("\x00", "\\x00"),
            ("\x7f", "\\x7f"),
            ("\x9b", "\\x9b"),  # C1 CSI
            ("\ud800", "\\ud800"),  # a lone surrogate (undecodable file name)
            ("\u202e", "\\u202e"),  # right-to-left override
            ("\u200b", "\\u200b"),  # zero-width space
            ("\u2028", "\\u2028"),  # line separator
            ("\U000e0041", "\\U000e0041"),  # tag character, outside the BMP
        ],
    )
    def test_non_printable_character_is_escaped(self, char: str, shown: str) -> None:
        assert escape(f"a{char}b") == f"a{shown}b"

    def test_printable_unicode_is_kept(self) -> None:
        text = "héllo wörld 日本語 🙂 a\u00a0b ü\\path"
        assert escape(text) == text

    def test_joiners_that_shape_emoji_and_scripts_are_kept(self) -> None:
        family, persian = "👩\u200d👩\u200d👧", "می\u200cخواهم"
        assert escape(f"{family} {persian}") == f"{family} {persian}"

    def test_no_code_point_survives_raw(self) -> None:
        every = "".join(
            chr(i)
            for i in range(sys.maxunicode + 1)
            if unicodedata.category(chr(i)) in ESCAPED_CATEGORIES
        )
        assert raw_controls(escape(every)) == []


class TestJson:
    def test_stays_valid_and_decodes_to_the_same_values(self) -> None:
        value = {"ref": f"r{PWNED}\x9b\u202e\ud800\U000e0041 日本", "n": [1, "\x7f"]}
        assert json.loads(to_json(value)) == value

    def test_has_no_raw_control_characters(self) -> None:
        text = to_json({"ref": f"r{PWNED}\x9b\u202e\ud800\U000e0041\x7f"})
        assert raw_controls(text) == []

    def test_keeps_printable_non_ascii(self) -> None:
        assert '"日本語 🙂"' in to_json(["日本語 🙂"])


class TestTable:
    def test_a_cell_with_newlines_stays_on_its_row(self) -> None:
        table = format_table(("A", "B"), [("x\ny", "z"), ("w", "v")])
        assert table.splitlines() == ["A     B", "x\\ny  z", "w     v"]


class TestShorten:
    def test_keeps_text_that_fits(self) -> None:
        assert shorten("layer-1", 32) == "layer-1"

    def test_cuts_long_text_with_an_ellipsis(self) -> None:
        assert shorten("abcdefghij", 5) == "abcd…"

    def test_never_cuts_inside_an_escape(self) -> None:
        assert shorten("\x1b" * 20, 10) == "\\x1b\\x1b…"


class TestLongMessage:
    def test_is_cut_to_the_cap_saying_how_much(self, capsys: pytest.CaptureFixture[str]) -> None:
        warn("start " + "linux/arm64, " * 15_000 + "end: not found")
        line = capsys.readouterr().err
        assert line.count("\n") == 1
        assert len(line) <= len("aiocontent: ") + MAX_MESSAGE + 1
        assert line.startswith("aiocontent: start linux/arm64, ")
        assert line.endswith("end: not found\n")
        cut = re.search(r" \.\.\. \[(\d+) characters cut\] \.\.\. ", line)
        assert cut is not None
        kept = len(line) - len("aiocontent: ") - 1 - len(cut.group(0))
        assert kept + int(cut.group(1)) == len(
            "start " + "linux/arm64, " * 15_000 + "end: not found"
        )

    def test_cut_never_splits_an_escape(self, capsys: pytest.CaptureFixture[str]) -> None:
        warn("\x1b" * 5000)
        body = capsys.readouterr().err.removeprefix("aiocontent: ").rstrip("\n")
        head, _, tail = re.split(r" \.\.\. \[(\d+) characters cut\] \.\.\. ", body)
        assert AN_ESCAPE.sub("", head) == ""
        assert AN_ESCAPE.sub("", tail) == ""

    def test_at_the_cap_is_whole(self, capsys: pytest.CaptureFixture[str]) -> None:
        warn("x" * MAX_MESSAGE)
        assert capsys.readouterr().err == f"aiocontent: {'x' * MAX_MESSAGE}\n"


class TestCommands:
    def test_active_table_shows_a_hostile_ref_escaped(self, root: Path) -> None:
        leave_ingest(root, f"evil{PWNED}")
        result = run(root, "active")
        assert f"evil{PWNED_SHOWN}  3 B / 10 B" in result.stdout
        assert raw_controls(result.stdout) == []

    def test_active_quiet_shows_a_hostile_ref_escaped(self, root: Path) -> None:
        leave_ingest(root, f"evil{PWNED}")
        assert run(root, "active", "-q").stdout == f"evil{PWNED_SHOWN}\n"

    def test_active_json_keeps_the_ref_exactly(self, root: Path) -> None:
        leave_ingest(root, f"evil{PWNED}\x9b")
        result = run(root, "active", "--json")
        assert raw_controls(result.stdout) == []
        assert json.loads(result.stdout)[0]["ref"] == f"evil{PWNED}\x9b"

    def test_prune_prints_a_hostile_ref_escaped(self, root: Path) -> None:
        leave_ingest(root, f"old{PWNED}")
        result = run(root, "prune", "--older-than", "0s")
        assert result.stdout == f"old{PWNED_SHOWN}\n"

    def test_ls_shows_hostile_labels_escaped(self, root: Path) -> None:
        put_labelled(root, {"app": f"web{PWNED}", "x\u202e": "1"})
        result = run(root, "ls")
        assert f"app=web{PWNED_SHOWN},x\\u202e=1" in result.stdout
        assert raw_controls(result.stdout) == []

    def test_info_json_keeps_hostile_labels_exactly(self, root: Path) -> None:
        digest = put_labelled(root, {"app": f"web{PWNED}"})
        result = run(root, "info", digest)
        assert raw_controls(result.stdout) == []
        assert json.loads(result.stdout)["labels"] == {"app": f"web{PWNED}"}

    def test_label_prints_hostile_labels_escaped(self, root: Path) -> None:
        digest = put_labelled(root, {})
        result = run(root, "label", digest, f"app=web{PWNED}")
        assert result.stdout == f"app=web{PWNED_SHOWN}\n"

    def test_verify_names_a_hostile_file_under_blobs_escaped(self, root: Path) -> None:
        put_labelled(root, {})
        (root / "blobs" / "sha256" / f"bad{PWNED}").write_bytes(b"x")
        result = run(root, "verify")
        assert result.exit_code == ExitCode.PROBLEM
        assert result.stdout.startswith(f"misnamed sha256:bad{PWNED_SHOWN} ")
        assert raw_controls(result.stdout + result.stderr) == []

    def test_error_naming_a_hostile_ref_is_escaped(self, root: Path) -> None:
        result = run(root, "abort", f"gone{PWNED}")
        assert result.exit_code == ExitCode.NOT_FOUND
        assert f'ingest ref "gone{PWNED_QUOTED}": not found' in result.stderr
        assert raw_controls(result.stderr) == []

    def test_each_error_of_a_multi_operand_command_is_escaped(self, root: Path) -> None:
        result = run(root, "abort", f"a{PWNED}", f"b{PWNED}")
        assert result.stderr.count(PWNED_QUOTED) == 2
        assert raw_controls(result.stderr) == []

    def test_usage_error_is_escaped(self, root: Path) -> None:
        result = run(root, f"frob{PWNED}")
        assert result.exit_code == ExitCode.USAGE
        assert f"frob{PWNED_SHOWN}" in result.stderr
        assert raw_controls(result.stderr) == []

    def test_os_error_naming_a_hostile_file_is_escaped(self, root: Path, tmp_path: Path) -> None:
        digest = put_labelled(root, {})
        target = tmp_path / f"missing{PWNED}" / "out"
        result = run(root, "get", digest, "-o", str(target))
        assert result.exit_code == ExitCode.IO_ERROR
        assert f"missing{PWNED_SHOWN}" in result.stderr
        assert raw_controls(result.stderr) == []

    def test_resume_hint_for_a_hostile_ref_is_escaped(self, root: Path) -> None:
        result = run(root, "ingest", f"r{PWNED}", "--expected-size", "10", input=b"abc")
        assert result.exit_code == ExitCode.SHORT_READ
        assert result.stderr.count(f"r{PWNED_SHOWN}") == 2
        assert raw_controls(result.stderr) == []

    def test_note_naming_a_hostile_ref_is_escaped(self, root: Path) -> None:
        leave_ingest(root, f"r{PWNED}")
        result = run(root, "ingest", f"r{PWNED}", "--expected-size", "10", input=b"abcdefghij")
        assert result.exit_code == 0
        assert f"resuming ingest 'r{PWNED_SHOWN}' at offset 3" in result.stderr
        assert raw_controls(result.stderr) == []

    def test_progress_bar_shows_a_hostile_ref_as_plain_text(self, root: Path) -> None:
        result = run(root, "ingest", f"[link=e]{PWNED}", "--progress", input=b"data")
        assert result.exit_code == 0
        assert f"[link=e]{PWNED_SHOWN}" in result.stderr
        assert "\x1b]8;" not in result.stderr  # no hyperlink was drawn
        assert "\x1b]0;" not in result.stderr


class TestLibraryLogs:
    def test_a_warning_is_printed_escaped(self, capsys: pytest.CaptureFixture[str]) -> None:
        with library_warnings():
            logging.getLogger("aiocontent").warning("odd file %s", f"x{PWNED}")
        assert capsys.readouterr().err == f"aiocontent: warning: odd file x{PWNED_SHOWN}\n"

    def test_a_command_shows_the_library_log_as_an_aiocontent_line(self, root: Path) -> None:
        result = run(root, "active", "ref~=(")
        assert result.exit_code == 0
        assert result.stderr.startswith("aiocontent: error: filters: could not compile")

    def test_is_detached_after_the_block(self) -> None:
        logger = logging.getLogger("aiocontent")
        before = list(logger.handlers)
        with library_warnings():
            pass
        assert logger.handlers == before


class TestBug:
    def test_unexpected_exception_is_printed_escaped_and_exits_1(
        self,
        root: Path,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        def broken(*args: object) -> str:
            raise ValueError(f"bad {PWNED}")

        monkeypatch.setattr(_commands_blobs, "format_table", broken)
        monkeypatch.setattr(sys, "argv", ["aiocontent", "--root", str(root), "ls"])
        with pytest.raises(SystemExit) as exited:
            main()
        assert exited.value.code == ExitCode.PROBLEM
        err = capsys.readouterr().err
        assert raw_controls(err) == []
        assert "Traceback (most recent call last):" in err
        assert err.endswith(
            f"aiocontent: unexpected error: ValueError: bad {PWNED_SHOWN} "
            "(a bug: please report it)\n"
        )
