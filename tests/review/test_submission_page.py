"""One submission's page (``/submissions/<instance_id>``): answers in the chosen language, case
changes with take/leave boxes, decisions, comments, history, regions, CSRF."""

# ruff: noqa: RUF001

from __future__ import annotations

import re
from urllib.parse import quote

from sqlalchemy import select

from fieldapp.audit.models import AuditEvent
from fieldapp.db import db
from tests.cases.support import (
    DATA,
    SEED1_HOUSEHOLD,
    SEED1_INSTANCE,
    VISIT_MET,
    attachments_of,
    home_visit,
    registration,
)

CYRILLIC = re.compile(r"[А-Яа-яЁё]")


def page_of(instance_id: str) -> str:
    return f"/submissions/{instance_id}"


def take_boxes(html: str) -> dict[str, bool]:
    """The take/leave boxes: value → checked."""
    return {
        m.group(1): "checked" in m.group(0)
        for m in re.finditer(r'<input type="checkbox" name="take" value="([^"]+)"[^>]*>', html)
    }


def approved_household(programme) -> None:
    worker, coord = programme["worker"], programme["coord"]
    coord.api.review(worker.submit(*registration("seed1")))


def test_page_reads_the_answers_in_russian_with_choice_labels(programme, desk):
    approved_household(programme)
    visit = programme["worker"].submit(
        home_visit(SEED1_HOUSEHOLD, 1, template=VISIT_MET), attachments_of(VISIT_MET)
    )
    browser = desk("coord")

    english = browser.get(page_of(visit)).data.decode()
    assert "Did the visit take place?" in english
    assert "Yes, I met the family" in english  # select_one by its label, not "met"
    assert "Type of housing" in english

    page = browser.get(page_of(visit) + "?lang=ru")
    assert page.status_code == 200
    html = page.data.decode()
    assert "Состоялся ли визит?" in html  # question label
    assert "Да, я встретился(-ась) с семьёй" in html  # choice label
    assert "Тип жилья" in html
    assert "Did the visit take place?" not in html
    assert 'lang="ru"' in html
    assert re.search(r'<div class="answer-label" dir="auto">Состоялся ли визит\?</div>', html)
    # groups are sections with their (translated) label
    assert re.search(r'<h3 class="answer-heading" dir="auto">Жильё</h3>', html)
    # header facts
    assert "Home visit" in html and "2026112101" in html
    assert "worker" in html and "collect:test" in html
    # the photo inline, through the audited attachment route
    (photo,) = [name for name, _ in attachments_of(VISIT_MET) if name.endswith(".jpg")]
    assert re.search(
        rf'<img class="answer-image" src="/api/v1/submissions/{re.escape(visit)}/attachments/{photo}"',
        html,
    )
    # the language switch offers the form's languages
    assert "?lang=kk" in html and "?lang=en" in html
    # an unknown language falls back to the default (English)
    assert "Did the visit take place?" in browser.get(page_of(visit) + "?lang=zz").data.decode()


def test_registration_repeats_are_numbered_and_every_view_is_audited(programme, desk):
    xml, files = registration("seed1")
    instance = programme["worker"].submit(xml, files)
    page = desk("coord").get(page_of(instance) + "?lang=ru")
    html = page.data.decode()
    assert '<span class="entry-number">#1</span>' in html
    assert '<span class="entry-number">#2</span>' in html
    assert len(CYRILLIC.findall(html)) > 50
    # the signature image, inline
    assert f"/api/v1/submissions/{instance}/attachments/1795263429002.jpg" in html

    events = db.session.scalars(
        select(AuditEvent).where(
            AuditEvent.action == "submission.viewed", AuditEvent.subject_id == instance
        )
    ).all()
    assert len(events) == 1
    assert events[0].region_id is not None
    assert events[0].actor_id == programme["coord"].user_id


def test_case_changes_have_a_take_box_per_property_and_conflicts_are_marked(programme, desk):
    worker, coord = programme["worker"], programme["coord"]
    approved_household(programme)
    coord.api.review(worker.submit(home_visit(SEED1_HOUSEHOLD, 1)))  # case version 2, "moved"
    conflicted = worker.submit(home_visit(SEED1_HOUSEHOLD, 1, template=VISIT_MET))

    html = desk("coord").get(page_of(conflicted)).data.decode()
    boxes = take_boxes(html)
    assert f"{SEED1_HOUSEHOLD}:housing_type" in boxes
    assert f"{SEED1_HOUSEHOLD}:last_visit_outcome" in boxes
    assert all(boxes.values())  # all ticked by default, conflicts included
    conflict_rows = re.findall(r'<tr class="conflict">.*?</tr>', html, re.S)
    assert len(conflict_rows) == 3
    assert any('data-property="last_visit_outcome"' in row for row in conflict_rows)
    # in the form's words: the question's label and the choices' labels, not their names
    outcome = next(r for r in conflict_rows if 'data-property="last_visit_outcome"' in r)
    assert re.search(
        r'<span class="old" dir="auto">The family has moved</span>.*?'
        r'<span class="new" dir="auto">Yes, I met the family</span>',
        outcome,
        re.S,
    )
    assert ">last_visit_outcome<" not in html and ">moved<" not in html


