"""Commands about writing: 'ingest', and the ingest managers 'active', 'abort', 'prune'."""

from __future__ import annotations

import shlex
from datetime import timedelta
from pathlib import Path
from typing import IO

import anyio
import click

from .._digest import Digest
from .._errors import (
    AlreadyExistsError,
    ContentError,
    FailedPreconditionError,
    ShortReadError,
    UnavailableError,
)
from .._helpers import copy, open_writer
from .._interfaces import Manager, Writer
from .._types import (
    Descriptor,
    Info,
    Status,
    check_ref,
    with_descriptor,
    with_labels,
    with_ref,
)
from ._app import (
    Env,
    ExitCode,
    command,
    fail,
    report_each,
    store_command,
    try_each,
)
from ._output import (
    echo,
    format_table,
    format_time,
    parse_duration,
    parse_labels,
    progress_text,
    shorten,
    status_to_json,
    to_json,
)
from ._progress import InputReader, progress_bars

__all__ = ("COMMANDS", "abort", "active", "ingest", "prune")


def _abort_command(ref: str) -> str:
    """The command discarding the ingest ``ref`` (quoted for a POSIX shell), in quotes."""
    quoted = shlex.quote(ref)
    return f"'aiocontent abort {ref}'" if quoted == ref else f'"aiocontent abort {quoted}"'


def _resume_hint(ref: str, offset: int) -> str:
    skipped = f" (the first {offset} bytes are skipped)" if offset else ""
    return (
        f"ingest {ref!r} kept at offset {offset}; to resume, run the same command again "
        f"with the full input{skipped}, or discard it with {_abort_command(ref)}"
    )


async def _ensure_labels(store: Manager, digest: Digest, labels: dict[str, str]) -> None:
    """Set 'labels' on an existing blob (a commit that found the blob could not)."""
    info = await store.info(digest)
    missing = {k: v for k, v in labels.items() if info.labels.get(k) != v}
    if missing:
        await store.update(
            Info(digest=digest, labels=missing), *(f"labels.{key}" for key in missing)
        )


async def _copy_input(
    env: Env,
    cw: Writer,
    ref: str,
    f: IO[bytes],
    size: int,
    expected: str,
    labels: dict[str, str],
) -> Digest:
    """Copy 'f' into 'cw' and commit; on any failure close the writer, keeping the ingest."""
    committed = False
    try:
        start = await cw.status()
        if start.offset:
            env.note(f"resuming ingest {ref!r} at offset {start.offset}")
        with progress_bars(env.show_progress, force_terminal=bool(env.progress)) as bars:
            reader = InputReader(f)
            reader.bar = bars.bar(shorten(ref, 32), total=size or reader.size)
            opts = (with_labels(labels),) if labels else ()
            await copy(cw, reader, size, expected, *opts)
        committed = True
        return cw.digest()
    finally:
        if not committed:
            with anyio.CancelScope(shield=True):
                try:
                    offset = (await cw.status()).offset
                finally:
                    await cw.aclose()
            env.kept_ingest = (ref, offset)
            env.interrupt_hint = f"interrupted: {_resume_hint(ref, offset)}"


