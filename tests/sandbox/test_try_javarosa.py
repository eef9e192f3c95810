"""A try exactly as ODK Collect runs it: JavaRosa (Collect's engine) fills the registration
draft downloaded from the try's URL, then the follow-up draft from the test case list that URL
serves, and both are sent there as Collect sends them. Nothing reaches the real side."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from lxml import etree

from tests.cases.support import Programme, instance_of, publish
from tests.conftest import need
from tests.javarosa import fill, javarosa_available
from tests.openrosa.helpers import Collect
from tests.sandbox.support import start_try, upload_drafts

pytestmark = pytest.mark.java
LIST = "{http://openrosa.org/xforms/xformsList}"
MANIFEST = "{http://openrosa.org/xforms/xformsManifest}"


def _downloaded(phone: Collect, form_id: str) -> tuple[str, dict[str, bytes]]:
    """The draft and its files, following the URLs the form list and manifest give."""
    listed = etree.fromstring(phone.get("/formList").data)
    entry = next(x for x in listed.iter(f"{LIST}xform") if x.findtext(f"{LIST}formID") == form_id)
    form_xml = phone.get(entry.findtext(f"{LIST}downloadUrl"), openrosa=False).data.decode()
    media = {}
    manifest_url = entry.findtext(f"{LIST}manifestUrl")
    if manifest_url:
        manifest = etree.fromstring(phone.get(manifest_url).data)
        for item in manifest.iter(f"{MANIFEST}mediaFile"):
            url = item.findtext(f"{MANIFEST}downloadUrl")
            assert "/collect/test/" in url  # every URL keeps the try's prefix
            media[item.findtext(f"{MANIFEST}filename")] = phone.get(url, openrosa=False).data
    return form_xml, media


def test_javarosa_registers_and_follows_up_in_a_try(app, make_user, login_as, tmp_path: Path):
    need(javarosa_available(), "Java, javac and pyxform's ODK_Validate.jar are needed")
    programme = Programme(app, make_user)
    coord = programme.person("coord", "coordinator", ["north"])
    worker = programme.person("worker", "field_worker", ["north"])
    publish("family_registration", "home_visit")
    drafts = upload_drafts("family_registration", "home_visit")
    designer = login_as("designer")
    phone = Collect(app, start_try(designer, "family_registration", "home_visit"))
    assert phone.head_submission().status_code == 204

    form_xml, media = _downloaded(phone, "family_registration")
    assert f'version="{drafts["family_registration"]}"' in form_xml
    registration = fill(
        form_xml,
        media,
        {
            "/data/household/settlement": "Sandboxville",
            "/data/household/household_size": "3",
            "/data/mother/mother_surname": "Testova",
            "/data/mother/mother_given_name": "Dana",
        },
        workdir=tmp_path,
    )
    household = (
        re.search(rb'<entity dataset="households" create="1" id="([^"]+)"', registration)
        .group(1)
        .decode()
    )
    assert phone.submit(registration).status_code == 201

    form_xml, media = _downloaded(phone, "home_visit")
    rows = list(csv.DictReader(io.StringIO(media["households.csv"].decode())))
    assert [(r["name"], r["__version"]) for r in rows] == [(household, "1")]
    visit = fill(
        form_xml,
        media,
        {"/data/household": household, "/data/visit_outcome": "met"},
        workdir=tmp_path,
    )
    assert phone.submit(visit).status_code == 201
    rows = list(
        csv.DictReader(
            io.StringIO(
                phone.get(
                    "/forms/home_visit/attachments/households.csv", openrosa=False
                ).data.decode()
            )
        )
    )
    assert rows[0]["__version"] == "2"

    # the real side saw nothing
    assert coord.api.get("/api/v1/submissions").json["items"] == []
    assert coord.api.cases() == []
    assert worker.rows() == []
    for instance_id in (instance_of(registration), instance_of(visit)):
        assert coord.api.get(f"/api/v1/submissions/{instance_id}").status_code == 404
