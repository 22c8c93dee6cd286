"""Garbage collection with containerd's semantics, for every store.

``await collect_garbage(store)`` deletes the blobs that no root reaches and
that nothing created, labelled or used within the grace period. A module of its
own (like :mod:`aiocontent.registry`) so that the package namespace stays small;
it imports nothing heavy, and the registry metadata only when one is passed.

.. versionadded:: 0.2
"""

from __future__ import annotations

from ._exports import publish as _publish
from ._gc import GCReport as GCReport
from ._gc import collect_garbage as collect_garbage
from ._gc_graph import LABEL_GC_REF_CONTENT as LABEL_GC_REF_CONTENT
from ._gc_graph import LABEL_GC_ROOT as LABEL_GC_ROOT

__all__ = ("LABEL_GC_REF_CONTENT", "LABEL_GC_ROOT", "GCReport", "collect_garbage")

_publish(globals(), __name__)
