"""How tests that need an outside service give up: skip on a developer machine, fail in CI.

A skip in CI would hide a broken install step, so with ``CI=true`` a missing
service is a failure.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    """``True`` when running under CI (``CI=true``)."""
    return os.environ.get("CI", "").lower() == "true"


def service_unavailable(reason: str) -> NoReturn:
    """Skip the test with ``reason``, or fail it when running under CI."""
    if in_ci():
        pytest.fail(f"service unavailable in CI: {reason}", pytrace=False)
    pytest.skip(reason)
