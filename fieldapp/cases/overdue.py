"""Follow-ups that became overdue: a time-driven event.

The webhook worker's daily tick calls :func:`notice_overdue`; each open case whose next
follow-up date has passed is told once per due date (:class:`~fieldapp.cases.models.
OverdueNotice` remembers it), as a :class:`~fieldapp.cases.events.FollowUpOverdue` event.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import and_, exists, select

from fieldapp.cases.events import FollowUpOverdue
from fieldapp.cases.models import Case, CaseStatus, OverdueNotice
from fieldapp.db import db, utcnow
from fieldapp.events import is_sandbox, publish

#: on the first tick ever, due dates this far back are told (not the whole history)
FIRST_LOOKBACK = timedelta(days=1)


def notice_overdue(*, today: date, since: date | None, limit: int = 10_000) -> int:
    """Publish ``FollowUpOverdue`` for open cases due in ``[since, today)`` not told yet.

    :param since: the day of the previous tick (``None``: the first tick, one day back).
    :return: how many cases were told.
    """
    start = since if since is not None else today - FIRST_LOOKBACK
    cases = db.session.scalars(
        select(Case)
        .where(
            Case.status == CaseStatus.OPEN.value,
            Case.next_due.is_not(None),
            Case.next_due >= start,
            Case.next_due < today,
            ~exists().where(
                and_(OverdueNotice.case_id == Case.id, OverdueNotice.due == Case.next_due)
            ),
        )
        .order_by(Case.id)
        .limit(limit)
    ).all()
    now = utcnow()
    for case in cases:
        assert case.next_due is not None
        db.session.add(OverdueNotice(case_id=case.id, due=case.next_due, noticed_at=now))
        publish(FollowUpOverdue(case=case, due=case.next_due, sandbox=is_sandbox(case)))
    db.session.flush()
    return len(cases)
