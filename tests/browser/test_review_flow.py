"""A coordinator's day in a real browser (Playwright driving Debian's chromium) against a real
gunicorn: find the urgent submission at the top, read a registration in Russian, approve it
taking some fields and leaving one, see the case page, send the urgent one back with a note and
see it in the worker's returned list (/fill), bulk-approve the rest. Screenshots at
390x844 and 1280x800 are written to test-artifacts/."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.browser.conftest import ARTIFACTS, no_horizontal_scroll
from tests.cases.support import (
    DATA,
    SEED1_HOUSEHOLD,
    SEED1_INSTANCE,
    attachments_of,
    instance_of,
)
from tests.live import ROOT, LiveServer, post_submission

pytestmark = pytest.mark.committed
PASSWORD = "a long password"
URGENT_INSTANCE = instance_of(
    (DATA / "wellbeing_screening" / "adult" / "submission.xml").read_bytes()
)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path_factory.mktemp("browser"))
    try:
        server.cli("db", "upgrade")
        for form in ("family_registration", "wellbeing_screening"):
            server.cli("forms", "publish", str(ROOT / "forms" / f"{form}.xlsx"))
        server.cli(
            "users",
            "create",
            "coord",
            "--role",
            "coordinator",
            "--region",
            "north",
            stdin=PASSWORD + "\n",
        )
        server.cli(
            "users",
            "create",
            "aigerim",
            "--role",
            "field_worker",
            "--region",
            "north",
            stdin=PASSWORD + "\n",
        )
        token = server.cli("devices", "create", "--user", "aigerim").rsplit("/", 1)[1]
        server.start()
        path = f"/collect/key/{token}/submission"
        for case in (
            DATA / "family_registration" / "seed1",
            DATA / "wellbeing_screening" / "adult",
            DATA / "family_registration" / "seed2",  # left for the bulk approval
        ):
            xml = (case / "submission.xml").read_bytes()
            assert post_submission(server.port, path, xml, attachments_of(case)) == 201
        yield server
    finally:
        server.close()


def _worker_sees_returned(browser, base: str, size: tuple[int, int], note: str) -> None:  # type: ignore[no-untyped-def]
    """The field worker finds the sent-back submission, with the note as text, in /fill."""
    context = browser.new_context(viewport={"width": size[0], "height": size[1]})
    page = context.new_page()
    page.goto(f"{base}/login")
    page.fill("input[name=username]", "aigerim")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{base}/fill")
    returned = page.locator(f"section.returned li[data-instance='{URGENT_INSTANCE}']")
    assert returned.count() == 1
    assert note in returned.inner_text()  # shown as text: the markup stays inert
    assert returned.locator("b").count() == 0
    assert returned.get_by_role("link", name="Correct").count() == 1
    no_horizontal_scroll(page)
    tag = f"{size[0]}x{size[1]}"
    page.screenshot(path=str(ARTIFACTS / f"worker-returned-{tag}.png"), full_page=True)
    context.close()


@pytest.mark.parametrize("size", [(390, 844), (1280, 800)], ids=["phone", "desk"])
def test_coordinator_reviews_in_the_browser(live, browser, size):
    ARTIFACTS.mkdir(exist_ok=True)
    tag = f"{size[0]}x{size[1]}"
    context = browser.new_context(viewport={"width": size[0], "height": size[1]})
    page = context.new_page()
    base = f"http://127.0.0.1:{live.port}"
    page.goto(f"{base}/login")
    page.fill("input[name=username]", "coord")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")

    # the urgent screening is at the top of the queue
    page.goto(f"{base}/review?state=all")
    first_row = page.locator("table.queue tbody tr").first
    assert "urgent" in (first_row.get_attribute("class") or "")
    no_horizontal_scroll(page)
    page.screenshot(path=str(ARTIFACTS / f"review-queue-{tag}.png"), full_page=True)

    # the registration, read in Russian
    page.goto(f"{base}/submissions/{SEED1_INSTANCE}")
    page.get_by_role("link", name=re.compile("Русский")).click()
    answers = page.locator(".answers").inner_text()
    assert re.search("[\u0400-\u04ff]{4,}", answers), "labels should be in Russian"
    no_horizontal_scroll(page)
    page.screenshot(path=str(ARTIFACTS / f"submission-ru-{tag}.png"), full_page=True)

    if size == (390, 844):  # decide once; the desk-size run looks at the results
        household_boxes = page.locator(f"input[name=take][value^='{SEED1_HOUSEHOLD}:']")
        assert household_boxes.count() > 2
        left = household_boxes.nth(1).get_attribute("value").split(":", 1)[1]
        kept = household_boxes.nth(0).get_attribute("value").split(":", 1)[1]
        household_boxes.nth(1).uncheck()
        page.get_by_role("button", name="Approve").click()
        page.wait_for_load_state()
        assert "approved" in page.content()
        page.goto(f"{base}/cases/{SEED1_HOUSEHOLD}")
        html = page.content()
        assert "Version 1" in html
        record = page.locator("table.case-record")  # the current record, in words
        assert record.locator(f"tr[data-property='{kept}']").count() == 1
        assert record.locator(f"tr[data-property='{left}']").count() == 0
        assert kept not in record.inner_text()  # the question's label, not the property name

        # the urgent screening goes back to the worker with a note
        page.goto(f"{base}/review")
        page.locator("table.queue tbody tr.urgent a").first.click()
        page.wait_for_load_state()
        assert URGENT_INSTANCE in page.url
        note = "Please ask again about sleep <b>and</b> appetite"
        page.locator("form textarea[name=note]").first.fill(note)
        page.get_by_role("button", name="Has issues").click()
        page.wait_for_load_state()
        assert "has_issues" in page.content() or "Sent back" in page.content()
        _worker_sees_returned(browser, base, size, note)

        # bulk approval of what is left
        page.goto(f"{base}/review")
        page.locator("input[name=instance_id]:not([disabled])").first.check()
        page.get_by_role("button", name="Approve selected").click()
        page.wait_for_load_state()
        page.screenshot(path=str(ARTIFACTS / f"bulk-{tag}.png"), full_page=True)

    page.goto(f"{base}/cases/{SEED1_HOUSEHOLD}")
    no_horizontal_scroll(page)
    page.screenshot(path=str(ARTIFACTS / f"case-{tag}.png"), full_page=True)
    context.close()
