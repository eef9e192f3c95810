"""The coordinators' queue (``/review``): own regions only, urgent first then oldest first,
filters, counts per state, keyset pages, bulk approval."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

from sqlalchemy import select

from fieldapp.db import db
from fieldapp.review import views
from fieldapp.submissions.models import Submission
from tests.cases.support import (
    SEED1_HOUSEHOLD,
    VISIT_MET,
    home_visit,
    registration,
    set_element,
)

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def listed(page) -> list[str]:
    """Instance ids of the queue's rows, in page order."""
    html = page.data.decode()
    return [unquote(m) for m in re.findall(r'class="row-link" href="/submissions/([^"]+)"', html)]


def count(page, state: str) -> int:
    match = re.search(rf'data-state="{state}">(\d+)<', page.data.decode())
    assert match is not None, state
    return int(match.group(1))


def received(instance_id: str, at: datetime) -> None:
    """Pretend the submission arrived at ``at`` (the queue orders by arrival)."""
    row = db.session.scalars(select(Submission).where(Submission.instance_id == instance_id)).one()
    row.received_at = at
    db.session.commit()


def visit(person, *, urgent: bool = False, base: int = 1, case: str = SEED1_HOUSEHOLD, **answers):
    xml = home_visit(case, base, **answers)
    xml = set_element(xml, "urgent", "yes" if urgent else "no")
    return person.submit(xml)


def test_queue_shows_only_the_coordinators_regions(programme, desk):
    north = programme["worker"].submit(*registration("seed1"))
    south = programme["worker_s"].submit(*registration("seed2"))

    page = desk("coord").get("/review")
    assert page.status_code == 200
    assert listed(page) == [north]
    assert south.encode() not in page.data
    assert count(page, "received") == 1

    assert listed(desk("coord_s").get("/review")) == [south]
    assert sorted(listed(desk("admin").get("/review"))) == sorted([north, south])


def test_queue_is_for_coordinators_and_admins_only(programme, desk):
    assert desk("worker").get("/review").status_code == 404
    assert programme["worker"].api.get("/review").status_code in (302, 404)


def test_urgent_first_then_oldest_first(programme, desk):
    worker = programme["worker"]
    old_calm = visit(worker)
    new_urgent = visit(worker, urgent=True)
    old_urgent = visit(worker, urgent=True)
    new_calm = visit(worker)
    received(old_calm, NOW - timedelta(days=3))
    received(new_urgent, NOW - timedelta(hours=1))
    received(old_urgent, NOW - timedelta(days=2))
    received(new_calm, NOW - timedelta(hours=2))

    page = desk("coord").get("/review")
    assert listed(page) == [old_urgent, new_urgent, old_calm, new_calm]
    html = page.data.decode()
    assert html.count('class="badge badge-urgent"') == 2


def test_filters_and_counts_per_state(programme, desk):
    worker, coord = programme["worker"], programme["coord"]
    programme.person("worker2", "field_worker", ["north"])
    registration_id = worker.submit(*registration("seed1"))
    coord.api.review(registration_id)  # approved
    calm = visit(worker, base=1)
    urgent = visit(programme["worker2"], urgent=True, base=1)
    received(registration_id, NOW - timedelta(days=10))
    received(calm, NOW - timedelta(days=5))
    received(urgent, NOW - timedelta(days=1))
    browser = desk("coord")

    page = browser.get("/review")  # by default: what waits for a decision
    assert listed(page) == [urgent, calm]
    assert (count(page, "received"), count(page, "approved"), count(page, "rejected")) == (2, 1, 0)
    assert (count(page, "to_review"), count(page, "all")) == (2, 3)
    assert listed(browser.get("/review?state=all")) == [urgent, registration_id, calm]

    page = browser.get("/review?form=home_visit")
    assert listed(page) == [urgent, calm]
    assert (count(page, "received"), count(page, "approved")) == (2, 0)

    page = browser.get("/review?state=approved")
    assert listed(page) == [registration_id]
    assert count(page, "received") == 2  # counts ignore the state filter

    assert listed(browser.get("/review?worker=worker2")) == [urgent]
    assert listed(browser.get("/review?urgent=1")) == [urgent]
    day = (NOW - timedelta(days=5)).date().isoformat()
    assert listed(browser.get(f"/review?from={day}&to={day}")) == [calm]
    later = (NOW - timedelta(days=6)).date().isoformat()
    assert listed(browser.get(f"/review?from={later}&state=all")) == [urgent, calm]
    assert listed(browser.get(f"/review?to={later}&state=all")) == [registration_id]

    page = browser.get("/review?state=nonsense&from=yesterday")
    assert page.status_code == 200
    assert b"There is no review state" in page.data and b"must be a date" in page.data
    assert listed(page) == [urgent, calm]


def test_keyset_pages_follow_the_queue_order(programme, desk, monkeypatch):
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    worker = programme["worker"]
    ids = [visit(worker, urgent=(i in (1, 3))) for i in range(5)]
    for i, instance_id in enumerate(ids):
        received(instance_id, NOW - timedelta(days=10 - i))
    expected = [ids[1], ids[3], ids[0], ids[2], ids[4]]
    browser = desk("coord")

    seen: list[str] = []
    url = "/review"
    pages = 0
    while url:
        page = browser.get(url)
        assert page.status_code == 200
        seen += listed(page)
        pages += 1
        found = re.search(r'rel="next" href="([^"]+)"', page.data.decode())
        url = found.group(1).replace("&amp;", "&") if found else ""
    assert seen == expected
    assert pages == 3

    # the cursor keeps the filters
    page = browser.get("/review?urgent=1")
    assert listed(page) == [ids[1], ids[3]]
    assert b'rel="next"' not in page.data
    assert browser.get("/review?cursor=bm9wZQ==").status_code == 400


