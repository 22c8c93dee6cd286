"""Fixtures: the registry under test as a real process, and private homes for the clients.

The registry is ``aiocontent serve`` on a LocalStore in a temporary root,
listening on a free loopback port, once on uvicorn (asyncio) and once on
hypercorn (trio). ``AIOCONTENT_CLIENTS_REGISTRY=docker-registry``
runs the same tests against Debian's distribution registry instead, which shows
whether a failure lies in a client's harness or in our server.

Tests marked ``containerd`` follow the opt-in of tests/containerd
(``AIOCONTENT_CONTAINERD_TESTS=1``) and use its daemon fixtures.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests._services import service_unavailable
from tests.containerd.conftest import (  # the daemon fixtures, shared
    containerd_tests_enabled,
    containerd_unavailable,
    make_containerd,
)
from tests.registry._server import RegistryProcess

from .._process import SERVER_NAMES, SERVERS, serving
from ._clients import Podman

#: Set to ``docker-registry`` to test the clients against Debian's registry.
TARGET_ENV = "AIOCONTENT_CLIENTS_REGISTRY"


@dataclasses.dataclass(frozen=True)
class Target:
    """A running registry: what it is and where it listens."""

    name: str
    host: str
    #: ``aiocontent serve``'s store root and backend (``None`` for docker-registry)
    root: Path | None = None
    backend: str = ""

    @property
    def url(self) -> str:
        return f"http://{self.host}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the ``containerd``-marked client tests unless they are enabled."""
    if containerd_tests_enabled():
        return
    here = Path(__file__).parent
    dropped = [
        item
        for item in items
        if item.get_closest_marker("containerd") is not None and here in item.path.parents
    ]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if item not in dropped]


def _targets() -> list[str]:
    if os.environ.get(TARGET_ENV, "") == "docker-registry":
        return ["docker-registry"]
    return list(SERVERS)


@pytest.fixture(
    scope="session",
    params=_targets(),
    ids=lambda name: SERVER_NAMES.get(name, name),
)
def target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    """The registry the clients talk to, once per session and server.

    ``aiocontent serve`` runs on uvicorn (asyncio) and on hypercorn (trio),
    each on a fresh LocalStore root.
    """
    name: str = request.param
    workdir = tmp_path_factory.mktemp(name)
    if name == "docker-registry":
        process = RegistryProcess(workdir, workdir / "storage")
        try:
            process.start()
        except (OSError, RuntimeError) as exc:
            service_unavailable(f"docker-registry cannot run here: {exc}")
        try:
            yield Target(name, process.host)
        finally:
            process.stop()
        return
    with serving(workdir / "root", name, args=["--quiet"]) as server:
        yield Target(f"aiocontent serve ({SERVER_NAMES[name]})", server.listen, server.root, name)


@pytest.fixture(scope="session")
def read_only_target(target: Target) -> Iterator[Target]:
    """A second ``aiocontent serve --read-only`` process on ``target``'s store root."""
    if target.root is None:
        pytest.skip(f"{target.name} is not aiocontent serve: no --read-only process to add")
    log = target.root.parent / "read-only.log"
    with serving(target.root, target.backend, log=log, args=["--quiet", "--read-only"]) as server:
        yield Target(f"{target.name}, read-only", server.listen, server.root, target.backend)


@pytest.fixture
def podman(target: Target) -> Iterator[Callable[[str], Podman]]:
    """Makes podman homes (storage, run root, configuration); all are removed at teardown.

    They live in a short directory under ``/tmp``: podman refuses a run root
    longer than 50 characters.
    """
    base = Path(tempfile.mkdtemp(prefix="pod-", dir="/tmp"))

    def make(name: str) -> Podman:
        return Podman(base / name, target.host)

    try:
        yield make
    finally:
        shutil.rmtree(base, ignore_errors=True)


__all__ = ("Target", "containerd_unavailable", "make_containerd")
