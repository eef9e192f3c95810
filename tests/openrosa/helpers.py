"""Building blocks for OpenRosa tests: forms, a Collect-like client, submission XML."""

from __future__ import annotations

import hashlib
import io
import textwrap
import uuid
from collections.abc import Iterable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.datastructures import FileStorage
from werkzeug.test import stream_encode_multipart

from fieldapp.auth import devices
from fieldapp.auth.models import User
from fieldapp.db import db
from fieldapp.forms import services as forms

OPENROSA = {"X-OpenRosa-Version": "1.0"}

SIMPLE = """
| survey   |         |      |       |
|          | type    | name | label |
|          | text    | name | Name  |
|          | integer | age  | Age   |
| settings |         |      |       |
|          | form_id | version | form_title |
|          | simple  | {version} | Simple form |
"""

WITH_FILES = """
| survey   |                                   |         |         |              |
|          | type                              | name    | label   | media::image |
|          | note                              | welcome | Welcome | logo.png     |
|          | select_one_from_file villages.csv | village | Village |              |
|          | image                             | photo   | Photo   |              |
|          | begin_repeat                      | child   | Child   |              |
|          | file                              | doc     | Document |             |
|          | end_repeat                        |         |         |              |
| settings |                                   |         |         |              |
|          | form_id                           | version |         |              |
|          | withfiles                         | 1       |         |              |
"""

#: the app under test (set by tests/openrosa/conftest.py)
APP: Flask | None = None


def _store() -> Any:
    assert APP is not None
    return APP.extensions["fieldapp.blobs"]


PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6300010000050001a5f645400000000049454e44ae426082"
)


def publish_md(md: str, *, version: str = "1", filename: str = "form.md") -> forms.FormVersion:
    """Upload and publish a markdown XLSForm through the service (validation off: fast)."""
    data = textwrap.dedent(md.replace("{version}", version)).encode()
    published, _ = forms.publish_file(
        data,
        filename=filename,
        actor=None,
        store=_store(),
        policy=forms.ValidationPolicy(mode="never"),
    )
    db.session.commit()
    return published


def attach(form_id: str, name: str, data: bytes) -> None:
    forms.attach_file(forms.get_form(form_id), name, data, actor=None, store=_store())
    db.session.commit()


def instance_xml(
    form_id: str = "simple",
    version: str = "1",
    *,
    instance_id: str | None = None,
    deprecated_id: str | None = None,
    body: str = "<name>Amina</name><age>7</age>",
) -> bytes:
    instance_id = instance_id or f"uuid:{uuid.uuid4()}"
    deprecated = f"<deprecatedID>{deprecated_id}</deprecatedID>" if deprecated_id else ""
    version_attr = f' version="{version}"' if version is not None else ""
    return (
        f'<data xmlns:orx="http://openrosa.org/xforms" id="{form_id}"{version_attr}>{body}'
        f"<orx:meta>{deprecated}<orx:instanceID>{instance_id}</orx:instanceID></orx:meta>"
        "</data>"
    ).encode()


class Collect:
    """Talks to the server the way ODK Collect does."""

    def __init__(self, app: Flask, base: str, auth: tuple[str, str] | None = None) -> None:
        self.client: FlaskClient = app.test_client()
        self.base = base
        self.auth = auth

    def _headers(
        self, extra: dict[str, str] | None = None, *, openrosa: bool = True
    ) -> dict[str, str]:
        headers: dict[str, str] = {"User-Agent": "org.odk.collect.android/v2025.2.0 test"}
        if openrosa:
            headers.update(OPENROSA)
        if self.auth:
            import base64

            token = base64.b64encode(f"{self.auth[0]}:{self.auth[1]}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        headers.update(extra or {})
        return headers

    def get(
        self, path: str, *, openrosa: bool = True, headers: dict[str, str] | None = None
    ) -> Any:
        url = path if path.startswith("http") else self.base + path
        return self.client.get(url, headers=self._headers(headers, openrosa=openrosa))

    def head_submission(self, *, openrosa: bool = True) -> Any:
        return self.client.head(
            self.base + "/submission?deviceID=collect:test",
            headers=self._headers(openrosa=openrosa),
        )

    def submit(
        self,
        xml: bytes,
        files: Iterable[tuple[str, bytes]] = (),
        *,
        incomplete: bool = False,
        device_id: str = "collect:test",
        headers: dict[str, str] | None = None,
    ) -> Any:
        fields: dict[str, Any] = {
            "xml_submission_file": FileStorage(
                io.BytesIO(xml), filename="instance.xml", content_type="text/xml"
            )
        }
        for name, data in files:
            fields[name] = FileStorage(io.BytesIO(data), filename=name)
        if incomplete:
            fields["*isIncomplete*"] = "yes"
        stream, length, boundary = stream_encode_multipart(fields, use_tempfile=False)
        return self.client.post(
            f"{self.base}/submission?deviceID={device_id}",
            input_stream=stream,
            content_length=length,
            content_type=f'multipart/form-data; boundary="{boundary}"',
            headers=self._headers(headers),
        )


MANIFEST_NS = "{http://openrosa.org/xforms/xformsManifest}"


def download_form(phone: Collect, form_id: str) -> tuple[str, dict[str, bytes]]:
    """The XForm and every file of its manifest, as Collect downloads them."""
    from lxml import etree

    form_xml = phone.get(f"/forms/{form_id}.xml", openrosa=False).data.decode()
    manifest = etree.fromstring(phone.get(f"/forms/{form_id}/manifest").data)
    media = {}
    for entry in manifest.iter(f"{MANIFEST_NS}mediaFile"):
        url = entry.findtext(f"{MANIFEST_NS}downloadUrl")
        media[entry.findtext(f"{MANIFEST_NS}filename")] = phone.get(url, openrosa=False).data
    return form_xml, media


def device_for(user: User) -> str:
    token, _ = devices.create_device(user, actor=None)
    db.session.commit()
    return token


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()
