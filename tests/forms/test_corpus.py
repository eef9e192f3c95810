# ruff: noqa: RUF001 - Cyrillic labels are the point of these forms
"""Real-world XLSForm dialects (tests/forms/corpus/) go the whole way: uploaded through the API,
published (warnings acknowledged, media attached), downloaded as Collect does (formList,
manifest, media), filled by JavaRosa and sent back over OpenRosa (201).

Each corpus file has an entry in ``CORPUS``: the answers JavaRosa gives, and what else the
form needs (a registration whose case the follow-up picks). tests/forms/corpus/README.md says
where each file comes from and which dialect it stands for.
"""

from __future__ import annotations

import base64
import hashlib
import re
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from fieldapp.auth.models import User
from tests.cases.support import Api
from tests.conftest import need, post_file
from tests.javarosa import fill, javarosa_available
from tests.openrosa.helpers import Collect, device_for, download_form

CORPUS_DIR = Path(__file__).resolve().parent / "corpus"
MEDIA_DIR = CORPUS_DIR / "media"
ENCRYPTED_NS = "http://www.opendatakit.org/xforms/encrypted"


@dataclass(frozen=True)
class Entry:
    """How one corpus form is filled.

    :param answers: JavaRosa answers (``{case}`` stands for the id of the case made by ``first``).
    :param media: files of ``corpus/media`` the designer attaches.
    :param first: a registration form published, filled, sent and approved before this one.
    :param filled: substrings the filled submission must hold.
    :param served: media files the server makes itself and the phone must get.
    :param encrypted: the form has a ``public_key``: Collect sends an encrypted envelope.
    """

    answers: dict[str, object] = field(default_factory=dict)
    media: tuple[str, ...] = ()
    first: str | None = None
    filled: tuple[str, ...] = ()
    served: tuple[str, ...] = ()
    encrypted: bool = False


CORPUS: dict[str, Entry] = {
    "kobo_household_survey.xlsx": Entry(
        {"/data/respondent": "Amina", "/data/hh_size": "5", "/data/needs": "food health"},
        filled=("<needs>food health</needs>",),
    ),
    "legacy_visit.xls": Entry(
        {"/data/family": "Омарова", "/data/at_home": "yes", "/data/notes": "Все дома"},
        filled=("<notes>Все дома</notes>",),
    ),
    "typographic_quotes.xlsx": Entry(
        {"/data/kind": "other", "/data/other_kind": "clinic", "/data/code": "none"},
        filled=("<other_kind>clinic</other_kind>",),
    ),
    "or_other.xlsx": Entry(
        {"/data/fruit": "other", "/data/fruit_other": "mango", "/data/fruits": "apple other"},
        filled=("<fruit_other>mango</fruit_other>",),
    ),
    "select_one_external.xlsx": Entry(
        {"/data/region": "north", "/data/district": "n2"},
        filled=("<district>n2</district>",),
        served=("itemsets.csv",),
    ),
    "select_from_files.xlsx": Entry(
        {
            "/data/village": "v2",
            "/data/sites": "site_a site_b",
            "/data/point": "wp1",
            "/data/school": "s02",
        },
        media=("villages.csv", "sites.xml", "points.geojson", "schools.csv"),
        filled=("<village>v2</village>", "<point>wp1</point>", "<school>s02</school>"),
    ),
    "pulldata.xlsx": Entry(
        {"/data/item": "oil"}, media=("prices.csv",), filled=("<price>1200</price>",)
    ),
    "cascading_selects.xlsx": Entry(
        {"/data/state": "kano", "/data/lga": "nassarawa", "/data/ward": "gama"},
        filled=("<ward>gama</ward>",),
    ),
    "table_list.xlsx": Entry(
        {"/data/services/clinic": "often", "/data/grid/q1": "yes"},
        filled=("<clinic>often</clinic>",),
    ),
    "nested_repeats.xlsx": Entry(
        {
            "/data/n_households": "2",
            "/data/household/head": ["Aigul", "Dana"],
            "#repeat:/data/household/member": 1,
            "/data/household/member/member_name": ["Timur"],
            "#repeat:/data/household/member/vaccination": 2,
            "/data/household/member/vaccination/vaccine": ["BCG", "Polio"],
        },
        filled=("<head>Dana</head>", "<vaccine>Polio</vaccine>"),
    ),
    "encrypted.xlsx": Entry({"/data/name": "Secret", "/data/age": "40"}, encrypted=True),
    "patient_registration.xlsx": Entry(
        {"/data/patient_name": "Zarina", "/data/age": "31", "/data/pregnant": "yes"},
        filled=('dataset="patients"',),
    ),
    "patient_followup.xlsx": Entry(
        {"/data/patient": "{case}", "/data/weight": "61", "/data/pregnant": "no"},
        first="patient_registration.xlsx",
        filled=("<known_age>31</known_age>",),
    ),
    "arabic_labels.xlsx": Entry(
        {"/data/child_name": "ليلى", "/data/home_language": "ar"},
        filled=("<child_name>ليلى</child_name>",),
    ),
    "hausa_labels.xlsx": Entry(
        {"/data/sunan": "Musa", "/data/yana_da_ruwa": "a_a", "/data/yara": "3"},
        filled=("<yana_da_ruwa>a_a</yana_da_ruwa>",),
    ),
    "spec_test.xlsx": Entry(
        {"/data/family": "F1", "/data/children": "2"}, filled=("<children>2</children>",)
    ),
}


