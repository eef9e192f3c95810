"""The /fill pages and their OpenRosa copy under /fill/collect, through Flask's test client.

The browser side (Web Forms, drafts, the offline outbox) is in tests/browser/test_web_forms.py.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask

from fieldapp.db import db
from fieldapp.submissions.models import Submission
from tests.cases.support import (
    SEED1_INSTANCE,
    Programme,
    home_visit,
    instance_of,
    registration,
    set_element,
)
from tests.conftest import Browser

OPENROSA = {"X-OpenRosa-Version": "1.0"}


def _login(app: Flask, username: str) -> Browser:
    browser = Browser(app.test_client())
    assert browser.login(username).status_code == 302
    return browser


def _csrf(browser: Browser) -> str:
    page = browser.get("/fill")
    match = re.search(rb'data-csrf="([^"]+)"', page.data)
    assert match is not None
    return match.group(1).decode()


def _post(browser: Browser, xml: bytes, files: list[tuple[str, bytes]], token: str | None) -> Any:
    data: dict[str, Any] = {"xml_submission_file": (_io(xml), "submission.xml", "text/xml")}
    for name, content in files:
        data[name] = (_io(content), name, "application/octet-stream")
    headers = dict(OPENROSA)
    if token is not None:
        headers["X-CSRF-Token"] = token
    return browser.client.post(
        "/fill/collect/submission", data=data, headers=headers, content_type="multipart/form-data"
    )


def _io(data: bytes) -> Any:
    import io

    return io.BytesIO(data)


def test_the_index_lists_open_forms_for_field_workers_only(app: Flask, programme: Programme):
    worker = _login(app, "worker")
    page = worker.get("/fill")
    assert page.status_code == 200
    html = page.data.decode()
    assert 'href="/fill/family_registration"' in html
    assert 'href="/fill/home_visit"' in html
    assert "Sent back to correct" not in html
    # the page script is an external module; no inline script anywhere
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None
    csp = page.headers["Content-Security-Policy"]
    assert "'wasm-unsafe-eval'" in csp
    assert "'unsafe-eval'" not in csp.replace("'wasm-unsafe-eval'", "")
    assert worker.get("/fill/home_visit").status_code == 200
    assert worker.get("/fill/no_such_form").status_code == 404

    coordinator = _login(app, "coord")
    assert coordinator.get("/fill").status_code == 404
    assert coordinator.get("/fill/home_visit").status_code == 404
    # the rest of the site keeps the strict policy
    assert "wasm-unsafe-eval" not in coordinator.get("/review").headers["Content-Security-Policy"]


def test_fill_collect_goes_by_the_session_and_never_asks_for_a_password(
    app: Flask, programme: Programme
):
    anonymous = app.test_client()
    response = anonymous.get("/fill/collect/formList", headers=OPENROSA)
    assert response.status_code == 401
    assert "WWW-Authenticate" not in response.headers
    assert b"<OpenRosaResponse" in response.data
    # the password address still challenges (Collect asks the worker)
    assert "WWW-Authenticate" in anonymous.get("/collect/formList", headers=OPENROSA).headers

    worker = _login(app, "worker")
    listing = worker.client.get("/fill/collect/formList", headers=OPENROSA)
    assert listing.status_code == 200
    # URLs handed out keep the /fill/collect prefix
    assert b"/fill/collect/forms/home_visit.xml" in listing.data
    assert worker.client.get("/fill/collect/forms/home_visit.xml").status_code == 200
    case_list = worker.client.get("/fill/collect/forms/home_visit/attachments/households.csv")
    assert case_list.status_code == 200
    assert case_list.data.startswith(b"name,label")


def test_a_web_submission_needs_the_csrf_token_and_is_stored_once(app: Flask, programme: Programme):
    worker = _login(app, "worker")
    xml, files = registration("seed1")
    refused = _post(worker, xml, files, token=None)
    assert refused.status_code == 400
    assert db.session.query(Submission).count() == 0

    token = _csrf(worker)
    assert _post(worker, xml, files, token).status_code == 201
    # the outbox sends again after a lost answer: accepted, not stored twice
    assert _post(worker, xml, files, token).status_code == 201
    assert db.session.query(Submission).filter_by(instance_id=SEED1_INSTANCE).count() == 1
    stored = programme["coord"].api.submission(SEED1_INSTANCE)
    assert stored["submitted_by"] == "worker"


def _send_back(programme: Programme, instance_id: str, note: str) -> None:
    programme["coord"].api.review(instance_id, "has_issues", note=note)


def test_a_sent_back_submission_is_listed_and_corrected_as_an_edit(
    app: Flask, programme: Programme
):
    worker_phone = programme["worker"]
    xml, files = registration("seed1")
    worker_phone.submit(xml, files)
    visit = home_visit("3bc05d68-abbb-4c59-9bd1-cb4ddb5f1f94", 1)
    visit_id = worker_phone.submit(visit)
    _send_back(programme, visit_id, "The <b>date</b> is wrong & the notes are empty")

    worker = _login(app, "worker")
    html = worker.get("/fill").data.decode()
    assert "Sent back to correct" in html
    # the note is escaped
    assert "The &lt;b&gt;date&lt;/b&gt; is wrong &amp; the notes are empty" in html
    edit_url = f"/fill/home_visit?edit={visit_id}"
    assert f'href="/fill/home_visit?edit={visit_id}"' in html
    page = worker.get(edit_url)
    assert page.status_code == 200
    assert f'data-edit-current="{visit_id}"' in page.data.decode()
    loaded = worker.get(f"/fill/home_visit/returned/{visit_id}.xml")
    assert loaded.status_code == 200
    assert instance_of(loaded.data) == visit_id

    # the correction: a new instanceID, deprecatedID = the version the server holds
    corrected = set_element(loaded.data, "worker_notes", "Visited; the family is settled.")
    new_id = "uuid:11111111-2222-4333-8444-555555555555"
    corrected = corrected.replace(
        f"<instanceID>{visit_id}</instanceID>".encode(),
        f"<instanceID>{new_id}</instanceID><deprecatedID>{visit_id}</deprecatedID>".encode(),
    )
    assert _post(worker, corrected, [], _csrf(worker)).status_code == 201
    stored = programme["coord"].api.submission(visit_id)
    assert stored["review_state"] == "edited"
    assert stored["data"]["closing"]["worker_notes"] == "Visited; the family is settled."
    # no longer sent back: the correction page and its XML are gone for the worker
    assert worker.get(edit_url).status_code == 404
    assert worker.get(f"/fill/home_visit/returned/{visit_id}.xml").status_code == 404
    assert "Sent back to correct" not in worker.get("/fill").data.decode()


def test_only_the_workers_own_sent_back_submissions_can_be_loaded(app: Flask, programme: Programme):
    programme.person("other", "field_worker", ["north"])
    programme.person("southern", "field_worker", ["south"])
    xml, files = registration("seed1")
    programme["worker"].submit(xml, files)
    url = f"/fill/family_registration/returned/{SEED1_INSTANCE}.xml"

    worker = _login(app, "worker")
    # received, not sent back: nothing to correct
    assert worker.get(f"/fill/family_registration?edit={SEED1_INSTANCE}").status_code == 404
    assert worker.get(url).status_code == 404

    _send_back(programme, SEED1_INSTANCE, "Photo missing")
    assert worker.get(url).status_code == 200
    name = files[0][0]
    photo = worker.get(f"/fill/family_registration/returned/{SEED1_INSTANCE}/files/{name}")
    assert photo.status_code == 200
    assert photo.data == files[0][1]
    # the wrong form in the address
    assert worker.get(f"/fill/home_visit/returned/{SEED1_INSTANCE}.xml").status_code == 404
    for other in ("other", "southern", "coord"):
        browser = _login(app, other)
        assert browser.get(url).status_code == 404, other
        assert browser.get(f"/fill/family_registration?edit={SEED1_INSTANCE}").status_code == 404
        assert "Photo missing" not in browser.get("/fill").data.decode()


def test_the_service_worker_covers_all_of_fill(app: Flask):
    response = app.test_client().get("/fill/sw.js")
    assert response.status_code == 200
    assert response.headers["Service-Worker-Allowed"] == "/fill"
    assert response.mimetype == "text/javascript"
    assert b"addEventListener('fetch'" in response.data
