"""Column (b): containerd 1.6's own local content store, through ``ctrbench`` (Go).

The Go program lives in ``benchmarks/ctrbench/`` and is built in GOPATH mode
against Debian's containerd sources into ``benchmarks/go/bin/`` (not kept in
the repository). :func:`ensure_built` installs the Debian packages and builds
it when missing, unless asked not to; when that is impossible it says why and
the column stays empty.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Final

HERE: Final = Path(__file__).resolve().parent
SOURCE: Final = HERE / "ctrbench" / "main.go"
BINARY: Final = HERE / "go" / "bin" / "ctrbench"
GOPATH: Final = "/usr/share/gocode"
CONTAINERD_SRC: Final = Path(GOPATH) / "src/github.com/containerd/containerd/content/local"
PACKAGES: Final = ("golang-go", "golang-github-containerd-containerd-dev")


def _built() -> bool:
    return BINARY.exists() and BINARY.stat().st_mtime >= SOURCE.stat().st_mtime


def _install() -> str | None:
    """Install Go and containerd's sources from Debian; returns why not, or ``None``."""
    if shutil.which("go") and CONTAINERD_SRC.is_dir():
        return None
    apt = shutil.which("apt-get")
    if apt is None:
        return "no apt-get to install " + " ".join(PACKAGES)
    if os.geteuid() != 0:
        return "not root: cannot install " + " ".join(PACKAGES)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = [apt, "-o", "DPkg::Lock::Timeout=600", "install", "-y", "-q", *PACKAGES]
    print("containerd column: installing " + " ".join(PACKAGES), flush=True)
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        subprocess.run([apt, "update", "-q"], env=env, capture_output=True, check=False)
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
        return "apt-get install failed: " + tail[0]
    if not (shutil.which("go") and CONTAINERD_SRC.is_dir()):
        return f"packages installed but {CONTAINERD_SRC} or go is missing"
    return None


def _build() -> str | None:
    go = shutil.which("go")
    if go is None:
        return "go not found"
    BINARY.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, GO111MODULE="off", GOPATH=GOPATH, GOFLAGS="", CGO_ENABLED="0")
    if "GOCACHE" not in env and "HOME" not in env:
        env["GOCACHE"] = os.path.join(tempfile.gettempdir(), "ctrbench-gocache")
    print("containerd column: building ctrbench", flush=True)
    proc = subprocess.run(
        [go, "build", "-o", str(BINARY), "./ctrbench"],
        cwd=HERE,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        return "go build failed: " + " | ".join(proc.stderr.strip().splitlines()[:3])
    return None


def ensure_built(*, allow_build: bool) -> str | None:
    """Make sure ``ctrbench`` is built; returns why the column stays empty, or ``None``."""
    if _built():
        return None
    if not allow_build:
        return "ctrbench is not built (quick mode does not install Go or build it)"
    why = _install()
    if why is None:
        why = _build()
    return why


def version() -> str:
    """containerd's version as Debian packaged it, or ``""``."""
    dpkg = shutil.which("dpkg-query")
    if dpkg is None:
        return ""
    proc = subprocess.run(
        [dpkg, "-W", "-f=${Version}", "golang-github-containerd-containerd-dev"],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout.strip() if proc.returncode == 0 else ""


def run(workload: str, root: Path, **flags: int | str) -> dict[str, float]:
    """Run one ``ctrbench`` workload and return its JSON numbers.

    :raises RuntimeError: the program failed.
    """
    cmd = [str(BINARY), "-workload", workload, "-root", str(root)]
    for key, value in flags.items():
        cmd += [f"-{key.replace('_', '-')}", str(value)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"ctrbench {workload} failed: {proc.stderr.strip()}")
    out = json.loads(proc.stdout)
    return {k: float(v) for k, v in out.items() if isinstance(v, int | float)}
