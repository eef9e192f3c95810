""" "My visits" on a phone (390x844, Debian's chromium, a real gunicorn): the overdue family
comes first, its button opens the home visit with that family already chosen, the visit is
sent, and the server stores it against that family. A family whose consent was withdrawn is
not offered."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import text as sql

from tests.browser.conftest import ARTIFACTS, no_horizontal_scroll
from tests.browser.test_web_forms import (
    PASSWORD,
    PHONE,
    Api,
    choose,
    new_submission,
    question,
    send,
    sent_message,
    type_date,
    type_text,
)
from tests.cases.support import DATA, SEED1_HOUSEHOLD, attachments_of, instance_of
from tests.conftest import need
from tests.live import ROOT, LiveServer, post_submission

pytestmark = pytest.mark.committed
SEED3_HOUSEHOLD = "f2915e08-2d3a-4a64-b522-260e9f0cb019"
SEED2_HOUSEHOLD_PATTERN = rb'<entity dataset="households" create="1" id="([^"]+)"'


def _execute(live: LiveServer, statement: str, params: dict[str, Any]) -> None:
    """One statement on the live server's database, committed (the engine disposed after)."""
    engine = live.engine()
    try:
        with engine.begin() as connection:
            connection.execute(sql(statement), params)
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path_factory.mktemp("myvisits"))
    try:
        server.cli("db", "upgrade")
        for form in ("family_registration", "home_visit"):
            server.cli("forms", "publish", str(ROOT / "forms" / f"{form}.xlsx"))
        for username, role in (("coord", "coordinator"), ("aigerim", "field_worker")):
            server.cli("users", "create", username, "--role", role, "--region", "north",
                       stdin=PASSWORD + "\n")  # fmt: skip
        server.start()
        api = Api(server.port, server.cli("users", "token", "coord"))
        server.api = api  # type: ignore[attr-defined]
        token = server.cli("devices", "create", "--user", "aigerim").rsplit("/", 1)[1]
        # three families of aigerim's, registered from her phone and approved
        for case in ("seed1", "seed2", "seed3"):
            folder = DATA / "family_registration" / case
            xml = (folder / "submission.xml").read_bytes()
            path = f"/collect/key/{token}/submission"
            assert post_submission(server.port, path, xml, attachments_of(folder)) == 201
            api.call(f"/submissions/{instance_of(xml)}/review", {"state": "approved"})
        # seed2's family withdrew its consent (as a coordinator's page action would record)
        _execute(
            server,
            "UPDATE cases SET consent = 'withdrawn', next_due = NULL,"
            " updated_at = CURRENT_TIMESTAMP WHERE uuid = :uuid",
            {"uuid": _seed2_household()},
        )
        yield server
    finally:
        server.close()


def _seed2_household() -> str:
    xml = (DATA / "family_registration" / "seed2" / "submission.xml").read_bytes()
    match = re.search(SEED2_HOUSEHOLD_PATTERN, xml)
    assert match is not None
    return match.group(1).decode()


