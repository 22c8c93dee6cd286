"""Commands about committed blobs: 'get', 'info', 'ls', 'rm', 'label', 'verify'."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from pathlib import Path
from typing import IO, Any

import anyio.to_thread
import click

from .._digest import Digest
from .._errors import ContentError
from .._helpers import new_reader
from .._types import Descriptor, Info
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
    TerminalText,
    echo,
    format_labels,
    format_table,
    format_time,
    human_size,
    info_to_json,
    parse_digests,
    parse_labels,
    to_json,
)
from ._progress import OutputWriter, progress_bars

__all__ = ("COMMANDS", "get", "info", "label", "ls", "rm", "verify")


async def _stream_blob(
    env: Env, digest: Digest, out: IO[bytes], text: TerminalText | None = None
) -> Digest:
    """Stream the blob to 'out' (through 'text' if given); return the digest of the bytes read."""
    digester = digest.algorithm.digester()
    writer = OutputWriter(out)
    async with env.open_store() as store:
        ra = await store.reader_at(Descriptor(digest=digest))
        async with new_reader(ra) as reader:
            with progress_bars(env.show_progress, force_terminal=bool(env.progress)) as bars:
                bar = bars.bar(digest.encoded[:12], total=ra.size)
                async for chunk in reader:
                    digester.update(chunk)
                    await writer.write(text.feed(chunk) if text else chunk)
                    bar.advance(len(chunk))
    if text:
        await writer.write(text.feed(b"", final=True))
    await writer.flush()
    return digester.digest()


def _corrupt(digest: Digest, actual: Digest) -> None:
    if actual != digest:
        fail(
            f"content {digest}: stored bytes hash to {actual}; run 'aiocontent verify {digest}'",
            ExitCode.FAILED_PRECONDITION,
        )


def _output_file(ctx: click.Context, param: click.Parameter, value: str | None) -> Path | None:
    """``--output`` as a path, refusing one that names no file (``''``, ``.``, ``dir/``)."""
    if value is None:
        return None
    path = Path(value)
    if value == "-":
        return path
    if path.name in ("", ".", "..") or value.endswith(("/", os.sep)):
        raise click.BadParameter(f"{value!r} names no file")
    return path


@command("Write a blob to standard output or a file.")
@click.argument("digest")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True),
    callback=_output_file,
    default=None,
    help="Write to this file (replaced only when the whole blob was read and verified) "
    "instead of standard output; '-o -' writes the raw bytes even to a terminal.",
)
@store_command
def get(env: Env, digest: str, output: Path | None) -> None:
    """Write the blob DIGEST to standard output (binary-safe) or to a file.

    The bytes are re-hashed on the way: a blob whose bytes do not match its
    digest exits 6 (and -o leaves the target untouched). On a terminal, what
    could drive it (escape sequences, bytes that are not UTF-8 text) is shown
    as escapes such as \\x1b; a pipe or a file gets the bytes as they are.
    """
    dgst = Digest.parse(digest)
    if output is None or str(output) == "-":
        stdout = sys.stdout.buffer
        text = TerminalText() if output is None and stdout.isatty() else None

        async def to_stdout() -> Digest:
            return await _stream_blob(env, dgst, stdout, text)

        _corrupt(dgst, env.run(to_stdout))
        return
    target = output
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent or ".")
    except OSError as exc:
        # name the file asked for, not the temporary one next to it
        raise OSError(exc.errno, exc.strerror, str(target)) from exc
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as f:

            async def to_file() -> Digest:
                return await _stream_blob(env, dgst, f)

            actual = env.run(to_file)
        _corrupt(dgst, actual)
        tmp.chmod(0o644 & ~_umask())
        tmp.replace(target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _has_unlisted(root: Path, infos: list[Info]) -> bool:
    """Whether ``blobs/<alg>/`` holds an entry that is not one of the walked blobs."""
    known = {str(i.digest) for i in infos}
    try:
        folders = [p for p in (root / "blobs").iterdir() if p.is_dir()]
    except FileNotFoundError:
        return False
    return any(
        f"{folder.name}:{entry.name}" not in known
        for folder in folders
        for entry in folder.iterdir()
    )


@command("Show a blob's info as JSON.")
@click.argument("digest")
@store_command
def info(env: Env, digest: str) -> None:
    """Print what the store knows about the blob DIGEST, as JSON (times in UTC)."""
    dgst = Digest.parse(digest)

    async def main() -> Info:
        async with env.open_store() as store:
            return await store.info(dgst)

    click.echo(to_json(info_to_json(env.run(main))))


@command("List blobs.")
@click.argument("filters", nargs=-1, metavar="[FILTER]...")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of blob infos.")
@store_command
def ls(env: Env, filters: tuple[str, ...], as_json: bool) -> None:
    """List blobs: digest, size, creation time (UTC) and labels.

    FILTERs use containerd's filter language on 'digest', 'size' and
    'labels.<key>'; a blob is listed when any FILTER matches, e.g.
    ''labels.app==web'', ''size==1024'', ''digest~=^sha256:ab''.
    With -q only the digests are printed.
    """

    async def main() -> list[Info]:
        infos: list[Info] = []
        async with env.open_store() as store:
            await store.walk(infos.append, *filters)
        return infos

    infos = env.run(main)
    if as_json:
        click.echo(to_json([info_to_json(i) for i in infos]))
    elif env.quiet:
        for i in infos:
            echo(i.digest)
    else:
        rows = [
            (
                str(i.digest),
                human_size(i.size),
                format_time(i.created_at),
                format_labels(i.labels),
            )
            for i in infos
        ]
        click.echo(format_table(("DIGEST", "SIZE", "CREATED", "LABELS"), rows))


@command("Delete blobs.")
@click.argument("digests", nargs=-1, required=True, metavar="DIGEST...")
@store_command
def rm(env: Env, digests: tuple[str, ...]) -> None:
    """Delete the blobs DIGEST... and their labels (each is tried; a missing one exits 3)."""
    parsed = parse_digests(digests)

    async def main() -> list[ContentError]:
        async with env.open_store() as store:
            return await try_each(parsed, store.delete)

    report_each(env.run(main))


@command("Set or remove labels on a blob.")
@click.argument("digest")
@click.argument("labels", nargs=-1, required=True, metavar="KEY=VALUE...")
@store_command
def label(env: Env, digest: str, labels: tuple[str, ...]) -> None:
    """Set labels on the blob DIGEST; 'KEY=' (empty value) removes KEY.

    Other labels are kept. Prints the blob's labels afterwards (not with -q).
    """
    dgst = Digest.parse(digest)
    changes = parse_labels(labels, allow_empty=True)

    async def main() -> Info:
        async with env.open_store() as store:
            return await store.update(
                Info(digest=dgst, labels=changes), *(f"labels.{key}" for key in changes)
            )

    updated = env.run(main)
    if not env.quiet:
        for key, value in sorted(updated.labels.items()):
            echo(f"{key}={value}")


@command("Re-hash blobs; exit 1 if any is corrupt.")
@click.argument("digests", nargs=-1, metavar="[DIGEST]...")
@click.option(
    "--quarantine",
    is_flag=True,
    help="Move each bad blob under <root>/quarantine/, out of the store.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the problems as a JSON array.")
@store_command
def verify(env: Env, digests: tuple[str, ...], quarantine: bool, as_json: bool) -> None:
    """Re-hash the blobs DIGEST... (all when none is named); exit 1 if any is bad.

    Each problem is printed as 'KIND DIGEST DETAIL'; KIND is 'corrupt' (the
    bytes do not hash to the name), 'misnamed' (a file under blobs/ whose name
    is not a digest) or 'unreadable'.
    """
    parsed = parse_digests(digests)

    async def main() -> tuple[int, list[Any]]:
        async with env.open_store() as store:
            if not env.show_progress:
                problems = await store.verify(*parsed, quarantine=quarantine)
                count = len(parsed)
                if not parsed:
                    infos: list[Info] = []
                    await store.walk(infos.append)
                    count = len(infos) + sum(p.kind != "corrupt" for p in problems)
                return count, problems
            # One blob at a time, so that a bar can show the bytes re-hashed.
            infos = []
            if parsed:
                for dgst in parsed:
                    infos.append(await store.info(dgst))
            else:
                await store.walk(infos.append)
            problems = []
            with progress_bars(True, force_terminal=bool(env.progress)) as bars:
                bar = bars.bar("verify", total=sum(i.size for i in infos))
                for i in infos:
                    problems.extend(await store.verify(i.digest, quarantine=quarantine))
                    bar.advance(i.size)
            if not parsed and await anyio.to_thread.run_sync(_has_unlisted, env.root, infos):
                # entries walk skips (misnamed, not regular files) only show in a full pass
                seen = {p.digest for p in problems}
                for problem in await store.verify(quarantine=quarantine):
                    if problem.digest not in seen:
                        problems.append(problem)
            return len(infos), problems

    count, problems = env.run(main)
    if as_json:
        click.echo(
            to_json([{"digest": p.digest, "kind": p.kind, "detail": p.detail} for p in problems])
        )
    else:
        for p in problems:
            echo(f"{p.kind} {p.digest} {p.detail}")
    moved = " (quarantined)" if quarantine and problems else ""
    env.note(f"verified {count} blob{'s' if count != 1 else ''}: {len(problems)} bad{moved}")
    if problems:
        raise click.exceptions.Exit(ExitCode.PROBLEM)


COMMANDS = (get, info, ls, rm, label, verify)
