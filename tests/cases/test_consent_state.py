"""Consent as a state of the case: from the registration, changed by a coordinator with a
reason (confirmed first), a withdrawal takes the case off the worker's phone, audited without
the reason; other regions get 404 on every write."""

from __future__ import annotations

import json
import re

from sqlalchemy import select, text

from fieldapp.audit.models import AuditEvent
from fieldapp.cases.models import Case, ConsentChange
from fieldapp.db import db
from tests.cases.support import (
    SEED1_ADULT,
    SEED1_CHILDREN,
    SEED1_HOUSEHOLD,
    SEED1_INSTANCE,
    VISIT_MET,
    Programme,
    fresh_case,
    home_visit,
    registered,
    registration,
    signed_in,
)
from tests.conftest import Browser

REASON = "Ms Oscar Mike phoned the centre: she moved in with her sister"


def test_an_approved_registration_records_the_mothers_consent_on_every_case_it_creates(
    programme: Programme,
) -> None:
    xml, files = registration("seed1")
    programme["worker"].submit(xml, files)
    assert db.session.scalars(select(Case).where(Case.uuid == SEED1_HOUSEHOLD)).first() is None
    programme["coord"].api.review(SEED1_INSTANCE)

    for uuid in (SEED1_HOUSEHOLD, SEED1_ADULT, *SEED1_CHILDREN):
        case = fresh_case(uuid)
        assert case.consent == "given"
        assert case.assent is None  # the registration asks the mother only
        (change,) = db.session.scalars(
            select(ConsentChange).where(ConsentChange.case_id == case.id)
        ).all()
        assert (change.kind, change.old_state, change.new_state, change.source) == (
            "consent",
            None,
            "given",
            "submission",
        )
        assert change.submission_id is not None
        assert change.actor_id == programme["coord"].user_id
    rows = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "case.consent_changed")
    ).all()
    assert {r.subject_id for r in rows} == {SEED1_HOUSEHOLD, SEED1_ADULT, *SEED1_CHILDREN}


def test_a_coordinator_changes_consent_with_a_reason_after_a_confirmation(
    app, programme: Programme
) -> None:
    registered(programme)
    browser = signed_in(app)
    url = f"/cases/{SEED1_HOUSEHOLD}/consent"

    page = browser.post(url, {"kind": "consent", "state": "withdrawn", "reason": ""})
    assert page.status_code == 302  # no reason: back to the case page with the message
    assert fresh_case(SEED1_HOUSEHOLD).consent == "given"

    page = browser.post(url, {"kind": "consent", "state": "withdrawn", "reason": REASON})
    assert page.status_code == 200
    body = page.data.decode()
    assert 'name="confirm" value="1"' in body
    assert "Follow-ups stop" in body
    assert fresh_case(SEED1_HOUSEHOLD).consent == "given"  # only asked

    done = browser.post(
        url, {"kind": "consent", "state": "withdrawn", "reason": REASON, "confirm": "1"}
    )
    assert done.status_code == 302
    case = fresh_case(SEED1_HOUSEHOLD)
    assert case.consent == "withdrawn"
    assert case.next_due is None
    last = db.session.scalars(
        select(ConsentChange)
        .where(ConsentChange.case_id == case.id)
        .order_by(ConsentChange.id.desc())
    ).first()
    assert last is not None
    assert (last.old_state, last.new_state, last.source, last.reason) == (
        "given",
        "withdrawn",
        "staff",
        REASON,
    )

    # the audit row has the states, not the reason (nor any name in it)
    audit = db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.action == "case.consent_changed", AuditEvent.subject_id == case.uuid)
        .order_by(AuditEvent.id.desc())
    ).first()
    assert audit is not None
    details = json.dumps(audit.details)
    assert audit.details["new"] == "withdrawn" and audit.details["source"] == "staff"
    assert "Oscar" not in details and "sister" not in details

    # the case page shows the state and the history with its reason (escaped)
    shown = browser.get(f"/cases/{SEED1_HOUSEHOLD}").data.decode()
    assert 'class="consent-state" data-state="withdrawn"' in shown
    assert REASON in shown
    assert "follow-ups stopped" in shown

    # withdrawing again is refused; giving consent again resumes follow-ups, due today
    again = browser.post(
        url, {"kind": "consent", "state": "withdrawn", "reason": "again", "confirm": "1"}
    )
    assert again.status_code == 302
    assert fresh_case(SEED1_HOUSEHOLD).consent == "withdrawn"
    browser.post(url, {"kind": "consent", "state": "given", "reason": "asked", "confirm": "1"})
    case = fresh_case(SEED1_HOUSEHOLD)
    assert case.consent == "given" and case.next_due is not None