@command("Write a file or standard input as a blob; print its digest.")
@click.argument("ref")
@click.argument(
    "file",
    required=False,
    default="-",
    metavar="[FILE|-]",
    type=click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=Path),
)
@click.option(
    "--expected-size",
    type=int,
    default=0,
    metavar="BYTES",
    help="The size the input must have; a shorter input exits 8 and keeps the ingest.",
)
@click.option(
    "--expected-digest",
    default="",
    metavar="DIGEST",
    help="The digest the input must hash to; if that blob exists the input is not read.",
)
@click.option(
    "--label",
    "labels",
    multiple=True,
    metavar="KEY=VALUE",
    help="A label for the committed blob (repeatable).",
)
@click.option(
    "--wait",
    is_flag=True,
    help="Wait while another writer holds REF instead of exiting 5.",
)
@store_command
def ingest(
    env: Env,
    ref: str,
    file: Path,
    expected_size: int,
    expected_digest: str,
    labels: tuple[str, ...],
    wait: bool,
) -> None:
    """Write FILE (default: standard input) as a blob under the ingest REF; print its digest.

    REF names the unfinished write. If an earlier ingest of REF was interrupted
    (Ctrl-C, input shorter than --expected-size), running the same command again
    resumes it: a FILE continues where it stopped; standard input must be given
    in full again and the bytes already written are skipped.

    \b
    Examples:
      aiocontent ingest myref README.md
      curl -s https://example.org/big.tar | aiocontent ingest big --expected-size 1048576
    """
    check_ref(ref)
    if expected_size < 0:
        fail(f"--expected-size {expected_size} must not be negative", ExitCode.INVALID_ARGUMENT)
    expected = str(Digest.parse(expected_digest)) if expected_digest else ""
    label_map = parse_labels(labels, allow_empty=False)

    async def main() -> Digest:
        async with env.open_store() as store:
            opts = (
                with_ref(ref),
                with_descriptor(Descriptor(digest=expected, size=expected_size)),
            )
            try:
                cw = await (open_writer(store, *opts) if wait else store.writer(*opts))
            except AlreadyExistsError:
                env.note(f"content {expected} already exists; input not read")
                digest = Digest(expected)
            except UnavailableError as exc:
                fail(f"{exc} (use --wait to wait for it)", ExitCode.UNAVAILABLE)
            else:
                with click.open_file(str(file), "rb") as f:
                    digest = await _copy_input(env, cw, ref, f, expected_size, expected, label_map)
            if label_map:
                await _ensure_labels(store, digest, label_map)
            return digest

    try:
        digest = env.run(main)
    except ShortReadError as exc:
        if env.kept_ingest is None:
            raise
        fail(f"{exc}; {_resume_hint(*env.kept_ingest)}", ExitCode.SHORT_READ)
    except FailedPreconditionError as exc:
        if env.kept_ingest is None:
            raise
        # resuming cannot fix a mismatch: the bytes written are wrong or too many
        kept_ref, offset = env.kept_ingest
        fail(
            f"{exc}; ingest {kept_ref!r} kept at offset {offset}: "
            f"discard it with {_abort_command(kept_ref)}",
            ExitCode.FAILED_PRECONDITION,
        )
    echo(digest)


@command("List unfinished ingests.")
@click.argument("filters", nargs=-1, metavar="[FILTER]...")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of statuses.")
@store_command
def active(env: Env, filters: tuple[str, ...], as_json: bool) -> None:
    """List unfinished ingests: ref, bytes written of the total, start and last update.

    FILTERs use containerd's filter language on the field 'ref'; an ingest is
    listed when any FILTER matches (e.g. ''ref~=^layer-''). Times are UTC.
    With -q only the refs are printed.
    """

    async def main() -> list[Status]:
        async with env.open_store() as store:
            return await store.list_statuses(*filters)

    statuses = env.run(main)
    if as_json:
        click.echo(to_json([status_to_json(s) for s in statuses]))
    elif env.quiet:
        for status in statuses:
            echo(status.ref)
    else:
        rows = [
            (
                s.ref,
                progress_text(s.offset, s.total),
                format_time(s.started_at),
                format_time(s.updated_at),
            )
            for s in statuses
        ]
        click.echo(format_table(("REF", "PROGRESS", "STARTED", "UPDATED"), rows))


@command("Discard unfinished ingests.")
@click.argument("refs", nargs=-1, required=True, metavar="REF...")
@store_command
def abort(env: Env, refs: tuple[str, ...]) -> None:
    """Discard the unfinished ingests REF... (each is tried; a missing one exits 3)."""
    for ref in refs:
        check_ref(ref)

    async def main() -> list[ContentError]:
        async with env.open_store() as store:
            return await try_each(refs, store.abort)

    report_each(env.run(main))


@command("Remove stale ingests.")
@click.option(
    "--older-than",
    default="24h",
    show_default=True,
    metavar="DURATION",
    help="Remove ingests not updated for this long: 90s, 30m, 24h, 7d, 2w, 1h30m.",
)
@store_command
def prune(env: Env, older_than: str) -> None:
    """Remove stale ingests (never one a writer holds); print their refs."""
    age: timedelta = parse_duration(older_than)

    async def main() -> list[str]:
        async with env.open_store() as store:
            return await store.prune_ingests(age)

    refs = env.run(main)
    for ref in refs:
        echo(ref)
    env.note(f"pruned {len(refs)} ingest{'s' if len(refs) != 1 else ''}")


COMMANDS = (ingest, active, abort, prune)
