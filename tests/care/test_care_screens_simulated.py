"""The Monday screens on a simulated year: each screen's rows against a recomputation that does
not share the screens' code (SQL over cases and submissions, Python over the submissions' own
answers), for a coordinator of one region and an administrator across all; region scoping;
the pages and the dashboard's counts."""

from __future__ import annotations

import json
import re

import pytest
from flask import Flask
from sqlalchemy import text

from fieldapp.auth.services import get_user_by_username
from fieldapp.care import queries, screens
from fieldapp.db import db, simulated_clock
from tests.care.conftest import Year, sign_in
from tests.care.support import (
    expected_overdue,
    expected_school,
    expected_screenings,
    expected_urgent,
    open_cases,
)

pytestmark = pytest.mark.committed

COORDINATOR, REGION = "coord1", "almaty"


def _scopes(year: Year) -> list[tuple[queries.Scope, set[int]]]:
    coordinator = get_user_by_username(COORDINATOR)
    admin = get_user_by_username("admin")
    assert coordinator is not None and admin is not None
    return [
        (queries.scope_for(coordinator), {year.region_ids[REGION]}),
        (queries.scope_for(admin), set(year.region_ids.values())),
        (queries.scope_for(admin, "turkistan"), {year.region_ids["turkistan"]}),
    ]


def test_the_year_has_something_on_every_screen(year: Year):
    admin = get_user_by_username("admin")
    assert admin is not None
    scope = queries.scope_for(admin)
    assert queries.overdue(scope, year.today).count > 0
    assert queries.worsened_screenings(scope).count > 0
    result = queries.school(scope, year.today)
    assert result.missing and result.worse
    assert queries.urgent_unreviewed(scope, year.now).count > 0


def test_overdue_rows_and_worker_loads_match_sql(year: Year):
    for scope, region_ids in _scopes(year):
        result = queries.overdue(scope, year.today)
        assert [(r.case.uuid, r.days) for r in result.cases] == expected_overdue(
            region_ids, year.today
        )
        loads = db.session.execute(
            text(
                "SELECT region_id, assigned_to_id, count(*),"
                " sum(CASE WHEN next_due < :today THEN 1 ELSE 0 END)"
                " FROM cases WHERE status = 'open' AND sandbox = false"
                " GROUP BY region_id, assigned_to_id"
            ),
            {"today": year.today},
        ).all()
        expected = {(r, w): (int(n), int(late)) for r, w, n, late in loads if r in region_ids}
        assert {(w.region_id, w.user_id): (w.open_cases, w.overdue) for w in result.workers} == (
            expected
        )
        for w in result.workers:
            share = w.overdue >= 3 and w.overdue >= 0.25 * w.open_cases
            assert w.overloaded == (w.user_id is not None and (w.open_cases > 60 or share))
        for row in result.cases:
            assert row.worker is not None
            assert (row.worker.region_id, row.worker.user_id) == (
                row.case.region_id,
                row.case.assigned_to_id,
            )


def test_worsened_screenings_match_the_answers(year: Year):
    for scope, region_ids in _scopes(year):
        rows = queries.worsened_screenings(scope).rows
        assert {r.case.uuid: r.safety_first for r in rows} == expected_screenings(region_ids)
        firsts = [r.safety_first for r in rows]
        assert firsts == sorted(firsts, reverse=True)  # the children's safety answers first
        for row in rows:
            assert row.reasons or row.safety_first


def test_school_matches_the_checkins(year: Year):
    for scope, region_ids in _scopes(year):
        result = queries.school(scope, year.today)
        missing, worse = expected_school(region_ids, year.today)
        assert {r.case.uuid for r in result.missing} == missing
        assert {r.case.uuid for r in result.worse} == worse
        assert result.term.name == "November-December"


def test_urgent_unreviewed_matches_sql(year: Year):
    for scope, region_ids in _scopes(year):
        result = queries.urgent_unreviewed(scope, year.now)
        assert [r.instance_id for r in result.rows] == expected_urgent(region_ids)
        assert all(r.waited.total_seconds() > 0 for r in result.rows)
        waits = [r.waited for r in result.rows]
        assert waits == sorted(waits, reverse=True)  # the longest waiting first


def _rows(html: bytes, kind: str) -> list[str]:
    section = html.split(f'data-rows="{kind}"'.encode(), 1)[1].split(b"</table>", 1)[0]
    attribute = "data-submission" if kind == "urgent" else "data-case"
    return [m.decode() for m in re.findall(rf'{attribute}="([^"]+)"'.encode(), section)]


