"""The README's Python example runs as printed."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def python_examples() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_readme_example_ingests_and_reads_back(tmp_path: Path) -> None:
    example = python_examples()[0]
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    result = subprocess.run(
        [sys.executable, "-c", example],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "b'hello, content-addressed world\\n'\n"
    assert (tmp_path / "content-root" / "blobs" / "sha256").is_dir()


def test_readme_examples_import_only_what_exists() -> None:
    """Every example compiles and its imports resolve (the pull example needs a registry)."""
    for example in python_examples():
        tree = ast.parse(example)
        imports = [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]
        code = ast.unparse(ast.Module(body=list(imports), type_ignores=[]))
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
        )
        assert result.returncode == 0, f"{code}\n{result.stderr}"
