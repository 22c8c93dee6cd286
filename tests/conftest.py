"""Both anyio backends for every async test, and per-test timeouts.

A test that runs too long fails in two steps. An async test's body runs under
``anyio.fail_after`` ending :data:`GRACE` seconds before its timeout, so a hung
await (a lock that is never released) fails that one test with a traceback on
either backend, and the run goes on. Anything that cannot be cancelled (a blocked
thread, sync code, a fixture) meets pytest-timeout at the timeout itself, whose
``thread`` method dumps every thread's stack and ends the run.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Generator
from typing import Any, Final

import anyio
import pytest

#: The timeout (seconds) of tests that start a service or are marked ``slow``;
#: every other test has pyproject's ``timeout``. A test may set its own with
#: ``@pytest.mark.timeout(seconds)``.
LONG_TIMEOUT: Final = 600
LONG_MARKERS: Final = ("slow", "ceph", "containerd", "registry", "tmpfs")
#: How long before its timeout an async test's body is cancelled.
GRACE: Final = 10.0


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run every async test on both anyio backends; a missing trio fails the run."""
    return str(request.param)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect ``asyncio_only`` cases under trio; give long-running tests a longer timeout.

    ``asyncio_only`` cases (aiofiles, asyncio streams) cannot exist under trio at
    all, so they are deselected there rather than skipped. Tests with one of
    :data:`LONG_MARKERS` and no timeout of their own get :data:`LONG_TIMEOUT`.
    """
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        if item.get_closest_marker("timeout") is None and any(
            item.get_closest_marker(name) for name in LONG_MARKERS
        ):
            item.add_marker(pytest.mark.timeout(LONG_TIMEOUT))
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("anyio_backend") if callspec else None
        if backend not in (None, "asyncio") and item.get_closest_marker("asyncio_only"):
            dropped.append(item)
        else:
            keep.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


def _timeout(item: pytest.Item) -> float:
    """The item's pytest-timeout: its marker, else ``--timeout``, else pyproject's."""
    marker = item.get_closest_marker("timeout")
    if marker is not None and marker.args:
        return float(marker.args[0])
    option = item.config.getoption("timeout", None)
    return float(option if option is not None else item.config.getini("timeout") or 0)


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Generator[None, Any, Any]:
    """Run an async test's body under ``anyio.fail_after(timeout - GRACE)``."""
    func = pyfuncitem.obj
    limit = _timeout(pyfuncitem) - GRACE
    if "anyio_backend" not in pyfuncitem.funcargs or not inspect.iscoroutinefunction(func):
        return (yield)
    if limit <= 0:
        return (yield)

    @functools.wraps(func)
    async def bounded(**kwargs: Any) -> None:
        scope: anyio.CancelScope | None = None
        try:
            with anyio.fail_after(limit) as scope:
                await func(**kwargs)
        except TimeoutError:
            if scope is None or not scope.cancelled_caught:
                raise
            pytest.fail(f"still running after {limit:g} s: cancelled where it waited (above)")

    pyfuncitem.obj = bounded
    try:
        return (yield)
    finally:
        pyfuncitem.obj = func
