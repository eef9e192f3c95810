""" "My visits" on /fill: the worker's own caseload, overdue first, each case with buttons that
open its follow-up forms with the case chosen; a withdrawn case is gone from it, as from the
phone's CSV, which has the same order and the due date in its label."""

from __future__ import annotations

import csv
import html
import io
import json
import re
from datetime import timedelta

from sqlalchemy import select

from fieldapp.cases.models import Case
from fieldapp.db import db, utcnow
from tests.cases.support import (
    SEED1_ADULT,
    SEED1_CHILDREN,
    SEED1_HOUSEHOLD,
    SEED1_INSTANCE,
    Programme,
    publish,
    registration,
)
from tests.conftest import Browser


def _world(app, programme: Programme) -> Browser:
    publish("school_checkin", "wellbeing_screening")
    xml, files = registration("seed1")
    programme["worker"].submit(xml, files)
    programme["coord"].api.review(SEED1_INSTANCE)
    fresh, fresh_files = registration("seed2", fresh=True)
    programme["worker"].submit(fresh, fresh_files)
    programme["coord"].api.review(re.search(rb"<instanceID>([^<]+)<", fresh).group(1).decode())
    browser = Browser(app.test_client())
    assert browser.login("worker").status_code == 302
    return browser


def _set_due(uuid: str, days: int) -> None:
    case = db.session.scalars(select(Case).where(Case.uuid == uuid)).one()
    case.next_due = utcnow().date() + timedelta(days=days)
    case.updated_at = utcnow()
    db.session.commit()


def _visits(page: str) -> list[tuple[str, str]]:
    return re.findall(r'<li class="fill-item visit" data-case="([^"]+)" data-group="(\w+)"', page)


def _code(uuid: str) -> str:
    db.session.expire_all()
    return db.session.scalars(select(Case.code).where(Case.uuid == uuid)).one()


def test_my_visits_lists_overdue_first_then_this_week_with_the_right_forms(
    app, programme: Programme
) -> None:
    browser = _world(app, programme)
    _set_due(SEED1_HOUSEHOLD, -5)
    _set_due(SEED1_ADULT, -2)
    _set_due(SEED1_CHILDREN[0], 3)
    _set_due(SEED1_CHILDREN[1], 40)
    # the first child is 12 (school check-in and screening); the second, a baby, has no form
    child = db.session.scalars(select(Case).where(Case.uuid == SEED1_CHILDREN[0])).one()
    born = utcnow().date().replace(year=utcnow().date().year - 12, day=1)
    child.properties = {**child.properties, "birth_date": born.isoformat()}
    db.session.commit()
    page = browser.get("/fill")
    assert page.status_code == 200
    body = page.data.decode()
    shown = _visits(body)
    assert shown[:3] == [
        (_code(SEED1_HOUSEHOLD), "overdue"),
        (_code(SEED1_ADULT), "overdue"),
        (_code(SEED1_CHILDREN[0]), "soon"),
    ]
    assert _code(SEED1_CHILDREN[1]) not in dict(shown)
    assert all(group == "later" for _code_, group in shown[3:])
    child_forms = re.search(rf'data-case="{_code(SEED1_CHILDREN[0])}".*?</li>', body, re.S)
    assert child_forms is not None
    assert re.findall(r'data-form-id="(\w+)"', child_forms.group(0)) == [
        "school_checkin",
        "wellbeing_screening",
    ]
    # buttons: the household's home visit, the adult's screening, with the case chosen
    links = dict(
        (m.group(1), html.unescape(m.group(2)))
        for m in re.finditer(
            r'data-case="([^"]+)" data-group="\w+">.*?<a class="button primary visit-form"'
            r' data-form-id="\w+" href="([^"]+)"',
            body,
            re.S,
        )
    )
    assert (
        links[_code(SEED1_HOUSEHOLD)] == f"/fill/home_visit?case={SEED1_HOUSEHOLD}&list=households"
    )
    assert links[_code(SEED1_ADULT)] == f"/fill/wellbeing_screening?case={SEED1_ADULT}&list=adults"
    # no name from the registration on the page: codes and the phone label's words only
    for name in ("oscar mike", "charlie quebec"):
        assert name not in body.lower()

    # the form page tells the script which questions choose the case
    form = browser.get(f"/fill/wellbeing_screening?case={SEED1_ADULT}&list=adults")
    assert form.status_code == 200
    found = re.search(r'data-case-fields="([^"]*)"', form.data.decode())
    assert found is not None
    fields = json.loads(html.unescape(found.group(1)))
    assert fields["adults"] == [
        ["/data/subject_type", "adult"],
        ["/data/adult_screening/adult", None],
    ]
    assert fields["children"][-1] == ["/data/child_screening/child", None]
    visit = browser.get("/fill/home_visit")
    assert "/data/household" in html.unescape(visit.data.decode())


def test_the_phone_list_has_the_same_order_and_the_due_date_in_its_label(
    app, programme: Programme
) -> None:
    _world(app, programme)
    _set_due(SEED1_HOUSEHOLD, 9)
    others = [
        c
        for c in db.session.scalars(select(Case).where(Case.uuid != SEED1_HOUSEHOLD))
        if c.case_list.name == "households"
    ]
    (other,) = others
    _set_due(other.uuid, -3)
    rows = programme["worker"].rows()
    assert [r["name"] for r in rows] == [other.uuid, SEED1_HOUSEHOLD]
    assert rows[0]["overdue"] == "yes"
    overdue_since = (utcnow().date() - timedelta(days=3)).isoformat()
    assert f"overdue since {overdue_since}" in rows[0]["label"]
    assert f"due {(utcnow().date() + timedelta(days=9)).isoformat()}" in rows[1]["label"]
    # /fill's case list is that same file, in that order
    browser = Browser(app.test_client())
    assert browser.login("worker").status_code == 302
    web = browser.get("/fill/collect/forms/home_visit/attachments/households.csv")
    assert [r["name"] for r in csv.DictReader(io.StringIO(web.data.decode()))] == [
        other.uuid,
        SEED1_HOUSEHOLD,
    ]


def test_a_withdrawn_case_leaves_my_visits(app, programme: Programme) -> None:
    browser = _world(app, programme)
    _set_due(SEED1_HOUSEHOLD, -5)
    assert _code(SEED1_HOUSEHOLD) in dict(_visits(browser.get("/fill").data.decode()))
    coord = Browser(app.test_client())
    assert coord.login("coord").status_code == 302
    coord.post(
        f"/cases/{SEED1_HOUSEHOLD}/consent",
        {"kind": "consent", "state": "withdrawn", "reason": "moved away", "confirm": "1"},
    )
    shown = dict(_visits(browser.get("/fill").data.decode()))
    assert _code(SEED1_HOUSEHOLD) not in shown
    assert _code(SEED1_ADULT) in shown  # her own consent stands
