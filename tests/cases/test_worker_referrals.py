"""The field worker a case is assigned to moves its referrals on from "My visits" (/fill), audited
like a coordinator's step; another worker gets 404 and never sees it; a case off the phone
(consent withdrawn) is its coordinator's alone; adding by hand stays with coordinators."""

from __future__ import annotations

from sqlalchemy import select

from fieldapp.audit.models import AuditEvent
from fieldapp.cases.models import Case, Referral
from fieldapp.db import db
from tests.cases.support import SEED1_ADULT, SEED1_INSTANCE, Programme, registration, signed_in
from tests.conftest import Browser


def _referral() -> Referral:
    db.session.expire_all()
    return db.session.scalars(select(Referral)).one()


def _world(app, programme: Programme) -> tuple[Browser, int]:
    xml, files = registration("seed1")
    programme["worker"].submit(xml, files)
    programme["coord"].api.review(SEED1_INSTANCE)
    case = db.session.scalars(select(Case).where(Case.uuid == SEED1_ADULT)).one()
    assert case.assigned_to_id == programme["worker"].user_id
    coord = signed_in(app, "coord")
    coord.post(f"/cases/{SEED1_ADULT}/referrals", {"service": "doctor", "urgency": "week"})
    return coord, _referral().id


def test_the_cases_worker_moves_its_referral_on_from_my_visits(app, programme: Programme) -> None:
    _, referral_id = _world(app, programme)
    worker = signed_in(app, "worker")
    page = worker.get("/fill").data.decode()
    assert f'data-referral="{referral_id}" data-status="made"' in page
    url = f"/cases/{SEED1_ADULT}/referrals/{referral_id}"
    assert f'action="{url}"' in page

    moved = worker.post(url, {"to": "accepted", "note": "the clinic booked her"})
    assert moved.status_code == 302
    assert moved.headers["Location"].endswith("/fill#referrals")
    referral = _referral()
    assert referral.status == "accepted"
    assert referral.accepted_by_id == programme["worker"].user_id
    audit = db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.action == "referral.status_changed")
        .order_by(AuditEvent.id.desc())
    ).first()
    assert audit is not None and audit.actor_id == programme["worker"].user_id
    assert (audit.details["old"], audit.details["new"]) == ("made", "accepted")
    assert "clinic" not in str(audit.details)
    # the step rules are the same as a coordinator's: not closed before seen without a note
    worker.post(url, {"to": "closed"})
    assert _referral().status == "accepted"
    worker.post(url, {"to": "seen"})
    assert _referral().status == "seen"
    # adding one by hand stays with coordinators
    assert (
        worker.post(
            f"/cases/{SEED1_ADULT}/referrals", {"service": "doctor", "urgency": "today"}
        ).status_code
        == 404
    )


def test_another_worker_gets_404_and_a_case_off_the_phone_is_the_coordinators(
    app, programme: Programme
) -> None:
    coord, referral_id = _world(app, programme)
    programme.person("worker2", "field_worker", ["north"])
    other = signed_in(app, "worker2")
    url = f"/cases/{SEED1_ADULT}/referrals/{referral_id}"
    assert f'data-referral="{referral_id}"' not in other.get("/fill").data.decode()
    assert other.post(url, {"to": "accepted"}).status_code == 404
    assert _referral().status == "made"

    coord.post(
        f"/cases/{SEED1_ADULT}/consent",
        {"kind": "consent", "state": "withdrawn", "reason": "she asked", "confirm": "1"},
    )
    worker = signed_in(app, "worker")
    assert f'data-referral="{referral_id}"' not in worker.get("/fill").data.decode()
    assert worker.post(url, {"to": "accepted"}).status_code == 302
    assert _referral().status == "made"
    assert coord.post(url, {"to": "accepted"}).status_code == 302
    assert _referral().status == "accepted"
