"""Fixtures running a throw-away containerd daemon, and the opt-in switch for its tests.

Tests marked ``containerd`` are deselected unless ``AIOCONTENT_CONTAINERD_TESTS=1``
is set (the CI script sets it). Once enabled, a test whose daemon cannot start
skips with the reason on a developer machine and fails under ``CI=true``.

A session-scoped probe starts one daemon first, so that a machine where
containerd cannot run is diagnosed once and quickly; each test then gets its
own daemon and root, so tests never see each other's blobs or ingests.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from tests._services import service_unavailable

from ._daemon import ContainerdDaemon, DaemonUnavailableError, dispose, launch

#: The environment variable that enables the containerd tests.
ENABLE_ENV = "AIOCONTENT_CONTAINERD_TESTS"

DaemonFactory = Callable[..., ContainerdDaemon]


def containerd_tests_enabled() -> bool:
    """``True`` when ``AIOCONTENT_CONTAINERD_TESTS`` is set to a true value."""
    return os.environ.get(ENABLE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the ``containerd``-marked tests unless they are enabled."""
    if containerd_tests_enabled():
        return
    kept = [item for item in items if item.get_closest_marker("containerd") is None]
    if len(kept) != len(items):
        deselected = [item for item in items if item.get_closest_marker("containerd") is not None]
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept


@pytest.fixture(scope="session")
def containerd_unavailable() -> Iterator[str | None]:
    """Probe once per session: ``None`` when a daemon starts here, else the reason it does not."""
    try:
        daemon = launch()
    except DaemonUnavailableError as exc:
        yield str(exc)
        return
    dispose(daemon)
    yield None


@pytest.fixture
def daemon_utc_offset() -> int:
    """Minutes east of UTC of the daemon's local zone; tests parametrize it to change it."""
    return 0


@pytest.fixture
def make_containerd(containerd_unavailable: str | None) -> Iterator[DaemonFactory]:
    """A factory starting daemons (``utc_offset_minutes=0``); all are stopped at teardown."""
    if containerd_unavailable is not None:
        service_unavailable(containerd_unavailable)
    started: list[ContainerdDaemon] = []

    def factory(utc_offset_minutes: int = 0) -> ContainerdDaemon:
        try:
            daemon = launch(utc_offset_minutes)
        except DaemonUnavailableError as exc:
            service_unavailable(str(exc))
        started.append(daemon)
        return daemon

    yield factory
    for daemon in started:
        dispose(daemon)


@pytest.fixture
def containerd(make_containerd: DaemonFactory, daemon_utc_offset: int) -> ContainerdDaemon:
    """A running daemon with a fresh root, its local zone ``daemon_utc_offset`` from UTC."""
    return make_containerd(daemon_utc_offset)
