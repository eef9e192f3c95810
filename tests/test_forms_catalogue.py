"""The form catalogue through HTTP: upload, errors, drafts, publish, versions, states, files."""

from __future__ import annotations

import hashlib
import io
import re
import textwrap
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from fieldapp.audit.models import AuditEvent
from fieldapp.db import db
from fieldapp.forms import services
from fieldapp.forms.models import FormVersion


def xlsform_md(version: str = "2026010101", form_id: str = "visit", extra_rows: str = "") -> bytes:
    """A small XLSForm as a markdown table (pyxform's own test format)."""
    md = f"""
    | survey   |         |          |                     |                     |
    |          | type    | name     | label::English (en) | label::Русский (ru) |
    |          | text    | family   | Family code         | Код семьи           |
    |          | integer | children | Children            | Дети                |
    {extra_rows}
    | settings |         |          |                     |                     |
    |          | form_id | version  | form_title          | default_language    |
    |          | {form_id} | {version} | Visit             | English (en)        |
    """
    return textwrap.dedent(md).encode()


def upload(client, data: bytes, filename: str = "visit.md", headers=None):
    return client.post(
        "/api/v1/forms",
        data={"file": (io.BytesIO(data), filename)},
        headers=headers,
        content_type="multipart/form-data",
    )


@pytest.fixture
def designer(client, api_token):
    token = api_token("designer")
    return {"Authorization": f"Bearer {token}"}


# -- upload and publish ----------------------------------------------------------------------


def test_upload_makes_a_draft_with_its_xform_hash_languages_and_fields(client, designer):
    response = upload(client, xlsform_md(), headers=designer)
    assert response.status_code == 201, response.json
    assert response.json == {
        "form_id": "visit",
        "version": "2026010101",
        "state": "draft",
        "form_state": "draft",
        "warnings": [],
        "missing_attachments": [],
    }
    form = services.get_form("visit")
    draft = form.draft
    assert draft is not None
    assert draft.xform.startswith("<?xml")
    assert len(draft.xform_md5) == 32
    assert draft.languages == ["English (en)", "Русский (ru)"]
    names = [field["name"] for field in draft.fields]
    assert names[:2] == ["family", "children"]
    assert draft.source_type == ".md"


def test_publish_opens_the_form_and_keeps_it_current(client, designer):
    upload(client, xlsform_md(), headers=designer)
    response = client.post("/api/v1/forms/visit/publish", headers=designer)
    assert response.status_code == 200, response.json
    assert response.json["state"] == "open"
    listing = client.get("/api/v1/forms", headers=designer).json["items"]
    visit = next(f for f in listing if f["form_id"] == "visit")
    assert visit["current_version"] == "2026010101"
    assert visit["draft_version"] is None
    assert [v["status"] for v in visit["versions"]] == ["published"]


def test_new_upload_of_a_published_form_is_a_draft_and_old_versions_stay(client, designer):
    upload(client, xlsform_md("1"), headers=designer)
    client.post("/api/v1/forms/visit/publish", headers=designer)
    second = upload(client, xlsform_md("2"), headers=designer)
    assert second.status_code == 201
    assert second.json["state"] == "draft"
    assert second.json["form_state"] == "open"
    detail = client.get("/api/v1/forms/visit", headers=designer).json
    assert detail["current_version"] == "1"
    assert detail["draft_version"] == "2"
    client.post("/api/v1/forms/visit/publish", headers=designer)
    detail = client.get("/api/v1/forms/visit", headers=designer).json
    assert detail["current_version"] == "2"
    assert {v["version"]: v["status"] for v in detail["versions"]} == {
        "1": "published",
        "2": "published",
    }


