"""The coordinator's Monday screens in a real browser (Playwright driving Debian's chromium)
against a real gunicorn holding a small simulated year (``fieldapp simulate``): from the top
bar's "Monday" to each screen, at 390x844 and 1280x800, every screen's rows checked against
separate SQL over the server's database, no horizontal scroll, screenshots in test-artifacts/."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text

from tests.browser.conftest import ARTIFACTS, no_horizontal_scroll
from tests.care.support import (
    expected_overdue,
    expected_school,
    expected_screenings,
    expected_urgent,
)
from tests.live import LiveServer

pytestmark = pytest.mark.committed
PASSWORD = "demo password 1"
SIZES = ((390, 844), (1280, 800))


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path_factory.mktemp("care-browser"))
    server.env["FIELDAPP_DEMO_PASSWORD"] = PASSWORD
    try:
        server.cli("simulate", "--scale", "0.1", "--seed", "3")
        server.start()
        yield server
    finally:
        server.close()


def _expected(live: LiveServer) -> tuple[str, dict[str, Any]]:
    """A coordinator of one region whose screens have rows today (the simulated year ends now,
    so which region has an overdue case depends on the day), and that region's expected rows."""
    today = datetime.now(UTC).date()
    engine = live.engine()
    try:
        with engine.connect() as conn:
            coordinators = conn.execute(
                text(
                    "SELECT u.username, min(ur.region_id) FROM users u"
                    " JOIN user_regions ur ON ur.user_id = u.id"
                    " WHERE u.role = 'coordinator' GROUP BY u.id, u.username"
                    " HAVING count(*) = 1 ORDER BY u.username"
                )
            ).all()
            for username, region in coordinators:
                mine = {region}
                missing, worse = expected_school(mine, today, conn)
                expected = {
                    "overdue": [u for u, _d in expected_overdue(mine, today, conn)],
                    "screenings": expected_screenings(mine, conn),
                    "missing": missing,
                    "worse": worse,
                    "urgent": expected_urgent(mine, conn),
                }
                if expected["overdue"] and missing | worse:
                    return username, expected
    finally:
        engine.dispose()
    raise AssertionError("no coordinator's region has an overdue case and a school row")


def _rows(page: Any, kind: str) -> list[str]:
    attribute = "data-submission" if kind == "urgent" else "data-case"
    return page.eval_on_selector_all(
        f'table[data-rows="{kind}"] tbody tr[{attribute}]',
        f"rows => rows.map(r => r.getAttribute('{attribute}'))",
    )


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_a_coordinator_walks_the_monday_screens(browser: Any, live: LiveServer, size: Any):
    coordinator, expected = _expected(live)
    ARTIFACTS.mkdir(exist_ok=True)
    base = f"http://127.0.0.1:{live.port}"
    context = browser.new_context(viewport={"width": size[0], "height": size[1]})
    page = context.new_page()
    page.goto(f"{base}/login")
    page.fill("input[name=username]", coordinator)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/**")
    page.click("nav.nav >> text=Monday")
    page.wait_for_url(f"{base}/care")
    no_horizontal_scroll(page)
    shot = f"care-{size[0]}x{size[1]}"
    page.screenshot(path=str(ARTIFACTS / f"{shot}-index.png"), full_page=True)
    counts = {
        name: int(page.text_content(f'[data-count="{name}"]') or "-1")
        for name in ("overdue", "screenings", "school", "urgent")
    }
    assert counts == {
        "overdue": len(expected["overdue"]),
        "screenings": len(expected["screenings"]),
        "school": len(expected["missing"] | expected["worse"]),
        "urgent": len(expected["urgent"]),
    }
    for name, tile in (
        ("overdue", "Overdue visits"),
        ("screenings", "Worsened screenings"),
        ("school", "School"),
        ("urgent", "Urgent, not reviewed"),
    ):
        page.click(f'a[data-screen="{name}"]')
        page.wait_for_url(f"{base}/care/{name}")
        assert page.text_content("h1").startswith(tile)
        no_horizontal_scroll(page)
        page.screenshot(path=str(ARTIFACTS / f"{shot}-{name}.png"), full_page=True)
        if name == "overdue":
            assert _rows(page, "overdue") == expected["overdue"]
        elif name == "screenings":
            assert set(_rows(page, "screenings")) == set(expected["screenings"])
        elif name == "school":
            assert set(_rows(page, "missing")) == expected["missing"]
            assert set(_rows(page, "worse")) == expected["worse"]
        else:
            assert _rows(page, "urgent") == expected["urgent"]
        page.goto(f"{base}/care")
    # a row leads to its case page
    page.goto(f"{base}/care/overdue")
    first = expected["overdue"][0]
    page.click(f'tr[data-case="{first}"] a')
    page.wait_for_url(f"{base}/cases/{first}")
    assert page.text_content("h1")
    no_horizontal_scroll(page)
    # the dashboard shows the same counts, linked to the screens
    page.goto(f"{base}/review/dashboard")
    for name, count in counts.items():
        assert page.text_content(f'[data-care-count="{name}"]') == str(count)
    no_horizontal_scroll(page)
    page.screenshot(path=str(ARTIFACTS / f"{shot}-dashboard.png"), full_page=True)
    context.close()
