"""The small things of issue 13, item 7, in Debian's chromium at 390x844 against a real
gunicorn: the Phones page (no worker preselected, a warning about a loopback QR code), the
"Log out (name)" button, the review queue's Filters header, keyboard hints on touch screens,
the link to deleted submissions, the form page's stacked version table, and an upload's
problems listed once."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import ARTIFACTS, no_horizontal_scroll
from tests.forms.several_problems import SEVERAL_PROBLEMS
from tests.live import ROOT, LiveServer

pytestmark = pytest.mark.committed
PASSWORD = "a long password"
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path_factory.mktemp("small-ux"))
    try:
        server.cli("db", "upgrade")
        server.cli("forms", "publish", str(ROOT / "forms" / "family_registration.xlsx"))
        for username, role in (
            ("coord", "coordinator"),
            ("aigerim", "field_worker"),
            ("designer", "designer"),
        ):
            server.cli("users", "create", username, "--role", role, "--region", "north",
                       stdin=PASSWORD + "\n")  # fmt: skip
        server.start(workers=1, threads=4)
        yield server
    finally:
        server.close()


@pytest.fixture
def open_page(browser: Any, live: LiveServer) -> Iterator[Any]:
    contexts: list[Any] = []

    def _open(username: str, *, touch: bool = False) -> Any:
        context = browser.new_context(viewport=PHONE, has_touch=touch, is_mobile=touch)
        contexts.append(context)
        page = context.new_page()
        page.goto(f"http://127.0.0.1:{live.port}/login")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r"/$"))
        return page

    yield _open
    for context in contexts:
        context.close()


def _base(live: LiveServer) -> str:
    return f"http://127.0.0.1:{live.port}"


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"small-ux-{name}.png"), full_page=True)


def test_phones_page_chooses_nobody_and_warns_about_a_loopback_address(open_page, live):
    page = open_page("coord")
    page.goto(f"{_base(live)}/admin/devices")
    no_horizontal_scroll(page)
    chosen = page.eval_on_selector("select[name=user]", "s => s.value")
    assert chosen == ""
    names = page.eval_on_selector_all("select[name=user] option", "os => os.map(o => o.value)")
    assert "coord" in names
    assert "aigerim" in names
    # sending without choosing is stopped by the browser: no phone is made for anyone
    page.click("form.stack button[type=submit]")
    assert page.eval_on_selector("select[name=user]", "s => s.validity.valueMissing")
    assert page.locator("img.qr").count() == 0
    warning = page.locator("#site-warning")
    assert warning.is_visible()
    text = warning.inner_text()
    assert "127.0.0.1" in text
    assert "--host 0.0.0.0" in text
    assert "FIELDAPP_SITE_URL" in text
    page.select_option("select[name=user]", "aigerim")
    page.click("form.stack button[type=submit]")
    page.wait_for_selector("img.qr")
    assert page.locator("#site-warning").is_visible()
    no_horizontal_scroll(page)
    _shot(page, "phones")


def test_phones_page_warns_for_localhost_too(open_page, live):
    page = open_page("coord")
    page.goto(f"http://localhost:{live.port}/login")
    page.fill("input[name=username]", "coord")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"http://localhost:{live.port}/admin/devices")
    assert page.locator("#site-warning").is_visible()


def test_log_out_button_separates_the_name(open_page, live):
    page = open_page("coord")
    gap = page.evaluate(
        """() => {
          const spans = document.querySelectorAll('button.logout > span');
          return spans[1].getBoundingClientRect().left - spans[0].getBoundingClientRect().right;
        }"""
    )
    assert gap >= 3, gap
    assert page.inner_text("button.logout").replace("\n", " ") == "Log out (coord)"


def test_review_queue_filters_deleted_link_and_no_keyboard_hints_on_touch(open_page, live):
    page = open_page("coord", touch=True)
    page.goto(f"{_base(live)}/review")
    page.wait_for_load_state("load")
    no_horizontal_scroll(page)
    summary = page.locator(".queue-filters summary")
    style = summary.evaluate(
        """s => { const c = getComputedStyle(s); const b = getComputedStyle(s, '::before');
                  return {cursor: c.cursor, border: c.borderTopWidth, chevron: b.borderRightWidth,
                          transform: b.transform, height: s.getBoundingClientRect().height}; }"""
    )
    assert style["cursor"] == "pointer"
    assert style["border"] == "1px"
    assert style["chevron"] == "2px"
    assert style["height"] >= 44
    closed = style["transform"]
    summary.tap()
    assert page.locator(".queue-filters").evaluate("d => d.open")
    # the chevron turns (a .15 s transition: read it once it has run)
    page.wait_for_function(
        """closed => getComputedStyle(document.querySelector('.queue-filters summary'),
                                      '::before').transform !== closed""",
        arg=closed,
        timeout=5_000,
    )
    # the review script adds its hint; a touch screen does not show it
    page.wait_for_selector(".kb-hint", state="attached")
    assert not page.locator(".kb-hint").is_visible()
    page.click("a[href='/review/deleted']")
    page.wait_for_url(re.compile(r"/review/deleted$"))
    _shot(page, "deleted")


def test_keyboard_hint_still_shown_with_a_mouse(open_page, live, browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.goto(f"{_base(live)}/login")
        page.fill("input[name=username]", "coord")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.goto(f"{_base(live)}/review")
        page.wait_for_selector(".kb-hint")
        assert page.locator(".kb-hint").is_visible()
    finally:
        context.close()


def test_form_page_version_table_rows_do_not_overlap(open_page, live):
    page = open_page("designer")
    page.goto(f"{_base(live)}/forms/family_registration")
    no_horizontal_scroll(page)
    overlaps = page.evaluate(
        """() => {
          const out = [];
          for (const row of document.querySelectorAll('table.stackable tbody tr')) {
            const cells = [...row.querySelectorAll('td')];
            for (let i = 0; i + 1 < cells.length; i++) {
              const label = getComputedStyle(cells[i], '::before');
              const cell = cells[i].getBoundingClientRect();
              const next = cells[i + 1].getBoundingClientRect();
              // the label lies inside its own cell: the cell is at least as tall as it
              const labelHeight = parseFloat(label.height) || 0;
              if (next.top < cell.top + labelHeight - 0.5) out.push(cells[i].dataset.label);
            }
          }
          return out;
        }"""
    )
    assert overlaps == []
    validate = page.locator("td[data-label='Checked by ODK Validate']").first
    files = page.locator("td[data-label='Files']").first
    assert validate.bounding_box()["y"] + validate.bounding_box()["height"] <= (
        files.bounding_box()["y"] + 0.5
    )
    # the label wraps to two lines at this width, and the cell grew to hold it
    assert validate.bounding_box()["height"] > 30
    _shot(page, "form")


def test_upload_problems_listed_once_and_sheet_on_one_line(open_page, live, tmp_path: Path):
    page = open_page("designer")
    form = tmp_path / "several.md"
    form.write_bytes(SEVERAL_PROBLEMS)
    page.goto(f"{_base(live)}/forms")
    page.set_input_files("input[name=file]", str(form))
    page.click("form[action$='/forms/upload'] button[type=submit]")
    page.wait_for_selector("table.problems")
    no_horizontal_scroll(page)
    messages = page.eval_on_selector_all(
        "table.problems td[data-label='What to change']", "tds => tds.map(td => td.innerText)"
    )
    assert messages
    alert = page.inner_text(".flash-error")
    for message in messages:
        assert message[:40] not in alert  # the headline counts them; the table lists them
    assert re.search(r"\d+ problems? to fix, listed below", alert)
    heights = page.eval_on_selector_all(
        "table.problems td[data-label='Sheet']",
        "tds => tds.map(td => [td.innerText, getComputedStyle(td).whiteSpace])",
    )
    assert all(space == "nowrap" for _text, space in heights)
    _shot(page, "upload")
