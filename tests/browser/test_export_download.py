"""An administrator downloads a CSV zip and an Excel export from the export page in a real
browser (Playwright driving Debian's chromium) against a real gunicorn, reached from the
form page's Export button."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator

import openpyxl
import pytest

from tests.browser.conftest import ARTIFACTS, no_horizontal_scroll
from tests.cases.support import SEED1_INSTANCE
from tests.exports.live_support import PASSWORD, family_registration_server
from tests.live import LiveServer

pytestmark = pytest.mark.committed


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server, _ = family_registration_server(tmp_path_factory.mktemp("export-browser"))
    try:
        yield server
    finally:
        server.close()


def test_admin_downloads_exports_from_the_page(live, browser, tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    base = f"http://127.0.0.1:{live.port}"
    page.goto(f"{base}/login")
    page.fill("input[name=username]", "boss")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{base}/forms/family_registration")
    page.get_by_role("link", name="Export submissions").click()
    page.wait_for_load_state()
    assert page.locator("[data-visible]").inner_text() == "1"
    page.screenshot(path=str(ARTIFACTS / "export-page-1280x800.png"), full_page=True)

    with page.expect_download() as csv_download:
        page.click("#download-csv")
    target = tmp_path / "export.csv.zip"
    csv_download.value.save_as(target)
    assert csv_download.value.suggested_filename == "family_registration.csv.zip"
    with zipfile.ZipFile(target) as archive:
        top = archive.read("family_registration.csv").decode("utf-8-sig")
        assert SEED1_INSTANCE in top
        assert any(name.startswith("family_registration-") for name in archive.namelist())

    with page.expect_download() as xlsx_download:
        page.click("#download-xlsx")
    book_path = tmp_path / "export.xlsx"
    xlsx_download.value.save_as(book_path)
    book = openpyxl.load_workbook(io.BytesIO(book_path.read_bytes()), read_only=True)
    rows = list(book[book.sheetnames[0]].iter_rows(values_only=True))
    assert SEED1_INSTANCE in rows[1]
    context.close()


def test_coordinator_prepares_an_export_watches_it_and_downloads_it(live, browser, tmp_path):
    """The long-export path: "Prepare in the background", the job's page (which refreshes
    itself until the file is ready), then the download; on a phone-sized screen too."""
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(accept_downloads=True, viewport={"width": 390, "height": 844})
    page = context.new_page()
    base = f"http://127.0.0.1:{live.port}"
    page.goto(f"{base}/login")
    page.fill("input[name=username]", "boss")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{base}/exports/forms/family_registration")
    page.select_option("select[name=headers]", "labels")
    page.click("#prepare")
    page.wait_for_load_state("load")
    assert "/exports/forms/family_registration/prepare" in page.url
    assert "labels" in page.locator(".facts").inner_text()
    no_horizontal_scroll(page)
    page.click("#prepare-xlsx")
    page.wait_for_url("**/exports/jobs/*")
    # the page reloads itself every 2 s while the server writes the file
    page.wait_for_selector("#job-download", timeout=60_000)
    assert page.locator("#job-state").get_attribute("data-state") == "ready"
    assert "ready: 1 submission" in page.locator("#job-state").inner_text()
    no_horizontal_scroll(page)
    page.screenshot(path=str(ARTIFACTS / "export-job-390x844.png"), full_page=True)
    with page.expect_download() as download:
        page.click("#job-download")
    target = tmp_path / "prepared.xlsx"
    download.value.save_as(target)
    assert download.value.suggested_filename.startswith("family_registration-")
    book = openpyxl.load_workbook(io.BytesIO(target.read_bytes()), read_only=True)
    rows = list(book[book.sheetnames[0]].iter_rows(values_only=True))
    assert SEED1_INSTANCE in rows[1]
    page.goto(f"{base}/exports/jobs")
    assert page.locator("#jobs [data-state=ready]").count() >= 1
    page.goto(download.value.url.rsplit("/download", 1)[0])  # the job's page
    page.click("#job-delete")
    page.wait_for_url("**/exports/jobs")
    assert page.locator("#jobs [data-state=deleted]").count() == 1
    context.close()
