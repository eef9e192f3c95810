"""Test data of tried drafts never reaches anyone: queue, API, case pages, dashboards, counts,
phones. The sandbox rows sit in the same region as the real ones (north), so every check here
would see them if the filter let them through."""

from __future__ import annotations

import csv
import io
import re
import zipfile

import pytest
from sqlalchemy import func, select, text

from fieldapp.cases.models import Case
from fieldapp.db import db
from fieldapp.sandbox.scope import sandbox_mode
from fieldapp.submissions.models import Submission, SubmissionStateCount
from tests.cases.support import Programme, instance_of, registration
from tests.conftest import Browser
from tests.openrosa.helpers import Collect
from tests.review.test_dashboard import tile
from tests.sandbox.support import (
    TEST_MARKER,
    make_sandbox_data,
    send_test_registration,
    start_try,
)


@pytest.fixture
def world(app, make_user, login_as):
    programme = Programme(app, make_user)
    coord = programme.person("coord", "coordinator", ["north"])
    worker = programme.person("worker", "field_worker", ["north"])
    admin = programme.person("admin", "admin", [])
    designer = login_as("designer")
    data = make_sandbox_data(app, designer)
    # and a try with review: its test registration waits (received, case work pending)
    waiting = Collect(app, start_try(designer, "family_registration", review="review"))
    data.instance_ids.append(
        instance_of(send_test_registration(waiting, data.drafts["family_registration"]))
    )
    # and a real registration from the worker's phone, approved: real data next to the test
    xml, files = registration(fresh=True)
    real = worker.submit(xml, files)
    coord.api.review(real)
    db.session.commit()
    return {
        "programme": programme,
        "data": data,
        "real": real,
        "designer": designer,
        "coord": coord,
        "worker": worker,
        "admin": admin,
        "app": app,
    }


def _desk(app, username: str) -> Browser:
    browser = Browser(app.test_client())
    assert browser.login(username).status_code == 302
    return browser


def _leaks(body: str, data) -> list[str]:
    found = [i for i in data.instance_ids + data.case_uuids if i in body]
    if TEST_MARKER in body:
        found.append(TEST_MARKER)
    return found


def test_the_test_data_exists(world):
    """The premise: test submissions and a test case were made (and the case was updated)."""
    with sandbox_mode():
        assert db.session.scalar(select(func.count()).select_from(Submission)) == 3
        cases = {c.uuid: c for c in db.session.scalars(select(Case))}
    assert set(cases) == set(world["data"].case_uuids) and len(cases) > 1
    household = cases[world["data"].case_uuids[0]]
    assert all(c.sandbox for c in cases.values()) and household.version == 2
    raw = db.session.execute(text("SELECT count(*) FROM submissions WHERE sandbox")).scalar()
    assert raw == 3


def test_not_in_the_review_queue_nor_its_counts(world):
    app, data = world["app"], world["data"]
    for who in ("coord", "admin"):
        desk = _desk(app, who)
        for state in ("all", "received", "approved"):
            page = desk.get(f"/review?state={state}")
            assert page.status_code == 200
            assert _leaks(page.data.decode(), data) == []
        for instance_id in data.instance_ids:
            assert desk.get(f"/submissions/{instance_id}").status_code == 404
    # the counts kept by triggers hold the one real approval only (test ones are approved too)
    counted = db.session.scalar(select(func.sum(SubmissionStateCount.n)))
    assert counted == 1


def test_not_in_the_submission_api(world):
    data = world["data"]
    for who in ("coord", "admin"):
        api = world[who].api
        listed = api.get("/api/v1/submissions?limit=200")
        assert listed.status_code == 200
        ids = [s["instance_id"] for s in listed.json["items"]]
        assert world["real"] in ids
        assert not set(ids) & set(data.instance_ids)
        for instance_id in data.instance_ids:
            assert api.get(f"/api/v1/submissions/{instance_id}").status_code == 404
        assert api.get("/api/v1/submissions?form_id=home_visit").json["items"] == []


def test_not_in_case_lists_nor_case_pages(world):
    app, data = world["app"], world["data"]
    for who in ("coord", "admin"):
        api = world[who].api
        cases = api.cases()
        assert cases, "the real registration made cases"
        assert not {c["id"] for c in cases} & set(data.case_uuids)
        assert _leaks(str(cases), data) == []
        for uuid in data.case_uuids:
            assert api.get(f"/api/v1/cases/{uuid}").status_code == 404
        desk = _desk(app, who)
        with sandbox_mode():
            code = db.session.scalars(
                select(Case.code).where(Case.uuid == data.case_uuids[0])
            ).one()
        for url in ("/cases", "/cases?status=all", f"/cases?q={code}"):
            page = desk.get(url)
            assert page.status_code == 200
            body = page.data.decode().replace(f'value="{code}"', "")  # the search box
            assert _leaks(body, data) == []
            assert code not in body
        for uuid in data.case_uuids:
            assert desk.get(f"/cases/{uuid}").status_code == 404


def test_not_on_the_dashboard(world):
    app = world["app"]
    page = _desk(app, "coord").get("/review/dashboard")
    assert page.status_code == 200
    # one real submission, approved: nothing new, nothing corrected, nothing urgent
    for name in ("received", "edited", "has_issues", "urgent"):
        assert tile(page, name) == 0, name
    assert _leaks(page.data.decode(), world["data"]) == []
    weeks = re.findall(
        r'<tr data-week="[\d-]+"><td>[^<]*</td><td class="num">(\d+)</td>', page.data.decode()
    )
    assert sum(int(n) for n in weeks) == 1


