"""The shared options (``--root``, ``-q``) before the command as well as after it.

``aiocontent --root DIR ls`` is what a newcomer types first; ``ls --root DIR``
keeps working, the one after the command wins when both are given, and
``$AIOCONTENT_ROOT`` applies when neither is.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import anyio
import pytest
from click.testing import CliRunner, Result

from aiocontent._cli import cli

from .test_cli_process import env_for

T = TypeVar("T")


def invoke(*args: str, input: bytes | None = None, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False, env=env or {})


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_root_before_the_command_is_used(tmp_path: Path) -> None:
    root = tmp_path / "store"
    assert invoke("--root", str(root), "ingest", "r", input=b"before").exit_code == 0
    result = invoke("ls", "-q", "--root", str(root))
    assert result.stdout == f"{sha256(b'before')}\n"


def test_root_after_the_command_wins_over_the_one_before(tmp_path: Path) -> None:
    before, after = tmp_path / "before", tmp_path / "after"
    invoke("--root", str(before), "ingest", "r", "--root", str(after), input=b"x")
    assert (after / "blobs" / "sha256").is_dir()
    assert not before.exists()


def test_root_before_the_command_wins_over_the_environment(tmp_path: Path) -> None:
    given, from_env = tmp_path / "given", tmp_path / "env"
    invoke("--root", str(given), "ingest", "r", input=b"x", env={"AIOCONTENT_ROOT": str(from_env)})
    assert (given / "blobs" / "sha256").is_dir()
    assert not from_env.exists()


def test_environment_root_applies_without_an_option(tmp_path: Path) -> None:
    from_env = tmp_path / "env"
    invoke("ingest", "r", input=b"x", env={"AIOCONTENT_ROOT": str(from_env)})
    assert (from_env / "blobs" / "sha256").is_dir()


def test_quiet_before_the_command_drops_the_table_header(tmp_path: Path) -> None:
    root = tmp_path / "store"
    invoke("ingest", "r", "--root", str(root), input=b"quiet")
    result = invoke("-q", "--root", str(root), "ls")
    assert result.stdout == f"{sha256(b'quiet')}\n"


def test_quiet_before_the_command_drops_notes(tmp_path: Path) -> None:
    root = tmp_path / "store"
    result = invoke("-q", "--root", str(root), "verify")
    assert result.exit_code == 0
    assert result.stderr == ""


def test_progress_before_the_command_draws_a_bar(tmp_path: Path) -> None:
    result = invoke("--progress", "--root", str(tmp_path), "ingest", "bar", input=b"x" * 4096)
    assert result.exit_code == 0
    assert "bar" in result.stderr


def test_backend_before_the_command_runs_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backends: list[str] = []
    real_run = anyio.run

    def recording_run(fn: Callable[[], Awaitable[T]], *, backend: str) -> T:
        backends.append(backend)
        return real_run(fn, backend=backend)

    monkeypatch.setattr(anyio, "run", recording_run)
    result = invoke("--backend", "trio", "--root", str(tmp_path), "ingest", "r", input=b"trio")
    assert result.stdout == f"{sha256(b'trio')}\n"
    assert backends == ["trio"]


def test_group_help_says_the_option_after_the_command_wins() -> None:
    result = invoke("--help")
    assert "--root DIRECTORY" in result.stdout
    text = " ".join(result.stdout.split())
    assert "a --root after the command wins" in text
    assert "when both are given, the one after the command wins" in text


def test_bad_root_before_the_command_is_a_usage_error_naming_it(tmp_path: Path) -> None:
    file = tmp_path / "a-file"
    file.write_bytes(b"")
    result = invoke("--root", str(file), "ls")
    assert result.exit_code == 2
    assert str(file) in result.stderr


@pytest.mark.parametrize("args", [("--root", "", "ls"), ("ls", "--root", "")])
def test_empty_root_is_a_usage_error_not_the_current_directory(args: tuple[str, ...]) -> None:
    result = invoke(*args)
    assert result.exit_code == 2
    assert "'' is empty" in result.stderr


def test_empty_environment_root_falls_back_to_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    env = {"AIOCONTENT_ROOT": "", "XDG_DATA_HOME": str(tmp_path / "xdg")}
    result = invoke("ingest", "r", input=b"x", env=env)
    assert result.exit_code == 0
    assert (tmp_path / "xdg" / "aiocontent" / "blobs" / "sha256").is_dir()
    assert not (tmp_path / "blobs").exists()


def test_python_m_aiocontent_takes_root_before_the_command(tmp_path: Path) -> None:
    root, env_root = tmp_path / "store", tmp_path / "env-root"
    env = env_for(env_root)
    done = subprocess.run(
        [sys.executable, "-m", "aiocontent", "--root", str(root), "ingest", "r", "-"],
        input=b"process",
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    listed = subprocess.run(
        [sys.executable, "-m", "aiocontent", "--root", str(root), "ls", "-q"],
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert listed.stdout.decode() == f"{sha256(b'process')}\n"
    assert not env_root.exists()