def test_the_overdue_family_comes_first_and_its_visit_is_stored_against_it(
    live: LiveServer, browser: Any
) -> None:
    need((ROOT / "static" / "fill" / "fill.js").exists(), "the web form bundle (static/fill)")
    api: Api = live.api  # type: ignore[attr-defined]
    withdrawn = _seed2_household()
    today = date.today()
    # seed3's family is 6 days overdue, seed1's due in 3 days (seed2's withdrew consent)
    for uuid, due in ((SEED3_HOUSEHOLD, today - timedelta(days=6)),
                      (SEED1_HOUSEHOLD, today + timedelta(days=3))):  # fmt: skip
        _execute(
            live,
            "UPDATE cases SET next_due = :due, updated_at = CURRENT_TIMESTAMP WHERE uuid = :uuid",
            {"due": due, "uuid": uuid},
        )
    overdue_code, soon_code = api.code_of(SEED3_HOUSEHOLD), api.code_of(SEED1_HOUSEHOLD)

    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    base = f"http://127.0.0.1:{live.port}"
    page.goto(f"{base}/login")
    page.fill("input[name=username]", "aigerim")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/$"))

    page.goto(f"{base}/fill")
    page.wait_for_selector("body[data-fill-ready='1']", timeout=60_000)
    visits = page.locator(".my-visits > ul.visits > li.visit")
    codes = visits.evaluate_all("items => items.map(item => item.dataset.case)")
    assert codes[:2] == [overdue_code, soon_code]
    assert api.code_of(withdrawn) not in page.locator(".my-visits").inner_text()
    first = visits.first
    assert "overdue since" in first.inner_text()
    no_horizontal_scroll(page)
    page.screenshot(path=str(ARTIFACTS / "my-visits-390x844.png"), full_page=True)

    before = set(api.submissions("home_visit"))
    first.get_by_role("link", name="Home visit").click()
    page.wait_for_selector("body[data-fill-ready='1']", timeout=60_000)
    page.wait_for_selector(".form-initialization-status.ready", state="attached", timeout=60_000)
    page.wait_for_selector(f"#webform[data-case-chosen='{SEED3_HOUSEHOLD}']", timeout=30_000)
    # the picker shows the family chosen (its code leads the phone label)
    assert overdue_code in question(page, "Family").inner_text()
    choose(page, "Did the visit take place", "not_home")
    type_text(page, "Social worker's notes", "Nobody home; will come back")
    type_date(page, "Date of the next visit", today + timedelta(days=2))
    page.screenshot(path=str(ARTIFACTS / "my-visits-form-390x844.png"), full_page=True)
    send(page)
    assert "Sent" in sent_message(page)
    assert page.get_by_role("link", name="Back to your visits").is_visible()
    data = new_submission(api, "home_visit", before)["data"]
    assert data["household"] == SEED3_HOUSEHOLD
    assert data["visit_outcome"] == "not_home"
    context.close()
    assert errors == [], errors


def test_the_monday_screens_and_the_case_panel_read_at_390_px(
    live: LiveServer, browser: Any
) -> None:
    api: Api = live.api  # type: ignore[attr-defined]
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    base = f"http://127.0.0.1:{live.port}"
    page.goto(f"{base}/login")
    page.fill("input[name=username]", "coord")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/$"))

    # a referral added on the case page, then made late
    page.goto(f"{base}/cases/{SEED1_HOUSEHOLD}")
    no_horizontal_scroll(page)
    page.select_option(".referral-add select[name=service]", "social_services")
    page.select_option(".referral-add select[name=urgency]", "week")
    page.click(".referral-add button[type=submit]")
    page.wait_for_selector(".referral[data-status='made']")
    _execute(
        live, "UPDATE case_referrals SET due = :due", {"due": date.today() - timedelta(days=2)}
    )
    page.screenshot(path=str(ARTIFACTS / "case-consent-referrals-390x844.png"), full_page=True)

    page.goto(f"{base}/referrals/late")
    no_horizontal_scroll(page)
    rows = page.locator("table.referrals-late tbody tr[data-referral]")
    assert rows.count() == 1
    assert "2 days late" in rows.first.inner_text()
    page.screenshot(path=str(ARTIFACTS / "late-referrals-390x844.png"), full_page=True)

    page.goto(f"{base}/consent/missing")
    no_horizontal_scroll(page)
    withdrawn = api.code_of(_seed2_household())
    first = page.locator("table.consent-missing tbody tr[data-case]").first
    assert first.get_attribute("data-case") == withdrawn
    page.screenshot(path=str(ARTIFACTS / "consent-missing-390x844.png"), full_page=True)
    first.get_by_role("link").click()
    page.wait_for_selector(".consent-state[data-state='withdrawn']")
    context.close()
    assert errors == [], errors
