"""The coordinators' Monday screens of consent and referrals (read only, region-scoped).

* :func:`missing_consent` — open cases whose consent is not on record as given (none on record,
  refused, withdrawn), or a child's whose assent was refused or withdrawn: withdrawn first, then
  refused, then none on record.
* :func:`late_referrals` — referrals past their due date that are neither seen nor closed, the
  latest first by how long overdue.

``regions`` is the set of region ids the reader may see (``None``: every region, for an
administrator without a filter). Both pages of 100 rows; both count all matching rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Select, case, func, or_, select

from fieldapp.cases.models import (
    STOPS_FOLLOW_UPS,
    Case,
    CaseList,
    CaseStatus,
    ConsentState,
    Referral,
)
from fieldapp.cases.referrals import DONE
from fieldapp.db import db

PAGE_SIZE = 100


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    total: int


def _scoped(query: Select[Any], regions: set[int] | None) -> Select[Any]:
    return query if regions is None else query.where(Case.region_id.in_(regions or {-1}))


def missing_consent(regions: set[int] | None, *, page: int = 1) -> Page:
    """Open cases lacking consent (see the module docstring), with their list."""
    query = _scoped(
        select(Case)
        .join(CaseList, CaseList.id == Case.case_list_id)
        .where(
            Case.status == CaseStatus.OPEN.value,
            or_(
                Case.consent.is_(None),
                Case.consent != ConsentState.GIVEN.value,
                Case.assent.in_(STOPS_FOLLOW_UPS),
            ),
        ),
        regions,
    )
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rank = case(
        (
            or_(
                Case.consent == ConsentState.WITHDRAWN.value,
                Case.assent == ConsentState.WITHDRAWN.value,
            ),
            0,
        ),
        (
            or_(
                Case.consent == ConsentState.REFUSED.value,
                Case.assent == ConsentState.REFUSED.value,
            ),
            1,
        ),
        else_=2,
    )
    rows = db.session.scalars(
        query.order_by(rank, Case.code).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
    ).all()
    return Page(list(rows), total)


def late_referrals(regions: set[int] | None, today: date, *, page: int = 1) -> Page:
    """``(referral, case)`` rows of late referrals, the longest overdue first."""
    query = _scoped(
        select(Referral, Case)
        .join(Case, Case.id == Referral.case_id)
        .where(Referral.status.not_in(DONE), Referral.due < today),
        regions,
    )
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = db.session.execute(
        query.order_by(Referral.due, Referral.id).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
    ).all()
    return Page([tuple(r) for r in rows], total)
