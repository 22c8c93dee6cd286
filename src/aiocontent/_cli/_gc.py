"""The 'gc' command: garbage-collect the store as containerd would, optionally to a size."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Final

import click

from .._errors import InvalidArgumentError
from .._gc import GCReport, collect_garbage
from ._app import Env, command, fail, store_command
from ._output import echo, human_size, parse_duration, to_json

if TYPE_CHECKING:
    from ..server import RegistryMetadata

__all__ = ("COMMANDS", "gc", "parse_size")

_SIZE: Final = re.compile(r"([0-9]+)\s*([KMGTP]?)(i?B)?", re.IGNORECASE)
_POWERS: Final = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5}


def parse_size(text: str) -> int:
    """A size such as ``512``, ``500M``, ``20G`` or ``1TiB``: binary units (G is 2**30).

    :raises ~aiocontent.InvalidArgumentError: not ``<integer>[K|M|G|T|P][iB|B]``.
    """
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise InvalidArgumentError(
            f"invalid size {text!r}: use a number and an optional unit K, M, G, T or P "
            "(500M, 20G): invalid argument"
        )
    return int(match.group(1)) << (10 * _POWERS[match.group(2).lower()])


def _registry_metadata(root: Path) -> RegistryMetadata | None:
    """The registry metadata ``aiocontent serve`` keeps under the root, if there is one."""
    if not (root / "registry").is_dir():
        return None
    try:
        from ..server._metadata_local import LocalMetadata
    except ImportError as exc:
        fail(
            f"{root / 'registry'} holds registry metadata, whose tags and manifests are roots, "
            f"but it cannot be read without the [server] extra ({exc}); refusing to collect",
            1,
        )
    return LocalMetadata(root / "registry")


def _summary(report: GCReport) -> str:
    verb = "would delete" if report.dry_run else "deleted"
    evicted = f", {len(report.evicted)} registry images evicted" if report.evicted else ""
    spared = f", {report.spared} spared (used meanwhile)" if report.spared else ""
    return (
        f"{verb} {len(report.deleted)} of {report.blobs} blobs "
        f"({human_size(report.deleted_bytes)}), kept {report.kept} "
        f"({human_size(report.kept_bytes)}){evicted}{spared} in {report.seconds:.1f} s"
    )


@command("Delete what no root reaches (containerd's GC); print the digests deleted.")
@click.option("--dry-run", is_flag=True, help="Only print what would be deleted.")
@click.option(
    "--grace",
    default="1h",
    show_default=True,
    metavar="DURATION",
    help="Keep anything created, labelled or used (by a pull, a push or a cache serving it) "
    "this recently: 0, 30m, 1h, 7d.",
)
@click.option(
    "--max-size",
    default=None,
    metavar="SIZE",
    help="Also evict registry images, least recently used first, until the store "
    "keeps at most SIZE (500M, 20G); gc.root-labelled content always stays.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as a JSON object.")
@store_command
def gc(env: Env, dry_run: bool, grace: str, max_size: str | None, as_json: bool) -> None:
    """Garbage-collect the store with containerd's rules.

    Roots are blobs labelled containerd.io/gc.root, the digests ingests expect,
    the tags and manifests of a registry served from this root, and anything
    newer than the grace period; containerd.io/gc.ref.content* labels (and the
    registry's manifest references) lead from a blob to the ones it needs.
    Everything else is deleted. Ingests are left alone (see 'prune').
    """
    seconds = parse_duration(grace).total_seconds()
    limit = parse_size(max_size) if max_size is not None else None
    metadata = _registry_metadata(env.root)

    async def main() -> GCReport:
        async with env.open_store() as store:
            return await collect_garbage(
                store, grace=seconds, dry_run=dry_run, max_size=limit, metadata=metadata
            )

    report = env.run(main)
    if as_json:
        click.echo(to_json(report.to_dict()))
    else:
        for digest in report.deleted:
            echo(str(digest))
    env.note(_summary(report))


COMMANDS = (gc,)
