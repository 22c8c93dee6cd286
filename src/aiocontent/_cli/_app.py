"""The ``aiocontent`` command group, its shared options, error mapping and store access.

Commands live in per-topic modules (``_commands_*.py``) and are attached to
:data:`cli` by ``aiocontent._cli``. A command takes the shared options with
:func:`store_command`, receives an :class:`Env` first, runs its async body with
:meth:`Env.run` and reports failures by raising: every :class:`~aiocontent.ContentError`
becomes one line on stderr and the exit status of :class:`ExitCode`. Every line
is printed through ``_output`` (:func:`~aiocontent._cli._output.warn` for stderr),
which escapes what could drive the terminal.

The shared options may come before the command's name too (``aiocontent --root
DIR ls``): the group records those typed there, and a command uses each unless it
was given its own on the command line.
"""

from __future__ import annotations

import enum
import functools
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NoReturn, TypeVar

import anyio
import click
from click.core import ParameterSource

from .._errors import (
    AlreadyExistsError,
    ContentError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    ShortReadError,
    UnavailableError,
)
from ._output import PROG as PROG
from ._output import library_warnings, warn

if TYPE_CHECKING:
    from .._local import LocalStore

__all__ = (
    "PROG",
    "CliError",
    "Env",
    "ExitCode",
    "cli",
    "command",
    "default_root",
    "exit_code_for",
    "fail",
    "report_each",
    "store_command",
)

T = TypeVar("T")
_F = TypeVar("_F", bound=Callable[..., Any])

#: Environment variables read by every command.
ROOT_ENV: Final = "AIOCONTENT_ROOT"
BACKEND_ENV: Final = "AIOCONTENT_BACKEND"


class ExitCode(enum.IntEnum):
    """The exit status of ``aiocontent``, one per kind of failure."""

    #: Success.
    OK = 0
    #: ``verify`` found a problem, or an unexpected store error.
    PROBLEM = 1
    #: The command line is malformed (unknown option, missing argument): click's own code.
    USAGE = 2
    #: A blob or ingest does not exist.
    NOT_FOUND = 3
    #: The blob already exists where it must not.
    ALREADY_EXISTS = 4
    #: The ref is locked by another writer.
    UNAVAILABLE = 5
    #: A size or digest mismatch (the ingest is kept), or a corrupt read.
    FAILED_PRECONDITION = 6
    #: A malformed value: digest, ref, filter, label, duration, size.
    INVALID_ARGUMENT = 7
    #: The input ended before ``--expected-size`` bytes (the ingest is kept).
    SHORT_READ = 8
    #: An operating-system error (permission denied, disk full, not a directory).
    IO_ERROR = 9
    #: Interrupted by Ctrl-C (SIGINT); an ingest is kept for resume.
    INTERRUPTED = 130


#: Exception class to exit status; the first matching entry wins.
_ERROR_CODES: Final[tuple[tuple[type[ContentError], ExitCode], ...]] = (
    (NotFoundError, ExitCode.NOT_FOUND),
    (AlreadyExistsError, ExitCode.ALREADY_EXISTS),
    (UnavailableError, ExitCode.UNAVAILABLE),
    (FailedPreconditionError, ExitCode.FAILED_PRECONDITION),
    (InvalidArgumentError, ExitCode.INVALID_ARGUMENT),
    (ShortReadError, ExitCode.SHORT_READ),
    (ContentError, ExitCode.PROBLEM),
)

EXIT_CODES_HELP: Final = """\b
Exit status:
  0    success
  1    verify found a problem (or another store error)
  2    bad command line (unknown option, missing argument)
  3    not found (blob or ingest)
  4    already exists
  5    unavailable: the ref is locked by another writer
  6    failed precondition: size or digest mismatch (the ingest is kept)
  7    invalid argument: malformed digest, ref, filter, label or duration
  8    short read: input ended before --expected-size (the ingest is kept)
  9    I/O error (permission denied, disk full, ...)
  130  interrupted (Ctrl-C); an interrupted ingest is kept for resume
"""


def exit_code_for(exc: ContentError) -> ExitCode:
    """The exit status for a library error."""
    for cls, code in _ERROR_CODES:
        if isinstance(exc, cls):
            return code
    return ExitCode.PROBLEM  # pragma: no cover - ContentError is always matched


