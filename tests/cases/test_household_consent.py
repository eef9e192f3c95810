"""A household's consent withdrawal reaches its members: every open member whose consent came
from the household (a child's: the guardian's consent; the mother's own stays) is
withdrawn in the same step, each with its own history row and audit row (states and ids, never
the reason), and leaves the phones and the overdue lists. The confirmation page counts them by
code (another region's only by count); giving the household's consent again gives nobody's."""

from __future__ import annotations

import html
import json
from datetime import timedelta

from sqlalchemy import select

from fieldapp.audit.models import AuditEvent
from fieldapp.auth.models import User
from fieldapp.cases import care, caselists, consent, services
from fieldapp.cases.models import Case, ConsentChange
from fieldapp.db import db, utcnow
from tests.cases.support import (
    SEED1_ADULT,
    SEED1_CHILDREN,
    SEED1_HOUSEHOLD,
    Programme,
    fresh_case,
    registered,
    signed_in,
)
from tests.conftest import Browser

REASON = "Ms Oscar Mike phoned: the family moved to her sister in Hotel November"
MEMBERS = (SEED1_ADULT, *SEED1_CHILDREN)
#: the members whose consent is the household's: the children (the guardian's consent)
CARRIED = SEED1_CHILDREN


def _user(username: str) -> User:
    return db.session.scalars(select(User).where(User.username == username)).one()


def _withdraw(browser: Browser, *, confirm: bool = True, state: str = "withdrawn") -> str:
    body = {"kind": "consent", "state": state, "reason": REASON}
    if confirm:
        body["confirm"] = "1"
    response = browser.post(f"/cases/{SEED1_HOUSEHOLD}/consent", body)
    assert response.status_code == (302 if confirm else 200), response.data
    return response.data.decode()


def test_withdrawing_a_households_consent_withdraws_every_member_whose_consent_came_from_it(
    app, programme: Programme
) -> None:
    registered(programme)
    # every member is overdue before: the withdrawal must take them out of the overdue lists
    for case in db.session.scalars(select(Case).where(Case.uuid.in_([SEED1_HOUSEHOLD, *MEMBERS]))):
        case.next_due = utcnow().date() - timedelta(days=3)
    db.session.commit()
    worker = _user("worker")
    lists = {name: services.get_case_list(name) for name in ("households", "adults", "children")}
    on_phone = {c.uuid for cl in lists.values() if cl for c in caselists.caseload(cl, actor=worker)}
    assert on_phone >= {SEED1_HOUSEHOLD, *MEMBERS}
    assert {c["id"] for c in programme["coord"].api.cases("overdue=1")} >= set(MEMBERS)

    browser = signed_in(app)
    page = _withdraw(browser, confirm=False)
    assert "2 member cases of this household are also withdrawn" in page
    for uuid in CARRIED:
        assert fresh_case(uuid).code in page
        assert fresh_case(uuid).consent == "given"  # only asked
    assert fresh_case(SEED1_ADULT).code not in page

    _withdraw(browser)
    household = fresh_case(SEED1_HOUSEHOLD)
    assert household.consent == "withdrawn"
    (own,) = [
        c
        for c in consent.history(household)
        if c.new_state == "withdrawn" and c.from_change_id is None
    ]
    assert fresh_case(SEED1_ADULT).consent == "given"  # the mother's own consent stands
    for uuid in CARRIED:
        member = fresh_case(uuid)
        assert member.consent == "withdrawn"
        assert member.next_due is None and not member.overdue(utcnow().date())
        last = consent.history(member)[-1]
        assert (last.old_state, last.new_state, last.source, last.from_change_id) == (
            "given",
            "withdrawn",
            "staff",
            own.id,
        )
        assert last.reason and "Oscar" not in last.reason and str(own.id) in last.reason
        audit = db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "case.consent_changed", AuditEvent.subject_id == uuid)
            .order_by(AuditEvent.id.desc())
        ).first()
        assert audit is not None
        assert audit.details["new"] == "withdrawn"
        assert audit.details["household_change"] == own.id
        assert audit.details["household"] == SEED1_HOUSEHOLD
        text = json.dumps(audit.details)
        assert "Oscar" not in text and "sister" not in text and "Withdrawn with" not in text
    assert {f.case_id for f in consent.followers(own)} == {fresh_case(u).id for u in CARRIED}

    db.session.expire_all()
    worker = _user("worker")
    on_phone = {c.uuid for cl in lists.values() if cl for c in caselists.caseload(cl, actor=worker)}
    assert not on_phone & {SEED1_HOUSEHOLD, *CARRIED}
    assert SEED1_ADULT in on_phone
    overdue = {c["id"] for c in programme["coord"].api.cases("overdue=1")}
    assert not overdue & set(CARRIED) and SEED1_ADULT in overdue

    # a member's page says whose withdrawal it followed, not the household's reason
    shown = browser.get(f"/cases/{SEED1_CHILDREN[0]}").data.decode()
    assert "Withdrawn with the household's consent." in html.unescape(shown)
    assert REASON not in shown


