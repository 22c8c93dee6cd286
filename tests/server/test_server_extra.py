"""``aiocontent.server`` without its extra: the metadata works, ``create_app`` names the install.

Each case runs in a fresh interpreter whose import system refuses Starlette, as
on a machine where ``aiocontent[server]`` was not installed.
"""

from __future__ import annotations

import subprocess

from .._python import run_without


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return run_without(("starlette",), code)


def test_metadata_is_usable_without_the_extra() -> None:
    done = _run(
        """
        import anyio
        from aiocontent import Digest
        from aiocontent.server import ManifestRecord, MemoryMetadata

        async def main():
            meta = MemoryMetadata()
            digest = Digest("sha256:" + "a" * 64)
            await meta.put_manifest("team/app", ManifestRecord(digest, "x", 2), ["v1"])
            print(await meta.resolve_tag("team/app", "v1"))

        anyio.run(main)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "sha256:" + "a" * 64


def test_create_app_without_the_extra_names_the_install_command() -> None:
    done = _run(
        """
        import aiocontent.server
        try:
            aiocontent.server.create_app
        except ImportError as exc:
            print(type(exc).__name__, "|", exc)
        else:
            print("no error")
        """
    )
    assert done.returncode == 0, done.stderr
    kind, _, message = done.stdout.strip().partition(" | ")
    assert kind == "ImportError"
    assert "starlette is missing" in message
    assert "pip install 'aiocontent[server]'" in message


def test_auth_classes_without_the_extra_name_the_install_command() -> None:
    done = _run(
        """
        import aiocontent.server
        for name in ("HtpasswdAuth", "TokenAuth", "Auth", "Access"):
            try:
                getattr(aiocontent.server, name)
            except ImportError as exc:
                print(name, "|", exc)
        """
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert [line.partition(" | ")[0] for line in lines] == [
        "HtpasswdAuth",
        "TokenAuth",
        "Auth",
        "Access",
    ]
    assert all("pip install 'aiocontent[server]'" in line for line in lines)