def test_pages_show_the_rows_of_the_coordinators_region_only(app: Flask, year: Year):
    mine = {year.region_ids[REGION]}
    others = set(open_cases(set(year.region_ids.values()))) - set(open_cases(mine))
    browser = sign_in(app, COORDINATOR)
    with simulated_clock() as set_now:
        set_now(year.now)
        # the consent and referral screens live with the cases: /care/<name> sends there
        pages = {
            name: browser.get(f"/care/{name}", follow_redirects=bool(screen.endpoint))
            for name, screen in screens.SCREENS.items()
        }
        index = browser.get("/care")
        dashboard = browser.get("/review/dashboard")
    for response in (*pages.values(), index, dashboard):
        assert response.status_code == 200
    assert _rows(pages["overdue"].data, "overdue") == [
        u for u, _d in expected_overdue(mine, year.today)
    ]
    assert set(_rows(pages["screenings"].data, "screenings")) == set(expected_screenings(mine))
    missing, worse = expected_school(mine, year.today)
    assert set(_rows(pages["school"].data, "missing")) == missing
    assert set(_rows(pages["school"].data, "worse")) == worse
    assert _rows(pages["urgent"].data, "urgent") == expected_urgent(mine)
    shown = set()
    for name in ("overdue", "screenings"):
        shown |= set(_rows(pages[name].data, name))
    shown |= set(_rows(pages["school"].data, "missing")) | set(_rows(pages["school"].data, "worse"))
    assert shown and not shown & others
    for name, page in pages.items():  # every row links to its case page
        if screens.SCREENS[name].endpoint:
            continue  # the case package's screens show codes (tests/cases/test_consent_screens.py)
        for uuid in re.findall(rb'data-case="([^"]+)"', page.data):
            assert b'href="/cases/' + uuid + b'"' in page.data
    counts = {
        name: int(n)
        for name, n in re.findall(rb'data-count="(\w+)">(\d+)<', index.data)
        if name.decode() in screens.SCREENS
    }
    on_dashboard = {
        name: int(n) for name, n in re.findall(rb'data-care-count="(\w+)">(\d+)<', dashboard.data)
    }
    assert counts == on_dashboard
    for name in ("consent", "referrals"):  # the counts are the totals those screens show
        total = re.search(rb'data-total="(\d+)"', pages[name].data)
        assert total is not None and counts[name.encode()] == int(total.group(1))
    assert counts[b"overdue"] == len(expected_overdue(mine, year.today))
    assert counts[b"urgent"] == len(expected_urgent(mine))
    assert counts[b"screenings"] == len(expected_screenings(mine))
    assert counts[b"school"] == len(missing | worse)
    assert b'href="/care"' in dashboard.data or b'href="/care?' in dashboard.data


def test_another_region_is_not_found(app: Flask, year: Year):
    browser = sign_in(app, COORDINATOR)
    for url in ("/care?region=turkistan", "/care/overdue?region=turkistan", "/care/nonsense"):
        response = browser.get(url)
        assert response.status_code == 404
        assert b"data-error-code=" in response.data
    assert browser.get("/care/urgent?region=almaty").status_code == 200


def test_an_administrator_sees_every_region_and_filters(app: Flask, year: Year):
    browser = sign_in(app, "admin")
    every = set(year.region_ids.values())
    one = {year.region_ids["turkistan"]}
    with simulated_clock() as set_now:
        set_now(year.now)
        everything = browser.get("/care/overdue")
        filtered = browser.get("/care/overdue?region=turkistan")
    assert _rows(everything.data, "overdue") == [u for u, _d in expected_overdue(every, year.today)]
    assert _rows(filtered.data, "overdue") == [u for u, _d in expected_overdue(one, year.today)]
    assert len(_rows(filtered.data, "overdue")) < len(_rows(everything.data, "overdue"))


def test_field_workers_and_designers_are_refused(app: Flask, year: Year):
    for username in ("worker1", "designer"):
        browser = sign_in(app, username)
        for url in ("/care", "/care/overdue", "/care/urgent"):
            response = browser.get(url)
            assert response.status_code == 404
            assert b'data-error-code="not_found"' in response.data
    worker = get_user_by_username("worker1")
    assert worker is not None
    with pytest.raises(Exception, match="Not found"):
        queries.scope_for(worker)


def test_viewing_a_screen_is_audited_without_names(app: Flask, year: Year):
    browser = sign_in(app, COORDINATOR)
    assert browser.get("/care/screenings").status_code == 200
    action, subject, details = db.session.execute(
        text(
            "SELECT action, subject_id, details FROM audit_events"
            " WHERE action = 'care.screen_viewed' ORDER BY id DESC LIMIT 1"
        )
    ).one()
    assert (action, subject) == ("care.screen_viewed", "screenings")
    assert set(details if isinstance(details, dict) else json.loads(details)) == {"count"}
