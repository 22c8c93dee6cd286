"""The 'pull' command: fetch an image from a registry into the store, a bar per blob."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field

import click

from .._registry._events import ProgressEvent, ref_key
from .._registry._pull import ALL_PLATFORMS, pull
from ._app import Env, command, store_command
from ._progress import Bar, Bars, progress_bars

__all__ = ("COMMANDS", "pull_command", "register")

#: Read by ``--user`` when the option is not given.
USER_ENV = "AIOCONTENT_REGISTRY_USER"
#: The password for ``--user USER`` when neither the option nor stdin gives one.
PASSWORD_ENV = "AIOCONTENT_REGISTRY_PASSWORD"
#: Seconds ``--timeout`` allows by default: a silent registry fails within about two of them.
DEFAULT_TIMEOUT = 30.0


@dataclass
class _Tally:
    """What a pull did, for the progress bars and the summary."""

    bars: Bars
    open_bars: dict[str, Bar] = field(default_factory=dict)
    present: set[str] = field(default_factory=set)
    downloaded: set[str] = field(default_factory=set)
    resumed: set[str] = field(default_factory=set)
    bytes_in: dict[str, int] = field(default_factory=dict)
    start: dict[str, int] = field(default_factory=dict)

    def __call__(self, event: ProgressEvent) -> None:
        key = str(event.desc.digest)
        if event.state == "exists":
            self.present.add(key)
            return
        if event.state == "done":
            bar = self.open_bars.get(key)
            if bar is not None:
                bar.set_completed(event.desc.size)
            if key not in self.present and key in self.start:
                self.downloaded.add(key)
            return
        bar = self.open_bars.get(key)
        if bar is None:
            kind, _, digest = ref_key(event.desc).partition("-")
            name = f"{kind} {digest.partition(':')[2][:12]}"
            bar = self.open_bars[key] = self.bars.bar(name, total=event.desc.size)
        if event.state == "resuming":
            self.resumed.add(key)
        if event.state in ("resuming", "downloading"):
            self.start.setdefault(key, event.offset)
            if event.state == "downloading" and event.offset < self.start[key]:
                self.start[key] = event.offset  # the registry ignored the Range
            self.bytes_in[key] = event.offset - self.start[key]
        bar.set_completed(event.offset)


def _credentials(user: str | None, password_stdin: bool) -> tuple[str, str] | None:
    if not user:
        return None
    name, colon, password = user.partition(":")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif not colon:
        password = os.environ.get(PASSWORD_ENV, "")
    return name, password


@command("Pull an image from a registry into the store; print its root digest.")
@click.argument("reference", metavar="REF")
@click.option(
    "--platform",
    default=None,
    metavar="OS/ARCH[/VARIANT]",
    help="The platform to pick from a multi-platform image [default: this machine's].",
)
@click.option(
    "--all-platforms",
    is_flag=True,
    help="Pull every platform of a multi-platform image (not with --platform).",
)
@click.option(
    "--plain-http",
    is_flag=True,
    help="Talk HTTP instead of HTTPS (for a registry on the loopback).",
)
@click.option(
    "--user",
    "-u",
    default=None,
    envvar=USER_ENV,
    show_envvar=True,
    metavar="USER[:PASSWORD]",
    help=f"Credentials for the registry; without ':PASSWORD' it comes from "
    f"--password-stdin or ${PASSWORD_ENV}.",
)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option(
    "--concurrency",
    type=click.IntRange(min=1, max=64),
    default=4,
    show_default=True,
    help="Blobs downloaded at once.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True, max=86400),
    default=DEFAULT_TIMEOUT,
    show_default=True,
    metavar="SECONDS",
    help="Give up on a registry that sends nothing, or less than 1 KiB/s, for this long; "
    "with the retries, a silent registry fails within about twice this.",
)
@click.option(
    "--gc-root", is_flag=True, help="Label the root 'containerd.io/gc.root' (keep it from GC)."
)
@store_command
def pull_command(
    env: Env,
    reference: str,
    platform: str | None,
    all_platforms: bool,
    plain_http: bool,
    user: str | None,
    password_stdin: bool,
    concurrency: int,
    timeout: float,
    gc_root: bool,
) -> None:
    """Pull REF (HOST[:PORT]/REPO[:TAG|@DIGEST]) into the store.

    Each blob is verified against its digest before it is committed. Blobs
    already in the store are skipped; an interrupted download is kept and
    resumes (HTTP Range) when the same pull runs again. The summary counts
    every blob of the image: indexes, manifests, configs and layers.

    \b
    Example:
      aiocontent pull --plain-http 127.0.0.1:5000/library/alpine:3.20
    """
    if all_platforms:
        if platform is not None:
            raise click.UsageError("--all-platforms and --platform exclude each other")
        platform = ALL_PLATFORMS
    credentials = _credentials(user, password_stdin)
    env.interrupt_hint = "interrupted: run the same pull again to resume"
    began = time.monotonic()

    async def main() -> tuple[str, _Tally]:
        with progress_bars(env.show_progress, force_terminal=bool(env.progress)) as bars:
            tally = _Tally(bars)
            async with env.open_store() as store:
                root = await pull(
                    store,
                    reference,
                    platform=platform,
                    concurrency=concurrency,
                    progress=tally,
                    credentials=credentials,
                    plain_http=plain_http,
                    gc_root=gc_root,
                    http_timeout=timeout,
                    retry_budget=2 * timeout,
                )
        return str(root.digest), tally

    digest, tally = env.run(main)
    env.interrupt_hint = None
    click.echo(digest)
    total = len(tally.present | tally.downloaded)
    size = sum(tally.bytes_in.get(k, 0) for k in tally.downloaded)
    resumed = f", {len(tally.resumed)} resumed" if tally.resumed else ""
    env.note(
        f"pulled {reference}: {total} blobs, {len(tally.downloaded)} downloaded "
        f"({size} bytes{resumed}), {len(tally.present)} already present, "
        f"in {time.monotonic() - began:.1f} s"
    )


pull_command.name = "pull"

COMMANDS = (pull_command,)


def register(group: click.Group) -> None:
    """Add the ``pull`` command to ``group``."""
    group.add_command(pull_command, "pull")
