"""Retention settings: a form's (on its page) and a case list's (the API), set by designers and
administrators, checked at the boundary, audited."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select

from fieldapp.audit.models import AuditEvent
from fieldapp.cases.models import CaseList
from fieldapp.db import db
from fieldapp.forms.models import Form


def _form() -> Form:
    db.session.expire_all()
    return db.session.scalars(select(Form).where(Form.form_id == "family_registration")).one()


def test_a_designer_sets_how_long_deleted_submissions_are_kept(programme, desk, app: Flask):
    assert _form().deleted_retention_days == 30  # the default
    browser = desk("designer")
    page = browser.get("/forms/family_registration").data.decode()
    assert 'id="deleted-retention">30 days<' in page
    assert 'data-case-list="households"' in page

    response = browser.post("/forms/family_registration/retention", {"deleted_days": "45"})
    assert response.status_code == 302
    assert _form().deleted_retention_days == 45
    changed = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "form.retention_changed")
    ).one()
    assert changed.details == {"old": 30, "new": 45}
    assert (
        'id="deleted-retention">45 days<' in browser.get("/forms/family_registration").data.decode()
    )

    response = browser.post("/forms/family_registration/retention", {"deleted_days": ""})
    assert response.status_code == 302
    assert _form().deleted_retention_days is None  # kept until restored


def test_wrong_days_are_refused_with_a_code(programme, desk):
    browser = desk("designer")
    for value in ("0", "-3", "1.5", "abc", "٣", "36501", "9" * 40):
        response = browser.post("/forms/family_registration/retention", {"deleted_days": value})
        assert response.status_code == 422, value
        assert 'data-error-code="retention.days_invalid"' in response.data.decode()
    assert _form().deleted_retention_days == 30


def test_coordinators_and_workers_may_not_set_it(programme, desk):
    for who in ("coord", "worker"):
        browser = desk(who)
        response = browser.post("/forms/family_registration/retention", {"deleted_days": "1"})
        assert response.status_code == 404
    assert _form().deleted_retention_days == 30


def test_a_case_lists_closed_cases_retention_through_the_api(programme):
    designer = programme.person("designer", "designer", [])
    url = "/api/v1/case-lists/households"
    response = designer.api.patch(url, {"closed_retention_days": 365})
    assert response.status_code == 200, response.json
    assert response.json["closed_retention_days"] == 365
    listed = {c["name"]: c for c in designer.api.get("/api/v1/case-lists").json["items"]}
    assert listed["households"]["closed_retention_days"] == 365
    # left out: unchanged; null: kept for ever
    assert designer.api.patch(url, {"cadence_days": 20}).json["closed_retention_days"] == 365
    assert (
        designer.api.patch(url, {"closed_retention_days": None}).json["closed_retention_days"]
        is None
    )
    for bad in (0, -1, "30", 1.5, 36501):
        response = designer.api.patch(url, {"closed_retention_days": bad})
        assert response.status_code == 422, bad
        assert response.json["error"]["code"]
    coord = programme["coord"]
    assert coord.api.patch(url, {"closed_retention_days": 1}).status_code == 404
    db.session.expire_all()
    households = db.session.scalars(select(CaseList).where(CaseList.name == "households")).one()
    assert households.closed_retention_days is None
