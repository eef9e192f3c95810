"""Web forms on a phone (issue 6): a field worker fills the programme forms in Debian's chromium
(Playwright, 390x844) with ODK Web Forms against a real gunicorn, and the submissions are found
stored with the values typed. Also: a follow-up offers only the worker's own cases; a
submission made offline waits on the device and arrives exactly once; a reload mid-form resumes
the draft; a sent-back submission is corrected and arrives as an edit. Screenshots are written
to test-artifacts/."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import text as sql

from tests.browser.conftest import ARTIFACTS, no_horizontal_scroll
from tests.cases.support import (
    DATA,
    SEED1_CHILDREN,
    SEED1_HOUSEHOLD,
    attachments_of,
    home_visit,
    instance_of,
)
from tests.conftest import need
from tests.live import ROOT, LiveServer, post_submission

pytestmark = pytest.mark.committed
PASSWORD = "a long password"
PHONE = {"width": 390, "height": 844}
FORMS = ("family_registration", "home_visit", "school_checkin", "wellbeing_screening")
#: a 1x1 PNG, the "photo from the camera"
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6300010000050001a5f645400000000049454e44ae426082"
)
SEED2 = DATA / "family_registration" / "seed2"


class Api:
    """The coordinator's JSON API client against the live server."""

    def __init__(self, port: int, token: str) -> None:
        self.base = f"http://127.0.0.1:{port}/api/v1"
        self.token = token

    def call(self, path: str, body: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(
            self.base + path,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
            method="GET" if body is None else "POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def submissions(self, form_id: str) -> dict[str, dict[str, Any]]:
        items = self.call(f"/submissions?form_id={form_id}")["items"]
        return {item["instance_id"]: item for item in items}

    def submission(self, instance_id: str) -> dict[str, Any]:
        return dict(self.call(f"/submissions/{instance_id}"))

    def code_of(self, case_id: str) -> str:
        return str(self.call(f"/cases/{case_id}")["code"])


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path_factory.mktemp("webforms"))
    try:
        server.cli("db", "upgrade")
        for form in FORMS:
            server.cli("forms", "publish", str(ROOT / "forms" / f"{form}.xlsx"))
        for username, role in (("coord", "coordinator"), ("aigerim", "field_worker")):
            server.cli("users", "create", username, "--role", role, "--region", "north",
                       stdin=PASSWORD + "\n")  # fmt: skip
        server.cli("users", "create", "dana", "--role", "field_worker", "--region", "north",
                   stdin=PASSWORD + "\n")  # fmt: skip
        server.start()
        server.api = Api(server.port, server.cli("users", "token", "coord"))  # type: ignore[attr-defined]
        # aigerim's and dana's families, registered from their phones and approved: each
        # worker's caseload then holds their own household, mother and children
        for worker, case in (("aigerim", DATA / "family_registration" / "seed1"), ("dana", SEED2)):
            token = server.cli("devices", "create", "--user", worker).rsplit("/", 1)[1]
            xml = (case / "submission.xml").read_bytes()
            path = f"/collect/key/{token}/submission"
            assert post_submission(server.port, path, xml, attachments_of(case)) == 201
            server.api.call(f"/submissions/{instance_of(xml)}/review", {"state": "approved"})  # type: ignore[attr-defined]
        server.aigerim_device = server.cli("devices", "create", "--user", "aigerim").rsplit("/", 1)[
            1
        ]  # type: ignore[attr-defined]
        yield server
    finally:
        server.close()


@pytest.fixture
def phone(live: LiveServer, browser: Any) -> Iterator[Any]:
    """A fresh phone-sized browser (its own storage and service worker), logged in as aigerim."""
    need((ROOT / "static" / "fill" / "fill.js").exists(), "the web form bundle (static/fill)")
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console",
        lambda message: (
            errors.append(message.text)
            if message.type == "error"
            and "Content Security Policy" in message.text
            and "data:text/javascript" not in message.text  # image resizing retries with blob:
            else None
        ),
    )
    page.goto(f"{_base(live)}/login")
    page.fill("input[name=username]", "aigerim")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/$"))
    yield page
    context.close()
    assert errors == [], errors


