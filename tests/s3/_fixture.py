"""One Ceph RADOS Gateway per test process, and factories of S3Stores on it.

:func:`shared_rgw` starts the gateway on first use and stops it when the
process exits, so the session fixture in ``conftest.py`` and the store table of
``tests/stores.py`` share one cluster. When Ceph is not installed or does not
start, the test is skipped on a developer machine and fails under CI.
"""

from __future__ import annotations

import atexit
import importlib.util
import itertools
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Final

from aiocontent import Store
from aiocontent.testing import StoreFactory

from .._services import service_unavailable
from . import rgw as rgw_mod

BUCKET: Final = "aiocontent-tests"
MIB: Final = 1 << 20

_rgw: rgw_mod.RGW | None = None
_failure: str | None = None


def shared_rgw() -> rgw_mod.RGW:
    """The process's gateway, started on first call (skip or, in CI, fail if impossible)."""
    global _rgw, _failure
    if _rgw is not None:
        return _rgw
    if _failure is None:
        if importlib.util.find_spec("aiobotocore") is None:
            _failure = "aiobotocore is not installed (pip install 'aiocontent[s3]')"
        elif missing := rgw_mod.missing_binaries():
            _failure = f"Ceph is not installed (missing {', '.join(missing)})"
        else:
            try:
                _rgw = rgw_mod.start()
            except rgw_mod.RGWError as exc:
                _failure = str(exc)
            else:
                atexit.register(rgw_mod.stop, _rgw)
                return _rgw
    service_unavailable(_failure)


def store_kwargs(gw: rgw_mod.RGW) -> dict[str, Any]:
    """Constructor arguments of an S3Store on ``gw`` (small parts and lease for tests)."""
    return {
        "endpoint_url": gw.endpoint,
        "aws_access_key_id": gw.access_key,
        "aws_secret_access_key": gw.secret_key,
        "create_bucket": True,
        "part_size": 5 * MIB,
        "lock_lease": 3.0,
    }


def s3_factory(gw: rgw_mod.RGW | None = None, **overrides: Any) -> StoreFactory:
    """Fresh, empty S3Stores: each call gives a store under a new prefix of one bucket."""
    from aiocontent._s3 import S3Store

    run = uuid.uuid4().hex[:8]
    counter = itertools.count()

    def factory() -> AbstractAsyncContextManager[Store]:
        @asynccontextmanager
        async def cm() -> AsyncIterator[Store]:
            kwargs = store_kwargs(gw or shared_rgw()) | overrides
            store = S3Store(BUCKET, f"{run}-{next(counter)}", **kwargs)
            try:
                yield store
            finally:
                await store.aclose()

        return cm()

    return factory
