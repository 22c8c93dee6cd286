"""The ``aiocontent`` command line: ``ctr content`` for an aiocontent store, with progress bars.

Commands are defined in per-topic modules and attached to :data:`cli` here. A
new topic (such as ``pull``) adds its module's commands to ``_TOPICS``; each
command uses :func:`~aiocontent._cli._app.store_command` for the shared options
and error handling.
"""

from __future__ import annotations

import sys

from . import _commands_blobs, _commands_ingest, _gc, _pull, _serve
from ._app import PROG
from ._app import ExitCode as ExitCode
from ._app import cli as cli
from ._output import report_bug

__all__ = ("ExitCode", "cli", "main")

_TOPICS = (
    _commands_ingest.COMMANDS,
    _commands_blobs.COMMANDS,
    _pull.COMMANDS,
    _serve.COMMANDS,
    _gc.COMMANDS,
)

for _commands in _TOPICS:
    for _command in _commands:
        cli.add_command(_command)
del _commands, _command


def main() -> None:
    """Run ``aiocontent`` with the process's arguments and exit with its status.

    An exception no command expected (a bug) is printed escaped, like every other
    output, and exits 1.
    """
    try:
        cli.main(prog_name=PROG)
    except Exception as exc:
        report_bug(exc)
        sys.exit(ExitCode.PROBLEM)