def _base(live: LiveServer) -> str:
    return f"http://127.0.0.1:{live.port}"


def _api(live: LiveServer) -> Api:
    api = live.api  # type: ignore[attr-defined]
    assert isinstance(api, Api)
    return api


# -- driving Web Forms ---------------------------------------------------------------------------


def open_form(page: Any, live: LiveServer, form_id: str, query: str = "") -> None:
    page.goto(f"{_base(live)}/fill/{form_id}{query}")
    page.wait_for_selector("body[data-fill-ready='1']", timeout=60_000)
    page.wait_for_selector(".form-initialization-status.ready", state="attached", timeout=60_000)


def question(page: Any, label: str, nth: int = 0) -> Any:
    """The question whose (English) label starts with ``label`` (``nth`` repeat instance)."""
    pattern = re.compile(r"^\s*" + re.escape(label))
    return (
        page.locator(".question-container")
        .filter(has=page.locator(".control-text label", has_text=pattern))
        .nth(nth)
    )


def choose(page: Any, label: str, value: str, nth: int = 0) -> None:
    """Tick the radio button or checkbox of choice ``value``."""
    option = question(page, label, nth).locator(f"label.value-option:has(input[value='{value}'])")
    option.click()


def type_text(page: Any, label: str, value: str, nth: int = 0) -> None:
    question(page, label, nth).locator("input, textarea").first.fill(value)


def type_number(page: Any, label: str, value: int) -> None:
    # Web Forms' number inputs take typed keys, not fill()
    box = question(page, label).locator("input").first
    box.click()
    box.press("Control+a")
    box.press_sequentially(str(value))
    box.evaluate("input => input.blur()")  # (Tab would open the next question's date picker)


def type_date(page: Any, label: str, when: date, nth: int = 0) -> None:
    box = question(page, label, nth).locator("input").first
    box.click()
    box.press("Control+a")
    # the picker takes dates as the page shows them: ISO year-month-day in English (day.month.year
    # in Russian and Kazakh), never month/day/year; typed whole (it reformats a half-typed date)
    box.fill(when.isoformat())
    box.press("Enter")
    page.keyboard.press("Escape")


def pick(page: Any, label: str, option: str) -> list[str]:
    """Open a list question (a case list), note the case code of every option offered
    (a label starts with the code; the list's chosen parts follow after " · "), and pick
    ``option``."""
    question(page, label).locator("[role=combobox]").first.click()
    options = page.locator("[role=option]")
    options.first.wait_for()
    offered = [o.strip().split(" · ")[0] for o in options.all_inner_texts()]
    options.filter(has_text=option).first.click()
    return offered


def send(page: Any) -> None:
    page.get_by_role("button", name="Send").click()


def sent_message(page: Any) -> str:
    message = page.locator("#fill-message")
    message.wait_for(state="visible", timeout=30_000)
    page.wait_for_function(
        "() => !document.getElementById('fill-message').textContent.includes('sending…')",
        timeout=30_000,
    )
    return str(message.inner_text())


def new_submission(api: Api, form_id: str, before: set[str]) -> dict[str, Any]:
    """The one submission of ``form_id`` that was not there ``before``."""
    added = set(api.submissions(form_id)) - before
    assert len(added) == 1, added
    return api.submission(added.pop())


def big_enough(locator: Any, minimum: float = 44) -> None:
    for i in range(locator.count()):
        box = locator.nth(i).bounding_box()
        assert box is not None
        assert box["height"] >= minimum, (locator.nth(i).inner_text(), box)


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"webforms-{name}-390x844.png"), full_page=True)


# -- the tests -------------------------------------------------------------------------------


