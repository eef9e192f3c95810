"""Case work hears of what happens below it (see :mod:`fieldapp.events`).

* a published form version → its case lists exist (``ensure_case_lists``);
* a stored submission version (new or edit) → urgency from overdue cases, then its entity
  blocks become case work (``record_case_work``; applied at once where no approval is needed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select

from fieldapp.cases.mapping import entity_blocks
from fieldapp.cases.models import Case, CaseStatus
from fieldapp.cases.services import ensure_case_lists, record_case_work
from fieldapp.db import db
from fieldapp.events import subscribe
from fieldapp.forms.events import FormPublished
from fieldapp.submissions.events import SubmissionEdited, SubmissionStored

#: case work runs before the webhook outbox (90), so the outbox sees its result
ORDER = 10


def touches_overdue_case(
    data: dict[str, Any], entities: Sequence[Mapping[str, Any]], today: date, overdue_days: int
) -> bool:
    """Whether the submission updates an open case whose follow-up was due more than
    ``overdue_days`` days before ``today`` (read before its work is applied, which moves the
    due date)."""
    uuids = [
        b.case_uuid for b in entity_blocks(data, entities) if b.update and b.case_uuid is not None
    ]
    if not uuids:
        return False
    cutoff = today - timedelta(days=overdue_days)
    return (
        db.session.scalars(
            select(Case.id)
            .where(
                Case.uuid.in_(uuids),
                Case.status == CaseStatus.OPEN.value,
                Case.next_due < cutoff,
            )
            .limit(1)
        ).first()
        is not None
    )


@subscribe(FormPublished, order=ORDER)
def _case_lists_of_published_form(event: FormPublished) -> None:
    ensure_case_lists(event.version)


@subscribe(SubmissionStored, order=ORDER)
def _case_work_of_submission(event: SubmissionStored) -> None:
    submission, version = event.submission, event.version
    if (
        not submission.urgent
        and not version.encrypted
        and event.entities
        and touches_overdue_case(
            version.data or {},
            event.entities,
            version.received_at.date(),
            event.overdue_days,
        )
    ):
        submission.urgent = True
        db.session.flush()
    record_case_work(
        submission,
        version,
        event.entities,
        actor=event.actor,
        new=not isinstance(event, SubmissionEdited),
    )
