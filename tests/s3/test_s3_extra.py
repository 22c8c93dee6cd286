"""S3Store without its extra: a clear ImportError, and ``import aiocontent`` never loads botocore.

Each case runs in a fresh interpreter whose import system refuses botocore and
aiobotocore, as on a machine where ``aiocontent[s3]`` was not installed.
"""

from __future__ import annotations

import subprocess

from .._python import run_without


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return run_without(("botocore", "aiobotocore"), code)


def test_import_without_the_extra_works_and_loads_no_botocore() -> None:
    done = _run(
        """
        import aiocontent
        from aiocontent._s3 import S3Store
        roots = {m.partition(".")[0] for m in sys.modules}
        print(sorted(roots & {"botocore", "aiobotocore"}))
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_constructing_without_the_extra_names_the_install_command() -> None:
    done = _run(
        """
        from aiocontent._s3 import S3Store
        try:
            S3Store("bucket")
        except ImportError as exc:
            print(type(exc).__name__, "|", exc, "|", type(exc.__cause__).__name__)
        else:
            print("constructed")
        """
    )
    assert done.returncode == 0, done.stderr
    kind, message, cause = (part.strip() for part in done.stdout.split("|"))
    assert kind == "ImportError"
    assert "pip install 'aiocontent[s3]'" in message
    assert "botocore" in message
    assert cause == "ModuleNotFoundError"


def test_constructing_with_the_extra_imports_it() -> None:
    done = _run(
        """
        sys.meta_path.pop(0)
        from aiocontent._s3 import S3Store
        S3Store("bucket")
        print("botocore" in sys.modules)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"
