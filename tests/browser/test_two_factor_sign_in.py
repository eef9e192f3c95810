"""Two-factor sign-in in a real browser (Playwright driving Debian's chromium) against a real
gunicorn, at 390x844: an administrator requires it; a coordinator who logs in is sent to set it
up, scans (reads) the key, confirms with a code from the app (pyotp stands in for the phone),
keeps the recovery codes, logs out, and logs in again with password and code; a wrong code is
refused. Screenshots in test-artifacts/."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pyotp
import pytest

from tests.browser.conftest import ARTIFACTS, no_horizontal_scroll
from tests.live import LiveServer

pytestmark = pytest.mark.committed
PASSWORD = "a long password"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path_factory.mktemp("two-factor-browser"))
    try:
        server.cli("db", "upgrade")
        server.cli("users", "create", "boss", "--role", "admin", stdin=PASSWORD + "\n")
        server.cli(
            "users", "create", "dana", "--role", "coordinator", "--region", "north",
            stdin=PASSWORD + "\n",
        )  # fmt: skip
        server.start()
        yield server
    finally:
        server.close()


def log_in(page, base: str, username: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("load")


def test_a_coordinator_sets_up_two_factor_and_signs_in_with_it(live, browser):
    ARTIFACTS.mkdir(exist_ok=True)
    base = f"http://127.0.0.1:{live.port}"
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    # the administrator requires it (they have not set it up, so they are sent to do so too)
    log_in(page, base, "boss")
    page.goto(f"{base}/admin/security")
    no_horizontal_scroll(page)
    page.check("#two-factor-required")
    page.click("button.primary")
    page.wait_for_url("**/account/two-factor")
    context.close()

    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    log_in(page, base, "dana")
    page.goto(f"{base}/review")
    page.wait_for_url("**/account/two-factor")
    assert "required for your role" in page.content()
    assert page.locator("img.qr").is_visible()
    no_horizontal_scroll(page)
    page.screenshot(path=str(ARTIFACTS / "two-factor-setup-390x844.png"), full_page=True)
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    page.fill("#code", pyotp.TOTP(secret).now())
    page.click("#enable-2fa")
    page.wait_for_selector("#recovery-codes")
    codes = page.locator("#recovery-codes code").all_inner_texts()
    assert len(codes) == 10
    no_horizontal_scroll(page)
    page.screenshot(path=str(ARTIFACTS / "two-factor-codes-390x844.png"), full_page=True)
    page.goto(f"{base}/review")
    assert "/review" in page.url
    page.goto(f"{base}/logout")
    page.click("button[type=submit]")
    page.wait_for_load_state("load")

    log_in(page, base, "dana")
    page.wait_for_url("**/login/code")
    no_horizontal_scroll(page)
    page.fill("#code", "000000")
    page.click("button[type=submit]")
    page.wait_for_load_state("load")
    assert "not right" in page.locator("[role=alert]").inner_text()
    page.screenshot(path=str(ARTIFACTS / "two-factor-code-390x844.png"), full_page=True)
    page.fill("#code", pyotp.TOTP(secret).at(time.time() + 30))  # not the one used to set up
    page.click("button[type=submit]")
    page.wait_for_load_state("load")
    page.goto(f"{base}/review")
    assert "/review" in page.url and "/login" not in page.url
    context.close()
