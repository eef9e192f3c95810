"""Trying drafts in Debian's chromium (Playwright) against a real gunicorn, at 390 px and on
a desktop: a designer tries a registration draft together with its follow-up draft in ODK
Web Forms; the test registration makes a test household that the follow-up draft's case list
offers, the test follow-up updates it, and none of it reaches the review queue, the API or a
worker's phone. Screenshots go to test-artifacts/."""

from __future__ import annotations

import csv
import http.client
import io
import json
import re
import urllib.request
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest

from tests.browser.conftest import ARTIFACTS, no_horizontal_scroll
from tests.browser.test_web_forms import (
    PNG,
    choose,
    pick,
    question,
    type_date,
    type_number,
    type_text,
)
from tests.cases.support import DATA, attachments_of, instance_of
from tests.conftest import need
from tests.live import ROOT, LiveServer, multipart, post_submission

pytestmark = pytest.mark.committed
PASSWORD = "a long password"
SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 900}}
FORMS = ("family_registration", "home_visit")


def _call(live: LiveServer, token: str, path: str) -> Any:
    request = urllib.request.Request(
        f"http://127.0.0.1:{live.port}/api/v1{path}", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _upload_draft(live: LiveServer, token: str, form_id: str) -> None:
    path = ROOT / "forms" / f"{form_id}.xlsx"
    body, content_type = multipart(
        [("file", path.name, path.read_bytes(), "application/octet-stream")]
    )
    conn = http.client.HTTPConnection("127.0.0.1", live.port, timeout=60)
    try:
        conn.request(
            "POST",
            "/api/v1/forms",
            body=body,
            headers={"Content-Type": content_type, "Authorization": f"Bearer {token}"},
        )
        response = conn.getresponse()
        assert response.status == 201, response.read()
        response.read()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path_factory.mktemp("trydrafts"))
    try:
        server.cli("db", "upgrade")
        for form in FORMS:
            server.cli("forms", "publish", str(ROOT / "forms" / f"{form}.xlsx"))
        for username, role in (
            ("coord", "coordinator"),
            ("aigerim", "field_worker"),
        ):
            server.cli("users", "create", username, "--role", role, "--region", "north",
                       stdin=PASSWORD + "\n")  # fmt: skip
        server.cli("users", "create", "dina", "--role", "designer", stdin=PASSWORD + "\n")
        server.start()
        server.coord = server.cli("users", "token", "coord")  # type: ignore[attr-defined]
        designer = server.cli("users", "token", "dina")
        # a real family of aigerim's, approved: her phone's list holds it
        server.device = server.cli("devices", "create", "--user", "aigerim").rsplit("/", 1)[1]  # type: ignore[attr-defined]
        case = DATA / "family_registration" / "seed1"
        xml = (case / "submission.xml").read_bytes()
        path = f"/collect/key/{server.device}/submission"  # type: ignore[attr-defined]
        assert post_submission(server.port, path, xml, attachments_of(case)) == 201
        request = urllib.request.Request(
            f"http://127.0.0.1:{server.port}/api/v1/submissions/{instance_of(xml)}/review",
            data=json.dumps({"state": "approved"}).encode(),
            headers={
                "Authorization": f"Bearer {server.coord}",  # type: ignore[attr-defined]
                "Content-Type": "application/json",
            },
            method="POST",
        )
        urllib.request.urlopen(request, timeout=30).read()
        server.designer = designer  # type: ignore[attr-defined]
        yield server
    finally:
        server.close()


def _base(live: LiveServer) -> str:
    return f"http://127.0.0.1:{live.port}"


@pytest.fixture(params=sorted(SIZES))
def desk(request: pytest.FixtureRequest, live: LiveServer, browser: Any) -> Iterator[Any]:
    need((ROOT / "static" / "fill" / "fill.js").exists(), "the web form bundle (static/fill)")
    ARTIFACTS.mkdir(exist_ok=True)
    # new drafts for each run (a new upload replaces the draft and its test data)
    for form_id in FORMS:
        _upload_draft(live, live.designer, form_id)  # type: ignore[attr-defined]
    context = browser.new_context(viewport=SIZES[request.param])
    page = context.new_page()
    page.size_name = request.param
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console",
        lambda message: (
            errors.append(message.text)
            if message.type == "error"
            and "Content Security Policy" in message.text
            and "data:text/javascript" not in message.text
            else None
        ),
    )
    page.goto(f"{_base(live)}/login")
    page.fill("input[name=username]", "dina")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/$"))
    yield page
    context.close()
    assert errors == [], errors


def _shot(page: Any, name: str) -> None:
    size = SIZES[page.size_name]
    page.screenshot(
        path=str(ARTIFACTS / f"try-{name}-{size['width']}x{size['height']}.png"), full_page=True
    )


def _open_try_form(page: Any, form_id: str) -> None:
    page.locator(f"a.try-fill[data-form='{form_id}']").first.click()
    page.wait_for_selector("body[data-fill-ready='1']", timeout=60_000)
    page.wait_for_selector(".form-initialization-status.ready", state="attached", timeout=60_000)


def _sent(page: Any) -> str:
    message = page.locator("#fill-message")
    message.wait_for(state="visible", timeout=30_000)
    page.wait_for_function(
        "() => !document.getElementById('fill-message').textContent.includes('sending…')",
        timeout=30_000,
    )
    return str(message.inner_text())