def test_every_corpus_file_has_an_entry_and_its_media_exist():
    files = {p.name for p in CORPUS_DIR.iterdir() if p.suffix in (".xlsx", ".xls")}
    assert files == set(CORPUS)
    for entry in CORPUS.values():
        assert all((MEDIA_DIR / name).is_file() for name in entry.media)
    readme = (CORPUS_DIR / "README.md").read_text(encoding="utf-8")
    assert all(f"`{name}`" in readme for name in CORPUS), "README lists every file"


@dataclass
class Field:
    """The designer's API, a worker's phone and a coordinator's API, for one test."""

    app: Flask
    designer: Api
    coordinator: Api
    phone: Collect
    workdir: Path

    def upload(self, name: str) -> dict[str, Any]:
        data = (CORPUS_DIR / name).read_bytes()
        response = post_file(
            self.designer.client, "/api/v1/forms", data, name, headers=self.designer.headers
        )
        assert response.status_code == 201, response.json
        return dict(response.json)

    def publish(self, name: str) -> dict[str, Any]:
        """Upload, attach the media, publish acknowledging the warnings."""
        uploaded = self.upload(name)
        form_id = uploaded["form_id"]
        path = f"/api/v1/forms/{urllib.parse.quote(form_id)}"
        for media in CORPUS[name].media:
            response = post_file(
                self.designer.client,
                f"{path}/attachments",
                (MEDIA_DIR / media).read_bytes(),
                media,
                headers=self.designer.headers,
            )
            assert response.status_code == 201, (media, response.json)
        detail = self.designer.get(path).json
        draft = next(v for v in detail["versions"] if v["status"] == "draft")
        assert [a["name"] for a in draft["attachments"] if a["missing"]] == []
        response = self.designer.post(f"{path}/publish", {"acknowledge_warnings": True})
        assert response.status_code == 200, response.json
        return uploaded

    def collect_and_fill(
        self, form_id: str, version: str, answers: dict[str, object], name: str = ""
    ) -> bytes:
        """formList → form → manifest → media, as Collect; then JavaRosa fills it."""
        listing = self.phone.get("/formList").data.decode()
        assert f"<formID>{form_id}</formID>" in listing
        assert f"<version>{version}</version>" in listing
        quoted = urllib.parse.quote(form_id)
        form_xml, media = download_form(self.phone, quoted)
        assert f'version="{version}"' in form_xml
        if name:
            expected = set(CORPUS[name].media) | set(CORPUS[name].served)
            assert expected <= set(media), (expected, sorted(media))
        return fill(form_xml, media, answers, workdir=self.workdir)

    def send(self, name: str, form_id: str, xml: bytes) -> str:
        files: list[tuple[str, bytes]] = []
        if CORPUS[name].encrypted:
            xml, files = envelope(form_id, xml)
        response = self.phone.submit(xml, files)
        assert response.status_code == 201, response.data
        found = re.search(rb"<(?:\w+:)?instanceID>([^<]+)<", xml)
        assert found is not None
        return found.group(1).decode()


