"""The local file content store (containerd's ``plugins/content/local``) and its parts."""

from __future__ import annotations

from ._store import LocalStore as LocalStore
from ._store import Problem as Problem

__all__ = ("LocalStore", "Problem")
