from __future__ import annotations

import pytest

from aiocontent.testing import StoreFactory

from ._fixture import s3_factory, shared_rgw
from .rgw import RGW


@pytest.fixture(scope="session")
def rgw() -> RGW:
    """A single-node Ceph cluster with a RADOS Gateway, for the whole session.

    Skips the test when Ceph cannot start on a developer machine; fails it under CI.
    """
    return shared_rgw()


@pytest.fixture
def factory(rgw: RGW) -> StoreFactory:
    """Fresh, empty S3Stores on the session's gateway, each under its own prefix."""
    return s3_factory(rgw)
