"""Every bad upload through the API gets a clear 4xx with its own code, and stores nothing."""

from __future__ import annotations

import io
import textwrap
import zipfile

import pytest
from sqlalchemy import func, select

from fieldapp.db import db
from fieldapp.forms.models import Form
from tests.conftest import post_file

GOOD_MD = textwrap.dedent("""
    | survey   |         |        |        |
    |          | type    | name   | label  |
    |          | text    | family | Family |
    | settings |         |        |        |
    |          | form_id | version |       |
    |          | visit   | 1      |        |
""")


def md(body: str) -> bytes:
    return textwrap.dedent(body).encode()


def zip_bytes(entries: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def real_xlsx() -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    survey = wb.active
    survey.title = "survey"
    survey.append(["type", "name", "label"])
    survey.append(["text", "family", "Family"])
    settings = wb.create_sheet("settings")
    settings.append(["form_id", "version"])
    settings.append(["visit", "1"])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


OLE2_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")

BAD_UPLOADS = [
    # (id, filename, content, status, code)
    ("empty file", "visit.xlsx", b"", 400, "file.empty"),
    ("pdf extension", "visit.pdf", b"%PDF-1.4\n", 415, "file.unsupported_type"),
    ("no extension", "visit", GOOD_MD.encode(), 415, "file.unsupported_type"),
    ("xlsm with macros", "visit.xlsm", real_xlsx(), 415, "file.macro_workbook"),
    ("text renamed xlsx", "visit.xlsx", b"type,name,label\ntext,a,A\n", 400, "file.not_a_workbook"),
    (
        "pdf renamed xlsx",
        "visit.xlsx",
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n",
        400,
        "file.not_a_workbook",
    ),
    ("corrupt zip", "visit.xlsx", b"PK\x03\x04" + b"\x00garbage" * 20, 400, "file.corrupt"),
    ("truncated xlsx", "visit.xlsx", real_xlsx()[:900], 400, "file.corrupt"),
    (
        "docx renamed xlsx",
        "visit.xlsx",
        zip_bytes({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>"}),
        400,
        "file.not_a_workbook",
    ),
    (
        "zip bomb",
        "visit.xlsx",
        zip_bytes(
            {
                "[Content_Types].xml": b"<Types/>",
                "xl/workbook.xml": b"<workbook/>",
                "xl/worksheets/sheet1.xml": b"0" * (60 * 1024 * 1024),
            }
        ),
        413,
        "file.zip_bomb",
    ),
    (
        "csv not utf-8",
        "visit.csv",
        "survey,type,name,label\n,text,a,Семья\n".encode("cp1251"),
        400,
        "file.not_utf8",
    ),
    ("binary named md", "visit.md", bytes(range(256)) * 4, 400, "file.not_text"),
    (
        "missing survey sheet",
        "visit.md",
        md("""
        | choices |           |      |       |
        |         | list_name | name | label |
        |         | yn        | yes  | Yes   |
        """),
        422,
        "form.invalid",
    ),
    (
        "unknown question type",
        "visit.md",
        md("""
        | survey   |          |        |        |
        |          | type     | name   | label  |
        |          | txet     | family | Family |
        | settings |          |        |        |
        |          | form_id  | version |       |
        |          | visit    | 1      |        |
        """),
        422,
        "form.invalid",
    ),
    (
        "duplicate names",
        "visit.md",
        md("""
        | survey   |          |        |        |
        |          | type     | name   | label  |
        |          | text     | family | Family |
        |          | text     | family | Again  |
        | settings |          |        |        |
        |          | form_id  | version |       |
        |          | visit    | 1      |        |
        """),
        422,
        "form.invalid",
    ),
    (
        "undefined reference",
        "visit.md",
        md("""
        | survey   |          |        |        |          |
        |          | type     | name   | label  | relevant |
        |          | text     | family | Family | ${nope} = 'x' |
        | settings |          |        |        |          |
        |          | form_id  | version |       |          |
        |          | visit    | 1      |        |          |
        """),
        422,
        "form.invalid",
    ),
    (
        "missing choice list",
        "visit.md",
        md("""
        | survey   |               |        |        |
        |          | type          | name   | label  |
        |          | select_one yn | ok     | OK?    |
        | choices  |               |        |        |
        |          | list_name     | name   | label  |
        |          | other         | a      | A      |
        | settings |               |        |        |
        |          | form_id       | version |       |
        |          | visit         | 1      |        |
        """),
        422,
        "form.invalid",
    ),
    (
        "missing version",
        "visit.md",
        md("""
        | survey   |          |        |        |
        |          | type     | name   | label  |
        |          | text     | family | Family |
        | settings |          |        |        |
        |          | form_id  | form_title |    |
        |          | visit    | Visit  |        |
        """),
        422,
        "form.invalid",
    ),
    (
        "entity create without label",
        "visit.md",
        md("""
        | survey   |           |        |        |         |
        |          | type      | name   | label  | save_to |
        |          | text      | family | Family | fam     |
        | entities |           |        |        |         |
        |          | list_name |        |        |         |
        |          | households |       |        |         |
        | settings |           |        |        |         |
        |          | form_id   | version |       |         |
        |          | visit     | 1      |        |         |
        """),
        422,
        "form.invalid",
    ),
    (
        "bad expression",
        "visit.md",
        md("""
        | survey   |          |        |        |            |
        |          | type     | name   | label  | constraint |
        |          | integer  | age    | Age    | . > > 1 (  |
        | settings |          |        |        |            |
        |          | form_id  | version |       |            |
        |          | visit    | 1      |        |            |
        """),
        422,
        "form.invalid",
    ),
]


@pytest.fixture
def designer(api_token):
    return {"Authorization": f"Bearer {api_token('designer')}"}


def _forms_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Form)) or 0


@pytest.mark.parametrize(
    ("filename", "content", "status", "code"),
    [case[1:] for case in BAD_UPLOADS],
    ids=[c[0] for c in BAD_UPLOADS],
)
def test_bad_upload_gets_its_clear_error(client, designer, filename, content, status, code):
    response = post_file(client, "/api/v1/forms", content, filename, headers=designer)
    assert response.status_code == status, response.json
    error = response.json["error"]
    assert error["code"] == code
    assert len(error["message"]) > 20
    assert "Traceback" not in error["message"]
    if status == 422:
        assert error["details"], "form errors list their problems"
        for problem in error["details"]:
            assert problem["message"]
            assert "sheet" in problem and "row" in problem
    assert _forms_count() == 0


def test_at_least_fifteen_kinds_of_bad_upload_are_covered():
    assert len({case[0] for case in BAD_UPLOADS}) >= 15


def test_form_errors_name_sheet_row_and_column(client, designer):
    response = client.post(
        "/api/v1/forms",
        headers=designer,
        content_type="multipart/form-data",
        data={
            "file": (
                io.BytesIO(dict((c[0], c[2]) for c in BAD_UPLOADS)["undefined reference"]),
                "visit.md",
            )
        },
    )
    problem = response.json["error"]["details"][0]
    assert problem["sheet"] == "survey"
    assert problem["row"] == 2
    assert problem["column"] == "relevant"
    assert "nope" in problem["message"]


def test_a_200_megabyte_file_is_refused_with_413(client, designer):
    huge = b"0" * (200 * 1024 * 1024)
    response = post_file(client, "/api/v1/forms", huge, "visit.xlsx", headers=designer)
    assert response.status_code == 413
    assert response.json["error"]["code"] == "file.too_large"
    assert "MB" in response.json["error"]["message"]


def test_upload_without_a_file_part(client, designer):
    response = client.post(
        "/api/v1/forms", headers=designer, content_type="multipart/form-data", data={"other": "x"}
    )
    assert response.status_code == 400
    assert response.json["error"]["code"] == "file.missing"


def test_the_real_xlsx_used_above_is_accepted(client, designer):
    response = client.post(
        "/api/v1/forms",
        headers=designer,
        content_type="multipart/form-data",
        data={"file": (io.BytesIO(real_xlsx()), "visit.xlsx")},
    )
    assert response.status_code == 201, response.json


def test_bad_upload_in_the_browser_is_a_page_not_a_500(login_as):
    designer = login_as("designer")
    response = designer.post(
        "/forms/upload",
        {"file": (io.BytesIO(b""), "visit.xlsx")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert b"was not accepted" in response.data


# -- ODK Validate at publish -----------------------------------------------------------------

LOOP = md("""
    | survey   |           |      |       |             |
    |          | type      | name | label | calculation |
    |          | calculate | a    |       | ${b} + 1    |
    |          | calculate | b    |       | ${a} + 1    |
    | settings |           |      |       |             |
    |          | form_id   | version |    |             |
    |          | loop      | 1    |       |             |
""")
UNKNOWN_FUNCTION = md("""
    | survey   |           |      |       |             |
    |          | type      | name | label | calculation |
    |          | integer   | n    | N     |             |
    |          | calculate | c    |       | frobnicate(${n}) |
    | settings |           |      |       |             |
    |          | form_id   | version |    |             |
    |          | unknownfn | 1    |       |             |
""")


@pytest.mark.java
@pytest.mark.parametrize(
    ("content", "form_id", "says"),
    [(LOOP, "loop", "loop"), (UNKNOWN_FUNCTION, "unknownfn", "frobnicate")],
)
def test_odk_validate_blocks_publishing_forms_that_break_on_phones(
    client, designer, content, form_id, says
):
    created = client.post(
        "/api/v1/forms",
        headers=designer,
        content_type="multipart/form-data",
        data={"file": (io.BytesIO(content), f"{form_id}.md")},
    )
    assert created.status_code == 201, "pyxform itself accepts these forms"
    published = client.post(f"/api/v1/forms/{form_id}/publish", headers=designer)
    assert published.status_code == 422
    error = published.json["error"]
    assert error["code"] == "form.validate_failed"
    assert says in error["message"].lower() or says in str(error["details"]).lower()
    detail = client.get(f"/api/v1/forms/{form_id}", headers=designer).json
    assert detail["state"] == "draft"
    assert detail["current_version"] is None
