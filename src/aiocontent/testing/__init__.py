"""The conformance suite any content store can run: ``await check_store(factory)``.

Public but never imported by :mod:`aiocontent` itself. Each ``check_<name>``
runs one behaviour on a fresh store from ``factory`` and raises
:class:`AssertionError` when the store misbehaves; pytest is not required.
The code lives in private modules (``_checks`` gathers them); this file only
re-exports it.
"""

from __future__ import annotations

__all__ = (
    "StoreFactory",
    "check_abort_active_writer",
    "check_closed_writer",
    "check_commit_error_state",
    "check_commit_exists",
    "check_commit_other_algorithm",
    "check_cross_object_lock",
    "check_delete",
    "check_filters",
    "check_invalid_arguments",
    "check_labels",
    "check_not_found",
    "check_open_writer_wakes_on_release",
    "check_put",
    "check_ref_forms",
    "check_ref_not_available",
    "check_registry_metadata",
    "check_resume",
    "check_resume_copy",
    "check_resume_copy_reader_at",
    "check_resume_copy_seeker",
    "check_resume_discard",
    "check_resume_totals",
    "check_resume_truncate",
    "check_single_flight",
    "check_small_blob",
    "check_store",
    "check_truncate_middle",
    "check_update_fieldpaths",
    "check_update_status",
    "check_writer",
)

from ._checks import StoreFactory as StoreFactory
from ._checks import check_abort_active_writer as check_abort_active_writer
from ._checks import check_closed_writer as check_closed_writer
from ._checks import check_commit_error_state as check_commit_error_state
from ._checks import check_commit_exists as check_commit_exists
from ._checks import check_commit_other_algorithm as check_commit_other_algorithm
from ._checks import check_cross_object_lock as check_cross_object_lock
from ._checks import check_delete as check_delete
from ._checks import check_filters as check_filters
from ._checks import check_invalid_arguments as check_invalid_arguments
from ._checks import check_labels as check_labels
from ._checks import check_not_found as check_not_found
from ._checks import check_open_writer_wakes_on_release as check_open_writer_wakes_on_release
from ._checks import check_put as check_put
from ._checks import check_ref_forms as check_ref_forms
from ._checks import check_ref_not_available as check_ref_not_available
from ._checks import check_resume as check_resume
from ._checks import check_resume_copy as check_resume_copy
from ._checks import check_resume_copy_reader_at as check_resume_copy_reader_at
from ._checks import check_resume_copy_seeker as check_resume_copy_seeker
from ._checks import check_resume_discard as check_resume_discard
from ._checks import check_resume_totals as check_resume_totals
from ._checks import check_resume_truncate as check_resume_truncate
from ._checks import check_single_flight as check_single_flight
from ._checks import check_small_blob as check_small_blob
from ._checks import check_store as check_store
from ._checks import check_truncate_middle as check_truncate_middle
from ._checks import check_update_fieldpaths as check_update_fieldpaths
from ._checks import check_update_status as check_update_status
from ._checks import check_writer as check_writer
from ._registry_metadata import check_registry_metadata as check_registry_metadata

# Show the checks as ``aiocontent.testing.check_*`` in reprs and tracebacks.
for _name in __all__:
    _obj = globals()[_name]
    if getattr(_obj, "__module__", "").startswith(f"{__name__}._"):
        _obj.__module__ = __name__
del _name, _obj
