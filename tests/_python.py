"""A fresh interpreter in which some packages are missing, as where an extra was not installed."""

from __future__ import annotations

import subprocess
import sys
import textwrap

#: Makes importing any of ``BLOCKED`` fail as if it were not installed.
_BLOCKER = textwrap.dedent(
    """
    import sys

    class _Blocker:
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, _Blocker())
    """
)


def run_without(blocked: tuple[str, ...], code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` (dedented) in a fresh interpreter that cannot import ``blocked`` packages.

    :return: the finished process, its output captured as text (never raises on failure).
    """
    prelude = f"BLOCKED = {blocked!r}\n" + _BLOCKER
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