def envelope(form_id: str, xml: bytes) -> tuple[bytes, list[tuple[str, bytes]]]:
    """The encrypted envelope Collect sends for a form with a ``public_key``.

    The server never decrypts (it cannot: it has no private key), so the encrypted file here is
    a stand-in of the right shape; the envelope elements are Collect's.
    """
    instance_id = re.search(rb"<(?:\w+:)?instanceID>([^<]+)<", xml)
    version = re.search(rb' version="([^"]+)"', xml)
    assert instance_id is not None and version is not None
    sealed = hashlib.sha256(xml).digest() + bytes(b ^ 0x5A for b in xml)
    body = (
        f'<data xmlns="{ENCRYPTED_NS}" id="{form_id}" version="{version.group(1).decode()}" '
        'encrypted="yes">'
        f"<base64EncryptedKey>{base64.b64encode(uuid.uuid4().bytes * 8).decode()}"
        "</base64EncryptedKey>"
        '<orx:meta xmlns:orx="http://openrosa.org/xforms">'
        f"<orx:instanceID>{instance_id.group(1).decode()}</orx:instanceID></orx:meta>"
        "<encryptedXmlFile>submission.xml.enc</encryptedXmlFile>"
        f"<base64EncryptedElementSignature>{base64.b64encode(uuid.uuid4().bytes).decode()}"
        "</base64EncryptedElementSignature></data>"
    ).encode()
    return body, [("submission.xml.enc", sealed)]


@pytest.fixture
def field_day(
    app: Flask, make_user: Callable[..., User], api_token: Callable[..., str], tmp_path: Path
) -> Field:
    need(javarosa_available(), "Java, javac and pyxform's ODK_Validate.jar are needed")
    worker = make_user("field_worker", username="corpus_worker", regions=["north"])
    return Field(
        app=app,
        designer=Api(app, api_token("designer")),
        coordinator=Api(app, api_token("coordinator", regions=["north"])),
        phone=Collect(app, f"/collect/key/{device_for(worker)}"),
        workdir=tmp_path,
    )


@pytest.mark.java
@pytest.mark.parametrize("name", sorted(CORPUS))
def test_corpus_form_is_published_filled_by_javarosa_and_accepted(field_day: Field, name: str):
    entry = CORPUS[name]
    answers = dict(entry.answers)
    if entry.first is not None:
        first = field_day.publish(entry.first)
        xml = field_day.collect_and_fill(
            first["form_id"], first["version"], CORPUS[entry.first].answers
        )
        instance_id = field_day.send(entry.first, first["form_id"], xml)
        field_day.coordinator.review(instance_id)
        case_id = re.search(rb'<entity [^>]*\bid="([^"]+)"', xml)
        assert case_id is not None
        answers = {
            k: (case_id.group(1).decode() if v == "{case}" else v) for k, v in answers.items()
        }
    uploaded = field_day.publish(name)
    xml = field_day.collect_and_fill(uploaded["form_id"], uploaded["version"], answers, name)
    text = xml.decode()
    for expected in entry.filled:
        assert expected in text, (expected, text)
    field_day.send(name, uploaded["form_id"], xml)