def test_reuploading_a_published_version_gets_a_generated_version_and_a_warning(
    client, designer, monkeypatch
):
    # issue 11: not a refusal any more; the published version stays as phones hold it
    monkeypatch.setattr(services, "utcnow", lambda: datetime(2026, 12, 3, 14, 25, tzinfo=UTC))
    upload(client, xlsform_md("7"), headers=designer)
    client.post("/api/v1/forms/visit/publish", headers=designer)
    again = upload(
        client,
        xlsform_md("7", extra_rows="|  | text | notes | Notes | Заметки |"),
        headers=designer,
    )
    assert again.status_code == 201, again.json
    assert again.json["version"] == "202612031425"
    (warning,) = again.json["warnings"]
    assert warning["code"] == "form.version_exists"
    assert "note" not in warning  # the designer's own version was overridden: confirm it
    assert (warning["sheet"], warning["row"], warning["column"]) == ("settings", 2, "version")
    assert "Version '7' was already published" in warning["message"]
    assert "202612031425" in warning["message"] and "to 8" in warning["message"]
    refused = client.post("/api/v1/forms/visit/publish", headers=designer)
    assert refused.json["error"]["code"] == "form.warnings_unacknowledged"
    published = client.post(
        "/api/v1/forms/visit/publish", headers=designer, json={"acknowledge_warnings": True}
    )
    assert published.status_code == 200, published.json
    detail = client.get("/api/v1/forms/visit", headers=designer).json
    assert {v["version"]: v["status"] for v in detail["versions"]} == {
        "7": "published",
        "202612031425": "published",
    }
    xform = client.get("/api/v1/forms/visit/versions/7.xml", headers=designer).data
    assert b"notes" not in xform  # version 7 is unchanged


def test_reuploading_a_draft_with_the_same_version_replaces_the_draft(client, designer):
    upload(client, xlsform_md("3"), headers=designer)
    fixed = upload(
        client,
        xlsform_md("3", extra_rows="|  | text | notes | Notes | Заметки |"),
        headers=designer,
    )
    assert fixed.status_code == 201
    versions = db.session.scalars(select(FormVersion)).all()
    assert [v.version for v in versions] == ["3"]
    assert any(f["name"] == "notes" for f in versions[0].fields)


def test_publish_without_draft_is_a_conflict(client, designer):
    upload(client, xlsform_md(), headers=designer)
    client.post("/api/v1/forms/visit/publish", headers=designer)
    again = client.post("/api/v1/forms/visit/publish", headers=designer)
    assert again.status_code == 409
    assert again.json["error"]["code"] == "form.no_draft"


def test_publishing_is_audited(client, designer):
    upload(client, xlsform_md(), headers=designer)
    client.post("/api/v1/forms/visit/publish", headers=designer)
    actions = db.session.scalars(
        select(AuditEvent.action).where(AuditEvent.subject_id == "visit")
    ).all()
    assert "form.draft_uploaded" in actions
    assert "form.published" in actions


# -- warnings --------------------------------------------------------------------------------

# a hint in Russian only: pyxform warns that English lacks the hint column
WARNING_FORM = textwrap.dedent("""
    | survey   |         |        |                     |                    |
    |          | type    | name   | label::English (en) | hint::Русский (ru) |
    |          | text    | family | Family code         | Код из списка      |
    | settings |         |        |                     |                    |
    |          | form_id | version |                    |                    |
    |          | visit   | 5      |                     |                    |
    """).encode()


def test_warnings_must_be_acknowledged_before_publishing(client, designer):
    created = upload(client, WARNING_FORM, headers=designer)
    assert created.status_code == 201
    assert created.json["warnings"], "expected a missing-translation warning"
    refused = client.post("/api/v1/forms/visit/publish", headers=designer)
    assert refused.status_code == 409
    assert refused.json["error"]["code"] == "form.warnings_unacknowledged"
    assert refused.json["error"]["details"] == created.json["warnings"]
    ok = client.post(
        "/api/v1/forms/visit/publish", headers=designer, json={"acknowledge_warnings": True}
    )
    assert ok.status_code == 200


# -- states ----------------------------------------------------------------------------------


def test_states_move_between_open_closing_and_closed(client, designer):
    upload(client, xlsform_md(), headers=designer)
    never = client.post("/api/v1/forms/visit/state", headers=designer, json={"state": "closed"})
    assert never.status_code == 409
    client.post("/api/v1/forms/visit/publish", headers=designer)
    for state in ("closing", "closed", "open"):
        response = client.post("/api/v1/forms/visit/state", headers=designer, json={"state": state})
        assert response.status_code == 200
        assert response.json["state"] == state
    bad = client.post("/api/v1/forms/visit/state", headers=designer, json={"state": "paused"})
    assert bad.status_code == 422


def test_discarding_the_only_draft_removes_the_form(client, designer):
    upload(client, xlsform_md(), headers=designer)
    assert client.delete("/api/v1/forms/visit/draft", headers=designer).status_code == 204
    assert client.get("/api/v1/forms/visit", headers=designer).status_code == 404


# -- attachments -----------------------------------------------------------------------------

MEDIA_ROWS = "|  | select_one_from_file villages.csv | village | Village | Село |"