def test_every_programme_form_is_filled_and_stored(live, phone):
    page, api = phone, _api(live)
    page.goto(f"{_base(live)}/fill")
    page.wait_for_selector("body[data-fill-ready='1']", timeout=60_000)
    for form_id in FORMS:
        assert page.locator(f"a.fill-form[data-form-id='{form_id}']").count() == 1
    no_horizontal_scroll(page)
    big_enough(page.locator("a.fill-form"))
    shot(page, "index")

    # -- the registration: required and constraint messages, languages, a repeat, the camera
    before = set(api.submissions("family_registration"))
    open_form(page, live, "family_registration")
    send(page)
    assert "question" in page.locator(".form-error-message").inner_text()
    required = question(page, "Does the mother").locator(".validation-message")
    assert required.is_visible()
    shot(page, "required")

    page.locator(".smaller-screens .language-changer [role=combobox]").click()
    page.locator("[role=option]", has_text="Русский").click()
    labels = page.locator(".control-text label").all_inner_texts()
    assert any(re.search("[\u0400-\u04ff]{4,}", label) for label in labels)
    shot(page, "russian")
    page.locator(".smaller-screens .language-changer [role=combobox]").click()
    page.locator("[role=option]", has_text="English").click()

    question(page, "I have explained").locator("label.value-option, input").first.click()
    choose(page, "Does the mother", "yes")
    # "Take picture" (capture="environment") exists where the browser knows capture (phones);
    # desktop chromium only has "Choose image": the same file input otherwise
    inputs = question(page, "Signature").locator("input[type=file]")
    camera = inputs.and_(page.locator("[capture]")) if inputs.count() > 1 else inputs.first
    camera.set_input_files({"name": "signature.png", "mimeType": "image/png", "buffer": PNG})
    question(page, "Signature").locator("img").first.wait_for()  # the preview
    type_text(page, "Settlement", "Oscar Town")
    type_text(page, "District", "North district")
    choose(page, "Who is hosting", "mother_parents")
    type_number(page, "How many people", 40)
    constraint = question(page, "How many people").locator(".validation-message")
    assert constraint.is_visible()
    assert constraint.inner_text().strip()
    type_number(page, "How many people", 4)
    assert not constraint.is_visible() or not constraint.inner_text().strip()
    type_date(page, "Date the family arrived", date.today() - timedelta(days=20))
    type_text(page, "Surname", "Quebec")
    type_text(page, "First name", "Mike")
    choose(page, "Is her exact date", "no")
    type_number(page, "Year of birth", 1990)
    choose(page, "Passport or ID", "valid")
    choose(page, "Registration at this address", "done")
    choose(page, "Registration with a local polyclinic", "in_process")
    choose(page, "Application for social benefits", "not_started")
    type_text(page, "Child's full name", "Charlie Quebec")
    choose(page, "Relationship to the mother", "own")
    choose(page, "Sex", "female")
    type_date(page, "Date of birth", date(2016, 5, 4))
    choose(page, "Birth certificate", "issued")
    choose(page, "School or kindergarten", "school")
    choose(page, "Languages the child speaks", "arabic")
    choose(page, "Languages the child speaks", "russian")
    choose(page, "Does the child need", "yes")
    # a second child: a new repeat instance
    page.get_by_role("button", name="Add Child").click()
    type_text(page, "Child's full name", "Mike November", nth=1)
    choose(page, "Relationship to the mother", "relative", nth=1)
    choose(page, "Sex", "male", nth=1)
    type_date(page, "Date of birth", date(2020, 1, 15), nth=1)
    choose(page, "Birth certificate", "in_process", nth=1)
    choose(page, "School or kindergarten", "kindergarten", nth=1)
    choose(page, "Languages the child speaks", "kazakh", nth=1)
    choose(page, "Does the child need", "assess", nth=1)
    type_date(page, "Date of the first home visit", date.today() + timedelta(days=7))
    type_text(page, "Social worker's notes", "First visit planned")
    no_horizontal_scroll(page)
    shot(page, "registration")
    send(page)
    assert "Sent" in sent_message(page)
    stored = new_submission(api, "family_registration", before)
    data = stored["data"]
    assert stored["submitted_by"] == "aigerim"
    assert data["consent"]["consent_given"] == "yes"
    assert data["household"]["settlement"] == "Oscar Town"
    assert data["household"]["household_size"] == 4
    assert data["household"]["arrival_date"] == str(date.today() - timedelta(days=20))
    assert data["mother"]["mother_birth_year_entered"] == 1990
    assert data["children"][0]["child_name"] == "Charlie Quebec"
    assert data["children"][0]["child_birth_date"] == "2016-05-04"
    assert sorted(data["children"][0]["child_languages"]) == ["arabic", "russian"]
    assert len(data["children"]) == 2
    assert data["children"][1]["child_name"] == "Mike November"
    assert data["children"][1]["child_birth_date"] == "2020-01-15"
    assert data["children"][1]["school_status"] == "kindergarten"
    assert data["children"][1]["needs_learning_plan"] == "assess"
    assert data["follow_up"]["next_visit_date"] == str(date.today() + timedelta(days=7))
    signature = data["consent"]["consent_signature"]
    assert [(a["name"], a["received"]) for a in stored["attachments"]] == [(signature, True)]
    # every entity the registration declares carries an id (mother and child included)
    xml = _current_xml(live, stored["instance_id"])
    assert re.findall(r'<entity [^>]*create="(?:1|true)"[^>]*id=""', xml) == []
    shot(page, "registration-sent")

    # -- a home visit: the family comes from aigerim's caseload only
    before = set(api.submissions("home_visit"))
    open_form(page, live, "home_visit")
    mine, theirs = api.code_of(SEED1_HOUSEHOLD), _dana_household_code(api)
    offered = pick(page, "Family", mine)
    assert mine in offered
    assert theirs not in offered
    choose(page, "Did the visit take place", "not_home")
    type_text(page, "Social worker's notes", "Nobody home; neighbour says they are well")
    type_date(page, "Date of the next visit", date.today() + timedelta(days=3))
    shot(page, "home-visit")
    send(page)
    assert "Sent" in sent_message(page)
    data = new_submission(api, "home_visit", before)["data"]
    assert data["household"] == SEED1_HOUSEHOLD
    assert data["visit_outcome"] == "not_home"
    assert data["visit_date"] == str(date.today())
    assert data["closing"]["worker_notes"] == "Nobody home; neighbour says they are well"

    # -- a school check-in
    before = set(api.submissions("school_checkin"))
    open_form(page, live, "school_checkin")
    pick(page, "Child", api.code_of(SEED1_CHILDREN[0]))
    choose(page, "Who gave information", "teacher")
    choose(page, "Where does the child study now", "not_enrolled")
    choose(page, "Why is the child not enrolled", "no_documents")
    type_date(page, "Date of the next check-in", date.today() + timedelta(days=10))
    shot(page, "school-checkin")
    send(page)
    assert "Sent" in sent_message(page)
    data = new_submission(api, "school_checkin", before)["data"]
    assert data["child"] == SEED1_CHILDREN[0]
    assert data["info_sources"] == ["teacher"]
    assert data["enrolment"]["not_enrolled_reason"] == "no_documents"

    # -- a wellbeing screening of a child who does not want to answer
    before = set(api.submissions("wellbeing_screening"))
    open_form(page, live, "wellbeing_screening")
    choose(page, "Who is being screened", "child")
    pick(page, "Child", api.code_of(SEED1_CHILDREN[1]))
    choose(page, "Are you happy to answer", "no")
    choose(page, "Refer to a psychologist", "no")
    type_date(page, "Date of the next screening", date.today() + timedelta(days=30))
    shot(page, "wellbeing")
    send(page)
    assert "Sent" in sent_message(page)
    data = new_submission(api, "wellbeing_screening", before)["data"]
    assert data["subject_type"] == "child"
    assert data["child_screening"]["child"] == SEED1_CHILDREN[1]
    assert data["referral_section"]["refer"] == "no"
    no_horizontal_scroll(page)
    big_enough(page.get_by_role("button", name="Send"))


