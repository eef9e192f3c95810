"""A coordinator moves through the queue with the keyboard (Playwright driving Debian's chromium
against a real gunicorn): ? shows the shortcuts, j/k move a visible highlight, x selects, o and
Enter open, n/p walk the queue page from a submission, keys typed into a field stay text. Then
the dashboard and a case page with wellbeing charts. Screenshots at 390x844 and 1280x800 go to
test-artifacts/; no page scrolls sideways."""

from __future__ import annotations

import http.client
import json
import re
from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from sqlalchemy import update

from fieldapp.cases.models import Case
from tests.browser.conftest import ARTIFACTS, no_horizontal_scroll
from tests.browser.test_review_flow import PASSWORD
from tests.cases.support import DATA, SEED1_ADULT, SEED1_INSTANCE, attachments_of
from tests.live import ROOT, LiveServer, post_submission
from tests.review.test_wellbeing_chart import screening

pytestmark = pytest.mark.committed

QUEUED = [
    DATA / "wellbeing_screening" / "adult",  # urgent: first in the queue
    DATA / "family_registration" / "seed2",
    DATA / "family_registration" / "seed3",
]


def _review(port: int, token: str, instance_id: str) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(
            "POST",
            f"/api/v1/submissions/{instance_id}/review",
            body=json.dumps({"state": "approved"}),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        response = conn.getresponse()
        assert response.status == 200, response.read()
        response.read()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path_factory.mktemp("shortcuts"))
    try:
        server.cli("db", "upgrade")
        for form in ("family_registration", "home_visit", "wellbeing_screening"):
            server.cli("forms", "publish", str(ROOT / "forms" / f"{form}.xlsx"))
        for name, role in (("coord", "coordinator"), ("aigerim", "field_worker")):
            server.cli(
                "users", "create", name, "--role", role, "--region", "north", stdin=PASSWORD + "\n"
            )
        device = server.cli("devices", "create", "--user", "aigerim").rsplit("/", 1)[1]
        token = server.cli("users", "token", "coord").split()[-1]
        server.start()
        path = f"/collect/key/{device}/submission"

        def send(xml: bytes, files: list[tuple[str, bytes]] | None = None) -> None:
            assert post_submission(server.port, path, xml, files or []) == 201

        # seed1 approved: its family and mother become cases; two approved screenings of her
        seed1 = DATA / "family_registration" / "seed1"
        send((seed1 / "submission.xml").read_bytes(), attachments_of(seed1))
        _review(server.port, token, SEED1_INSTANCE)
        for base, answers in (
            (1, {}),
            (2, {"adult_phq_total": "15", "adult_last_screening": "2026-06-20"}),
        ):
            xml = screening(base, **answers)
            send(xml)
            instance = re.search(rb"<instanceID>([^<]+)<", xml)
            assert instance is not None
            _review(server.port, token, instance.group(1).decode())
        for case in QUEUED:
            send((case / "submission.xml").read_bytes(), attachments_of(case))
        # the family's follow-up is overdue
        engine = server.engine()
        with engine.begin() as conn:
            conn.execute(update(Case).values(next_due=date.today() - timedelta(days=20)))
        engine.dispose()
        yield server
    finally:
        server.close()


def _current(page) -> int:  # type: ignore[no-untyped-def]
    """Index of the highlighted queue row (-1: none)."""
    return int(
        page.evaluate(
            "Array.from(document.querySelectorAll('table.queue tbody tr'))"
            ".findIndex(tr => tr.classList.contains('kb-current'))"
        )
    )


def _arrive(page, instance_id: str) -> None:  # type: ignore[no-untyped-def]
    """Wait until the submission page of ``instance_id`` is loaded and its script has run."""
    page.wait_for_url(re.compile(re.escape(instance_id.rsplit(":", maxsplit=1)[-1])))
    page.wait_for_load_state("load")
    try:
        page.wait_for_selector(f".submission-head[data-instance-id='{instance_id}']")
        page.wait_for_selector(".kb-hint")
    except Exception as exc:
        raise AssertionError(page.url + "\n" + page.content()[:3000]) from exc