def test_missing_files_are_listed_and_can_be_attached(client, designer):
    created = upload(client, xlsform_md(extra_rows=MEDIA_ROWS), headers=designer)
    assert created.status_code == 201, created.json
    assert created.json["missing_attachments"] == ["villages.csv"]
    csv_bytes = "name,label\nv1,Village one\nv2,Село два\n".encode()
    attached = client.post(
        "/api/v1/forms/visit/attachments",
        headers=designer,
        data={"file": (io.BytesIO(csv_bytes), "villages.csv")},
        content_type="multipart/form-data",
    )
    assert attached.status_code == 201, attached.json
    files = {a["name"]: a for a in attached.json["attachments"]}
    assert files["villages.csv"]["uploaded"] is True
    assert files["villages.csv"]["missing"] is False


def test_unexpected_or_bad_attachments_are_refused(client, designer):
    upload(client, xlsform_md(extra_rows=MEDIA_ROWS), headers=designer)

    def attach(name, data):
        return client.post(
            "/api/v1/forms/visit/attachments",
            headers=designer,
            data={"file": (io.BytesIO(data), name)},
            content_type="multipart/form-data",
        )

    unexpected = attach("other.csv", b"name,label\n")
    assert unexpected.status_code == 422
    assert "villages.csv" in unexpected.json["error"]["message"]
    no_header = attach("villages.csv", b"code,title\nv1,One\n")
    assert no_header.status_code == 422
    assert "column(s) label, name" in no_header.json["error"]["message"]
    latin1 = attach("villages.csv", "name,label\nv1,Séla\n".encode("latin-1"))
    assert latin1.status_code == 422
    assert "UTF-8" in latin1.json["error"]["message"]


def test_attachments_carry_over_to_the_next_version(client, designer):
    upload(client, xlsform_md("1", extra_rows=MEDIA_ROWS), headers=designer)
    client.post(
        "/api/v1/forms/visit/attachments",
        headers=designer,
        data={"file": (io.BytesIO(b"name,label\nv1,One\n"), "villages.csv")},
        content_type="multipart/form-data",
    )
    client.post("/api/v1/forms/visit/publish", headers=designer)
    second = upload(client, xlsform_md("2", extra_rows=MEDIA_ROWS), headers=designer)
    assert second.json["missing_attachments"] == []


def test_case_list_csv_is_not_missing_once_a_form_declares_that_list(client, designer):
    registration = textwrap.dedent("""
    | survey   |          |        |        |           |
    |          | type     | name   | label  | save_to   |
    |          | text     | hh     | Family | hh_name   |
    | entities |          |        |        |           |
    |          | list_name | label |        |           |
    |          | households | ${hh} |       |           |
    | settings |          |        |        |           |
    |          | form_id  | version |       |           |
    |          | reg      | 1      |        |           |
    """).encode()
    followup = textwrap.dedent("""
    | survey   |                                     |           |           |
    |          | type                                | name      | label     |
    |          | select_one_from_file households.csv | household | Household |
    | settings |                                     |           |           |
    |          | form_id                             | version   |           |
    |          | visit2                              | 1         |           |
    """).encode()
    assert upload(client, registration, "reg.md", headers=designer).status_code == 201
    created = upload(client, followup, "visit2.md", headers=designer)
    assert created.status_code == 201, created.json
    assert created.json["missing_attachments"] == []
    detail = client.get("/api/v1/forms/visit2", headers=designer).json
    assert detail["versions"][0]["attachments"][0]["case_list"] == "households"


# -- roles -----------------------------------------------------------------------------------


def test_coordinators_and_workers_cannot_upload(client, api_token):
    for role in ("coordinator", "field_worker"):
        headers = {"Authorization": f"Bearer {api_token(role)}"}
        assert upload(client, xlsform_md(), headers=headers).status_code == 404, role


# -- the designer in the browser -------------------------------------------------------------


def test_designer_uploads_reads_errors_fixes_and_publishes_in_the_browser(login_as):
    designer = login_as("designer")
    broken = xlsform_md(
        extra_rows="|  | integer | age | Age | Возраст |\n    |  | text | age | Age again | Снова |"
    )
    page = designer.post(
        "/forms/upload",
        {"file": (io.BytesIO(broken), "visit.md")},
        content_type="multipart/form-data",
    )
    assert page.status_code == 422
    assert b"was not accepted" in page.data
    assert b'<td data-label="Sheet">survey</td>' in page.data
    fixed = designer.post(
        "/forms/upload",
        {"file": (io.BytesIO(xlsform_md()), "visit.md")},
        content_type="multipart/form-data",
    )
    assert fixed.status_code == 302
    detail = designer.get("/forms/visit")
    assert b"Publish version 2026010101" in detail.data
    published = designer.post("/forms/visit/publish", {"confirm": "1"}, follow_redirects=True)
    assert published.status_code == 200
    assert b"is published" in published.data
    catalogue = designer.get("/forms")
    assert b"visit" in catalogue.data
    assert b"badge-open" in catalogue.data