def _dana_household_code(api: Api) -> str:
    xml = (SEED2 / "submission.xml").read_bytes()
    match = re.search(rb'<entity dataset="households" create="1" id="([^"]+)"', xml)
    assert match is not None
    return api.code_of(match.group(1).decode())


def _current_xml(live: LiveServer, instance_id: str) -> str:
    engine = live.engine()
    try:
        with engine.connect() as conn:
            return bytes(
                conn.execute(
                    sql(
                        "SELECT v.xml FROM submission_versions v JOIN submissions s "
                        "ON s.current_version_id = v.id WHERE s.instance_id = :i"
                    ),
                    {"i": instance_id},
                ).scalar_one()
            ).decode()
    finally:
        engine.dispose()


def _versions(live: LiveServer, instance_id: str) -> list[tuple[str, str | None]]:
    engine = live.engine()
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sql(
                    "SELECT v.instance_id, v.deprecated_id FROM submission_versions v "
                    "JOIN submissions s ON s.id = v.submission_id WHERE s.instance_id = :i "
                    "ORDER BY v.id"
                ),
                {"i": instance_id},
            ).all()
            return [(r[0], r[1]) for r in rows]
    finally:
        engine.dispose()


def test_a_submission_made_offline_arrives_once_when_the_network_returns(live, phone):
    page, api = phone, _api(live)
    page.goto(f"{_base(live)}/fill")
    page.wait_for_selector("#offline-ready[data-ready='1']", timeout=60_000)
    open_form(page, live, "home_visit")  # online once: the page and the form are kept
    before = set(api.submissions("home_visit"))

    page.context.set_offline(True)
    open_form(page, live, "home_visit")  # from the service worker's cache
    pick(page, "Family", api.code_of(SEED1_HOUSEHOLD))
    choose(page, "Did the visit take place", "refused")
    type_text(page, "Social worker's notes", "Written offline in the village")
    type_date(page, "Date of the next visit", date.today() + timedelta(days=5))
    send(page)
    assert "when the network is back" in sent_message(page)
    outbox = page.locator("#outbox")
    assert outbox.get_attribute("data-count") == "1"
    assert "1 waiting to send" in outbox.inner_text()
    assert set(api.submissions("home_visit")) == before
    no_horizontal_scroll(page)
    shot(page, "offline-waiting")

    # a reload (or a closed tab) while offline keeps it
    open_form(page, live, "home_visit")
    page.wait_for_selector("#outbox[data-count='1']")

    page.context.set_offline(False)
    page.wait_for_selector("#outbox[data-count='0']", state="attached", timeout=30_000)
    shot(page, "offline-sent")
    stored = new_submission(api, "home_visit", before)
    assert stored["data"]["closing"]["worker_notes"] == "Written offline in the village"
    assert stored["data"]["visit_outcome"] == "refused"
    # sending again (another tab, a lost answer) changes nothing
    page.locator("#outbox-send").evaluate("button => button.click()")
    page.wait_for_timeout(1000)
    assert len(set(api.submissions("home_visit")) - before) == 1


