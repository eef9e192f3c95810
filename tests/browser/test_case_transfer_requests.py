"""A transfer request in a real browser (Playwright driving Debian's chromium) against a real
gunicorn, at 390x844 without horizontal scrolling: north's coordinator asks south to take a
child (no region preselected; a confirmation page says what will happen; cancelling it changes
nothing), the child stays visible and assigned in north marked pending and in its family's
section, south's coordinator finds the request, reads the summary, accepts choosing a worker
(confirmed), and both sides keep the history. Then every other confirmation: decline, close,
merge, submission delete and form publish act only once confirmed, and their Cancel leaves
things as they were. Screenshots go to test-artifacts/."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.conftest import ARTIFACTS, no_horizontal_scroll
from tests.cases.support import (
    DATA,
    SEED1_CHILDREN,
    SEED1_HOUSEHOLD,
    SEED1_INSTANCE,
    attachments_of,
    instance_of,
)
from tests.live import ROOT, LiveServer, multipart, post_submission

pytestmark = pytest.mark.committed
PASSWORD = "a long password"
PHONE = (390, 844)
CHILD = SEED1_CHILDREN[0]
SEED2_INSTANCE = instance_of(
    (DATA / "family_registration" / "seed2" / "submission.xml").read_bytes()
)
SCRATCH = (
    b"| survey   |         |      |       |\n"
    b"|          | type    | name | label |\n"
    b"|          | text    | name | Name  |\n"
    b"| settings |         |      |       |\n"
    b"|          | form_id | version | form_title |\n"
    b"|          | scratch | 1       | Scratch    |\n"
)


def _api(port: int, token: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {"Authorization": f"Bearer {token}"}
        data = None
        if isinstance(body, tuple):  # (bytes, content type)
            data, headers["Content-Type"] = body
        elif body is not None:
            data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        return response.status, json.loads(raw) if raw else None
    finally:
        conn.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path_factory.mktemp("browser-transfers"))
    try:
        server.cli("db", "upgrade")
        server.cli("forms", "publish", str(ROOT / "forms" / "family_registration.xlsx"))
        for username, role, region in (
            ("coord_a", "coordinator", "north"),
            ("coord_b", "coordinator", "south"),
            ("aigerim", "field_worker", "north"),
            ("dana", "field_worker", "south"),
            ("maria", "designer", None),
        ):
            where = ["--region", region] if region else []
            server.cli("users", "create", username, "--role", role, *where, stdin=PASSWORD + "\n")
        device = server.cli("devices", "create", "--user", "aigerim").strip().rsplit("/", 1)[1]
        coord_token = server.cli("users", "token", "coord_a").strip().split()[-1]
        designer_token = server.cli("users", "token", "maria").strip().split()[-1]
        server.start()
        for seed in ("seed1", "seed2", "seed3"):
            case = DATA / "family_registration" / seed
            xml = (case / "submission.xml").read_bytes()
            status = post_submission(
                server.port, f"/collect/key/{device}/submission", xml, attachments_of(case)
            )
            assert status == 201
        status, _ = _api(
            server.port, coord_token, "POST", f"/api/v1/submissions/{SEED1_INSTANCE}/review",
            {"state": "approved"},
        )  # fmt: skip
        assert status == 200
        seed3 = instance_of(
            (DATA / "family_registration" / "seed3" / "submission.xml").read_bytes()
        )
        status, _ = _api(
            server.port, coord_token, "POST", f"/api/v1/submissions/{seed3}/review",
            {"state": "approved"},
        )  # fmt: skip
        assert status == 200
        status, listed = _api(server.port, coord_token, "GET", "/api/v1/cases?dataset=households")
        assert status == 200
        [other] = [c["code"] for c in listed["items"] if c["id"] != SEED1_HOUSEHOLD]
        server.other_household = other  # type: ignore[attr-defined]
        upload = multipart([("file", "scratch.md", SCRATCH, "text/markdown")])
        status, _ = _api(server.port, designer_token, "POST", "/api/v1/forms", upload)
        assert status == 201
        yield server
    finally:
        server.close()


def _sign_in(browser: Any, live: LiveServer, username: str) -> tuple[Any, Any, str]:
    context = browser.new_context(viewport={"width": PHONE[0], "height": PHONE[1]})
    page = context.new_page()
    base = f"http://127.0.0.1:{live.port}"
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return context, page, base


def _shot(page: Any, name: str) -> None:
    no_horizontal_scroll(page)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}-390x844.png"), full_page=True)


def _confirm_page(page: Any, *expected: str) -> None:
    page.wait_for_load_state()
    text = page.locator("ul.confirm-consequences").inner_text()
    for line in expected:
        assert line in text, text


def test_a_transfer_is_requested_kept_pending_accepted_and_remembered(
    live: LiveServer, browser: Any
) -> None:
    north, page, base = _sign_in(browser, live, "coord_a")
    page.goto(f"{base}/cases/{CHILD}")
    region = page.locator("select#transfer-region")
    assert region.input_value() == ""  # no region preselected
    assert "(no coordinator" not in region.inner_text()  # south has both
    region.select_option("south")
    page.fill("textarea#transfer-note", "The family moved to <b>Shymkent</b>")
    page.get_by_role("button", name="Request transfer…").click()
    _confirm_page(
        page,
        "The case stays in north and assigned to aigerim until a coordinator of south accepts.",
    )
    _shot(page, "transfer-request-confirm")
    page.locator("a[data-confirm=no]").click()  # cancelling the confirmation changes nothing
    page.wait_for_load_state()
    assert page.url.endswith(f"/cases/{CHILD}")
    assert page.locator(".transfer-pending").count() == 0

    page.locator("select#transfer-region").select_option("south")
    page.fill("textarea#transfer-note", "The family moved to <b>Shymkent</b>")
    page.get_by_role("button", name="Request transfer…").click()
    page.wait_for_load_state()
    page.locator("button[data-confirm=yes]").click()
    page.wait_for_load_state()
    # still here, still assigned, marked pending
    assert page.url.endswith(f"/cases/{CHILD}")
    assert page.locator(".transfer-pending").inner_text() == "transfer pending to south"
    assert "worker: aigerim" in page.content()
    history = page.locator("ol.transfer-history").inner_text()
    assert "north → south: pending" in history
    assert "The family moved to <b>Shymkent</b>" in history  # as text
    _shot(page, "transfer-pending-case")
    child_code = page.locator("h1 code").inner_text()
    page.goto(f"{base}/cases")
    assert "transfer pending to south" in page.locator("table").inner_text()
    page.goto(f"{base}/cases/{SEED1_HOUSEHOLD}")  # still in its family's section
    assert (
        page.locator("section.panel", has_text="Family")
        .locator(f"a[href='/cases/{child_code}']")
        .count()
        == 1
    )

    # south's coordinator finds it, reads the summary, accepts choosing a worker
    south, other, base = _sign_in(browser, live, "coord_b")
    other.goto(f"{base}/cases")
    other.get_by_role("link", name="1 transfer request waiting for your answer").click()
    other.wait_for_load_state()
    _shot(other, "transfer-requests")
    other.locator("table.transfer-requests a").first.click()
    other.wait_for_load_state()
    summary = other.locator("dl.case-summary").inner_text()
    assert "Children" in summary and "open" in summary  # list and status, no properties
    assert "The family moved to <b>Shymkent</b>" in other.locator("dl.transfer-facts").inner_text()
    _shot(other, "transfer-request-summary")
    other.locator("select#accept-worker").select_option("dana")
    other.get_by_role("button", name="Accept…").click()
    _confirm_page(other, "moves from north to south and is assigned to dana")
    other.locator("a[data-confirm=no]").click()
    other.wait_for_load_state()
    assert other.locator("[data-transfer-state=pending]").count() == 1  # cancelled: unchanged
    other.locator("select#accept-worker").select_option("dana")
    other.get_by_role("button", name="Accept…").click()
    other.wait_for_load_state()
    other.locator("button[data-confirm=yes]").click()
    other.wait_for_load_state()
    assert other.url.endswith(f"/cases/{CHILD}")
    assert "south" in other.locator("p.muted").first.inner_text()
    assert "worker: dana" in other.content()
    assert "north → south: accepted" in other.locator("ol.transfer-history").inner_text()
    _shot(other, "transfer-accepted-case")

    # north keeps the history entry, not the case
    response = page.goto(f"{base}/cases/{CHILD}")
    assert response is not None and response.status == 404
    page.goto(f"{base}/transfers")
    outgoing = page.locator("section", has_text="From your region").inner_text()
    assert "accepted" in outgoing
    page.locator("section", has_text="From your region").locator("a").first.click()
    page.wait_for_load_state()
    assert "its record is no longer shown here" in page.content()
    _shot(page, "transfer-left-history")
    north.close()
    south.close()


def test_every_other_confirmation_acts_only_when_confirmed(live: LiveServer, browser: Any) -> None:
    north, page, base = _sign_in(browser, live, "coord_a")
    south, other, _ = _sign_in(browser, live, "coord_b")

    # decline: north asks again for the household; south declines with a reason
    page.goto(f"{base}/cases/{SEED1_HOUSEHOLD}")
    page.locator("select#transfer-region").select_option("south")
    page.get_by_role("button", name="Request transfer…").click()
    page.wait_for_load_state()
    page.locator("button[data-confirm=yes]").click()
    page.wait_for_load_state()
    other.goto(f"{base}/transfers")
    other.locator("tr[data-transfer-state=pending] a").first.click()
    other.wait_for_load_state()
    other.fill("textarea#decline-reason", "No places this month")
    other.get_by_role("button", name="Decline…").click()
    _confirm_page(other, "The case stays in north, assigned to aigerim, as it is.")
    _shot(other, "transfer-decline-confirm")
    other.locator("a[data-confirm=no]").click()
    other.wait_for_load_state()
    assert other.locator("[data-transfer-state=pending]").count() == 1
    other.fill("textarea#decline-reason", "No places this month")
    other.get_by_role("button", name="Decline…").click()
    other.wait_for_load_state()
    other.locator("button[data-confirm=yes]").click()
    other.wait_for_load_state()
    page.goto(f"{base}/cases/{SEED1_HOUSEHOLD}")
    history = page.locator("ol.transfer-history").inner_text()
    assert "north → south: declined" in history and "No places this month" in history
    assert page.locator(".transfer-pending").count() == 0

    # merge: another household of north into this one; Cancel leaves both open
    other_code = live.other_household  # type: ignore[attr-defined]
    page.fill("input[name=other]", other_code)
    page.get_by_role("button", name="Merge into this case…").click()
    _confirm_page(page, f"{other_code} becomes a pointer", "A merge cannot be undone.")
    _shot(page, "case-merge-confirm")
    page.locator("a[data-confirm=no]").click()
    page.wait_for_load_state()
    page.goto(f"{base}/cases?q={other_code}")
    assert page.locator("table .badge-open").count() == 1
    page.goto(f"{base}/cases/{SEED1_HOUSEHOLD}")
    page.fill("input[name=other]", other_code)
    page.get_by_role("button", name="Merge into this case…").click()
    page.wait_for_load_state()
    page.locator("button[data-confirm=yes]").click()
    page.wait_for_load_state()
    page.goto(f"{base}/cases/{other_code}")
    assert page.locator(".badge-merged").count() == 1

    # close: cancelled, then confirmed
    page.goto(f"{base}/cases/{SEED1_HOUSEHOLD}")
    page.fill("input[name=reason]", "The family left the programme")
    page.get_by_role("button", name="Close…").click()
    _confirm_page(page, "Closing stops follow-ups on phones", "The case can be reopened")
    _shot(page, "case-close-confirm")
    page.locator("a[data-confirm=no]").click()
    page.wait_for_load_state()
    assert page.locator(".badge-open").count() == 1
    page.fill("input[name=reason]", "The family left the programme")
    page.get_by_role("button", name="Close…").click()
    page.wait_for_load_state()
    page.locator("button[data-confirm=yes]").click()
    page.wait_for_load_state()
    assert page.locator(".badge-closed").count() == 1

    # submission delete: seed2 is waiting in the queue
    page.goto(f"{base}/submissions/{SEED2_INSTANCE}")
    page.locator("summary", has_text="Delete this submission").click()
    page.fill("form[action$='/delete'] textarea[name=reason]", "A training test")
    page.get_by_role("button", name="Delete", exact=True).click()
    _confirm_page(page, "It can be restored from the deleted submissions")
    _shot(page, "submission-delete-confirm")
    page.locator("a[data-confirm=no]").click()
    page.wait_for_load_state()
    assert page.url.endswith(f"/submissions/{SEED2_INSTANCE}")
    page.locator("summary", has_text="Delete this submission").click()
    page.fill("form[action$='/delete'] textarea[name=reason]", "A training test")
    page.get_by_role("button", name="Delete", exact=True).click()
    page.wait_for_load_state()
    page.locator("button[data-confirm=yes]").click()
    page.wait_for_load_state()
    assert page.url.endswith("/review")
    response = page.goto(f"{base}/submissions/{SEED2_INSTANCE}")
    assert response is not None and response.status == 404
    north.close()
    south.close()

    # form publish: the designer's confirmation page; Cancel leaves the draft a draft
    designer, page, base = _sign_in(browser, live, "maria")
    page.goto(f"{base}/forms/scratch")
    page.get_by_role("link", name="Publish version 1…").click()
    page.wait_for_load_state()
    _shot(page, "form-publish-confirm-first")
    page.get_by_role("link", name="Cancel").click()
    page.wait_for_load_state()
    assert page.url.endswith("/forms/scratch")
    assert page.get_by_role("link", name="Publish version 1…").count() == 1  # still a draft
    page.get_by_role("link", name="Publish version 1…").click()
    page.wait_for_load_state()
    page.get_by_role("button", name="Publish version 1").click()
    page.wait_for_load_state()
    assert "Version 1 is published" in page.content()
    designer.close()