def _register(page: Any, settlement: str) -> None:
    """The registration's required answers (one child)."""
    question(page, "I have explained").locator("label.value-option, input").first.click()
    choose(page, "Does the mother", "yes")
    inputs = question(page, "Signature").locator("input[type=file]")
    camera = inputs.and_(page.locator("[capture]")) if inputs.count() > 1 else inputs.first
    camera.set_input_files({"name": "signature.png", "mimeType": "image/png", "buffer": PNG})
    question(page, "Signature").locator("img").first.wait_for()
    type_text(page, "Settlement", settlement)
    type_text(page, "District", "Test district")
    choose(page, "Who is hosting", "mother_parents")
    type_number(page, "How many people", 3)
    type_date(page, "Date the family arrived", date.today() - timedelta(days=5))
    type_text(page, "Surname", "Testova")
    type_text(page, "First name", "Dana")
    choose(page, "Is her exact date", "no")
    type_number(page, "Year of birth", 1991)
    choose(page, "Passport or ID", "valid")
    choose(page, "Registration at this address", "done")
    choose(page, "Registration with a local polyclinic", "in_process")
    choose(page, "Application for social benefits", "not_started")
    type_text(page, "Child's full name", "Test Child")
    choose(page, "Relationship to the mother", "own")
    choose(page, "Sex", "female")
    type_date(page, "Date of birth", date(2017, 3, 2))
    choose(page, "Birth certificate", "issued")
    choose(page, "School or kindergarten", "school")
    choose(page, "Languages the child speaks", "russian")
    choose(page, "Does the child need", "no")
    type_date(page, "Date of the first home visit", date.today() + timedelta(days=7))


def _nothing_real_changed(live: LiveServer, page: Any, settlement: str) -> None:
    coord = live.coord  # type: ignore[attr-defined]
    items = _call(live, coord, "/submissions?limit=200")["items"]
    assert len(items) == 1  # the one real registration
    cases = _call(live, coord, "/cases?status=all&limit=200")["items"]
    assert settlement not in json.dumps(cases)
    # the queue, in the coordinator's browser
    context = page.context.browser.new_context()
    other = context.new_page()
    other.goto(f"{_base(live)}/login")
    other.fill("input[name=username]", "coord")
    other.fill("input[name=password]", PASSWORD)
    other.click("button[type=submit]")
    other.wait_for_url(re.compile(r"/$"))
    other.goto(f"{_base(live)}/review?state=all")
    assert other.locator("tbody tr").count() == 1
    assert settlement not in other.content()
    context.close()
    # aigerim's phone: its household list has only her real family
    conn = http.client.HTTPConnection("127.0.0.1", live.port, timeout=30)
    conn.request(
        "GET",
        f"/collect/key/{live.device}/forms/home_visit/attachments/households.csv",  # type: ignore[attr-defined]
        headers={"X-OpenRosa-Version": "1.0"},
    )
    rows = list(csv.DictReader(io.StringIO(conn.getresponse().read().decode())))
    conn.close()
    assert len(rows) == 1


def test_try_a_registration_and_its_follow_up_in_web_forms(live, desk):
    page = desk
    settlement = f"Sandboxville {page.size_name}"
    page.goto(f"{_base(live)}/forms/family_registration")
    page.locator("#try-draft").click()
    page.locator("input[name=with][value=home_visit]").check()
    page.locator("#start-try").click()
    page.locator("#new-try img.qr").wait_for()
    assert "/collect/test/" in page.locator("#try-url").inner_text()
    no_horizontal_scroll(page)
    _shot(page, "started")

    # the test registration, in Web Forms
    _open_try_form(page, "family_registration")
    _register(page, settlement)
    no_horizontal_scroll(page)
    _shot(page, "registration")
    page.get_by_role("button", name="Send").click()
    assert "Sent" in _sent(page)
    _nothing_real_changed(live, page, settlement)

    # the try page: the test submission, and the test household it made (review skipped)
    page.goto(f"{_base(live)}/forms/family_registration/try")
    assert page.locator("#test-submissions tbody tr").count() == 1
    assert "households: applied" in page.locator("#test-submissions").inner_text()
    code = page.locator("ul.test-cases[data-dataset=households] code").first.inner_text()
    _shot(page, "test-data")

    # the follow-up draft offers that test household (and not aigerim's real family)
    _open_try_form(page, "home_visit")
    offered = pick(page, "Family", code)
    assert offered == [code] or all(o.startswith(code) for o in offered), offered
    choose(page, "Did the visit take place", "not_home")
    type_text(page, "Social worker's notes", "Trying the follow-up")
    type_date(page, "Date of the next visit", date.today() + timedelta(days=3))
    no_horizontal_scroll(page)
    _shot(page, "follow-up")
    page.get_by_role("button", name="Send").click()
    assert "Sent" in _sent(page)
    _nothing_real_changed(live, page, settlement)

    page.goto(f"{_base(live)}/forms/home_visit/try")
    rows = page.locator("#test-submissions tbody tr")
    assert rows.count() == 1
    assert "households: applied" in rows.first.inner_text()
    page.locator("#test-submissions tbody tr a").first.click()
    assert "Trying the follow-up" in page.content()
    no_horizontal_scroll(page)
    _shot(page, "test-submission")
