"""A designer brings a new version of a form, in a real browser (Playwright driving Debian's
chromium) against a real gunicorn: version 1 is published from an XLSForm file, a phone
downloads it and sends submissions over OpenRosa, version 2 arrives as a draft; the draft page
shows what it changes and what that does to the submissions received, then publishing asks for
confirmation and keeps the designer's note. At 390x844 and 1280x800; screenshots in
test-artifacts/."""

from __future__ import annotations

import http.client
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import ARTIFACTS, no_horizontal_scroll
from tests.forms.test_version_diff_api import V1, V2, md, submission
from tests.live import LiveServer, free_port, multipart, post_submission

pytestmark = pytest.mark.committed
PASSWORD = "a long password"
SIZES = [(390, 844), (1280, 800)]


def _port() -> int:
    """A free port, from ``FIELDAPP_TEST_PORTS`` (``7300-7399``) when set."""
    wanted = os.environ.get("FIELDAPP_TEST_PORTS")
    if not wanted:
        return free_port()
    low, high = (int(p) for p in wanted.split("-", 1))
    for port in range(low, high + 1):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {wanted}")


def _get(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers={"User-Agent": "org.odk.collect.android/v2025.2.0"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def _upload(port: int, token: str, data: bytes, filename: str) -> int:
    body, content_type = multipart([("file", filename, data, "text/markdown")])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(
            "POST",
            "/api/v1/forms",
            body=body,
            headers={"Content-Type": content_type, "Authorization": f"Bearer {token}"},
        )
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def _other(text: str) -> str:
    """The same form under another form id (one to publish, one whose draft stays)."""
    return text.replace("| visit   | {v}     |", "| visit2  | {v}     |")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    files = tmp_path_factory.mktemp("forms")
    server = LiveServer(tmp_path_factory.mktemp("browser-forms"))
    server.port = _port()
    try:
        server.cli("db", "upgrade")
        for name, text in (("visit", V1), ("visit2", _other(V1))):
            path: Path = files / f"{name}.md"
            path.write_bytes(md(text, "1"))
            server.cli("forms", "publish", str(path))
        for username, role in (("maria", "designer"), ("aigerim", "field_worker")):
            region = ["--region", "north"] if role == "field_worker" else []
            server.cli("users", "create", username, "--role", role, *region, stdin=PASSWORD + "\n")
        device = server.cli("devices", "create", "--user", "aigerim").strip().rsplit("/", 1)[1]
        api_token = server.cli("users", "token", "maria").strip().split()[-1]
        server.start()
        base = f"/collect/key/{device}"
        assert _get(server.port, f"{base}/forms/visit.xml") == 200
        for xml in (
            submission("1", age="7", condition="partly"),
            submission("1", age="9", condition="partly"),
            submission("1", condition="good"),
        ):
            assert post_submission(server.port, f"{base}/submission", xml, []) == 201
        assert _upload(server.port, api_token, md(V2, "2"), "visit.md") == 201
        yield server
    finally:
        server.close()


def _login(browser: Any, live: LiveServer, size: tuple[int, int]) -> tuple[Any, Any, str]:
    context = browser.new_context(viewport={"width": size[0], "height": size[1]})
    page = context.new_page()
    base = f"http://127.0.0.1:{live.port}"
    page.goto(f"{base}/login")
    page.fill("input[name=username]", "maria")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return context, page, base


@pytest.mark.parametrize("size", SIZES, ids=["phone", "desk"])
def test_designer_reads_what_the_draft_changes(live: LiveServer, browser: Any, size: Any) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    context, page, base = _login(browser, live, size)
    page.goto(f"{base}/forms/visit")
    section = page.locator("section.draft-diff")
    text = section.inner_text()
    assert "Changes from version 1 (current) to 2 (draft)" in text
    assert "Choice `partly` of `condition` removed: 2 submissions used it." in text
    assert "Question `age` type changed from integer to text: 2 submissions have an answer." in (
        text
    )
    assert "Property `age` of `households` is no longer updated by this form." in text
    assert section.locator("tr.diff-added[data-path='/data/next_date']").count() == 1
    assert section.locator("tr.diff-removed[data-path='/data/notes']").count() == 1
    # the versions table: what each version received, which phones have it
    row = page.locator("tr[data-version='1']")
    assert row.locator(".version-submissions").inner_text() == "3"
    assert row.locator(".version-phones").inner_text() == "1"
    phones = page.locator("table.phones-table").inner_text()
    assert "aigerim" in phones
    assert "org.odk.collect.android" in phones
    no_horizontal_scroll(page)
    tag = f"{size[0]}x{size[1]}"
    page.screenshot(path=str(ARTIFACTS / f"form-draft-diff-{tag}.png"), full_page=True)
    context.close()


def test_designer_publishes_with_confirmation_and_a_note(
    live: LiveServer, browser: Any, tmp_path: Path
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    context, page, base = _login(browser, live, SIZES[0])
    # version 2 arrives through the upload form of the catalogue
    upload = tmp_path / "visit2.md"
    upload.write_bytes(md(_other(V2), "2"))
    page.goto(f"{base}/forms")
    page.set_input_files("input[name=file]", str(upload))
    page.locator("form[action='/forms/upload'] button[type=submit]").click()
    page.wait_for_load_state()
    assert page.url.endswith("/forms/visit2")
    page.get_by_role("link", name="Publish version 2…").click()
    page.wait_for_load_state()
    assert page.url.endswith("/forms/visit2/publish")
    assert "Publish version 2 of Home visit?" in page.locator("h1").inner_text()
    assert "Choice `partly` of `condition` removed" not in page.content()  # nothing used it
    assert page.locator(".form-diff tr.diff-removed[data-path='/data/notes']").count() == 1
    no_horizontal_scroll(page)
    page.screenshot(path=str(ARTIFACTS / "form-publish-confirm-390x844.png"), full_page=True)
    note = "Partly is gone <b>for good</b>; age as text."
    page.fill("textarea[name=note]", note)
    page.get_by_role("button", name="Publish version 2").click()
    page.wait_for_load_state()
    assert page.url.endswith("/forms/visit2")
    assert "Version 2 is published" in page.content()
    context.close()

    # afterwards, at desk size: the note stands with the version, as text
    context, page, base = _login(browser, live, SIZES[1])
    page.goto(f"{base}/forms/visit2")
    row = page.locator("tr[data-version='2']")
    assert row.locator(".version-note").inner_text() == note
    assert row.locator(".version-note b").count() == 0
    assert "current" in row.inner_text()
    no_horizontal_scroll(page)
    page.screenshot(path=str(ARTIFACTS / "form-published-note-1280x800.png"), full_page=True)
    # and the changes of any two versions stay readable
    row.get_by_role("link", name="changes").click()
    page.wait_for_load_state()
    assert "Changes from version 1 to 2" in page.locator(".form-diff").inner_text()
    context.close()
