"""The store conformance suite: containerd's content testsuite cases, plus ours.

Each ``check_<name>(factory)`` opens a fresh store with ``async with
factory() as cs:`` and checks one behaviour; :func:`check_store` runs them all.
Failures raise :class:`AssertionError` with a message naming the check and the
expectation; pytest is not needed. Checks of optional capabilities
(single-flight, cross-object locking) do nothing for a store without them.

The checks live by theme: containerd's cases in ``_containerd_checks``, ours in
``_writer_checks`` (writers and refs), ``_blob_checks`` (blobs and arguments)
and ``_capability_checks`` (optional capabilities), sharing ``_support``. This
module lists them in the order :func:`check_store` runs them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final

from ._blob_checks import (
    check_delete,
    check_filters,
    check_invalid_arguments,
    check_not_found,
    check_update_fieldpaths,
)
from ._capability_checks import check_cross_object_lock, check_put, check_single_flight
from ._containerd_checks import (
    check_commit_error_state,
    check_commit_exists,
    check_labels,
    check_resume,
    check_resume_copy,
    check_resume_copy_reader_at,
    check_resume_copy_seeker,
    check_resume_discard,
    check_resume_truncate,
    check_small_blob,
    check_update_status,
    check_writer,
)
from ._support import StoreFactory
from ._writer_checks import (
    check_abort_active_writer,
    check_closed_writer,
    check_commit_other_algorithm,
    check_open_writer_wakes_on_release,
    check_ref_forms,
    check_ref_not_available,
    check_resume_totals,
    check_truncate_middle,
)

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


_CHECKS: Final[tuple[Callable[[StoreFactory], Awaitable[None]], ...]] = (
    check_writer,
    check_update_status,
    check_commit_exists,
    check_resume,
    check_resume_truncate,
    check_resume_discard,
    check_resume_copy,
    check_resume_copy_seeker,
    check_resume_copy_reader_at,
    check_small_blob,
    check_labels,
    check_commit_error_state,
    check_ref_not_available,
    check_truncate_middle,
    check_open_writer_wakes_on_release,
    check_not_found,
    check_delete,
    check_abort_active_writer,
    check_filters,
    check_update_fieldpaths,
    check_invalid_arguments,
    check_ref_forms,
    check_closed_writer,
    check_resume_totals,
    check_commit_other_algorithm,
    check_single_flight,
    check_cross_object_lock,
    check_put,
)


async def check_store(factory: StoreFactory) -> None:
    """Run every check on fresh stores from ``factory``.

    :param factory: called once per check; must give a new, empty store as an
        async context manager.
    :raises AssertionError: the first failing check, named in the message.
    """
    __tracebackhide__ = True
    for check in _CHECKS:
        try:
            await check(factory)
        except AssertionError as exc:
            raise AssertionError(f"{check.__name__}: {exc}") from exc