def test_browser_publish_needs_the_warning_checkbox(login_as):
    designer = login_as("designer")
    designer.post(
        "/forms/upload",
        {"file": (io.BytesIO(WARNING_FORM), "visit.md")},
        content_type="multipart/form-data",
    )
    page = designer.get("/forms/visit")
    assert b'href="/forms/visit/publish"' in page.data
    # publishing asks first: the confirmation page has the checkbox
    confirm = designer.get("/forms/visit/publish")
    assert b'name="acknowledge_warnings"' in confirm.data
    refused = designer.post("/forms/visit/publish", {"confirm": "1"})
    assert refused.status_code == 409
    assert b'name="acknowledge_warnings"' in refused.data
    ok = designer.post("/forms/visit/publish", {"acknowledge_warnings": "on", "confirm": "1"})
    assert ok.status_code == 302


def test_labels_from_the_xlsform_are_escaped_in_pages(login_as):
    designer = login_as("designer")
    evil = xlsform_md(form_id="evil").replace(b"| Visit ", b"| <script>alert(1)</script> ")
    response = designer.post(
        "/forms/upload", {"file": (io.BytesIO(evil), "evil.md")}, content_type="multipart/form-data"
    )
    assert response.status_code == 302, response.data
    page = designer.get("/forms/evil")
    assert b"<script>alert(1)</script>" not in page.data
    assert b"&lt;script&gt;" in page.data


# -- issue 11: forms fieldapp used to refuse ---------------------------------------------------

NO_VERSION = textwrap.dedent("""
    | survey   |         |          |        |                              |
    |          | type    | name     | label  | relevant                     |
    |          | text    | family   | Family |                              |
    |          | integer | children | Kids   | ${family} != \u2018none\u2019         |
    | settings |         |          |        |                              |
    |          | form_id | form_title |      |                              |
    |          | {form_id} | Spec   |        |                              |
    """)


def instance_root(xform: bytes) -> str:
    match = re.search(rb"<instance>\s*(<data [^>]*>)", xform)
    assert match is not None, xform[:500]
    return match.group(1).decode()


def test_a_form_without_version_gets_a_rising_version_and_a_note_and_publishes(
    client, designer, monkeypatch
):
    now = datetime(2026, 12, 3, 14, 25, tzinfo=UTC)
    monkeypatch.setattr(services, "utcnow", lambda: now)
    data = NO_VERSION.replace("{form_id}", "visit").encode()
    first = upload(client, data, headers=designer)
    assert first.status_code == 201, first.json
    assert first.json["version"] == "202612031425"
    (note,) = first.json["warnings"]
    assert note["code"] == "xlsform.version_generated" and note["note"] is True
    assert "202612031425" in note["message"]
    # a note does not hold publishing up
    published = client.post("/api/v1/forms/visit/publish", headers=designer)
    assert published.status_code == 200, published.json
    assert published.json["version"] == "202612031425"

    # the XForm phones get carries the version, and its hash is of those bytes
    xform = client.get("/api/v1/forms/visit/versions/202612031425.xml", headers=designer).data
    assert instance_root(xform) == '<data id="visit" version="202612031425">'
    summary = client.get("/api/v1/forms/visit", headers=designer).json["versions"][0]
    assert summary["hash"] == "md5:" + hashlib.md5(xform).hexdigest()

    # two more uploads in the same minute still rise, draft replaced or not
    second = upload(client, data, headers=designer)
    third = upload(client, data, headers=designer)
    assert (second.json["version"], third.json["version"]) == ("202612031426", "202612031427")
    assert client.post("/api/v1/forms/visit/publish", headers=designer).status_code == 200
    detail = client.get("/api/v1/forms/visit", headers=designer).json
    assert detail["current_version"] == "202612031427"
    # nor does a discarded draft's version come back (a phone may have tried it)
    fourth = upload(client, data, headers=designer)
    assert client.delete("/api/v1/forms/visit/draft", headers=designer).status_code == 204
    assert upload(client, data, headers=designer).json["version"] == str(
        int(fourth.json["version"]) + 1
    )
    # a later upload with the designer's own version keeps it as written
    own = upload(client, xlsform_md("20261203a"), headers=designer)
    assert own.json["version"] == "20261203a" and own.json["warnings"] == []


