"""The coordinators' dashboard (``/review/dashboard``): counts per review state, overdue
follow-ups per worker and submissions per week for one of their regions; nothing of another
region; every label escaped in the SVG charts."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import func, select

from fieldapp.audit.models import AuditEvent
from fieldapp.auth import services as auth
from fieldapp.auth.models import Region
from fieldapp.cases import services as cases
from fieldapp.cases.care import close
from fieldapp.cases.models import Case
from fieldapp.db import db, utcnow
from fieldapp.errors import NotFound
from fieldapp.review import dashboard
from tests.cases.support import SEED1_HOUSEHOLD, home_visit, registration, set_element
from tests.review.test_queue import received

SCRIPT = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def tile(page, name: str) -> int:
    match = re.search(rf'data-count="{name}">(\d+)<', page.data.decode())
    assert match is not None, name
    return int(match.group(1))


def week_rows(page) -> dict[str, int]:
    html = page.data.decode()
    return {
        start: int(n)
        for start, n in re.findall(
            r'<tr data-week="([\d-]+)"><td>[^<]*</td><td class="num">(\d+)</td>', html
        )
    }


def worker_rows(page) -> dict[str, int]:
    html = page.data.decode()
    return {
        name: int(n)
        for name, n in re.findall(
            r'<tr data-worker="([^"]*)">.*?<td class="num">(\d+)</td></tr>', html
        )
    }


def visit(person, *, urgent: bool) -> str:
    xml = set_element(home_visit(SEED1_HOUSEHOLD, 1), "urgent", "yes" if urgent else "no")
    return person.submit(xml)


def test_counts_new_urgent_corrected_and_sent_back(programme, desk):
    worker, coord = programme["worker"], programme["coord"]
    calm = visit(worker, urgent=False)
    visit(worker, urgent=True)
    urgent_sent_back = visit(worker, urgent=True)
    sent_back = visit(worker, urgent=False)
    approved = visit(worker, urgent=True)
    for instance in (urgent_sent_back, sent_back):
        coord.api.review(instance, "has_issues", note="the date is wrong")
    coord.api.review(approved, "approved")
    for _ in range(3):  # another region's submissions never count here
        visit(programme["worker_s"], urgent=True)
    assert calm

    page = desk("coord").get("/review/dashboard")
    assert page.status_code == 200
    assert tile(page, "received") == 2  # calm and the waiting urgent one
    assert tile(page, "urgent") == 1  # urgent and waiting; sent back and approved do not count
    assert tile(page, "has_issues") == 2
    assert tile(page, "edited") == 0

    south = desk("coord_s").get("/review/dashboard")
    assert tile(south, "received") == 3
    assert tile(south, "urgent") == 3
    assert tile(south, "has_issues") == 0


def test_corrected_submissions_count_as_corrected(programme, desk):
    worker = programme["worker"]
    xml, files = registration("seed1")
    first = worker.submit(xml, files)
    programme["coord"].api.review(first, "has_issues", note="fix the address")
    edit, edit_files = registration("edit_seed1")  # deprecatedID: seed1
    worker.submit(edit, edit_files)
    page = desk("coord").get("/review/dashboard")
    assert (tile(page, "edited"), tile(page, "has_issues"), tile(page, "received")) == (1, 0, 0)


def test_submissions_per_week_cover_twelve_weeks_of_the_region(programme, desk):
    worker = programme["worker"]
    today = utcnow().date()
    monday = today - timedelta(days=today.weekday())

    def at(day: date, hour: int = 12) -> datetime:
        return datetime.combine(day, time(hour), UTC)

    placed = {
        # this week's Monday at midnight, twice in the week before (Sunday night and Monday)
        at(monday, 0): monday,
        at(monday - timedelta(days=1), 23): monday - timedelta(weeks=1),
        at(monday - timedelta(days=7), 0): monday - timedelta(weeks=1),
        # the first week shown, and one day before it (outside the window)
        at(monday - timedelta(weeks=11)): monday - timedelta(weeks=11),
        at(monday - timedelta(weeks=11, days=1)): None,
    }
    for when in placed:
        received(visit(worker, urgent=False), when)
    received(visit(programme["worker_s"], urgent=False), at(monday))  # another region

    rows = week_rows(desk("coord").get("/review/dashboard"))
    assert len(rows) == 12
    assert min(rows) == (monday - timedelta(weeks=11)).isoformat()
    assert max(rows) == monday.isoformat()
    expected = {d.isoformat(): 0 for d in (monday - timedelta(weeks=i) for i in range(12))}
    for week in placed.values():
        if week is not None:
            expected[week.isoformat()] += 1
    assert rows == expected
    assert sum(rows.values()) == 4


def test_overdue_follow_ups_per_worker(programme, desk, make_user):
    households = cases.get_case_list("households")
    assert households is not None
    north = auth.get_region("north")
    south = auth.get_region("south")
    assert north is not None and south is not None
    worker = auth.get_user_by_username("worker")
    other = make_user("field_worker", username="dana", regions=["north"])
    today = utcnow().date()

    def open_case(region: Region, who, due: date | None) -> None:
        cases.create_case(
            households,
            label="family",
            properties={},
            region_id=region.id,
            assigned_to=who,
            actor=None,
            next_due=due,
        )

    for days in (1, 30, 400):
        open_case(north, worker, today - timedelta(days=days))
    open_case(north, worker, today)  # due today: not overdue yet
    open_case(north, worker, today + timedelta(days=5))
    open_case(north, other, today - timedelta(days=2))
    open_case(north, None, today - timedelta(days=2))
    open_case(south, auth.get_user_by_username("worker_s"), today - timedelta(days=9))
    cases.create_case(
        households,
        label="closed family",
        properties={},
        region_id=north.id,
        assigned_to=other,
        actor=None,
        next_due=today - timedelta(days=9),
    )
    db.session.commit()
    closed = db.session.scalars(select(Case).where(Case.label == "closed family")).one()
    close(closed, actor=auth.get_user_by_username("coord"), reason="moved abroad")
    db.session.commit()

    page = desk("coord").get("/review/dashboard")
    assert worker_rows(page) == {"worker": 3, "dana": 1, "": 1}
    html = page.data.decode()
    assert "Open cases whose next follow-up date is before today" in html
    assert ": 5." in html
    assert "worker_s" not in html

    assert worker_rows(desk("coord_s").get("/review/dashboard")) == {"worker_s": 1}


def test_a_coordinator_sees_only_their_regions(programme, desk, make_user):
    visit(programme["worker"], urgent=True)
    assert desk("coord_s").get("/review/dashboard?region=north").status_code == 404
    assert desk("coord_s").get("/review/dashboard?region=nowhere").status_code == 404
    assert desk("worker").get("/review/dashboard").status_code == 404
    assert programme["coord"].api.get("/review/dashboard").status_code in (302, 401, 404)

    own = desk("coord_s").get("/review/dashboard")
    assert own.status_code == 200
    html = own.data.decode()
    assert tile(own, "urgent") == 0
    assert 'href="/review/dashboard?region=north"' not in html  # one region: no switch

    admin = desk("admin").get("/review/dashboard?region=north")
    assert admin.status_code == 200
    assert tile(admin, "urgent") == 1


def test_a_coordinator_of_several_regions_picks_one(programme, desk, make_user):
    visit(programme["worker"], urgent=True)
    make_user("coordinator", username="coord_ns", regions=["north", "south"])
    browser = desk("coord_ns")
    first = browser.get("/review/dashboard")
    html = first.data.decode()
    assert 'href="/review/dashboard?region=north"' in html
    assert 'href="/review/dashboard?region=south"' in html
    assert 'href="/review/dashboard?region=east"' not in html
    assert tile(first, "urgent") == 1  # North comes first by name
    assert tile(browser.get("/review/dashboard?region=south"), "urgent") == 0
    assert tile(browser.get("/review/dashboard?region=north"), "urgent") == 1


def test_service_refuses_a_region_outside_the_actors(programme):
    coord_s = auth.get_user_by_username("coord_s")
    north = auth.get_region("north")
    assert coord_s is not None and north is not None
    today = utcnow().date()
    with pytest.raises(NotFound):
        dashboard.region_dashboard(coord_s, north, today=today)
    with pytest.raises(NotFound):
        dashboard.review_counts(coord_s, north)
    with pytest.raises(NotFound):
        dashboard.overdue_by_worker(coord_s, north, today)
    with pytest.raises(NotFound):
        dashboard.submissions_per_week(coord_s, north, today)
    with pytest.raises(NotFound):
        dashboard.review_counts(auth.get_user_by_username("worker"), north)
    assert [r.code for r in dashboard.dashboard_regions(coord_s)] == ["south"]


def test_labels_in_the_charts_are_escaped(programme, desk, make_user):
    households = cases.get_case_list("households")
    north = auth.get_region("north")
    assert households is not None and north is not None
    auth.rename_region(north, f"North {SCRIPT}", actor=auth.get_user_by_username("coord"))
    hostile = make_user("field_worker", username="hostile", regions=["north"])
    hostile.display_name = f'{SCRIPT}"><img src=x onerror=alert(2)>'
    cases.create_case(
        households,
        label=SCRIPT,
        properties={},
        region_id=north.id,
        assigned_to=hostile,
        actor=None,
        next_due=utcnow().date() - timedelta(days=3),
    )
    db.session.commit()
    visit(programme["worker"], urgent=False)

    html = desk("coord").get("/review/dashboard").data.decode()
    svg = re.search(r'<svg[^>]*id="chart-overdue".*?</svg>', html, re.S)
    assert svg is not None
    assert ESCAPED in svg.group(0)  # the worker's name, in the bar's tooltip
    assert "<script" not in html.lower()
    assert "<img src=x" not in html
    assert f"North {ESCAPED}" in html
    assert "&lt;img src=x onerror=alert(2)&gt;" in html


def test_the_dashboard_is_not_audited_and_names_no_case(programme, desk):
    xml, files = registration("seed1")
    programme["worker"].submit(xml, files)
    before = db.session.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1))
    html = desk("coord").get("/review/dashboard").data.decode()
    after = db.session.scalars(select(AuditEvent.action).where(AuditEvent.id > (before or 0))).all()
    assert "case.viewed" not in after and "submission.viewed" not in after
    for name in ("oscar mike", "charlie quebec"):  # names in the registration
        assert name not in html.lower()


def overview_rows(page) -> dict[str, list[int]]:
    """``region code -> [new, corrected, urgent, sent back, overdue, open cases]``."""
    html = page.data.decode()
    rows = {}
    for code, body in re.findall(r'<tr data-region="([^"]+)">(.*?)</tr>', html, re.S):
        rows[code] = [
            int(n) for n in re.findall(r'class="num[^"]*"[^>]*>(?:<a [^>]*>)?(\d+)', body)
        ]
    return rows


def test_several_regions_open_on_an_overview_of_all_of_them(programme, desk, make_user):
    households = cases.get_case_list("households")
    north, south = auth.get_region("north"), auth.get_region("south")
    assert households is not None and north is not None and south is not None
    today = utcnow().date()
    visit(programme["worker"], urgent=True)
    visit(programme["worker"], urgent=False)
    sent_back = visit(programme["worker_s"], urgent=False)
    programme["coord_s"].api.review(sent_back, "has_issues", note="which school?")
    for region, due in ((north, today - timedelta(days=3)), (south, today + timedelta(days=3))):
        cases.create_case(
            households,
            label="family",
            properties={},
            region_id=region.id,
            assigned_to=None,
            actor=None,
            next_due=due,
        )
    db.session.commit()
    make_user("coordinator", username="coord_ns", regions=["north", "south"])

    page = desk("coord_ns").get("/review/dashboard")
    assert page.status_code == 200
    rows = overview_rows(page)
    assert set(rows) == {"north", "south"}  # their two regions, no other
    north_open = db.session.scalar(
        select(func.count(Case.id)).where(Case.region_id == north.id, Case.status == "open")
    )
    south_open = db.session.scalar(
        select(func.count(Case.id)).where(Case.region_id == south.id, Case.status == "open")
    )
    assert rows["north"] == [2, 0, 1, 0, 1, north_open]
    assert rows["south"] == [0, 0, 0, 1, 0, south_open]
    assert (
        tile(page, "received") == 2 and tile(page, "urgent") == 1 and tile(page, "has_issues") == 1
    )
    html = page.data.decode()
    assert 'href="/review/dashboard?region=north"' in html
    assert 'href="/cases?overdue=1&amp;region=north"' in html

    # the admin's overview has every region; a region's own page offers the way back
    admin = overview_rows(desk("admin").get("/review/dashboard"))
    assert set(admin) == {r.code for r in db.session.scalars(select(Region))}
    one = desk("coord_ns").get("/review/dashboard?region=south").data.decode()
    assert "All 2 regions" in one and '<option value="north">' in one
    # one region: straight to its dashboard, no overview
    assert overview_rows(desk("coord").get("/review/dashboard")) == {}


def test_workers_with_the_same_name_are_told_apart(programme, desk, make_user):
    households = cases.get_case_list("households")
    north = auth.get_region("north")
    assert households is not None and north is not None
    today = utcnow().date()
    for username in ("twin_a", "twin_b"):
        twin = make_user("field_worker", username=username, regions=["north"])
        twin.display_name = "Almaty social worker"
        cases.create_case(
            households,
            label="family",
            properties={},
            region_id=north.id,
            assigned_to=twin,
            actor=None,
            next_due=today - timedelta(days=4),
        )
    db.session.commit()
    html = desk("coord").get("/review/dashboard").data.decode()
    svg = re.search(r'<svg[^>]*id="chart-overdue".*?</svg>', html, re.S)
    assert svg is not None
    labels = re.findall(r'<text class="chart-label"[^>]*>([^<]*)<', svg.group(0))
    assert "Almaty social worker (twin_a)" in labels and "Almaty social worker (twin_b)" in labels
    assert len(labels) == len(set(labels))


def test_the_top_bar_links_the_dashboard_for_coordinators_only(programme, desk):
    assert 'href="/review/dashboard"' in desk("coord").get("/cases").data.decode()
    assert 'href="/review/dashboard"' not in desk("worker").get("/fill").data.decode()
