"""Test data stays out of every read path, structurally.

Every ORM statement over :class:`~fieldapp.submissions.models.Submission` or
:class:`~fieldapp.cases.models.Case` (selects, lazy and relationship loads, ``session.get``,
ORM-enabled bulk updates and deletes, subqueries and joins included) gets a criterion on the
``sandbox`` column, added by a ``do_orm_execute`` listener on every session:

* normally ``sandbox IS false``: no queue, list, count, export, dashboard, case list or phone
  can see test data, whether or not its query remembers it;
* inside :func:`sandbox_mode` (a try's requests) ``sandbox IS true``: the real ingest and case
  logic run unchanged and see only test rows, so a test follow-up can never touch a real case;
* with the execution option ``include_sandbox=True``: no criterion (the ingest uniqueness checks
  and the test-data clean-up, which must see both).

New submissions and cases flushed inside :func:`sandbox_mode` are marked ``sandbox = true``.
Raw SQL and Core statements over the tables bypass the listener and must filter themselves;
the database triggers that keep ``submission_state_counts`` ignore test rows.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction, with_loader_criteria

from fieldapp.cases.models import Case
from fieldapp.sandbox.mode import (
    _in_sandbox,
    enter_sandbox,
    in_sandbox,
    leave_sandbox,
    sandbox_mode,
)
from fieldapp.submissions.models import Submission

#: the execution option that lifts the filter (``.execution_options(include_sandbox=True)``)
INCLUDE_SANDBOX = "include_sandbox"

__all__ = ["INCLUDE_SANDBOX", "enter_sandbox", "in_sandbox", "leave_sandbox", "sandbox_mode"]


def _real_submissions(cls: Any) -> Any:
    return cls.sandbox.is_(False)


def _test_submissions(cls: Any) -> Any:
    return cls.sandbox.is_(True)


def _real_cases(cls: Any) -> Any:
    return cls.sandbox.is_(False)


def _test_cases(cls: Any) -> Any:
    return cls.sandbox.is_(True)


@event.listens_for(Session, "do_orm_execute")
def _add_sandbox_criteria(state: ORMExecuteState) -> None:
    if state.is_column_load or not (state.is_select or state.is_update or state.is_delete):
        return
    if state.execution_options.get(INCLUDE_SANDBOX, False):
        return
    test = _in_sandbox.get()
    state.statement = state.statement.options(
        with_loader_criteria(
            Submission, _test_submissions if test else _real_submissions, include_aliases=True
        ),
        with_loader_criteria(Case, _test_cases if test else _real_cases, include_aliases=True),
    )


@event.listens_for(Session, "before_flush")
def _mark_new_test_rows(session: Session, flush_context: UOWTransaction, instances: Any) -> None:
    if not _in_sandbox.get():
        return
    for obj in session.new:
        if isinstance(obj, (Submission, Case)):
            obj.sandbox = True
