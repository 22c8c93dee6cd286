"""``aiocontent get`` to a terminal: a blob's bytes cannot drive it, a pipe gets them all.

The process tests give the command a pseudo-terminal as standard output, which
is the only way to see what a terminal would receive.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from aiocontent import Descriptor, write_blob
from aiocontent._cli._output import TerminalText
from aiocontent._local import LocalStore

from .test_cli_process import aiocontent, env_for

HOSTILE = b"title \x1b]0;PWNED\x07 caf\xc3\xa9 \xff\xfe end\n\tnext line\n"
SHOWN = b"title \\x1b]0;PWNED\\x07 caf\xc3\xa9 \\xff\\xfe end\n\tnext line\n"


class TestTerminalText:
    def test_keeps_text_with_newlines_and_tabs(self) -> None:
        text = "line one\n\tcafé 日本 🙂\n".encode()
        assert TerminalText().feed(text, final=True) == text

    def test_escapes_controls_and_bytes_that_are_not_utf8(self) -> None:
        assert TerminalText().feed(HOSTILE, final=True) == SHOWN

    def test_keeps_a_character_split_between_chunks(self) -> None:
        text = TerminalText()
        assert text.feed(b"caf\xc3") + text.feed(b"\xa9", final=True) == "café".encode()

    def test_escapes_a_truncated_character_at_the_end(self) -> None:
        text = TerminalText()
        assert text.feed(b"caf\xc3") + text.feed(b"", final=True) == b"caf\\xc3"


posix_only = pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals")


def put(root: Path, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()

    async def main() -> None:
        async with LocalStore(root) as store:
            await write_blob(store, "blob", data, Descriptor(digest=digest, size=len(data)))

    anyio.run(main)
    return digest


def get_on_a_terminal(root: Path, *args: str) -> bytes:
    """What ``aiocontent get ARGS`` writes to a pseudo-terminal as its standard output."""
    import pty
    import termios

    controller, terminal = pty.openpty()
    try:
        # no translation of "\n" into "\r\n", so the bytes compare as written
        attrs = termios.tcgetattr(terminal)
        attrs[1] &= ~termios.OPOST
        termios.tcsetattr(terminal, termios.TCSANOW, attrs)
        proc = subprocess.run(
            [sys.executable, "-m", "aiocontent", "get", *args],
            stdout=terminal,
            stderr=subprocess.PIPE,
            env=env_for(root),
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        os.close(terminal)
        terminal = -1
        out = b""
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: the terminal side is closed and drained
                break
            if not chunk:
                break
            out += chunk
        return out
    finally:
        os.close(controller)
        if terminal >= 0:
            os.close(terminal)


@posix_only
def test_get_to_a_terminal_shows_escapes(tmp_path: Path) -> None:
    root = tmp_path / "store"
    digest = put(root, HOSTILE)
    assert get_on_a_terminal(root, digest) == SHOWN


@posix_only
def test_get_dash_o_dash_writes_raw_bytes_even_to_a_terminal(tmp_path: Path) -> None:
    root = tmp_path / "store"
    digest = put(root, HOSTILE)
    assert get_on_a_terminal(root, digest, "-o", "-") == HOSTILE


def test_get_to_a_pipe_writes_raw_bytes(tmp_path: Path) -> None:
    root = tmp_path / "store"
    digest = put(root, HOSTILE)
    assert aiocontent(root, "get", digest).stdout == HOSTILE
