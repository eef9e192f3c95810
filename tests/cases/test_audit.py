"""Reading a case or a submission and deciding on one are audited, and the audit log never
holds what the family told the worker."""

from __future__ import annotations

import json
import uuid

from sqlalchemy import select

from fieldapp.audit.models import AuditEvent
from fieldapp.db import db
from tests.cases.support import (
    SEED1_HOUSEHOLD,
    SEED1_INSTANCE,
    SEED1_NAMES,
    home_visit,
    registration,
)


def _events(action: str) -> list[AuditEvent]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        )
    )


def test_views_and_decisions_are_audited(programme):
    worker, coord = programme["worker"], programme["coord"]
    worker.submit(*registration("seed1"))

    coord.api.submission(SEED1_INSTANCE)
    (viewed,) = _events("submission.viewed")
    assert (viewed.actor_id, viewed.subject_type, viewed.subject_id) == (
        coord.user_id,
        "submission",
        SEED1_INSTANCE,
    )
    assert viewed.region_id is not None

    coord.api.review(SEED1_INSTANCE, take={"phone": False})
    (reviewed,) = _events("submission.reviewed")
    assert reviewed.actor_id == coord.user_id
    assert reviewed.subject_id == SEED1_INSTANCE
    assert reviewed.details["old"] == "received"
    assert reviewed.details["new"] == "approved"
    assert reviewed.details["left"] == ["phone"]
    assert reviewed.details["case_versions"] == 4
    created = _events("case.created")
    assert len(created) == 4 and {e.actor_id for e in created} == {coord.user_id}

    coord.api.case(SEED1_HOUSEHOLD)
    (case_viewed,) = _events("case.viewed")
    assert (case_viewed.actor_id, case_viewed.subject_type, case_viewed.subject_id) == (
        coord.user_id,
        "case",
        SEED1_HOUSEHOLD,
    )
    worker.api.case(SEED1_HOUSEHOLD)
    assert [e.actor_id for e in _events("case.viewed")] == [coord.user_id, worker.user_id]
    coord.api.cases()
    assert _events("case.list_viewed")


def test_no_answers_in_the_audit_log(programme):
    worker, coord = programme["worker"], programme["coord"]
    worker.submit(*registration("seed1"))
    coord.api.submission(SEED1_INSTANCE)
    coord.api.review(SEED1_INSTANCE)
    coord.api.case(SEED1_HOUSEHOLD)
    visit = worker.submit(home_visit(SEED1_HOUSEHOLD, 1))
    coord.api.review(visit, take={"next_visit": False})
    stale = worker.submit(home_visit(SEED1_HOUSEHOLD, 1))  # a hard conflict
    coord.api.review(stale, "has_issues", note="Was this the same visit as oscar mike's?")
    coord.api.review(stale)
    worker.submit(home_visit(str(uuid.uuid4()), 1))  # unknown case
    worker.submit(home_visit("oscar mike", 1))  # a name where the case id belongs
    rejected = worker.submit(*registration("children3"))
    coord.api.review(rejected, "rejected", note="oscar lima moved away")

    events = _events("submission.reviewed") + _events("case.updated")
    assert len(events) >= 5
    answers = [
        *SEED1_NAMES,
        "oscar mike",
        "oscar lima",
        "0739970833",  # the mother's phone number
        "2026-07-02",  # the visit date
        "moved",
        "hotel november",
    ]
    db.session.expire_all()
    for event in db.session.scalars(select(AuditEvent)):
        text = json.dumps(event.details, ensure_ascii=False).lower()
        for answer in answers:
            assert answer not in text, (event.action, answer)