def test_giving_the_households_consent_again_gives_no_members_and_the_page_says_so(
    app, programme: Programme
) -> None:
    registered(programme)
    browser = signed_in(app)
    _withdraw(browser)
    url = f"/cases/{SEED1_HOUSEHOLD}/consent"
    body = {"kind": "consent", "state": "given", "reason": "she agreed again"}
    page = browser.post(url, body).data.decode()
    assert "The members' consent is not given again with the household's" in html.unescape(page)
    assert browser.post(url, body | {"confirm": "1"}).status_code == 302
    assert fresh_case(SEED1_HOUSEHOLD).consent == "given"
    assert {fresh_case(u).consent for u in CARRIED} == {"withdrawn"}


def test_a_child_re_given_by_hand_is_withdrawn_again_and_a_refused_one_is_left_alone(
    app, programme: Programme
) -> None:
    registered(programme)
    coord = _user("coord")
    first, second = (fresh_case(u) for u in CARRIED)
    # one child's guardian consent withdrawn and given again by hand: still the guardian's
    consent.change(first, kind="consent", state="withdrawn", reason="r", actor=coord)
    consent.change(first, kind="consent", state="given", reason="she agreed", actor=coord)
    # the other's refused: there is nothing to withdraw
    consent.change(second, kind="consent", state="refused", reason="r", actor=coord)
    db.session.commit()

    browser = signed_in(app)
    page = _withdraw(browser, confirm=False)
    assert "1 member case of this household is also withdrawn" in page
    _withdraw(browser)
    assert fresh_case(SEED1_ADULT).consent == "given"
    assert fresh_case(SEED1_CHILDREN[0]).consent == "withdrawn"
    assert fresh_case(SEED1_CHILDREN[1]).consent == "refused"


def test_a_member_in_another_region_is_withdrawn_too_and_shown_only_by_count(
    app, programme: Programme, make_region
) -> None:
    registered(programme)
    programme.person("admin", "admin", [])
    south = make_region("south")
    moved = fresh_case(SEED1_CHILDREN[1])
    care.transfer(moved, south, actor=_user("admin"))
    db.session.commit()

    page = _withdraw(signed_in(app), confirm=False)
    assert "2 member cases of this household are also withdrawn" in page
    assert "1 of them is in a region you do not cover" in page
    assert fresh_case(SEED1_CHILDREN[1]).code not in page
    assert fresh_case(SEED1_CHILDREN[0]).code in page

    _withdraw(signed_in(app))
    assert fresh_case(SEED1_CHILDREN[1]).consent == "withdrawn"
    audit = db.session.scalars(
        select(AuditEvent)
        .where(
            AuditEvent.action == "case.consent_changed",
            AuditEvent.subject_id == SEED1_CHILDREN[1],
        )
        .order_by(AuditEvent.id.desc())
    ).first()
    assert audit is not None and audit.region_id == south.id


def test_a_refusal_of_a_given_household_consent_withdraws_the_members_in_one_transaction(
    app, programme: Programme, monkeypatch
) -> None:
    registered(programme)
    # a failure on the second child rolls the household's change back as well
    calls = {"n": 0}
    real = consent._set

    def failing(case, kind, state, **kwargs):
        if kwargs.get("from_change") is not None:
            calls["n"] += 1
            if calls["n"] == 2:
                raise RuntimeError("the database went away")
        return real(case, kind, state, **kwargs)

    monkeypatch.setattr(consent, "_set", failing)
    browser = signed_in(app)
    browser.client.application.config["PROPAGATE_EXCEPTIONS"] = False
    response = browser.post(
        f"/cases/{SEED1_HOUSEHOLD}/consent",
        {"kind": "consent", "state": "refused", "reason": REASON, "confirm": "1"},
    )
    assert response.status_code == 500
    assert {fresh_case(u).consent for u in (SEED1_HOUSEHOLD, *MEMBERS)} == {"given"}
    assert (
        db.session.scalars(
            select(ConsentChange).where(ConsentChange.from_change_id.is_not(None))
        ).first()
        is None
    )
    monkeypatch.setattr(consent, "_set", real)
    _withdraw(browser, state="refused")
    assert fresh_case(SEED1_HOUSEHOLD).consent == "refused"
    assert {fresh_case(u).consent for u in CARRIED} == {"withdrawn"}
    assert fresh_case(SEED1_ADULT).consent == "given"