def test_approve_leaving_one_property(programme, desk):
    worker, coord = programme["worker"], programme["coord"]
    approved_household(programme)
    visit = worker.submit(home_visit(SEED1_HOUSEHOLD, 1, template=VISIT_MET))
    browser = desk("coord")
    boxes = take_boxes(browser.get(page_of(visit)).data.decode())
    left = f"{SEED1_HOUSEHOLD}:housing_type"
    assert left in boxes

    response = browser.post(
        page_of(visit) + "/review",
        {"state": "approved", "take": [k for k in boxes if k != left], "lang": "ru"},
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith(page_of(visit) + "?lang=ru")
    followed = browser.get(response.headers["Location"]).data.decode()
    assert "Approved." in followed
    assert "Left: housing_type" in followed
    assert "An approved submission is final" in followed
    assert not take_boxes(followed)

    case = coord.api.case(SEED1_HOUSEHOLD)
    assert case["version"] == 2
    assert "housing_type" not in case["properties"]
    assert case["properties"]["housing_condition"]
    assert case["properties"]["last_visit_outcome"] == "met"
    changed = {c["property"] for c in case["versions"][1]["changes"]}
    assert "housing_type" not in changed and "housing_condition" in changed


def test_has_issues_needs_a_note(programme, desk):
    visit = programme["worker"].submit(*registration("seed1"))
    browser = desk("coord")
    response = browser.post(page_of(visit) + "/review", {"state": "has_issues", "note": "  "})
    assert response.status_code == 302
    html = browser.get(response.headers["Location"]).data.decode()
    assert 'class="flash flash-error"' in html and "the worker sees this note" in html
    assert programme["coord"].api.submission(visit)["review_state"] == "received"

    response = browser.post(
        page_of(visit) + "/review",
        {"state": "has_issues", "note": "The child's birth year is missing."},
    )
    html = browser.get(response.headers["Location"]).data.decode()
    assert "Sent back to the worker" in html
    assert "The child&#39;s birth year is missing." in html
    body = programme["coord"].api.submission(visit)
    assert body["review_state"] == "has_issues"
    assert body["reviews"][-1]["note"] == "The child's birth year is missing."


def test_reject_with_a_reason(programme, desk):
    visit = programme["worker"].submit(*registration("seed1"))
    browser = desk("coord")
    response = browser.post(page_of(visit) + "/review", {"state": "rejected", "note": ""})
    assert programme["coord"].api.submission(visit)["review_state"] == "received"
    response = browser.post(
        page_of(visit) + "/review",
        {"state": "rejected", "note": "Duplicate of another registration."},
    )
    assert response.status_code == 302
    body = programme["coord"].api.submission(visit)
    assert body["review_state"] == "rejected"
    assert {c["state"] for c in body["case_changes"]} == {"rejected"}
    assert programme["coord"].api.cases() == []


def test_comment_keeps_the_state(programme, desk):
    visit = programme["worker"].submit(*registration("seed1"))
    browser = desk("coord")
    assert browser.post(page_of(visit) + "/comment", {"note": ""}).status_code == 302
    response = browser.post(page_of(visit) + "/comment", {"note": "Call the mother first."})
    assert response.status_code == 302
    html = browser.get(response.headers["Location"]).data.decode()
    assert "Comment added." in html
    assert re.search(
        r"comment</div>\s*<p class=\"history-note\" dir=\"auto\">Call the mother first.</p>", html
    )
    body = programme["coord"].api.submission(visit)
    assert body["review_state"] == "received"
    assert [r["note"] for r in body["reviews"]] == ["Call the mother first."]


def test_an_edit_after_the_page_was_opened_is_not_approved_blind(programme, desk):
    worker = programme["worker"]
    first = worker.submit(*registration("seed1"))
    browser = desk("coord")
    response = browser.post(
        page_of(first) + "/review", {"state": "approved", "seen_version": "uuid:something-older"}
    )
    html = browser.get(response.headers["Location"]).data.decode()
    assert "sent a corrected version" in html
    assert programme["coord"].api.submission(first)["review_state"] == "received"


def test_earlier_versions_of_an_edited_submission_are_listed(programme, desk):
    worker = programme["worker"]
    path = DATA / "family_registration" / "edit_seed1"
    worker.submit(*registration("seed1"))
    edit = (path / "submission.xml").read_bytes()
    worker.submit(edit, attachments_of(path))
    html = desk("coord").get(page_of(SEED1_INSTANCE)).data.decode()
    assert "Earlier versions" in html
    assert f"<code>{SEED1_INSTANCE}</code> · received" in html
    assert "edited" in html


def test_another_regions_coordinator_gets_404_everywhere(programme, desk):
    visit = programme["worker"].submit(*registration("seed1"))
    stranger = desk("coord_s")
    assert stranger.get(page_of(visit)).status_code == 404
    assert stranger.post(page_of(visit) + "/review", {"state": "approved"}).status_code == 404
    assert (
        stranger.post(page_of(visit) + "/review", {"state": "rejected", "note": "x"}).status_code
        == 404
    )
    assert stranger.post(page_of(visit) + "/comment", {"note": "hello"}).status_code == 404
    body = programme["coord"].api.submission(visit)
    assert body["review_state"] == "received" and body["reviews"] == []
    # workers and designers do not get the page either
    assert desk("worker").get(page_of(visit)).status_code == 404
    assert desk("admin").get(page_of(visit)).status_code == 200
    assert desk("coord").get(page_of(quote(visit + "x"))).status_code == 404


def test_decisions_need_the_csrf_token(programme, desk):
    visit = programme["worker"].submit(*registration("seed1"))
    browser = desk("coord")
    for action, data in (("/review", {"state": "approved"}), ("/comment", {"note": "hi"})):
        response = browser.client.post(page_of(visit) + action, data=data)
        assert response.status_code == 400
        response = browser.client.post(
            page_of(visit) + action, data={**data, "csrf_token": "forged"}
        )
        assert response.status_code == 400
    body = programme["coord"].api.submission(visit)
    assert body["review_state"] == "received" and body["reviews"] == []