#: whether a draft in the browser's IndexedDB holds the given piece of instance XML
DRAFT_HOLDS = """async (piece) => {
  const db = await new Promise((resolve, reject) => {
    const request = indexedDB.open('fieldapp-fill');
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  const drafts = await new Promise((resolve) => {
    const request = db.transaction('drafts').objectStore('drafts').getAll();
    request.onsuccess = () => resolve(request.result);
  });
  db.close();
  return drafts.some((draft) => draft.xml.includes(piece));
}"""


def wait_for_draft(page: Any, piece: str, timeout: float = 30) -> None:
    # (page.wait_for_function does not await a promise: a pending one counts as truthy)
    deadline = time.monotonic() + timeout
    while not page.evaluate(DRAFT_HOLDS, piece):
        assert time.monotonic() < deadline, f"no draft holds {piece!r}"
        page.wait_for_timeout(200)


def test_a_reload_mid_form_resumes_the_draft(live, phone):
    from playwright.sync_api import expect

    page, api = phone, _api(live)
    before = set(api.submissions("school_checkin"))
    open_form(page, live, "school_checkin")
    child = api.code_of(SEED1_CHILDREN[1])
    pick(page, "Child", child)
    choose(page, "Who gave information", "mother")
    choose(page, "Who gave information", "child")
    choose(page, "Where does the child study now", "not_enrolled")
    choose(page, "Why is the child not enrolled", "no_place")
    wait_for_draft(page, "<not_enrolled_reason>no_place<")
    shot(page, "draft-saved")

    page.reload()
    page.wait_for_selector("body[data-fill-ready='1']", timeout=60_000)
    page.wait_for_selector(".form-initialization-status.ready", state="attached", timeout=60_000)
    assert page.locator("#draft-status").get_attribute("data-restored") == "1"
    expect(
        question(page, "Why is the child not enrolled").locator("input[value='no_place']")
    ).to_be_checked()
    expect(question(page, "Child")).to_contain_text(child)
    shot(page, "draft-restored")
    # the index lists it too, and resumes it
    page.goto(f"{_base(live)}/fill")
    page.wait_for_selector("body[data-fill-ready='1']", timeout=60_000)
    draft = page.locator("#drafts-list li", has_text="School check-in")
    assert draft.count() == 1
    big_enough(draft.get_by_role("link", name="Resume"))
    draft.get_by_role("link", name="Resume").click()
    page.wait_for_selector("body[data-fill-ready='1']", timeout=60_000)
    page.wait_for_selector(".form-initialization-status.ready", state="attached", timeout=60_000)
    assert page.locator("#draft-status").get_attribute("data-restored") == "1"
    type_date(page, "Date of the next check-in", date.today() + timedelta(days=12))
    send(page)
    assert "Sent" in sent_message(page)
    data = new_submission(api, "school_checkin", before)["data"]
    assert data["child"] == SEED1_CHILDREN[1]
    assert sorted(data["info_sources"]) == ["child", "mother"]
    assert data["enrolment"]["school_status"] == "not_enrolled"
    assert data["enrolment"]["not_enrolled_reason"] == "no_place"
    assert data["closing"]["next_checkin_date"] == str(date.today() + timedelta(days=12))
    # sent: the draft is gone
    open_form(page, live, "school_checkin")
    assert page.locator("#draft-status").get_attribute("data-restored") is None