def test_a_childs_assent_is_recorded_apart_from_the_guardians_consent(
    app, programme: Programme
) -> None:
    registered(programme)
    browser = signed_in(app)
    child = SEED1_CHILDREN[0]
    done = browser.post(
        f"/cases/{child}/consent",
        {"kind": "assent", "state": "refused", "reason": "does not want visits", "confirm": "1"},
    )
    assert done.status_code == 302
    case = fresh_case(child)
    assert (case.consent, case.assent) == ("given", "refused")
    # a household has no assent of its own
    browser.post(
        f"/cases/{SEED1_HOUSEHOLD}/consent",
        {"kind": "assent", "state": "refused", "reason": "x", "confirm": "1"},
    )
    assert fresh_case(SEED1_HOUSEHOLD).assent is None


def test_a_withdrawal_takes_the_case_off_the_workers_phone_and_changes_its_hash(
    app, programme: Programme
) -> None:
    registered(programme)
    worker = programme["worker"]
    assert SEED1_HOUSEHOLD in {r["name"] for r in worker.rows()}
    integrity = f"/datasets/households/integrity?id={SEED1_HOUSEHOLD}"
    assert worker.phone is not None
    assert "<deleted>false</deleted>" in worker.phone.get(integrity).data.decode()
    before_hash = worker.manifest_hash()
    before = worker.case_list()
    etag = before.headers["ETag"]
    assert worker.phone is not None
    assert (
        worker.phone.get(
            "/forms/home_visit/attachments/households.csv",
            openrosa=False,
            headers={"If-None-Match": etag},
        ).status_code
        == 304
    )

    signed_in(app).post(
        f"/cases/{SEED1_HOUSEHOLD}/consent",
        {"kind": "consent", "state": "withdrawn", "reason": REASON, "confirm": "1"},
    )
    assert fresh_case(SEED1_HOUSEHOLD).consent == "withdrawn"

    assert SEED1_HOUSEHOLD not in {r["name"] for r in worker.rows()}
    assert worker.manifest_hash() != before_hash
    again = worker.phone.get(
        "/forms/home_visit/attachments/households.csv",
        openrosa=False,
        headers={"If-None-Match": etag},
    )
    assert again.status_code == 200 and again.headers["ETag"] != etag
    # asked which of its cases to drop, the phone hears: this one
    dropped = worker.phone.get(integrity)
    assert dropped.status_code == 200
    assert re.search(
        rf'<entity id="{SEED1_HOUSEHOLD}">\s*<deleted>true</deleted>', dropped.data.decode()
    ), dropped.data
    # the same list through the web forms (/fill reads this very file)
    web = Browser(app.test_client())
    assert web.login("worker").status_code == 302
    fill = web.get("/fill/collect/forms/home_visit/attachments/households.csv")
    assert fill.status_code == 200
    assert SEED1_HOUSEHOLD.encode() not in fill.data


def test_other_regions_get_404_on_every_consent_and_referral_write(
    app, programme: Programme
) -> None:
    registered(programme)
    programme.person("coord_s", "coordinator", ["south"])
    north = signed_in(app)
    north.post(
        f"/cases/{SEED1_ADULT}/referrals", {"service": "doctor", "urgency": "week", "note": ""}
    )
    referral_id = db.session.execute(text("SELECT max(id) FROM case_referrals")).scalar_one()
    assert referral_id is not None

    def counts() -> tuple[int, ...]:
        return tuple(
            db.session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in ("case_consent_changes", "case_referrals", "audit_events")
        )

    south = signed_in(app, "coord_s")
    worker = Browser(app.test_client())
    assert worker.login("worker").status_code == 302
    before = counts()
    for who, expected in ((south, 404), (worker, 404)):
        for url, body in (
            (
                f"/cases/{SEED1_ADULT}/consent",
                {"kind": "consent", "state": "withdrawn", "reason": "r", "confirm": "1"},
            ),
            (f"/cases/{SEED1_ADULT}/consent", {"kind": "consent", "state": "withdrawn"}),
            (f"/cases/{SEED1_ADULT}/referrals", {"service": "doctor", "urgency": "today"}),
            (f"/cases/{SEED1_ADULT}/referrals/{referral_id}", {"to": "accepted"}),
        ):
            if who is worker and "/referrals/" in url:
                continue  # the case's own worker moves it on (tests/cases/test_worker_referrals.py)
            assert who.post(url, body).status_code == expected, url
    db.session.expire_all()
    after = counts()
    assert after[:2] == before[:2]
    assert fresh_case(SEED1_ADULT).consent == "given"


def test_a_visit_made_offline_before_the_withdrawal_schedules_no_follow_up(
    app, programme: Programme
) -> None:
    registered(programme)
    visit = home_visit(SEED1_HOUSEHOLD, 1, template=VISIT_MET)
    instance = programme["worker"].submit(visit)
    signed_in(app).post(
        f"/cases/{SEED1_HOUSEHOLD}/consent",
        {"kind": "consent", "state": "withdrawn", "reason": REASON, "confirm": "1"},
    )
    programme["coord"].api.review(instance)
    case = fresh_case(SEED1_HOUSEHOLD)
    assert case.version == 2  # the visit is on record
    assert case.consent == "withdrawn" and case.next_due is None