def walk(browser, url: str) -> list[str]:
    """Every row of the queue at ``url``, following the "Next" links."""
    seen: list[str] = []
    for _ in range(50):  # a bound: a wrong cursor could repeat a page forever
        if not url:
            break
        page = browser.get(url)
        assert page.status_code == 200
        seen += listed(page)
        found = re.search(r'rel="next" href="([^"]+)"', page.data.decode())
        url = found.group(1).replace("&amp;", "&") if found else ""
    return seen


def test_pages_and_counts_across_regions_states_and_equal_times(programme, desk, monkeypatch):
    """A coordinator of two regions: every page of every filter is the queue's order (urgent
    first, then oldest, then first received), with nothing repeated or skipped, and the counts
    are those of the rows, whatever the database does to find them."""
    monkeypatch.setattr(views, "PAGE_SIZE", 3)
    programme.person("coord2", "coordinator", ["north", "south"])
    states = ["received", "edited", "approved", "has_issues", "received", "rejected", "received"]
    made = []
    for i in range(14):
        person = programme["worker" if i % 3 else "worker_s"]
        instance_id = visit(person, urgent=i % 4 == 1)
        at = NOW - timedelta(days=i % 5)  # equal arrival times: the id decides
        row = db.session.scalars(
            select(Submission).where(Submission.instance_id == instance_id)
        ).one()
        row.received_at = at
        row.review_state = states[i % len(states)]
        made.append(row)
    db.session.commit()
    rows = sorted(made, key=lambda r: (not r.urgent, r.received_at, r.id))
    south = programme["worker_s"].user_id
    since = (NOW - timedelta(days=3)).date().isoformat()
    browser = desk("coord2")
    cases = {
        "/review": lambda r: r.review_state in ("received", "edited"),
        "/review?state=all": lambda r: True,
        "/review?state=received": lambda r: r.review_state == "received",
        "/review?urgent=1&state=all": lambda r: r.urgent,
        "/review?worker=worker_s&state=all": lambda r: r.submitted_by_id == south,
        f"/review?state=all&from={since}": lambda r: r.received_at >= NOW - timedelta(days=3),
    }
    for url, wanted in cases.items():
        assert walk(browser, url) == [r.instance_id for r in rows if wanted(r)], url
    # counts per state under every filter but the state
    for url, wanted in cases.items():
        if "state=" in url and "state=all" not in url:
            continue
        page = browser.get(url)
        for state in ("received", "edited", "has_issues", "approved", "rejected"):
            expected = sum(1 for r in rows if r.review_state == state and wanted(r))
            if url == "/review":
                expected = sum(1 for r in rows if r.review_state == state)
            assert count(page, state) == expected, (url, state)
    # an administrator sees both regions' rows in the same order
    assert walk(desk("admin"), "/review?state=all") == [r.instance_id for r in rows]
    assert walk(desk("coord"), "/review?state=all") == [
        r.instance_id for r in rows if r.submitted_by_id != south
    ]


def test_bulk_approve_skips_conflicts_and_reports_why(programme, desk):
    worker, coord = programme["worker"], programme["coord"]
    coord.api.review(worker.submit(*registration("seed1")))
    coord.api.review(worker.submit(home_visit(SEED1_HOUSEHOLD, 1)))  # the case is at version 2
    clean = worker.submit(home_visit(SEED1_HOUSEHOLD, 2, template=VISIT_MET))
    conflicted = worker.submit(home_visit(SEED1_HOUSEHOLD, 1, template=VISIT_MET))
    elsewhere = programme["worker_s"].submit(*registration("seed2"))

    page = desk("coord").post(
        "/review/bulk-approve", {"instance_id": [conflicted, clean, elsewhere]}
    )
    assert page.status_code == 200
    html = page.data.decode()
    assert "Approved 1 submission(s); skipped 2" in html
    assert re.search(r"conflicts with later case changes: [^<]*last_visit_outcome", html)
    assert "not found" in html

    assert coord.api.submission(clean)["review_state"] == "approved"
    assert coord.api.submission(conflicted)["review_state"] == "received"
    assert programme["coord_s"].api.submission(elsewhere)["review_state"] == "received"
    assert coord.api.case(SEED1_HOUSEHOLD)["version"] == 3

    again = desk("coord").post("/review/bulk-approve", {"instance_id": [clean]})
    assert "already approved" in again.data.decode()


def test_bulk_approve_needs_csrf_and_a_reviewer(programme, desk):
    instance = programme["worker"].submit(*registration("seed1"))
    browser = desk("coord")
    response = browser.client.post("/review/bulk-approve", data={"instance_id": [instance]})
    assert response.status_code == 400
    assert (
        desk("worker").post("/review/bulk-approve", {"instance_id": [instance]}).status_code == 404
    )
    assert programme["coord"].api.submission(instance)["review_state"] == "received"
