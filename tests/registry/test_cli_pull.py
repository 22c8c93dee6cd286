"""``aiocontent pull`` against the real registry: output, summary, exit statuses."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from aiocontent._cli import cli
from aiocontent._cli._pull import COMMANDS, pull_command, register

from .conftest import Registry

pytestmark = pytest.mark.registry


def run(root: Path, *args: str) -> click.testing.Result:
    """Invoke ``aiocontent pull <args> --root <root>`` in-process through a group like ``cli``."""
    group = type(cli)("aiocontent")
    register(group)
    return CliRunner().invoke(
        group, ["pull", *args, "--root", str(root)], catch_exceptions=False, env={}
    )


def test_cli_pull_prints_root_digest_and_summary(tmp_path: Path, registry: Registry) -> None:
    reference = f"{registry.host}/test/multi:v1"
    result = run(tmp_path, "--plain-http", "--platform", "linux/arm64", "--progress", reference)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{registry.multi.root}\n"
    # The index, the arm64 manifest, its config and two layers: all five count.
    assert f"pulled {reference}: 5 blobs, 5 downloaded" in result.stderr
    again = run(tmp_path, "--plain-http", "--platform", "linux/arm64", reference)
    assert again.exit_code == 0
    assert "0 downloaded (0 bytes), 5 already present" in again.stderr


def test_cli_pull_missing_image_exits_not_found(tmp_path: Path, registry: Registry) -> None:
    result = run(tmp_path, "--plain-http", f"{registry.host}/test/missing:v1")
    assert result.exit_code == 3
    assert "test/missing" in result.stderr
    assert "not found" in result.stderr


def test_cli_pull_bad_reference_exits_invalid_argument(tmp_path: Path) -> None:
    result = run(tmp_path, "--plain-http", "127.0.0.1:1/BAD")
    assert result.exit_code == 7
    assert "'BAD'" in result.stderr


def test_register_adds_pull_command() -> None:
    group = click.Group()
    register(group)
    assert group.commands == {"pull": pull_command}
    assert (pull_command,) == COMMANDS


def test_cli_pull_all_platforms_takes_every_manifest(tmp_path: Path, registry: Registry) -> None:
    reference = f"{registry.host}/test/multi:v1"
    result = run(tmp_path, "--plain-http", "--all-platforms", reference)
    assert result.exit_code == 0, result.output
    # The index, two manifests, two configs, the shared layer and two own layers.
    assert f"pulled {reference}: 8 blobs, 8 downloaded" in result.stderr


def test_cli_pull_all_platforms_excludes_platform(tmp_path: Path, registry: Registry) -> None:
    reference = f"{registry.host}/test/multi:v1"
    result = run(
        tmp_path, "--plain-http", "--all-platforms", "--platform", "linux/amd64", reference
    )
    assert result.exit_code == 2
    assert "--all-platforms" in result.stderr