def test_a_sent_back_submission_is_corrected_and_arrives_as_an_edit(live, phone):
    page, api = phone, _api(live)
    visit = home_visit(SEED1_HOUSEHOLD, 1)
    visit_id = instance_of(visit)
    path = f"/collect/key/{live.aigerim_device}/submission"  # type: ignore[attr-defined]
    assert post_submission(live.port, path, visit, []) == 201
    note = "Say where <they> moved & when"
    api.call(f"/submissions/{visit_id}/review", {"state": "has_issues", "note": note})

    page.goto(f"{_base(live)}/fill")
    page.wait_for_selector("body[data-fill-ready='1']", timeout=60_000)
    item = page.locator(f".returned li[data-instance='{visit_id}']")
    assert note in item.inner_text()
    big_enough(item.locator("a.button"))
    no_horizontal_scroll(page)
    shot(page, "returned")
    item.get_by_role("link", name="Correct").click()
    page.wait_for_selector("body[data-fill-ready='1']", timeout=60_000)
    page.wait_for_selector(".form-initialization-status.ready", state="attached", timeout=60_000)
    assert note in page.locator(".correction").inner_text()
    # the answers as sent are loaded
    notes = question(page, "Social worker's notes").locator("textarea")
    assert notes.input_value() == "sierra india"
    assert question(page, "Did the visit take place").locator("input[value='moved']").is_checked()
    type_text(page, "New address", "Kilo Lima, flat 4")
    notes.fill("Moved to her sister in March")
    shot(page, "correction")
    send(page)
    assert "Correction sent" in sent_message(page)

    stored = api.submission(visit_id)
    assert stored["review_state"] == "edited"
    assert stored["data"]["new_address"] == "Kilo Lima, flat 4"
    assert stored["data"]["closing"]["worker_notes"] == "Moved to her sister in March"
    versions = _versions(live, visit_id)
    assert len(versions) == 2
    assert versions[0] == (visit_id, None)
    assert versions[1][1] == visit_id and versions[1][0] != visit_id
    # no longer sent back
    page.goto(f"{_base(live)}/fill")
    page.wait_for_selector("body[data-fill-ready='1']", timeout=60_000)
    assert page.locator(f".returned li[data-instance='{visit_id}']").count() == 0
