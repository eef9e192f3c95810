"""Referrals: a real wellbeing screening's "refer to a psychologist" becomes a tracked referral
when it is approved, and moves made → accepted → seen → closed with who and when; coordinators
add them by hand; every step audited without the note."""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from fieldapp.audit.models import AuditEvent
from fieldapp.cases.models import Case, Referral
from fieldapp.db import db
from tests.cases.support import (
    DATA,
    SEED1_ADULT,
    SEED1_INSTANCE,
    Programme,
    new_instance,
    publish,
    registration,
    set_element,
)
from tests.conftest import Browser

SCREENING = DATA / "wellbeing_screening" / "adult" / "submission.xml"


def screening(adult: str, *, refer: str = "yes", urgency: str | None = "week") -> bytes:
    """The stored JavaRosa adult screening, for ``adult``, with the referral answers given."""
    xml = new_instance(SCREENING.read_bytes())
    old = re.search(rb"<adult>([^<]+)</adult>", xml)
    assert old is not None
    xml = xml.replace(old.group(1), adult.encode())
    xml = re.sub(rb'baseVersion="[^"]*"', b'baseVersion="1"', xml)
    referral = "no" if refer == "no" else (urgency or "yes")
    xml = set_element(xml, "adult_referral", referral)
    xml = set_element(xml, "refer", refer)
    xml = set_element(xml, "referral_urgency", urgency if refer == "yes" else None)
    if refer == "no" or urgency != "today":
        xml = set_element(xml, "urgent", "no")
    return xml


@pytest.fixture
def registered(programme: Programme) -> Programme:
    publish("wellbeing_screening")
    xml, files = registration("seed1")
    programme["worker"].submit(xml, files)
    programme["coord"].api.review(SEED1_INSTANCE)
    return programme


def _referrals() -> list[Referral]:
    db.session.expire_all()
    return list(db.session.scalars(select(Referral).order_by(Referral.id)))


def _browser(app, username: str = "coord") -> Browser:
    browser = Browser(app.test_client())
    assert browser.login(username).status_code == 302
    return browser


def test_an_approved_screening_refers_to_a_psychologist_and_the_referral_moves_on(
    app, registered: Programme
) -> None:
    worker, coord = registered["worker"], registered["coord"]
    instance = worker.submit(screening(SEED1_ADULT, urgency="week"))
    assert _referrals() == []  # nothing before approval
    coord.api.review(instance)

    (referral,) = _referrals()
    case = db.session.scalars(select(Case).where(Case.uuid == SEED1_ADULT)).one()
    assert referral.case_id == case.id
    assert (referral.service, referral.urgency, referral.status) == ("psychologist", "week", "made")
    assert referral.made_by_id == worker.user_id
    assert referral.due == referral.made_at.date() + timedelta(days=7)
    assert referral.submission_id is not None

    # approving again (an edit) makes no second referral: re-review is refused, so re-apply
    from fieldapp.cases import referrals
    from fieldapp.submissions.models import Submission

    submission = db.session.scalars(
        select(Submission).where(Submission.instance_id == instance)
    ).one()
    assert referrals.from_submission(case, submission, actor=None) is None

    browser = _browser(app)
    url = f"/cases/{SEED1_ADULT}/referrals/{referral.id}"
    shown = browser.get(f"/cases/{SEED1_ADULT}").data.decode()
    assert f'data-referral="{referral.id}" data-status="made"' in shown
    assert browser.post(url, {"to": "seen"}).status_code == 302  # not yet accepted: refused
    assert _referrals()[0].status == "made"
    for step in ("accepted", "seen", "closed"):
        assert browser.post(url, {"to": step, "note": f"step {step}"}).status_code == 302
        (moved,) = _referrals()
        assert moved.status == step
        assert getattr(moved, f"{step}_by_id") == coord.user_id
        assert getattr(moved, f"{step}_at") is not None
    assert "step seen" in (_referrals()[0].note or "")
    # closed is final
    assert browser.post(url, {"to": "accepted"}).status_code == 302
    assert _referrals()[0].status == "closed"

    actions = [
        (a.action, a.details.get("new"))
        for a in db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action.like("referral.%"), AuditEvent.subject_id == SEED1_ADULT)
            .order_by(AuditEvent.id)
        )
    ]
    assert actions == [
        ("referral.created", None),
        ("referral.status_changed", "accepted"),
        ("referral.status_changed", "seen"),
        ("referral.status_changed", "closed"),
    ]
    for row in db.session.scalars(select(AuditEvent).where(AuditEvent.action.like("referral.%"))):
        assert "step" not in json.dumps(row.details)  # notes stay on the referral


def test_today_is_due_the_day_it_was_made_and_no_referral_without_one(
    registered: Programme,
) -> None:
    worker, coord = registered["worker"], registered["coord"]
    coord.api.review(worker.submit(screening(SEED1_ADULT, refer="no")))
    assert _referrals() == []
    coord.api.review(worker.submit(screening(SEED1_ADULT, urgency="today")))
    (referral,) = _referrals()
    assert referral.urgency == "today"
    assert referral.due == referral.made_at.date()


def test_a_referral_left_out_on_approval_is_not_made(registered: Programme) -> None:
    worker, coord = registered["worker"], registered["coord"]
    instance = worker.submit(screening(SEED1_ADULT, urgency="month"))
    coord.api.review(instance, take={"referral": False})
    assert _referrals() == []


def test_a_coordinator_adds_a_referral_by_hand_and_must_say_why_it_closes_unseen(
    app, registered: Programme
) -> None:
    browser = _browser(app)
    base = f"/cases/{SEED1_ADULT}/referrals"
    assert browser.post(base, {"service": "witch doctor", "urgency": "week"}).status_code == 302
    assert browser.post(base, {"service": "legal", "urgency": "soon"}).status_code == 302
    assert _referrals() == []
    assert (
        browser.post(base, {"service": "legal", "urgency": "month", "note": ""}).status_code == 302
    )
    (referral,) = _referrals()
    assert (referral.service, referral.urgency, referral.made_by_id) == (
        "legal",
        "month",
        registered["coord"].user_id,
    )
    assert referral.due == referral.made_at.date() + timedelta(days=30)
    assert browser.post(f"{base}/{referral.id}", {"to": "closed"}).status_code == 302
    assert _referrals()[0].status == "made"
    browser.post(f"{base}/{referral.id}", {"to": "closed", "note": "family declined"})
    assert _referrals()[0].status == "closed"
    # a referral id of another case is not found through this one
    other = f"/cases/{uuid.UUID(int=1)}/referrals/{referral.id}"
    assert browser.post(other, {"to": "accepted"}).status_code == 404
