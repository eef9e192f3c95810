"""The designer's side: the try page, test submissions with review, publish's choice, the ends
of a try, and the access rules of its two ways in."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select, text

from fieldapp.cases.models import Case
from fieldapp.db import db
from fieldapp.sandbox.scope import sandbox_mode
from fieldapp.submissions.models import Submission
from tests.cases.support import Programme, home_visit, household_of, instance_of
from tests.openrosa.helpers import OPENROSA, Collect
from tests.sandbox.support import (
    TEST_MARKER,
    as_draft,
    make_sandbox_data,
    send_test_registration,
    start_try,
    upload_drafts,
)


@pytest.fixture
def people(app, make_user, login_as):
    programme = Programme(app, make_user)
    programme.person("coord", "coordinator", ["north"])
    programme.person("worker", "field_worker", ["north"])
    return {"programme": programme, "designer": login_as("designer")}


def _test_counts() -> tuple[int, int]:
    with sandbox_mode():
        return (
            db.session.scalar(select(func.count()).select_from(Submission)) or 0,
            db.session.scalar(select(func.count()).select_from(Case)) or 0,
        )


def test_the_try_page_lists_test_submissions_and_cases(app, people):
    designer = people["designer"]
    data = make_sandbox_data(app, designer)
    page = designer.get("/forms/family_registration/try")
    assert page.status_code == 200
    body = page.data.decode()
    assert data.instance_ids[0] in body and "households: applied" in body
    one = designer.get(f"/forms/family_registration/test-data/{data.instance_ids[0]}")
    assert one.status_code == 200
    assert TEST_MARKER in one.data.decode()  # the answers are shown to the designer
    # the draft page links to it
    assert b'id="try-draft"' in designer.get("/forms/family_registration").data


def test_with_review_the_designer_approves_on_the_try_page(app, people):
    designer = people["designer"]
    from tests.cases.support import publish

    publish("family_registration", "home_visit")
    drafts = upload_drafts("family_registration", "home_visit")
    phone = Collect(app, start_try(designer, "family_registration", "home_visit", review="review"))
    xml = send_test_registration(phone, drafts["family_registration"])
    instance = instance_of(xml)
    assert _test_counts() == (1, 0)  # waiting for approval: no test case yet
    page = designer.get(f"/forms/family_registration/test-data/{instance}")
    assert b'id="approve-test"' in page.data and b"pending" in page.data
    response = designer.post(f"/forms/family_registration/test-data/{instance}/approve")
    assert response.status_code == 302
    assert _test_counts()[1] > 0
    # the follow-up draft now sees the household, and its test visit waits for review too
    csv_body = phone.get("/forms/home_visit/attachments/households.csv", openrosa=False).data
    assert household_of(xml).encode() in csv_body
    visit = as_draft(home_visit(household_of(xml), 1), drafts["home_visit"])
    assert phone.submit(visit).status_code == 201
    visit_page = designer.get(f"/forms/home_visit/test-data/{instance_of(visit)}")
    assert b'id="approve-test"' in visit_page.data


def test_publish_discards_test_data_by_default(app, people):
    designer = people["designer"]
    make_sandbox_data(app, designer)
    before = _test_counts()
    assert before[0] == 2 and before[1] > 0
    response = designer.post(
        "/forms/home_visit/publish",
        {"test_data": "discard", "acknowledge_warnings": "on", "confirm": "1"},
    )
    assert response.status_code == 302, response.data
    assert _test_counts()[0] == 1  # the visit went; the registration (another form) stays
    response = designer.post(  # default: discard
        "/forms/family_registration/publish", {"acknowledge_warnings": "on", "confirm": "1"}
    )
    assert response.status_code == 302
    assert _test_counts() == (0, 0)
    raw = db.session.execute(text("SELECT count(*) FROM cases WHERE sandbox")).scalar()
    assert raw == 0


def test_publish_can_keep_test_data_as_test_data(app, people):
    designer = people["designer"]
    data = make_sandbox_data(app, designer)
    api_token = people["programme"].person("designer2", "designer").api
    response = api_token.post(
        "/api/v1/forms/family_registration/publish",
        {"test_data": "keep", "acknowledge_warnings": True},
    )
    assert response.status_code == 200, response.json
    assert _test_counts()[0] == 2
    # kept, still test data: on the try page, nowhere else
    assert data.instance_ids[0].encode() in designer.get("/forms/family_registration/try").data
    coord = people["programme"]["coord"]
    assert coord.api.get(f"/api/v1/submissions/{data.instance_ids[0]}").status_code == 404
    assert not {c["id"] for c in coord.api.cases()} & set(data.case_uuids)


def test_publish_refuses_an_unknown_choice(app, people):
    make_sandbox_data(app, people["designer"])
    api = people["programme"].person("designer2", "designer").api
    response = api.post(
        "/api/v1/forms/family_registration/publish",
        {"test_data": "maybe", "acknowledge_warnings": True},
    )
    assert response.status_code == 422
    assert _test_counts()[0] == 2


def test_a_new_draft_or_a_discarded_one_takes_its_test_data(app, people):
    designer = people["designer"]
    make_sandbox_data(app, designer)
    upload_drafts("home_visit")  # replaces the tried draft
    assert _test_counts()[0] == 1
    response = designer.post("/forms/family_registration/discard")
    assert response.status_code == 302
    assert _test_counts() == (0, 0)


def test_an_ended_try_and_bad_tokens_are_refused(app, people):
    designer = people["designer"]
    data = make_sandbox_data(app, designer)
    malformed = Collect(app, "/collect/test/short").get("/formList")
    assert malformed.status_code == 401
    unknown = Collect(app, "/collect/test/" + "A" * 64).get("/formList")
    assert unknown.status_code == 403
    assert b"try.token_invalid" in unknown.data or unknown.status_code == 403
    page = designer.get("/forms/family_registration/try").data.decode()
    try_id = re.search(r'data-try="(\d+)"', page).group(1)
    assert designer.post(f"/forms/tries/{try_id}/end").status_code == 302
    assert data.collect.get("/formList").status_code == 403
    assert designer.get(f"/forms/tries/{try_id}/fill/home_visit").status_code == 404


def test_a_try_is_its_designers_alone(app, people, login_as):
    designer = people["designer"]
    make_sandbox_data(app, designer)
    page = designer.get("/forms/family_registration/try").data.decode()
    try_id = re.search(r'data-try="(\d+)"', page).group(1)
    assert designer.get(f"/forms/tries/{try_id}/fill/home_visit").status_code == 200
    other = login_as("designer")
    assert other.get(f"/forms/tries/{try_id}/fill/home_visit").status_code == 404
    listed = other.client.get(f"/forms/tries/{try_id}/collect/formList", headers=OPENROSA)
    assert listed.status_code == 404
    mine = designer.client.get(f"/forms/tries/{try_id}/collect/formList", headers=OPENROSA)
    assert mine.status_code == 200 and b"home_visit" in mine.data


def test_a_test_submission_cannot_touch_real_data(app, people):
    """A test follow-up naming a real case finds no case; a real instanceID is taken."""
    designer = people["designer"]
    worker = people["programme"]["worker"]
    data = make_sandbox_data(app, designer)
    from tests.cases.support import registration

    real_xml, files = registration(fresh=True)
    coord = people["programme"]["coord"]
    coord.api.review(worker.submit(real_xml, files))
    real_household = household_of(real_xml)
    visit = as_draft(home_visit(real_household, 1), data.drafts["home_visit"])
    assert data.collect.submit(visit).status_code == 201
    with sandbox_mode():
        work = db.session.execute(
            text("SELECT state FROM case_work WHERE case_uuid = :u"), {"u": real_household}
        ).all()
    assert ("error",) in work  # no such test case: the real one is out of a try's reach
    assert coord.api.case(real_household)["version"] == 1
    # a real instanceID sent to the try is taken; so is a test one sent by a real phone
    same = as_draft(real_xml, data.drafts["family_registration"])
    assert data.collect.submit(same).status_code == 409
    test_registration = (
        db.session.execute(text("SELECT instance_id FROM submissions WHERE sandbox"))
        .scalars()
        .first()
    )
    from tests.cases.support import SEED1, attachments_of

    stored = (SEED1 / "submission.xml").read_bytes()
    real_copy = stored.replace(instance_of(stored).encode(), test_registration.encode())
    assert worker.phone.submit(real_copy, attachments_of(SEED1)).status_code == 409


def test_try_tokens_are_kept_out_of_logs():
    from fieldapp.logredact import redact_path

    token = "A" * 64
    assert redact_path(f"/collect/test/{token}/formList") == "/collect/test/***/formList"
    assert redact_path(f"/collect/key/{token}/formList") == "/collect/key/***/formList"