@pytest.mark.parametrize("size", [(390, 844), (1280, 800)], ids=["phone", "desk"])
def test_keyboard_through_the_queue_and_the_dashboard(live, browser, size):
    ARTIFACTS.mkdir(exist_ok=True)
    tag = f"{size[0]}x{size[1]}"
    context = browser.new_context(viewport={"width": size[0], "height": size[1]})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on(  # a script or stylesheet the CSP refused is reported on the console
        "console",
        lambda m: (
            errors.append(m.text)
            if m.type == "error" and "Failed to load resource" not in m.text
            else None
        ),
    )
    page.on(
        "response",
        lambda r: (
            errors.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico")
            else None
        ),
    )
    base = f"http://127.0.0.1:{live.port}"
    visited: list[str] = []
    page.on("framenavigated", lambda f: visited.append(f.url) if f == page.main_frame else None)
    page.goto(f"{base}/login")
    page.fill("input[name=username]", "coord")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")

    page.goto(f"{base}/review")
    ids = page.eval_on_selector_all(
        "table.queue tbody tr", "rows => rows.map(r => r.dataset.instanceId)"
    )
    assert len(ids) == 3

    # discoverable: a visible hint, and ? opens the list of shortcuts
    assert page.locator(".kb-hint").is_visible()
    page.keyboard.press("?")
    dialog = page.locator("dialog.kb-help")
    assert dialog.is_visible()
    assert "next submission" in dialog.inner_text()
    page.screenshot(path=str(ARTIFACTS / f"shortcuts-help-{tag}.png"))
    page.keyboard.press("Escape")
    assert not dialog.is_visible()

    # j/k move a visible highlight and the focus; x selects for bulk approval
    assert _current(page) == -1
    page.keyboard.press("j")
    assert _current(page) == 0
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("j")  # stops at the last row
    assert _current(page) == 2
    page.keyboard.press("k")
    assert _current(page) == 1
    focused = page.evaluate("document.activeElement.closest('tr').dataset.instanceId")
    assert focused == ids[1]
    box = page.locator(f"tr[data-instance-id='{ids[1]}'] input[type=checkbox]")
    page.keyboard.press("x")
    assert box.is_checked()
    page.keyboard.press("x")
    assert not box.is_checked()
    page.screenshot(path=str(ARTIFACTS / f"shortcuts-queue-{tag}.png"), full_page=True)
    no_horizontal_scroll(page)

    # o opens the highlighted submission; n/p walk the queue page; u goes back to it
    page.keyboard.press("o")
    _arrive(page, ids[1])
    assert "2 of 3" in page.locator(".kb-position").inner_text()
    page.keyboard.press("n")
    _arrive(page, ids[2])
    page.keyboard.press("p")
    _arrive(page, ids[1])

    # typing in a field is text, not a shortcut
    note = page.locator("textarea[name=note]").first
    note.click()
    page.keyboard.type("np?")
    assert note.input_value() == "np?"
    assert ids[1].split(":")[-1] in page.url
    assert not page.locator("dialog.kb-help").is_visible()
    page.locator("h1").click()
    no_horizontal_scroll(page)
    page.screenshot(path=str(ARTIFACTS / f"shortcuts-submission-{tag}.png"), full_page=True)

    # back in the queue, the highlight is where the reader left; Enter opens the focused row
    page.keyboard.press("u")
    page.wait_for_url(f"{base}/review")
    assert _current(page) == 1
    page.keyboard.press("k")
    page.keyboard.press("Enter")
    _arrive(page, ids[0])

    # the dashboard: counts, the weekly bars, overdue by worker
    page.goto(f"{base}/review")
    page.get_by_role("main").get_by_role("link", name="Dashboard").click()
    page.wait_for_url(f"{base}/review/dashboard")
    assert page.locator("[data-count=received]").inner_text() == "3"
    assert page.locator("[data-count=urgent]").inner_text() == "1"
    assert page.locator("svg#chart-weeks rect.chart-bar").count() == 12
    assert page.locator("svg#chart-overdue").is_visible()
    assert "aigerim" in page.locator("svg#chart-overdue").inner_html()
    svg_width = page.evaluate(
        "document.querySelector('svg#chart-weeks').getBoundingClientRect().width"
    )
    assert svg_width <= size[0]
    no_horizontal_scroll(page)
    page.screenshot(path=str(ARTIFACTS / f"dashboard-{tag}.png"), full_page=True)

    # a case page with the mother's screenings over time
    page.goto(f"{base}/cases/{SEED1_ADULT}")
    assert page.locator("svg#chart-scores polyline").count() == 2  # PHQ-9 and GAD-7
    assert page.locator("svg#chart-who5").is_visible()
    no_horizontal_scroll(page)
    page.locator("#wellbeing-h").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / f"case-wellbeing-{tag}.png"), full_page=True)
    assert errors == []  # no script error, no CSP refusal
    context.close()
