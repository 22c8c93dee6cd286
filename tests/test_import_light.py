"""``import aiocontent`` stays light: heavy dependencies load only with the parts needing them."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Final

#: Loaded only by the registry client, the CLI, S3Store or the server, never by the package.
HEAVY: Final = ("httpx", "click", "rich", "botocore", "aiobotocore", "starlette", "uvicorn",
                "hypercorn")  # fmt: skip


def loaded_after(statement: str) -> list[str]:
    """The ``HEAVY`` modules in ``sys.modules`` after ``statement``, in a fresh interpreter."""
    code = (
        f"import json, sys\n{statement}\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    loaded: list[str] = json.loads(result.stdout)
    return loaded


def test_import_aiocontent_loads_no_heavy_dependency() -> None:
    assert loaded_after("import aiocontent") == []


def test_import_aiocontent_testing_loads_no_heavy_dependency() -> None:
    assert loaded_after("import aiocontent.testing") == []


def test_import_registry_loads_httpx_and_no_store_or_server_dependency() -> None:
    loaded = loaded_after("import aiocontent.registry")
    assert "httpx" in loaded  # the check sees a module that is loaded
    assert not {"botocore", "aiobotocore", "starlette", "uvicorn", "hypercorn"} & set(loaded)


def test_import_server_loads_no_web_stack_until_create_app() -> None:
    assert loaded_after("import aiocontent.server") == []


def test_registry_metadata_loads_no_web_stack() -> None:
    statement = "from aiocontent.server import LocalMetadata, ManifestRecord, MemoryMetadata"
    assert loaded_after(statement) == []


def test_create_app_loads_starlette_and_no_http_server() -> None:
    loaded = loaded_after("from aiocontent.server import create_app")
    assert "starlette" in loaded
    assert not {"uvicorn", "hypercorn", "botocore"} & set(loaded)
