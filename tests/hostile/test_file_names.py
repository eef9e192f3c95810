"""Downloads of files named in any script (defect 4): every ``Content-Disposition`` header is
ASCII, carries the real name as RFC 5987 ``filename*`` and a safe ASCII ``filename`` fallback.

On main, an attachment named "photo.jpg" in Cyrillic or a form version "version1" in Cyrillic went
into the header as is, and gunicorn (which writes headers as Latin-1) answered 500; the live-server test shows that.
"""

from __future__ import annotations

import http.client
import re
import textwrap
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, unquote

import pytest
from flask import Flask

from fieldapp.auth import services as auth
from fieldapp.db import db
from fieldapp.web.files import content_disposition
from tests.conftest import Browser
from tests.live import LiveServer, multipart
from tests.openrosa.helpers import PNG, Collect, device_for, instance_xml, publish_md

PHOTO_FORM = """
| survey   |         |       |       |
|          | type    | name  | label |
|          | text    | name  | Name  |
|          | image   | photo | Photo |
| settings |         |       |       |
|          | form_id | version |     |
|          | photos  | {version} |   |
"""

VERSION = "\u0432\u0435\u0440\u0441\u0438\u044f1"  # "version1" in Russian
PHOTO_JPG = "\u0444\u043e\u0442\u043e.jpg"  # "photo.jpg" in Russian

#: names a phone or a designer may use, and what must never reach the fallback
NAMES = [
    PHOTO_JPG,
    "gpj.\u202eexe.jpg",  # a right-to-left override: reads as "gpj.gpj.exe" reversed
    "日本語の写真.png",
    "naïve café.jpg",
    "semi;colon%20pct.jpg",
]


def parse_disposition(value: str) -> tuple[str, str, str | None]:
    """``(type, ascii fallback, decoded filename*)`` of a Content-Disposition value."""
    kind = value.split(";", 1)[0].strip()
    plain = re.search(r'filename="([^"]*)"', value)
    assert plain is not None, value
    star = re.search(r"filename\*=UTF-8''([^;\s]+)", value)
    return kind, plain.group(1), unquote(star.group(1), errors="strict") if star else None


def assert_safe(value: str, name: str) -> None:
    value.encode("ascii")  # gunicorn sends headers as Latin-1; ASCII is safe everywhere
    _kind, fallback, real = parse_disposition(value)
    assert not re.search(r'["\\/\x00-\x1f\x7f%]', fallback), fallback
    assert "\u202e" not in (real or "")
    expected = name.replace("\u202e", "").replace("\\", "_")
    assert (real if real is not None else fallback) == expected


@pytest.mark.parametrize(
    ("name", "fallback"),
    [
        ('say "cheese".jpg', "say _cheese_.jpg"),
        ("..\\..\\boot.ini", "_.._boot.ini"),
        ("../../etc/passwd", "_.._etc_passwd"),
        ("line\r\nSet-Cookie: x=1.txt", "lineSet-Cookie_ x=1.txt"),
        ("\u202e\u2066\u200f", "download"),
        (PHOTO_JPG, "download.jpg"),
    ],
)
def test_fallback_names_cannot_break_out(name: str, fallback: str):
    value = content_disposition("attachment", name)
    value.encode("ascii")
    assert parse_disposition(value)[1] == fallback
    assert "\r" not in value and "\n" not in value and "/" not in unquote(value)


@pytest.fixture
def coordinator(app: Flask, make_user) -> dict[str, Any]:
    publish_md(PHOTO_FORM, version="1")
    worker = make_user("field_worker", username="photographer", regions=["north"])
    coord = make_user("coordinator", username="coord_files", regions=["north"])
    token, _ = auth.issue_api_token(coord, actor=None)
    db.session.commit()
    return {"token": token, "phone": Collect(app, f"/collect/key/{device_for(worker)}")}


