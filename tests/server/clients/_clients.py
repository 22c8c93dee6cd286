"""Running the real clients (skopeo, podman, aiocontent) and reading what a registry serves.

Every client runs as a subprocess with a timeout, in a private directory, and
talks plain HTTP to a registry on 127.0.0.1. A failing command fails the test
with its standard error in the message.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Final

import httpx

from tests._services import service_unavailable

from ._images import DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, Image, sha256

#: Seconds one client command may take before it counts as hung.
COMMAND_TIMEOUT: Final = 120.0
DOCKER_LIST: Final = "application/vnd.docker.distribution.manifest.list.v2+json"
#: Every manifest type a client may ask for.
MANIFEST_ACCEPT: Final = ", ".join((OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST))


def tool(name: str, package: str) -> str:
    """The path of the program ``name``; skip (or fail in CI) when it is not installed."""
    path = shutil.which(name)
    if path is None:
        service_unavailable(f"{name} is not installed (Debian package {package})")
    return path


def run(
    *argv: str,
    env: Mapping[str, str] | None = None,
    timeout: float = COMMAND_TIMEOUT,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` to completion; with ``check``, fail the test with its output if it fails."""
    result = subprocess.run(
        argv,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0 or not check, (
        f"{' '.join(argv)} exited with status {result.returncode}:\n"
        f"{result.stderr.strip()}\n{result.stdout.strip()}"
    )
    return result


def skopeo(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``skopeo --insecure-policy <args>``: no signature policy of the machine applies."""
    return run(tool("skopeo", "skopeo"), "--insecure-policy", *args, check=check)


def skopeo_copy(source: str, destination: str, *flags: str) -> subprocess.CompletedProcess[str]:
    """``skopeo copy --preserve-digests <flags>`` over plain HTTP, whatever its exit status."""
    return skopeo(
        "copy",
        "--quiet",
        "--preserve-digests",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        *flags,
        source,
        destination,
        check=False,
    )


# ------------------------------------------------------------------ the registry's side


def served_manifest(url: str, repo: str, ref: str) -> httpx.Response:
    """``GET /v2/<repo>/manifests/<ref>`` accepting every manifest type; must answer 200."""
    resp = httpx.get(
        f"{url}/v2/{repo}/manifests/{ref}", headers={"Accept": MANIFEST_ACCEPT}, timeout=30
    )
    assert resp.status_code == 200, (ref, resp.status_code, resp.text)
    return resp


def served_blob(url: str, repo: str, digest: str) -> bytes:
    """``GET /v2/<repo>/blobs/<digest>``; must answer 200."""
    resp = httpx.get(f"{url}/v2/{repo}/blobs/{digest}", timeout=30, follow_redirects=True)
    assert resp.status_code == 200, (digest, resp.status_code, resp.text)
    return resp.content


def served_image(url: str, repo: str, tag: str) -> Image:
    """Everything the registry serves for ``repo:tag``: root, child manifests, configs, layers."""
    resp = served_manifest(url, repo, tag)
    assert resp.headers["Docker-Content-Digest"] == sha256(resp.content)
    root = json.loads(resp.content)
    manifests: dict[str, bytes] = {}
    children = [root]
    for entry in root.get("manifests", []):
        body = served_manifest(url, repo, entry["digest"]).content
        manifests[entry["digest"]] = body
        children.append(json.loads(body))
    blobs = {
        desc["digest"]: served_blob(url, repo, desc["digest"])
        for child in children
        for desc in [child.get("config"), *child.get("layers", [])]
        if desc is not None
    }
    return Image(resp.headers["Content-Type"], resp.content, blobs, manifests)


def layer_tars(image: Image) -> list[bytes]:
    """The decompressed layers of a single-platform ``image``, in order."""
    doc = json.loads(image.root)
    return [gzip.decompress(image.blobs[layer["digest"]]) for layer in doc["layers"]]


# ------------------------------------------------------------------ the clients


class Podman:
    """``podman`` with its own storage (vfs), run root and registries configuration.

    The registries file marks ``insecure_host`` as a plain-HTTP registry, so no
    ``--tls-verify`` flag is needed; the signature policy accepts anything.
    """

    def __init__(self, base: Path, insecure_host: str) -> None:
        self.binary = tool("podman", "podman")
        self.base = base
        for name in ("root", "run", "tmp"):
            (base / name).mkdir(parents=True, exist_ok=True)
        (base / "registries.conf").write_text(
            f'unqualified-search-registries = []\n\n[[registry]]\nlocation = "{insecure_host}"\n'
            "insecure = true\n"
        )
        (base / "policy.json").write_text('{"default": [{"type": "insecureAcceptAnything"}]}\n')
        (base / "containers.conf").write_text("")
        self.env = {
            "CONTAINERS_REGISTRIES_CONF": str(base / "registries.conf"),
            "CONTAINERS_CONF": str(base / "containers.conf"),
            "TMPDIR": str(base / "tmp"),
        }

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run(
            self.binary,
            "--root",
            str(self.base / "root"),
            "--runroot",
            str(self.base / "run"),
            "--storage-driver",
            "vfs",
            "--tmpdir",
            str(self.base / "tmp"),
            "--events-backend",
            "none",
            "--cgroup-manager",
            "cgroupfs",
            *args,
            env=self.env,
            check=check,
        )

    @property
    def policy(self) -> str:
        return f"--signature-policy={self.base / 'policy.json'}"

    def inspect(self, name: str) -> dict[str, object]:
        """``podman image inspect`` of one image."""
        out = self("image", "inspect", name).stdout
        images: list[dict[str, object]] = json.loads(out)
        assert len(images) == 1, out
        return images[0]


def aiocontent_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The ``aiocontent`` command of this checkout, as a real process."""
    return run(sys.executable, "-m", "aiocontent", *args, env={"NO_COLOR": "1"})