class CliError(Exception):
    """A failure reported as one line on stderr with a chosen exit status."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = code

    def show(self) -> None:
        """Print ``aiocontent: <message>`` on stderr, escaped and capped."""
        warn(self.message)


def fail(message: str, code: int) -> NoReturn:
    """Stop the command with ``message`` on stderr and exit status ``code``."""
    raise CliError(message, code)


async def try_each(items: Iterable[T], fn: Callable[[T], Awaitable[object]]) -> list[ContentError]:
    """Await ``fn(item)`` for every item, collecting the library errors instead of stopping.

    Commands taking several operands try them all, then :func:`report_each`.
    """
    errors: list[ContentError] = []
    for item in items:
        try:
            await fn(item)
        except ContentError as exc:
            errors.append(exc)
    return errors


def report_each(errors: Sequence[ContentError]) -> None:
    """Print every error on stderr, one line each; then exit with the status of the first.

    Does nothing when ``errors`` is empty. Commands taking several operands try
    them all and report with this.
    """
    if not errors:
        return
    for exc in errors:
        warn(exc)
    raise click.exceptions.Exit(exit_code_for(errors[0]))


def default_root() -> Path:
    """The store root used without ``--root``: ``$AIOCONTENT_ROOT``, else the XDG data directory.

    The XDG data directory is ``$XDG_DATA_HOME/aiocontent`` when ``XDG_DATA_HOME``
    is set to an absolute path, else ``~/.local/share/aiocontent``.
    """
    env_root = os.environ.get(ROOT_ENV)
    if env_root:
        return Path(env_root)
    xdg = os.environ.get("XDG_DATA_HOME", "")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".local" / "share"
    return base / PROG


@dataclass
class Env:
    """What every command gets: the root, output mode and async backend.

    :ivar interrupt_hint: set by a command while it holds something that Ctrl-C
        leaves behind (an ingest), printed when it is interrupted.
    :ivar kept_ingest: the ref and offset of an ingest a failed command left behind.
    """

    root: Path
    quiet: bool = False
    progress: bool | None = None
    backend: str = "asyncio"
    interrupt_hint: str | None = field(default=None)
    kept_ingest: tuple[str, int] | None = field(default=None)

    @property
    def show_progress(self) -> bool:
        """Whether to draw progress bars: forced by ``--progress``/``--no-progress``,
        else when stderr is a terminal and ``--quiet`` is not given."""
        if self.progress is not None:
            return self.progress
        if self.quiet:
            return False
        isatty = getattr(sys.stderr, "isatty", None)
        return bool(isatty and isatty())

    def run(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Run the async ``fn`` to completion on the chosen backend."""
        return anyio.run(fn, backend=self.backend)

    @asynccontextmanager
    async def open_store(self) -> AsyncIterator[LocalStore]:
        """Open the :class:`~aiocontent.LocalStore` at the root, creating the root if needed."""
        from .._local import LocalStore

        await anyio.Path(self.root).mkdir(parents=True, exist_ok=True)
        async with LocalStore(self.root) as store:
            yield store

    def note(self, message: str) -> None:
        """A line of information on stderr, unless ``--quiet``."""
        if not self.quiet:
            warn(message)


def _os_error_message(exc: OSError) -> str:
    text = exc.strerror or str(exc) or type(exc).__name__
    if exc.filename is not None:
        text = f"{text}: {os.fsdecode(exc.filename)}"
    if exc.filename2 is not None:
        text = f"{text} -> {os.fsdecode(exc.filename2)}"
    return text


def command(short_help: str) -> Callable[[Callable[..., Any]], click.Command]:
    """``click.command`` with the exit-status table as epilog and a fixed one-line summary."""
    return click.command(short_help=short_help, epilog=EXIT_CODES_HELP)


#: The shared options a command may also take before its name (``aiocontent --root DIR ls``).
_SHARED: Final = ("root", "quiet", "progress", "backend")
#: The key in ``Context.meta`` holding the shared options given before the command.
_GROUP_OPTIONS: Final = "aiocontent.group_options"
_ROOT_HELP: Final = (
    "Store root directory, created on first use "
    "[default: $XDG_DATA_HOME/aiocontent or ~/.local/share/aiocontent]."
)
_QUIET_HELP: Final = "Print only the essential result: no progress bars, notes or headers."


def _root_path(ctx: click.Context, param: click.Parameter, value: str | None) -> Path | None:
    """``--root`` as a path; an empty one is refused rather than taken as the current directory."""
    if value is None:
        return None
    if not value:
        raise click.BadParameter("'' is empty (use '.' for the current directory)")
    return Path(value)


