"""``aiocontent gc``: dry runs, JSON reports, the grace period, sizes, registry roots."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest
from click.testing import CliRunner, Result

from aiocontent import Digest, LocalStore
from aiocontent._cli import ExitCode, cli
from aiocontent._cli._gc import parse_size
from aiocontent.server import ManifestRecord

from ._population import Image, age, put, put_image


def run(root: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, [*args, "--root", str(root)], catch_exceptions=False, env={})


def make(root: Path) -> tuple[Image, Image]:
    async def main() -> tuple[Image, Image]:
        async with LocalStore(root) as store:
            kept = await put_image(store, "kept", root=True)
            gone = await put_image(store, "gone", root=False)
        for digest in [*kept.blobs, *gone.blobs]:
            age(root, digest, 7200)
        return kept, gone

    return anyio.run(main)


def listed(root: Path) -> set[str]:
    return {line for line in run(root, "ls", "--quiet").output.splitlines() if line}


def test_dry_run_prints_what_would_go_and_keeps_it(tmp_path: Path) -> None:
    kept, gone = make(tmp_path)
    result = run(tmp_path, "gc", "--dry-run")
    assert result.exit_code == 0, result.output
    assert set(result.stdout.split()) == set(gone.blobs)
    assert listed(tmp_path) == set(kept.blobs) | set(gone.blobs)


def test_json_report_of_a_real_collection(tmp_path: Path) -> None:
    kept, gone = make(tmp_path)
    result = run(tmp_path, "gc", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert set(report["deleted"]) == set(gone.blobs)
    assert report["kept"] == len(kept.blobs) and report["dry_run"] is False
    assert listed(tmp_path) == set(kept.blobs)


def test_grace_longer_than_the_age_keeps_everything(tmp_path: Path) -> None:
    make(tmp_path)
    result = run(tmp_path, "gc", "--grace", "3h", "--json")
    assert json.loads(result.stdout)["deleted"] == []


def test_bad_size_is_an_invalid_argument_naming_it(tmp_path: Path) -> None:
    result = run(tmp_path, "gc", "--max-size", "twenty")
    assert result.exit_code == ExitCode.INVALID_ARGUMENT
    assert "twenty" in result.stderr


@pytest.mark.parametrize(
    ("text", "size"), [("512", 512), ("500M", 500 << 20), ("20G", 20 << 30), ("1TiB", 1 << 40)]
)
def test_sizes_are_binary(text: str, size: int) -> None:
    assert parse_size(text) == size


def test_registry_served_from_the_root_keeps_its_tags(tmp_path: Path) -> None:
    from aiocontent.server._metadata_local import LocalMetadata

    async def main() -> str:
        async with LocalStore(tmp_path) as store:
            digest = await put(store, b"a pushed manifest")
        record = ManifestRecord(Digest(digest), "application/vnd.oci.image.manifest.v1+json", 17)
        await LocalMetadata(tmp_path / "registry").put_manifest("team/app", record, ["v1"])
        age(tmp_path, digest, 7200)
        return digest

    digest = anyio.run(main)
    result = run(tmp_path, "gc", "--json")
    assert json.loads(result.stdout)["deleted"] == []
    assert listed(tmp_path) == {digest}