@pytest.mark.parametrize("name", NAMES)
def test_attachment_download_names_in_any_script(app: Flask, coordinator, name: str):
    instance = f"uuid:{uuid.uuid4()}"
    xml = instance_xml(
        "photos", "1", instance_id=instance, body=f"<name>A</name><photo>{name}</photo>"
    )
    assert coordinator["phone"].submit(xml, [(name, PNG)]).status_code == 201
    url = f"/api/v1/submissions/{instance}/attachments/{quote(name)}"
    response = app.test_client().get(
        url, headers={"Authorization": f"Bearer {coordinator['token']}"}
    )
    assert response.status_code == 200
    assert response.data == PNG
    assert_safe(response.headers["Content-Disposition"], name)


def test_form_source_and_xform_of_a_non_latin_version(app: Flask, make_user):
    publish_md(PHOTO_FORM, version=VERSION)
    designer = make_user("designer", username="designer_files")
    browser = Browser(app.test_client())
    assert browser.login(designer.username).status_code == 302
    for suffix, extension in (("source", ".md"), ("xform", ".xml")):
        response = browser.get(f"/forms/photos/versions/{quote(VERSION)}/{suffix}")
        assert response.status_code == 200, suffix
        assert_safe(response.headers["Content-Disposition"], f"photos-{VERSION}{extension}")


# -- the same through gunicorn, where the 500 came from ------------------------------------


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data_dir = tmp_path_factory.mktemp("live_names")
    server = LiveServer(data_dir)
    form = data_dir / "photos.md"
    form.write_text(textwrap.dedent(PHOTO_FORM.replace("{version}", VERSION)))
    try:
        server.cli("db", "upgrade")
        server.cli("forms", "publish", str(form))
        password = "a long password\n"
        for username, role, region in (
            ("phone1", "field_worker", ("--region", "north")),
            ("coord1", "coordinator", ("--region", "north")),
            ("designer1", "designer", ()),
        ):
            server.cli("users", "create", username, "--role", role, *region, stdin=password)
        device = server.cli("devices", "create", "--user", "phone1").rsplit("/", 1)[1]
        token = server.cli("users", "token", "coord1").split()[-1]
        server.start()
        yield {"server": server, "device": device, "token": token}
    finally:
        server.close()


def _request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


@pytest.mark.committed
@pytest.mark.parametrize("name", [PHOTO_JPG, "gpj.\u202eexe.jpg"])
def test_live_attachment_download(live, name: str):
    port = live["server"].port
    instance = f"uuid:{uuid.uuid4()}"
    xml = (
        f'<data id="photos" version="{VERSION}"><name>A</name><photo>{name}</photo>'
        f"<meta><instanceID>{instance}</instanceID></meta></data>"
    ).encode()
    body, content_type = multipart(
        [
            ("xml_submission_file", "submission.xml", xml, "text/xml"),
            (name, name, PNG, "image/png"),
        ]
    )
    status, _, _ = _request(
        port,
        "POST",
        f"/collect/key/{live['device']}/submission",
        body,
        {"Content-Type": content_type, "X-OpenRosa-Version": "1.0"},
    )
    assert status == 201
    status, headers, data = _request(
        port,
        "GET",
        f"/api/v1/submissions/{quote(instance)}/attachments/{quote(name)}",
        headers={"Authorization": f"Bearer {live['token']}"},
    )
    assert status == 200
    assert data == PNG
    assert_safe(headers["Content-Disposition"], name)


@pytest.mark.committed
def test_live_form_source_download(live):
    port = live["server"].port
    status, headers, page = _request(port, "GET", "/login")
    cookie = headers["Set-Cookie"].split(";", 1)[0]
    csrf = re.search(rb'name="csrf_token" value="([^"]+)"', page)
    assert csrf is not None
    form = f"username=designer1&password=a+long+password&csrf_token={csrf.group(1).decode()}"
    status, headers, _ = _request(
        port,
        "POST",
        "/login",
        form.encode(),
        {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
    )
    assert status == 302
    cookie = headers["Set-Cookie"].split(";", 1)[0]
    status, headers, data = _request(
        port, "GET", f"/forms/photos/versions/{quote(VERSION)}/source", headers={"Cookie": cookie}
    )
    assert status == 200
    assert b"photos" in data
    assert_safe(headers["Content-Disposition"], f"photos-{VERSION}.md")