def _shared_options(*, before_command: bool) -> Callable[[_F], _F]:
    """A decorator adding the shared options to a command, or to the group.

    Before the command (on the group) they read no environment variables, so that
    a command can tell an option typed on the command line from the environment.
    """
    options = (
        click.option(
            "--root",
            type=click.Path(file_okay=False),
            callback=_root_path,
            envvar=None if before_command else ROOT_ENV,
            show_envvar=not before_command,
            default=None,
            help=f"{_ROOT_HELP} Also ${ROOT_ENV}; a --root after the command wins."
            if before_command
            else _ROOT_HELP,
        ),
        click.option("-q", "--quiet", is_flag=True, help=_QUIET_HELP),
        click.option(
            "--progress/--no-progress",
            default=None,
            hidden=True,
            help="Force progress bars on or off (default: on when stderr is a terminal).",
        ),
        click.option(
            "--backend",
            type=click.Choice(["asyncio", "trio"]),
            envvar=None if before_command else BACKEND_ENV,
            default=None if before_command else "asyncio",
            hidden=True,
            help="The anyio backend to run on.",
        ),
    )

    def decorate(fn: _F) -> _F:
        for option in reversed(options):
            fn = option(fn)
        return fn

    return decorate


def _shared_values(ctx: click.Context, own: dict[str, Any]) -> dict[str, Any]:
    """The shared options for the command of ``ctx``: each as given after the command,
    else as given before it, else from the environment or the default."""
    before: dict[str, Any] = ctx.meta.get(_GROUP_OPTIONS, {})
    return {
        name: own[name]
        if name not in before or ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE
        else before[name]
        for name in _SHARED
    }


def store_command(fn: Callable[..., None]) -> Callable[..., None]:
    """Give a command the shared options and turn its errors into exit statuses.

    The options are ``--root`` (also ``$AIOCONTENT_ROOT``), ``-q``/``--quiet`` and
    the hidden ``--progress``/``--no-progress`` and ``--backend`` (also
    ``$AIOCONTENT_BACKEND``); each may also come before the command's name, and
    the one after it wins. ``fn`` is called with an :class:`Env` first and the
    command's own parameters as keywords.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        own = {name: kwargs.pop(name) for name in _SHARED}
        shared = _shared_values(click.get_current_context(), own)
        root: Path | None = shared["root"]
        env = Env(
            root=root if root is not None else default_root(),
            quiet=shared["quiet"],
            progress=shared["progress"],
            backend=shared["backend"],
        )
        try:
            fn(env, *args, **kwargs)
        except ContentError as exc:
            fail(str(exc), exit_code_for(exc))
        except KeyboardInterrupt:
            fail(env.interrupt_hint or "interrupted", ExitCode.INTERRUPTED)
        except BrokenPipeError:
            raise
        except OSError as exc:
            fail(_os_error_message(exc), ExitCode.IO_ERROR)

    return _shared_options(before_command=False)(wrapper)


class _Group(click.Group):
    """A group whose errors, usage errors included, are one line on stderr."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the command line; in standalone mode, exit with an :class:`ExitCode`."""
        prog_name = prog_name or PROG
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            with library_warnings():
                code = super().main(args, prog_name, complete_var, False, **extra)
        except CliError as exc:
            exc.show()
            code = exc.exit_code
        except click.ClickException as exc:
            hint = ""
            ctx = getattr(exc, "ctx", None)
            if isinstance(exc, click.UsageError) and ctx is not None:
                hint = f" (see '{ctx.command_path} --help')"
            warn(f"{exc.format_message()}{hint}")
            code = exc.exit_code
        except click.Abort:
            warn("interrupted")
            code = ExitCode.INTERRUPTED
        except BrokenPipeError:
            # The reader went away (``aiocontent get ... | head``): stop quietly.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            code = ExitCode.PROBLEM
        sys.exit(code if isinstance(code, int) else ExitCode.OK)


@click.group(
    PROG,
    cls=_Group,
    epilog=EXIT_CODES_HELP,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(package_name="aiocontent", prog_name=PROG)
@_shared_options(before_command=True)
@click.pass_context
def cli(ctx: click.Context, /, **shared: Any) -> None:
    """Content-addressed blob store, like containerd's 'ctr content'.

    Blobs are named by their digest (sha256:...). An ingest (an unfinished write,
    named by a REF of your choice) survives interruption and resumes when you
    run the same 'ingest' again. The store lives under --root, by default
    $AIOCONTENT_ROOT or ~/.local/share/aiocontent.

    --root and -q go before the command or after it; when both are given, the
    one after the command wins.

    \b
    Example:
      aiocontent ingest myref README.md
      aiocontent --root /tmp/store ls
    """
    ctx.meta[_GROUP_OPTIONS] = {
        name: value
        for name, value in shared.items()
        if ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE
    }
