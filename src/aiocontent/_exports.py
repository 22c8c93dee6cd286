"""Public names shown where they are public: ``aiocontent.X``, not ``aiocontent._module.X``."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

__all__ = ("publish",)


def publish(namespace: Mapping[str, object], module: str) -> None:
    """Set ``__module__`` to ``module`` on each object of ``namespace["__all__"]`` defined
    in a private module, so reprs, tracebacks and docs show the public path.

    Objects whose ``__module__`` cannot be set (type aliases) are left as they are, and
    so are names the namespace does not hold yet (those a module imports on first use).
    """
    names = namespace["__all__"]
    assert isinstance(names, tuple)
    private = ("aiocontent._", f"{module}._")
    for name in names:
        obj = namespace.get(name)
        if getattr(obj, "__module__", "").startswith(private):
            with contextlib.suppress(AttributeError, TypeError):
                obj.__module__ = module