def test_not_on_real_phones(world):
    data = world["data"]
    for who in ("worker", "coord"):
        phone = world[who].phone
        listed = phone.get("/formList").data.decode()
        for version in data.drafts.values():
            assert version not in listed
        manifest = phone.get("/forms/home_visit/manifest")
        assert manifest.status_code == 200
        rows = world[who].rows()
        assert rows, "the real household is on the phone"
        assert not {r["name"] for r in rows} & set(data.case_uuids)
        body = world[who].case_list().data.decode()
        assert _leaks(body, data) == []
        integrity = phone.get(f"/datasets/households/integrity?id={data.case_uuids[0]}")
        assert b"<deleted>true</deleted>" in integrity.data


def test_the_test_case_list_is_only_test_cases(world):
    rows = list(
        csv.DictReader(
            io.StringIO(
                world["data"]
                .collect.get("/forms/home_visit/attachments/households.csv", openrosa=False)
                .data.decode()
            )
        )
    )
    assert [r["name"] for r in rows] == world["data"].case_uuids[:1]


def test_the_audit_log_marks_test_work_and_no_region(world):
    rows = db.session.execute(
        text("SELECT region_id, details FROM audit_events WHERE action = 'case.created'")
    ).all()
    marked = [r for r in rows if "sandbox" in str(r[1])]
    assert len(marked) == len(world["data"].case_uuids)
    assert all(region is None for region, _details in marked)


def test_the_count_triggers_survive_the_migration(app):
    """The sandbox columns were added in place: the count triggers are all there."""
    bind = db.session.get_bind()
    if bind.dialect.name == "sqlite":
        names = set(
            db.session.scalars(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
        )
        expected = {
            "submission_state_counts_insert",
            "submission_state_counts_update_old",
            "submission_state_counts_update_new",
            "submission_state_counts_delete",
        }
    else:
        names = set(
            db.session.scalars(
                text(
                    "SELECT tgname FROM pg_trigger WHERE tgrelid = 'submissions'::regclass"
                    " AND NOT tgisinternal"
                )
            )
        )
        expected = {
            "submission_state_counts_insert",
            "submission_state_counts_update",
            "submission_state_counts_delete",
        }
    assert expected <= names


def test_test_cases_do_not_move_a_phones_case_list(app, make_user, login_as):
    """The manifest hash of a worker's list (a state key over the cases they may see) stays the
    same when test cases are made and changed: phones are not even told to download again."""
    from tests.cases.support import publish

    publish("family_registration", "home_visit")
    programme = Programme(app, make_user)
    coord = programme.person("coord", "coordinator", ["north"])
    worker = programme.person("worker", "field_worker", ["north"])
    xml, files = registration(fresh=True)
    coord.api.review(worker.submit(xml, files))
    from fieldapp.auth.models import User
    from fieldapp.cases.caselists import state_key

    def keys() -> list[str]:
        people = [db.session.get(User, p.user_id) for p in (worker, coord)]
        return [state_key("households", actor=p) for p in people if p is not None]

    before = (worker.manifest_hash(), coord.manifest_hash(), keys())
    make_sandbox_data(app, login_as("designer"), published=True)
    assert (worker.manifest_hash(), coord.manifest_hash(), keys()) == before


def _zip_text(payload: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        return "\n".join(archive.read(n).decode("utf-8", "replace") for n in archive.namelist())


def _xlsx_text(payload: bytes) -> str:
    # an .xlsx is a zip of XML parts; the cells' text is in them
    return _zip_text(payload)


def test_not_in_exports(world):
    """Submission exports (CSV zip, on PostgreSQL made by COPY outside the ORM, and XLSX) and
    case exports hold the real rows and no test row, for a coordinator and an administrator."""
    data = world["data"]
    for who in ("coord", "admin"):
        api = world[who].api
        for form_id in ("family_registration", "home_visit"):
            for suffix, read in (("csv.zip", _zip_text), ("xlsx", _xlsx_text)):
                answer = api.get(f"/api/v1/forms/{form_id}/submissions.{suffix}")
                assert answer.status_code == 200, (who, form_id, suffix)
                body = read(answer.data)
                assert _leaks(body, data) == [], (who, form_id, suffix)
                if form_id == "family_registration":
                    assert world["real"] in body
        for suffix, read in (("csv", lambda b: b.decode()), ("xlsx", _xlsx_text)):
            answer = api.get(f"/api/v1/cases.{suffix}?dataset=households")
            assert answer.status_code == 200, (who, suffix)
            body = read(answer.data)
            assert _leaks(body, data) == [], (who, suffix)
            with sandbox_mode():
                codes = db.session.scalars(select(Case.code)).all()
            assert not [c for c in codes if c in body]


def test_not_in_the_odata_feeds(world):
    """The Central-compatible OData feeds (what pyODK, Power BI and Excel read) hold no test
    submission, repeat row or test case."""
    app, data = world["app"], world["data"]
    for who in ("coord", "admin"):
        headers = world[who].api.headers
        client = app.test_client()
        urls = [
            "/v1/projects/1/forms/family_registration.svc/Submissions?$expand=*&$count=true",
            "/v1/projects/1/forms/home_visit.svc/Submissions?$expand=*",
            "/v1/projects/1/datasets/households.svc/Entities?$count=true",
        ]
        for url in urls:
            answer = client.get(url, headers=headers)
            assert answer.status_code == 200, (who, url, answer.data)
            assert _leaks(answer.data.decode(), data) == [], (who, url)
        submissions = client.get(urls[0], headers=headers).json
        assert [row["__id"] for row in submissions["value"]] == [world["real"]]
        assert submissions["@odata.count"] == 1