def test_a_discarded_form_never_published_gets_a_higher_version_when_uploaded_again(
    client, designer, monkeypatch
):
    monkeypatch.setattr(services, "utcnow", lambda: datetime(2026, 12, 3, 14, 25, tzinfo=UTC))
    data = NO_VERSION.replace("{form_id}", "visit").encode()
    assert upload(client, data, headers=designer).json["version"] == "202612031425"
    assert client.delete("/api/v1/forms/visit/draft", headers=designer).status_code == 204
    assert services.find_form("visit") is None
    assert upload(client, data, headers=designer).json["version"] == "202612031426"


def test_the_browser_shows_a_version_note_and_publishes_without_the_checkbox(login_as):
    browser = login_as("designer")
    data = NO_VERSION.replace("{form_id}", "visit").encode()
    page = browser.post(
        "/forms/upload",
        data={"file": (io.BytesIO(data), "visit.md")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Notes" in html and "the upload time" in html
    assert 'name="acknowledge_warnings"' not in html
    published = browser.post("/forms/visit/publish", data={"confirm": "1"}, follow_redirects=True)
    assert "is published" in published.get_data(as_text=True)


def test_typographic_quotes_are_accepted_through_the_api(client, designer):
    response = upload(client, NO_VERSION.replace("{form_id}", "visit").encode(), headers=designer)
    assert response.status_code == 201, response.json
    xform = services.get_form("visit").draft.xform
    assert "relevant=\" /data/family  != 'none'\"" in xform


def test_a_form_id_with_a_space_is_kept(client, designer):
    response = upload(
        client, NO_VERSION.replace("{form_id}", "Spec test").encode(), headers=designer
    )
    assert response.status_code == 201, response.json
    assert response.json["form_id"] == "Spec test"
    assert [w["code"] for w in response.json["warnings"]] == ["xlsform.version_generated"]
    assert client.post("/api/v1/forms/Spec%20test/publish", headers=designer).status_code == 200
    assert client.get("/api/v1/forms/Spec%20test", headers=designer).json["state"] == "open"


def test_a_form_id_with_a_slash_is_derived_with_a_note(client, designer):
    response = upload(client, NO_VERSION.replace("{form_id}", "visit/2").encode(), headers=designer)
    assert response.status_code == 201, response.json
    assert response.json["form_id"] == "visit_2"
    codes = [w["code"] for w in response.json["warnings"]]
    assert codes == ["xlsform.version_generated", "xlsform.form_id_changed"]
    assert all(w.get("note") for w in response.json["warnings"])
    assert client.post("/api/v1/forms/visit_2/publish", headers=designer).status_code == 200


@pytest.mark.java
def test_collect_fills_and_sends_a_form_with_generated_version_and_spaced_id(
    app, client, designer, make_user, tmp_path
):
    from tests.conftest import need
    from tests.javarosa import fill, javarosa_available
    from tests.openrosa.helpers import Collect, device_for

    need(javarosa_available(), "Java, javac and pyxform's ODK_Validate.jar are needed")
    data = NO_VERSION.replace("{form_id}", "Spec test").encode()
    version = upload(client, data, headers=designer).json["version"]
    assert client.post("/api/v1/forms/Spec%20test/publish", headers=designer).status_code == 200
    worker = make_user("field_worker", username="jr", regions=["north"])
    db.session.commit()
    phone = Collect(app, f"/collect/key/{device_for(worker)}")
    listing = phone.get("/formList").data.decode()
    assert "<formID>Spec test</formID>" in listing
    assert f"<version>{version}</version>" in listing
    url = re.search(r"<downloadUrl>([^<]+)</downloadUrl>", listing).group(1)
    form_xml = phone.get(url.replace("&amp;", "&"), openrosa=False).data.decode()
    assert f'id="Spec test" version="{version}"' in form_xml
    # the relevance written with typographic quotes works: children only when family != 'none'
    with_children = fill(
        form_xml, {}, {"/data/family": "F1", "/data/children": "2"}, workdir=tmp_path
    )
    without = fill(form_xml, {}, {"/data/family": "none"}, workdir=tmp_path)
    assert b"<children>2</children>" in with_children
    assert b"<children" not in without
    for xml in (with_children, without):
        assert f'id="Spec test" version="{version}"'.encode() in xml
        response = phone.submit(xml)
        assert response.status_code == 201, response.data
