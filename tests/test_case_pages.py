"""The coordinator's case pages: region-scoped list (overdue first), case page with history,
links, actions and who viewed it; every view audited; everything escaped."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from fieldapp.audit.models import AuditEvent
from fieldapp.auth import services as auth
from fieldapp.cases import services as cases
from fieldapp.cases.models import Case, CaseList
from fieldapp.db import db, utcnow


@pytest.fixture
def world(app, make_user, make_region, login_as):
    north, south = make_region("north"), make_region("south")
    households = CaseList(
        name="households",
        title="Households",
        code_prefix="HH",
        cadence_days=30,
        properties=["settlement"],
    )
    db.session.add(households)
    db.session.commit()
    worker = make_user("field_worker", username="aigerim", regions=["north"])
    today = utcnow().date()
    due_later = cases.create_case(
        households,
        label="Later family",
        properties={"settlement": "A"},
        region_id=north.id,
        assigned_to=worker,
        actor=None,
        next_due=today + timedelta(days=10),
    )
    overdue = cases.create_case(
        households,
        label="<script>alert(1)</script>",
        properties={"settlement": "<b>B</b>"},
        region_id=north.id,
        assigned_to=worker,
        actor=None,
        next_due=today - timedelta(days=3),
    )
    elsewhere = cases.create_case(
        households,
        label="Southern family",
        properties={},
        region_id=south.id,
        assigned_to=None,
        actor=None,
    )
    db.session.commit()
    coord = login_as("coordinator", regions=["north"])
    return {
        "coord": coord,
        "later": due_later.uuid,
        "overdue": overdue.uuid,
        "overdue_code": overdue.code,
        "later_code": due_later.code,
        "elsewhere": elsewhere.uuid,
        "elsewhere_code": elsewhere.code,
    }


def test_list_shows_own_region_overdue_first_and_is_audited(world):
    page = world["coord"].get("/cases").data.decode()
    assert world["overdue_code"] in page and world["later_code"] in page
    assert world["elsewhere_code"] not in page
    assert page.index(world["overdue_code"]) < page.index(world["later_code"])
    assert db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "case.list_viewed")
    ).all()


def test_search_by_code_and_overdue_filter(world):
    found = world["coord"].get(f"/cases?q={world['later_code'][-3:]}").data.decode()
    assert world["later_code"] in found and world["overdue_code"] not in found
    overdue = world["coord"].get("/cases?overdue=1").data.decode()
    assert world["overdue_code"] in overdue and world["later_code"] not in overdue


def test_case_page_is_escaped_audited_and_shows_viewers(world):
    coord = world["coord"]
    page = coord.get(f"/cases/{world['overdue']}")
    assert page.status_code == 200
    html = page.data.decode()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    assert "<b>B</b>" not in html
    assert "overdue" in html
    again = coord.get(f"/cases/{world['overdue']}").data.decode()
    assert "2 views" in again  # who viewed this record
    events = db.session.scalars(
        select(AuditEvent).where(
            AuditEvent.action == "case.viewed", AuditEvent.subject_id == world["overdue"]
        )
    ).all()
    assert len(events) == 2


def test_other_regions_case_page_is_404(world):
    assert world["coord"].get(f"/cases/{world['elsewhere']}").status_code == 404


def test_field_workers_and_designers_get_404(world, login_as):
    assert login_as("field_worker", regions=["north"]).get("/cases").status_code == 404
    assert login_as("designer").get(f"/cases/{world['later']}").status_code == 404


def test_actions_from_the_case_page(world, make_user):
    coord = world["coord"]
    make_user("field_worker", username="dana", regions=["north"])
    coord.post(f"/cases/{world['later']}/act", {"action": "assign", "user": "dana"})
    case = db.session.scalars(select(Case).where(Case.uuid == world["later"])).one()
    assert case.assigned_to_id == auth.get_user_by_username("dana").id
    refused = coord.post(f"/cases/{world['later']}/act", {"action": "close"}, follow_redirects=True)
    assert b"Say why the case is closed" in refused.data
    asked = coord.post(
        f"/cases/{world['later']}/act", {"action": "close", "reason": "moved abroad"}
    )
    assert asked.status_code == 200 and "Closing stops follow-ups" in asked.data.decode()
    db.session.expire_all()
    assert (
        db.session.scalars(select(Case).where(Case.uuid == world["later"])).one().status == "open"
    )
    coord.post(
        f"/cases/{world['later']}/act",
        {"action": "close", "reason": "moved abroad", "confirm": "1"},
    )
    db.session.expire_all()
    assert (
        db.session.scalars(select(Case).where(Case.uuid == world["later"])).one().status == "closed"
    )
    # coordinators ask the other region (tests/cases/test_transfer_pages.py); no direct move
    refused = coord.post(
        f"/cases/{world['overdue']}/act",
        {"action": "transfer", "region": "south", "confirm": "1"},
        follow_redirects=True,
    )
    assert b"use Request transfer" in refused.data
    db.session.expire_all()
    moved = db.session.scalars(select(Case).where(Case.uuid == world["overdue"])).one()
    assert moved.region_id == auth.get_region("north").id


def test_actions_need_csrf(world):
    response = world["coord"].client.post(f"/cases/{world['later']}/act", data={"action": "reopen"})
    assert response.status_code == 400
