"""Wellbeing screening totals of one case over time, from its approved versions.

``forms/wellbeing_screening.xlsx`` computes the totals in the form and saves them to the adult's
or child's case (``save_to``): ``phq_total`` (PHQ-9 for adults, PHQ-A for children, 0-27),
``gad_total`` (GAD-7, adults, 0-21), ``who5_percent`` (WHO-5 raw score times 4, adults,
0-100) and the screening date in ``last_screening_date``. A screening is therefore a case
version whose case work proposed one of these totals; its value counts only where the version
kept what was proposed (a coordinator may leave a property when approving). Pending screenings
are not shown: they are not part of the record until a coordinator approves them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select

from fieldapp.cases.mapping import as_date
from fieldapp.cases.models import Case, CaseVersion, CaseWork
from fieldapp.db import db

PHQ, GAD, WHO5 = "phq_total", "gad_total", "who5_percent"
#: the properties the screening form saves its totals to
SCORES = (PHQ, GAD, WHO5)
#: the property holding the screening's date
SCREENING_DATE = "last_screening_date"
#: the top of each questionnaire's scale
MAXIMUM = {PHQ: 27.0, GAD: 21.0, WHO5: 100.0}


@dataclass(frozen=True)
class Screening:
    """The totals one approved screening put into the case record."""

    on: date
    version: int
    submission_id: int | None
    scores: Mapping[str, float]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def screenings(case: Case) -> list[Screening]:
    """The case's screenings in version order (the caller has checked the actor may see it)."""
    rows = db.session.execute(
        select(
            CaseVersion.version,
            CaseVersion.properties,
            CaseVersion.created_at,
            CaseVersion.submission_id,
            CaseWork.properties,
        )
        .join(CaseWork, CaseWork.case_version_id == CaseVersion.id)
        .where(CaseVersion.case_id == case.id)
        .order_by(CaseVersion.version)
    ).all()
    out = []
    for version, kept, created_at, submission_id, proposed in rows:
        scores = {}
        for name in SCORES:
            if name in proposed and kept.get(name) == proposed[name]:
                number = _number(proposed[name])
                if number is not None:
                    scores[name] = number
        if not scores:
            continue
        on = as_date(proposed.get(SCREENING_DATE)) or created_at.date()
        out.append(Screening(on=on, version=version, submission_id=submission_id, scores=scores))
    return out


def phq_name(case: Case) -> str:
    """PHQ-A for children, PHQ-9 for everyone else."""
    return "PHQ-A" if case.case_list.name == "children" else "PHQ-9"
