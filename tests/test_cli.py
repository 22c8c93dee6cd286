"""The ``aiocontent`` command line, through click's test runner, on a LocalStore in a tmp dir."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import timedelta
from pathlib import Path

import anyio
import pytest
from click.testing import CliRunner, Result

from aiocontent import Descriptor, with_descriptor, with_ref
from aiocontent._cli import ExitCode, cli
from aiocontent._cli._app import default_root
from aiocontent._cli._output import human_size, parse_duration
from aiocontent._errors import InvalidArgumentError
from aiocontent._local import LocalStore

COMMANDS = ("ingest", "get", "info", "ls", "rm", "label", "active", "abort", "prune", "verify")
BAD_DIGEST = "sha256:nothex"
MISSING = "sha256:" + "0" * 64


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "store"


def run(root: Path, *args: str, input: bytes | None = None) -> Result:
    """Invoke ``aiocontent <args> --root <root>`` in-process; bugs raise instead of exiting."""
    runner = CliRunner()
    return runner.invoke(
        cli, [*args, "--root", str(root)], input=input, catch_exceptions=False, env={}
    )


def ingest(root: Path, ref: str, data: bytes, *options: str) -> str:
    result = run(root, "ingest", ref, "-", *options, input=data)
    assert result.exit_code == 0, result.stderr
    return result.stdout.strip()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def blob_path(root: Path, digest: str) -> Path:
    alg, _, enc = digest.partition(":")
    return root / "blobs" / alg / enc


def corrupt(root: Path, digest: str) -> None:
    path = blob_path(root, digest)
    path.chmod(0o644)
    path.write_bytes(b"not the original bytes")


def leave_ingest(root: Path, ref: str, data: bytes, total: int = 0) -> None:
    """An unfinished ingest of ``data`` under ``ref``, as an interrupted write leaves it."""

    async def main() -> None:
        async with LocalStore(root) as store:
            cw = await store.writer(with_ref(ref), with_descriptor(Descriptor(size=total)))
            async with cw:
                await cw.write(data)

    anyio.run(main)


class TestHelp:
    def test_group_help_lists_every_command_and_exit_status(self, root: Path) -> None:
        result = CliRunner().invoke(cli, ["--help"])
        assert result.exit_code == 0
        for name in COMMANDS:
            assert f"  {name} " in result.stdout
        assert "Exit status:" in result.stdout
        assert "130" in result.stdout

    @pytest.mark.parametrize("name", COMMANDS)
    def test_command_help_shows_root_and_exit_status(self, name: str) -> None:
        result = CliRunner().invoke(cli, [name, "--help"])
        assert result.exit_code == 0
        assert "--root" in result.stdout
        assert "Exit status:" in result.stdout

    def test_usage_error_is_one_line_with_exit_2(self, root: Path) -> None:
        result = run(root, "ingest", "ref", "--bogus")
        assert result.exit_code == ExitCode.USAGE
        assert result.stderr.count("\n") == 1
        assert "--bogus" in result.stderr
        assert "aiocontent ingest --help" in result.stderr

    def test_unknown_command_exits_2(self) -> None:
        result = CliRunner().invoke(cli, ["frobnicate"])
        assert result.exit_code == ExitCode.USAGE
        assert "frobnicate" in result.stderr


class TestIngest:
    def test_prints_digest_of_file(self, root: Path, tmp_path: Path) -> None:
        src = tmp_path / "README.md"
        src.write_bytes(b"# hello\n")
        result = run(root, "ingest", "myref", str(src))
        assert result.exit_code == 0
        assert result.stdout == sha256(b"# hello\n") + "\n"

    @pytest.mark.parametrize("args", [(), ("-",)])
    def test_reads_standard_input(self, root: Path, args: tuple[str, ...]) -> None:
        result = run(root, "ingest", "r", *args, input=b"from stdin")
        assert result.stdout.strip() == sha256(b"from stdin")

    def test_creates_the_root_on_first_use(self, root: Path) -> None:
        ingest(root, "r", b"x")
        assert (root / "blobs" / "sha256").is_dir()

    def test_applies_labels(self, root: Path) -> None:
        digest = ingest(root, "r", b"labelled", "--label", "app=web", "--label", "tier=1")
        info = json.loads(run(root, "info", digest).stdout)
        assert info["labels"] == {"app": "web", "tier": "1"}

    def test_labels_apply_when_blob_already_exists(self, root: Path) -> None:
        digest = ingest(root, "r", b"twice")
        ingest(root, "r2", b"twice", "--label", "again=yes")
        assert json.loads(run(root, "info", digest).stdout)["labels"] == {"again": "yes"}

    def test_expected_digest_match_commits(self, root: Path) -> None:
        data = b"checked"
        assert ingest(root, "r", data, "--expected-digest", sha256(data)) == sha256(data)

    def test_existing_expected_digest_does_not_read_input(self, root: Path) -> None:
        digest = ingest(root, "r", b"present")
        result = run(root, "ingest", "r2", "-", "--expected-digest", digest, input=b"other")
        assert result.exit_code == 0
        assert result.stdout.strip() == digest
        assert "already exists" in result.stderr

    def test_digest_mismatch_exits_6_and_keeps_ingest(self, root: Path) -> None:
        result = run(root, "ingest", "r", "-", "--expected-digest", MISSING, input=b"abc")
        assert result.exit_code == ExitCode.FAILED_PRECONDITION
        assert MISSING in result.stderr
        assert "discard it with 'aiocontent abort r'" in result.stderr
        assert "run the same command again" not in result.stderr
        assert run(root, "active", "-q").stdout == "r\n"

    def test_short_input_exits_8_and_says_how_to_resume(self, root: Path) -> None:
        result = run(root, "ingest", "r", "-", "--expected-size", "10", input=b"abc")
        assert result.exit_code == ExitCode.SHORT_READ
        assert result.stderr.count("\n") == 1
        assert "kept at offset 3" in result.stderr
        assert "run the same command again" in result.stderr
        assert "3 B / 10 B (30%)" in run(root, "active").stdout

    def test_abort_hint_quotes_a_ref_for_the_shell(self, root: Path) -> None:
        result = run(root, "ingest", "my ref", "-", "--expected-size", "10", input=b"abc")
        assert result.exit_code == ExitCode.SHORT_READ
        assert "discard it with \"aiocontent abort 'my ref'\"" in result.stderr

    def test_rerun_with_full_stdin_resumes_short_ingest(self, root: Path) -> None:
        data = b"0123456789"
        run(root, "ingest", "r", "-", "--expected-size", "10", input=data[:4])
        result = run(root, "ingest", "r", "-", "--expected-size", "10", input=data)
        assert result.exit_code == 0
        assert result.stdout.strip() == sha256(data)
        assert "resuming ingest 'r' at offset 4" in result.stderr
        assert run(root, "active", "-q").stdout == ""

    def test_resumes_interrupted_ingest_from_file(self, root: Path, tmp_path: Path) -> None:
        data = os.urandom(200_000)
        leave_ingest(root, "big", data[:70_000], total=len(data))
        src = tmp_path / "big.bin"
        src.write_bytes(data)
        result = run(root, "ingest", "big", str(src))
        assert result.exit_code == 0
        assert result.stdout.strip() == sha256(data)
        assert "at offset 70000" in result.stderr

    def test_longer_input_than_expected_size_exits_6(self, root: Path) -> None:
        result = run(root, "ingest", "r", "-", "--expected-size", "2", input=b"abc")
        assert result.exit_code == ExitCode.FAILED_PRECONDITION

    @pytest.mark.parametrize(
        ("args", "named"),
        [
            (("", "-"), "ref"),
            (("r", "-", "--expected-size", "-1"), "-1"),
            (("r", "-", "--expected-digest", BAD_DIGEST), BAD_DIGEST),
            (("r", "-", "--label", "novalue"), "novalue"),
            (("r", "-", "--label", "=v"), "=v"),
        ],
    )
    def test_bad_values_exit_7_and_name_the_value(
        self, root: Path, args: tuple[str, ...], named: str
    ) -> None:
        result = run(root, "ingest", *args, input=b"data")
        assert result.exit_code == ExitCode.INVALID_ARGUMENT
        assert named in result.stderr
        assert result.stderr.count("\n") == 1
        assert not (root / "ingest").exists() or not any((root / "ingest").iterdir())

    def test_missing_file_is_a_usage_error(self, root: Path, tmp_path: Path) -> None:
        result = run(root, "ingest", "r", str(tmp_path / "nope"))
        assert result.exit_code == ExitCode.USAGE
        assert "nope" in result.stderr

    def test_quiet_prints_only_the_digest(self, root: Path) -> None:
        run(root, "ingest", "r", "-", "--expected-size", "5", input=b"ab")
        result = run(root, "ingest", "r", "-", "-q", input=b"abcde")
        assert result.stdout.strip() == sha256(b"abcde")
        assert result.stderr == ""

    def test_trio_backend_round_trip(self, root: Path) -> None:
        digest = ingest(root, "r", b"on trio", "--backend", "trio")
        assert run(root, "get", digest, "--backend", "trio").stdout_bytes == b"on trio"


class TestGet:
    def test_binary_round_trip(self, root: Path) -> None:
        data = os.urandom(300_000) + b"\x00\r\n\x1a\xff"
        digest = ingest(root, "bin", data)
        result = run(root, "get", digest)
        assert result.exit_code == 0
        assert result.stdout_bytes == data

    def test_writes_to_output_file(self, root: Path, tmp_path: Path) -> None:
        digest = ingest(root, "r", b"to a file")
        out = tmp_path / "out.bin"
        result = run(root, "get", digest, "-o", str(out))
        assert result.exit_code == 0
        assert result.stdout_bytes == b""
        assert out.read_bytes() == b"to a file"

    def test_missing_output_directory_exits_9_naming_the_output(
        self, root: Path, tmp_path: Path
    ) -> None:
        digest = ingest(root, "r", b"x")
        target = tmp_path / "missing" / "out.bin"
        result = run(root, "get", digest, "-o", str(target))
        assert result.exit_code == ExitCode.IO_ERROR
        assert result.stderr == f"aiocontent: No such file or directory: {target}\n"

    @pytest.mark.parametrize("value", ["", "x/..", "newdir/"])
    def test_output_naming_no_file_is_a_usage_error_naming_it(self, root: Path, value: str) -> None:
        digest = ingest(root, "r", b"x")
        result = run(root, "get", digest, "-o", value)
        assert result.exit_code == ExitCode.USAGE
        assert f"{value!r} names no file" in result.stderr

    def test_missing_blob_exits_3(self, root: Path) -> None:
        result = run(root, "get", MISSING)
        assert result.exit_code == ExitCode.NOT_FOUND
        assert MISSING in result.stderr

    def test_corrupt_blob_exits_6_and_leaves_output_untouched(
        self, root: Path, tmp_path: Path
    ) -> None:
        digest = ingest(root, "r", b"good bytes")
        corrupt(root, digest)
        out = tmp_path / "out.bin"
        result = run(root, "get", digest, "-o", str(out))
        assert result.exit_code == ExitCode.FAILED_PRECONDITION
        assert "aiocontent verify" in result.stderr
        assert not out.exists()
        assert list(tmp_path.glob(".out.bin.*")) == []


@pytest.mark.parametrize(
    "args",
    [
        ("get", BAD_DIGEST),
        ("info", BAD_DIGEST),
        ("rm", BAD_DIGEST),
        ("label", BAD_DIGEST, "a=b"),
        ("verify", BAD_DIGEST),
    ],
)
def test_malformed_digest_exits_7_and_names_it(root: Path, args: tuple[str, ...]) -> None:
    result = run(root, *args)
    assert result.exit_code == ExitCode.INVALID_ARGUMENT
    assert BAD_DIGEST in result.stderr
    assert result.stderr.count("\n") == 1


def test_info_prints_json(root: Path) -> None:
    digest = ingest(root, "r", b"12345", "--label", "k=v")
    info = json.loads(run(root, "info", digest).stdout)
    assert info["digest"] == digest
    assert info["size"] == 5
    assert info["labels"] == {"k": "v"}
    assert info["created_at"].endswith("Z")


def test_info_missing_exits_3(root: Path) -> None:
    assert run(root, "info", MISSING).exit_code == ExitCode.NOT_FOUND


class TestLs:
    def test_table_shows_digest_human_size_created_and_labels(self, root: Path) -> None:
        digest = ingest(root, "r", b"x" * 2048, "--label", "app=web")
        lines = run(root, "ls").stdout.splitlines()
        assert lines[0].split() == ["DIGEST", "SIZE", "CREATED", "LABELS"]
        assert digest in lines[1]
        assert "2.0 KiB" in lines[1]
        assert lines[1].endswith("app=web")

    def test_empty_store_prints_header_only(self, root: Path) -> None:
        result = run(root, "ls")
        assert result.exit_code == 0
        assert result.stdout.split() == ["DIGEST", "SIZE", "CREATED", "LABELS"]

    def test_quiet_prints_digests_only(self, root: Path) -> None:
        a, b = ingest(root, "a", b"a"), ingest(root, "b", b"b")
        assert run(root, "ls", "-q").stdout.split() == sorted([a, b])

    def test_json(self, root: Path) -> None:
        digest = ingest(root, "a", b"a")
        listed = json.loads(run(root, "ls", "--json").stdout)
        assert [entry["digest"] for entry in listed] == [digest]

    @pytest.mark.parametrize(
        ("filters", "expected"),
        [
            (("labels.app==web",), ["web"]),
            (("labels.app!=web",), ["db", "plain"]),
            (("labels.app",), ["db", "web"]),
            (("size==4",), ["plain"]),
            (("labels.app==web", "labels.app==db"), ["db", "web"]),
            (("labels.app==web,size==3",), ["web"]),
        ],
    )
    def test_filters(self, root: Path, filters: tuple[str, ...], expected: list[str]) -> None:
        names = {
            ingest(root, "w", b"web", "--label", "app=web"): "web",
            ingest(root, "d", b"dbx", "--label", "app=db"): "db",
            ingest(root, "p", b"none"): "plain",
        }
        listed = run(root, "ls", "-q", *filters).stdout.split()
        assert sorted(names[d] for d in listed) == expected

    def test_digest_filter(self, root: Path) -> None:
        digest = ingest(root, "a", b"a")
        ingest(root, "b", b"b")
        assert run(root, "ls", "-q", f"digest=={digest}").stdout.split() == [digest]

    def test_malformed_filter_exits_7(self, root: Path) -> None:
        result = run(root, "ls", "labels.x=y")
        assert result.exit_code == ExitCode.INVALID_ARGUMENT
        assert "labels.x" in result.stderr


class TestRm:
    def test_deletes_blob(self, root: Path) -> None:
        digest = ingest(root, "r", b"gone")
        assert run(root, "rm", digest).exit_code == 0
        assert run(root, "ls", "-q").stdout == ""

    def test_missing_exits_3_after_deleting_the_others(self, root: Path) -> None:
        digest = ingest(root, "r", b"gone")
        result = run(root, "rm", MISSING, digest)
        assert result.exit_code == ExitCode.NOT_FOUND
        assert MISSING in result.stderr
        assert run(root, "ls", "-q").stdout == ""

    def test_malformed_operand_deletes_nothing(self, root: Path) -> None:
        digest = ingest(root, "r", b"kept")
        assert run(root, "rm", digest, BAD_DIGEST).exit_code == ExitCode.INVALID_ARGUMENT
        assert run(root, "ls", "-q").stdout.split() == [digest]


class TestLabel:
    def test_sets_and_removes(self, root: Path) -> None:
        digest = ingest(root, "r", b"l", "--label", "old=1", "--label", "keep=2")
        result = run(root, "label", digest, "new=3", "old=")
        assert result.exit_code == 0
        assert result.stdout.splitlines() == ["keep=2", "new=3"]
        assert json.loads(run(root, "info", digest).stdout)["labels"] == {"keep": "2", "new": "3"}

    def test_missing_blob_exits_3(self, root: Path) -> None:
        assert run(root, "label", MISSING, "a=b").exit_code == ExitCode.NOT_FOUND

    def test_item_without_equals_exits_7(self, root: Path) -> None:
        digest = ingest(root, "r", b"l")
        result = run(root, "label", digest, "oops")
        assert result.exit_code == ExitCode.INVALID_ARGUMENT
        assert "oops" in result.stderr


class TestIngests:
    def test_active_lists_ref_progress_and_times(self, root: Path) -> None:
        leave_ingest(root, "layer-1", b"x" * 1024, total=4096)
        lines = run(root, "active").stdout.splitlines()
        assert lines[0].split() == ["REF", "PROGRESS", "STARTED", "UPDATED"]
        assert lines[1].startswith("layer-1")
        assert "1.0 KiB / 4.0 KiB (25%)" in lines[1]

    def test_active_filters_on_ref(self, root: Path) -> None:
        leave_ingest(root, "layer-1", b"x")
        leave_ingest(root, "config", b"y")
        assert run(root, "active", "-q", "ref~=^layer-").stdout.split() == ["layer-1"]

    def test_active_json(self, root: Path) -> None:
        leave_ingest(root, "r", b"abc", total=9)
        [status] = json.loads(run(root, "active", "--json").stdout)
        assert (status["ref"], status["offset"], status["total"]) == ("r", 3, 9)

    def test_active_malformed_filter_exits_7(self, root: Path) -> None:
        leave_ingest(root, "r", b"abc")
        assert run(root, "active", "ref==").exit_code == ExitCode.INVALID_ARGUMENT

    def test_abort_removes_ingest(self, root: Path) -> None:
        leave_ingest(root, "r", b"abc")
        assert run(root, "abort", "r").exit_code == 0
        assert run(root, "active", "-q").stdout == ""

    def test_abort_missing_exits_3(self, root: Path) -> None:
        result = run(root, "abort", "nope")
        assert result.exit_code == ExitCode.NOT_FOUND
        assert "nope" in result.stderr

    def test_prune_removes_stale_ingests(self, root: Path) -> None:
        leave_ingest(root, "stale", b"abc")
        result = run(root, "prune", "--older-than", "0s")
        assert result.exit_code == 0
        assert result.stdout.split() == ["stale"]
        assert run(root, "active", "-q").stdout == ""

    def test_prune_keeps_recent_ingests(self, root: Path) -> None:
        leave_ingest(root, "fresh", b"abc")
        assert run(root, "prune", "--older-than", "24h").stdout == ""
        assert run(root, "active", "-q").stdout.split() == ["fresh"]

    @pytest.mark.parametrize("value", ["1x", "", "h", "-5m", "24"])
    def test_prune_bad_duration_exits_7(self, root: Path, value: str) -> None:
        result = run(root, "prune", "--older-than", value)
        assert result.exit_code == ExitCode.INVALID_ARGUMENT
        assert repr(value) in result.stderr

    @pytest.mark.parametrize("value", ["99999999d", "99999999999999999999999w"])
    def test_prune_duration_reaching_before_year_1_exits_7(self, root: Path, value: str) -> None:
        result = run(root, "prune", "--older-than", value)
        assert result.exit_code == ExitCode.INVALID_ARGUMENT
        assert f"duration {value!r} is too long" in result.stderr


class TestVerify:
    def test_intact_store_exits_0(self, root: Path) -> None:
        ingest(root, "a", b"a")
        result = run(root, "verify")
        assert result.exit_code == 0
        assert result.stdout == ""
        assert "verified 1 blob: 0 bad" in result.stderr

    def test_corrupt_blob_exits_1_and_is_named(self, root: Path) -> None:
        good = ingest(root, "a", b"a")
        bad = ingest(root, "b", b"b")
        corrupt(root, bad)
        result = run(root, "verify")
        assert result.exit_code == ExitCode.PROBLEM
        assert result.stdout.startswith(f"corrupt {bad}")
        assert good not in result.stdout

    def test_named_digest_only(self, root: Path) -> None:
        good = ingest(root, "a", b"a")
        corrupt(root, ingest(root, "b", b"b"))
        assert run(root, "verify", good).exit_code == 0

    def test_quarantine_takes_corrupt_blob_out_of_the_store(self, root: Path) -> None:
        bad = ingest(root, "b", b"b")
        corrupt(root, bad)
        assert run(root, "verify", "--quarantine").exit_code == ExitCode.PROBLEM
        assert run(root, "ls", "-q").stdout == ""
        assert run(root, "verify").exit_code == 0

    def test_json(self, root: Path) -> None:
        bad = ingest(root, "b", b"b")
        corrupt(root, bad)
        [problem] = json.loads(run(root, "verify", "--json").stdout)
        assert (problem["digest"], problem["kind"]) == (bad, "corrupt")

    def test_named_missing_exits_3(self, root: Path) -> None:
        assert run(root, "verify", MISSING).exit_code == ExitCode.NOT_FOUND


class TestProgress:
    """CliRunner is not a terminal: bars only appear when forced with ``--progress``."""

    def test_no_bars_without_a_terminal(self, root: Path) -> None:
        result = run(root, "ingest", "r", "-", input=b"x" * 1000)
        assert result.stderr == ""

    def test_ingest_draws_a_bar_when_forced(self, root: Path) -> None:
        result = run(root, "ingest", "myref", "-", "--progress", input=b"x" * 100_000)
        assert result.exit_code == 0
        assert "myref" in result.stderr
        assert "\x1b[" in result.stderr

    def test_get_draws_a_bar_when_forced(self, root: Path) -> None:
        digest = ingest(root, "r", b"y" * 100_000)
        result = run(root, "get", digest, "--progress")
        assert result.stdout_bytes == b"y" * 100_000
        assert "\x1b[" in result.stderr

    def test_verify_draws_a_bar_when_forced_and_still_finds_corruption(self, root: Path) -> None:
        bad = ingest(root, "r", b"z" * 1000)
        corrupt(root, bad)
        result = run(root, "verify", "--progress")
        assert result.exit_code == ExitCode.PROBLEM
        assert "verify" in result.stderr
        assert result.stdout.count(bad) == 1


def test_os_error_exits_9(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    under_a_file = tmp_path / "file" / "store"
    result = run(under_a_file, "ls")
    assert result.exit_code == ExitCode.IO_ERROR
    assert str(under_a_file) in result.stderr
    assert result.stderr.count("\n") == 1


class TestDefaultRoot:
    def test_env_var_wins(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        monkeypatch.setenv("AIOCONTENT_ROOT", str(tmp_path / "r"))
        assert default_root() == tmp_path / "r"

    def test_xdg_data_home(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        monkeypatch.delenv("AIOCONTENT_ROOT", raising=False)
        monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
        assert default_root() == tmp_path / "aiocontent"

    def test_home_fallback(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        monkeypatch.delenv("AIOCONTENT_ROOT", raising=False)
        monkeypatch.delenv("XDG_DATA_HOME", raising=False)
        monkeypatch.setenv("HOME", str(tmp_path))
        assert default_root() == tmp_path / ".local" / "share" / "aiocontent"

    def test_commands_use_the_env_root(self, tmp_path: Path) -> None:
        env = {"AIOCONTENT_ROOT": str(tmp_path / "envroot")}
        runner = CliRunner()
        result = runner.invoke(cli, ["ingest", "r", "-"], input=b"e", env=env)
        assert result.exit_code == 0
        listed = runner.invoke(cli, ["ls", "-q"], env=env)
        assert listed.stdout.strip() == sha256(b"e")
        assert (tmp_path / "envroot" / "blobs").is_dir()


@pytest.mark.parametrize(
    ("n", "text"),
    [(0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (1536, "1.5 KiB"), (5 << 20, "5.0 MiB")],
)
def test_human_size(n: int, text: str) -> None:
    assert human_size(n) == text


@pytest.mark.parametrize(
    ("text", "delta"),
    [
        ("90s", timedelta(seconds=90)),
        ("30m", timedelta(minutes=30)),
        ("24h", timedelta(hours=24)),
        ("7d", timedelta(days=7)),
        ("2w", timedelta(weeks=2)),
        ("1h30m", timedelta(minutes=90)),
        ("0", timedelta()),
    ],
)
def test_parse_duration(text: str, delta: timedelta) -> None:
    assert parse_duration(text) == delta


def test_parse_duration_rejects_garbage() -> None:
    with pytest.raises(InvalidArgumentError, match="'5 parsecs'"):
        parse_duration("5 parsecs")
