"""fieldapp.submissions.parsing: submission identity, attachments, typed data and display.

Pure tests (no database). The first part follows ODK Central's parsing cases with small
hand-written submissions against forms compiled from markdown XLSForms; the second part reads
every submission JavaRosa (Collect's form engine) filled for the programme forms, stored in
``tests/data/submissions`` by ``scripts/make_javarosa_submissions.py``.
"""

# XLSForms are markdown tables here; labels are in Russian, Kazakh and Arabic on purpose.
# ruff: noqa: RUF001

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from fieldapp.forms.xform import Choice, Field, XFormInfo, iter_fields, parse_xform
from fieldapp.forms.xlsform import compile_xlsform
from fieldapp.submissions.parsing import (
    DisplayItem,
    ParsedSubmission,
    SubmissionInvalid,
    SubmissionXmlInvalid,
    describe,
    expected_attachments,
    parse_submission,
    submission_data,
)
from fieldapp.xmlsafe import XmlError

DATA = Path(__file__).resolve().parent.parent / "data" / "submissions"
RU = "Русский (ru)"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def form_of(md: str) -> XFormInfo:
    return parse_xform(compile_xlsform(md.encode(), filename="x.md").xform)


# -- parse_submission: Central's cases ---------------------------------------------------------


ORX = 'xmlns:orx="http://openrosa.org/xforms"'


def test_orx_prefixed_meta() -> None:
    xml = f"""<data id="simple" version="2" {ORX}><name>Alice</name>
      <orx:meta><orx:instanceID>uuid:one</orx:instanceID></orx:meta></data>"""
    parsed = parse_submission(xml.encode())
    assert parsed == ParsedSubmission(
        form_id="simple",
        version="2",
        instance_id="uuid:one",
        deprecated_id=None,
        instance_name=None,
        encrypted=False,
        encrypted_key=None,
        encrypted_signature=None,
        encrypted_media=(),
        encrypted_xml_file=None,
    )


def test_plain_meta_and_no_version() -> None:
    xml = b"<data id='simple'><meta><instanceID>uuid:two</instanceID></meta></data>"
    parsed = parse_submission(xml)
    assert (parsed.form_id, parsed.version, parsed.instance_id) == ("simple", "", "uuid:two")


def test_meta_in_the_default_namespace_of_the_form() -> None:
    xml = b"""<data xmlns="http://opendatakit.org/submissions" id="simple">
      <meta><instanceID>uuid:three</instanceID></meta></data>"""
    assert parse_submission(xml).instance_id == "uuid:three"


def test_instance_id_from_the_root_attribute() -> None:
    xml = b'<data id="simple" instanceID="uuid:root"><name>Alice</name></data>'
    assert parse_submission(xml).instance_id == "uuid:root"


def test_meta_instance_id_wins_over_the_root_attribute() -> None:
    xml = b"""<data id="simple" instanceID="uuid:root">
      <meta><instanceID>uuid:meta</instanceID></meta></data>"""
    assert parse_submission(xml).instance_id == "uuid:meta"


def test_ids_are_stripped() -> None:
    xml = b"""<data id="  simple\n" version=" 3 ">
      <meta><instanceID>
        uuid:spaced
      </instanceID></meta></data>"""
    parsed = parse_submission(xml)
    assert (parsed.form_id, parsed.version, parsed.instance_id) == ("simple", "3", "uuid:spaced")


def test_only_the_root_meta_counts() -> None:
    xml = b"""<data id="simple"><group><meta><instanceID>uuid:inner</instanceID></meta></group>
      </data>"""
    with pytest.raises(SubmissionInvalid) as err:
        parse_submission(xml)
    assert err.value.code == "submission.instance_id_missing"


@pytest.mark.parametrize(
    "xml",
    [
        b'<data id="simple"><name>Alice</name></data>',
        b'<data id="simple"><meta><instanceID>  </instanceID></meta></data>',
        b'<data id="simple" instanceID=""><meta/></data>',
    ],
    ids=["no-meta", "blank", "empty-attribute"],
)
def test_missing_instance_id_is_refused(xml: bytes) -> None:
    with pytest.raises(SubmissionInvalid) as err:
        parse_submission(xml)
    assert err.value.code == "submission.instance_id_missing"
    assert err.value.http_status == 400
    assert "meta/instanceID" in err.value.message


@pytest.mark.parametrize(
    "xml",
    [
        b"<data><meta><instanceID>uuid:x</instanceID></meta></data>",
        b'<data id="  "><meta><instanceID>uuid:x</instanceID></meta></data>',
    ],
    ids=["absent", "blank"],
)
def test_missing_form_id(xml: bytes) -> None:
    with pytest.raises(SubmissionInvalid) as err:
        parse_submission(xml)
    assert err.value.code == "submission.form_id_missing"
    assert err.value.http_status == 400
    assert "form ID xml attribute" in err.value.message


@pytest.mark.parametrize(
    "xml", [b"<test", b"", b"   \n", b"<data id='x'></dat>"], ids=["open", "empty", "blank", "tag"]
)
def test_malformed_xml(xml: bytes) -> None:
    with pytest.raises(SubmissionInvalid) as err:
        parse_submission(xml)
    assert isinstance(err.value, SubmissionXmlInvalid)
    assert isinstance(err.value, XmlError)
    assert err.value.code == "submission.xml_invalid"
    assert err.value.http_status == 400
    assert err.value.details == {"xml_code": "xml.invalid"}


def test_deprecated_id_and_instance_name() -> None:
    xml = f"""<data id="simple" {ORX}><orx:meta>
      <orx:instanceID>uuid:two</orx:instanceID>
      <orx:deprecatedID> uuid:one </orx:deprecatedID>
      <orx:instanceName>Visit to Ахметова</orx:instanceName>
    </orx:meta></data>"""
    parsed = parse_submission(xml.encode())
    assert parsed.deprecated_id == "uuid:one"
    assert parsed.instance_name == "Visit to Ахметова"


def test_empty_deprecated_id_is_none() -> None:
    xml = b"""<data id="s"><meta><instanceID>uuid:a</instanceID><deprecatedID/></meta></data>"""
    assert parse_submission(xml).deprecated_id is None


ENCRYPTED = b"""<data xmlns="http://www.opendatakit.org/xforms/encrypted" id="encrypted" \
version="working3" encrypted="yes">
  <base64EncryptedKey>pFT0+tIo8l10</base64EncryptedKey>
  <orx:meta xmlns:orx="http://openrosa.org/xforms"><orx:instanceID>\
uuid:dcf4a151-5088-453f-99e6-369d67828f7a</orx:instanceID></orx:meta>
  <media><file>1561432508817.jpg.enc</file><file>audit.csv.enc</file></media>
  <encryptedXmlFile>submission.xml.enc</encryptedXmlFile>
  <base64EncryptedElementSignature>UHIobs8lmLCe</base64EncryptedElementSignature>
</data>"""


def test_encrypted_envelope() -> None:
    parsed = parse_submission(ENCRYPTED)
    assert parsed == ParsedSubmission(
        form_id="encrypted",
        version="working3",
        instance_id="uuid:dcf4a151-5088-453f-99e6-369d67828f7a",
        deprecated_id=None,
        instance_name=None,
        encrypted=True,
        encrypted_key="pFT0+tIo8l10",
        encrypted_signature="UHIobs8lmLCe",
        encrypted_media=("1561432508817.jpg.enc", "audit.csv.enc"),
        encrypted_xml_file="submission.xml.enc",
    )


def test_encrypted_by_attribute_only() -> None:
    xml = b"""<data id="secret" encrypted="yes"><base64EncryptedKey>k</base64EncryptedKey>
      <meta><instanceID>uuid:e</instanceID></meta>
      <encryptedXmlFile>submission.xml.enc</encryptedXmlFile></data>"""
    parsed = parse_submission(xml)
    assert parsed.encrypted
    assert parsed.encrypted_media == ()
    assert parsed.encrypted_xml_file == "submission.xml.enc"


def test_encrypted_envelope_without_instance_id_is_refused() -> None:
    xml = b"""<data xmlns="http://www.opendatakit.org/xforms/encrypted" id="secret">
      <base64EncryptedKey>k</base64EncryptedKey>
      <encryptedXmlFile>submission.xml.enc</encryptedXmlFile></data>"""
    with pytest.raises(SubmissionInvalid) as err:
        parse_submission(xml)
    assert err.value.code == "submission.instance_id_missing"


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE data [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<data id="simple"><name>&lol9;</name><meta><instanceID>uuid:x</instanceID></meta></data>"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE data [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<data id="simple"><name>&xxe;</name><meta><instanceID>uuid:x</instanceID></meta></data>"""


@pytest.mark.parametrize("xml", [BILLION_LAUGHS, XXE], ids=["billion-laughs", "xxe"])
def test_entity_attacks_are_refused_quickly(xml: bytes) -> None:
    start = time.monotonic()
    with pytest.raises(XmlError) as err:
        parse_submission(xml)
    assert time.monotonic() - start < 1.0
    assert err.value.http_status == 400
    assert err.value.code == "submission.xml_invalid"
    assert err.value.details == {"xml_code": "xml.doctype_forbidden"}
    for function in (lambda x: submission_data(x, ()), lambda x: expected_attachments(x, ())):
        with pytest.raises(XmlError):
            function(xml)


def test_too_large_keeps_413() -> None:
    xml = b'<data id="s"><meta><instanceID>uuid:x</instanceID></meta><n>' + b"x" * 200 + b"</n>"
    with pytest.raises(SubmissionXmlInvalid) as err:
        parse_submission(xml + b"</data>", max_bytes=100)
    assert err.value.http_status == 413
    assert err.value.details == {"xml_code": "xml.too_large"}


# -- expected_attachments ----------------------------------------------------------------------


MEDIA_FORM = """
| survey |
|        | type         | name      | label     |
|        | text         | name      | Name      |
|        | image        | photo     | Photo     |
|        | begin group  | docs      | Documents |
|        | file         | scan      | Scan      |
|        | end group    |           |           |
|        | begin repeat | children  | Child     |
|        | image        | portrait  | Portrait  |
|        | begin repeat | visits    | Visit     |
|        | audio        | recording | Recording |
|        | end repeat   |           |           |
|        | end repeat   |           |           |

| settings |
|          | form_id | version |
|          | media   | 1       |
"""

MEDIA_SUBMISSION = b"""<data id="media" version="1" xmlns:jr="http://openrosa.org/javarosa">
  <name>photo.jpg</name>
  <photo>1.jpg</photo>
  <docs><scan>scan.pdf</scan></docs>
  <children jr:template=""><portrait>template.jpg</portrait></children>
  <children>
    <portrait>2.jpg</portrait>
    <visits><recording>a.m4a</recording></visits>
    <visits><recording>b.m4a</recording></visits>
  </children>
  <children>
    <portrait>1.jpg</portrait>
    <visits><recording/></visits>
    <visits><recording>../../etc/passwd</recording></visits>
    <visits><recording>sub/dir.m4a</recording></visits>
    <visits><recording> c.m4a </recording></visits>
  </children>
  <meta><instanceID>uuid:m</instanceID></meta>
</data>"""


def test_expected_attachments_at_any_depth() -> None:
    fields = form_of(MEDIA_FORM).fields
    assert expected_attachments(MEDIA_SUBMISSION, fields) == (
        "1.jpg",
        "scan.pdf",
        "2.jpg",
        "a.m4a",
        "b.m4a",
        "c.m4a",
    )


def test_expected_attachments_reuse_the_parsed_submission() -> None:
    fields = form_of(MEDIA_FORM).fields
    parsed = parse_submission(MEDIA_SUBMISSION)
    assert expected_attachments(MEDIA_SUBMISSION, fields, parsed=parsed)[0] == "1.jpg"


def test_no_binary_fields_no_attachments() -> None:
    xml = b'<data id="s"><name>x.jpg</name><meta><instanceID>uuid:x</instanceID></meta></data>'
    fields = (Field(name="name", path="/data/name", kind="input", data_type="string"),)
    assert expected_attachments(xml, fields) == ()


def test_expected_attachments_of_an_encrypted_envelope() -> None:
    assert expected_attachments(ENCRYPTED, form_of(MEDIA_FORM).fields) == (
        "1561432508817.jpg.enc",
        "audit.csv.enc",
        "submission.xml.enc",
    )


def test_encrypted_names_must_be_plain() -> None:
    xml = b"""<data xmlns="http://www.opendatakit.org/xforms/encrypted" id="s" encrypted="yes">
      <meta><instanceID>uuid:x</instanceID></meta>
      <media><file>../x.enc</file><file>ok.jpg.enc</file><file>ok.jpg.enc</file></media>
      <encryptedXmlFile>/tmp/submission.xml.enc</encryptedXmlFile></data>"""
    assert expected_attachments(xml, ()) == ("ok.jpg.enc",)


# -- submission_data ---------------------------------------------------------------------------


TYPES_FORM = """
| survey |
|        | type                 | name       | label      | calculation                  |
|        | note                 | intro      | Hello      |                              |
|        | integer              | age        | Age        |                              |
|        | integer              | bad_int    | Bad int    |                              |
|        | decimal              | weight     | Weight     |                              |
|        | text                 | name       | Name       |                              |
|        | select_one yn        | consent    | Consent    |                              |
|        | select_multiple lang | langs      | Languages  |                              |
|        | date                 | visit_date | Visit date |                              |
|        | dateTime             | seen_at    | Seen at    |                              |
|        | time                 | seen_time  | Seen time  |                              |
|        | geopoint             | location   | Location   |                              |
|        | geopoint             | bad_point  | Bad point  |                              |
|        | acknowledge          | ack        | OK?        |                              |
|        | image                | photo      | Photo      |                              |
|        | calculate            | urgent     |            | if(${age} > 10, 'yes', 'no') |
|        | text                 | empty      | Empty      |                              |
|        | begin group          | household  | Household  |                              |
|        | begin group          | address    | Address    |                              |
|        | text                 | street     | Street     |                              |
|        | end group            |            |            |                              |
|        | integer              | size       | Size       |                              |
|        | end group            |            |            |                              |
|        | begin group          | skipped    | Skipped    |                              |
|        | text                 | why        | Why        |                              |
|        | begin repeat         | inner      | Inner      |                              |
|        | text                 | what       | What       |                              |
|        | end repeat           |            |            |                              |
|        | end group            |            |            |                              |
|        | begin repeat         | children   | Child      |                              |
|        | text                 | child_name | Name       |                              |
|        | integer              | child_age  | Age        |                              |
|        | end repeat           |            |            |                              |
|        | begin repeat         | none_yet   | None       |                              |
|        | text                 | nothing    | Nothing    |                              |
|        | end repeat           |            |            |                              |

| choices |
|         | list_name | name    | label   |
|         | yn        | yes     | Yes     |
|         | yn        | no      | No      |
|         | lang      | kazakh  | Kazakh  |
|         | lang      | russian | Russian |

| settings |
|          | form_id | version |
|          | types   | 1       |
"""

TYPES_SUBMISSION = """<data id="types" version="1" xmlns:jr="http://openrosa.org/javarosa"
    xmlns:orx="http://openrosa.org/xforms">
  <intro/>
  <age>12</age>
  <bad_int>abc</bad_int>
  <weight>-3.25</weight>
  <name>  Айгуль  </name>
  <consent>yes</consent>
  <langs>kazakh russian</langs>
  <visit_date>2026-11-21</visit_date>
  <seen_at>2026-11-21T10:00:00.000+05:00</seen_at>
  <seen_time>10:00:00.000+05:00</seen_time>
  <location>43.25 76.95 800.5 4.0</location>
  <bad_point>200 10</bad_point>
  <ack>OK</ack>
  <photo>1.jpg</photo>
  <urgent>yes</urgent>
  <empty/>
  <household><address><street>Абая 1</street></address><size>1_000</size></household>
  <children jr:template=""><child_name/><child_age/></children>
  <children><child_name>Арман</child_name><child_age>7</child_age></children>
  <children><child_name>Дана</child_name><child_age></child_age><toy>ball</toy></children>
  <added_later>new</added_later>
  <added_group><a>1</a><b/></added_group>
  <twice>1</twice><twice>2</twice>
  <orx:meta>
    <orx:instanceID>uuid:t</orx:instanceID>
    <orx:instanceName>Types</orx:instanceName>
    <orx:deprecatedID>uuid:s</orx:deprecatedID>
  </orx:meta>
</data>""".encode()


@pytest.fixture(scope="module")
def types_form() -> XFormInfo:
    return form_of(TYPES_FORM)


def test_submission_data_types_every_leaf(types_form: XFormInfo) -> None:
    data = submission_data(TYPES_SUBMISSION, types_form.fields)
    assert data == {
        "intro": None,
        "age": 12,
        "bad_int": "abc",
        "weight": -3.25,
        "name": "  Айгуль  ",
        "consent": "yes",
        "langs": ["kazakh", "russian"],
        "visit_date": "2026-11-21",
        "seen_at": "2026-11-21T10:00:00.000+05:00",
        "seen_time": "10:00:00.000+05:00",
        "location": {"latitude": 43.25, "longitude": 76.95, "altitude": 800.5, "accuracy": 4.0},
        "bad_point": "200 10",
        "ack": "OK",
        "photo": "1.jpg",
        "urgent": "yes",
        "empty": None,
        "household": {"address": {"street": "Абая 1"}, "size": "1_000"},
        "skipped": {"why": None, "inner": []},
        "children": [
            {"child_name": "Арман", "child_age": 7},
            {"child_name": "Дана", "child_age": None, "toy": "ball"},
        ],
        "none_yet": [],
        "meta": {"instanceID": "uuid:t", "instanceName": "Types", "deprecatedID": "uuid:s"},
        "added_later": "new",
        "added_group": {"a": "1", "b": None},
        "twice": ["1", "2"],
    }
    json.dumps(data, allow_nan=False)  # JSON-able as it is


def test_field_tree_order_then_unknown_elements(types_form: XFormInfo) -> None:
    keys = list(submission_data(TYPES_SUBMISSION, types_form.fields))
    assert keys[:3] == ["intro", "age", "bad_int"]
    assert keys[-3:] == ["added_later", "added_group", "twice"]


@pytest.mark.parametrize(
    ("data_type", "text", "value"),
    [
        ("int", " 42 ", 42),
        ("int", "-7", -7),
        ("int", "4.5", "4.5"),
        ("int", "١٢", "١٢"),  # Arabic-Indic digits are not an XML integer
        ("decimal", "1e3", 1000.0),
        ("decimal", ".5", 0.5),
        ("decimal", "NaN", "NaN"),
        ("decimal", "inf", "inf"),
        ("decimal", "1_0", "1_0"),
        ("boolean", "true", True),
        ("boolean", "1", True),
        ("boolean", "false", False),
        ("boolean", "0", False),
        ("boolean", "maybe", "maybe"),
        (
            "geopoint",
            "1 2",
            {"latitude": 1.0, "longitude": 2.0, "altitude": None, "accuracy": None},
        ),
        ("geopoint", "1", "1"),
        ("geopoint", "a b", "a b"),
        ("geopoint", "1 2 3 4 5", "1 2 3 4 5"),
        ("select", "a  b", ["a", "b"]),
        ("binary", "x.jpg", "x.jpg"),
        ("string", "   ", None),
        ("int", "", None),
    ],
)
def test_leaf_typing(data_type: str, text: str, value: Any) -> None:
    fields = (Field(name="q", path="/data/q", kind="input", data_type=data_type),)
    xml = f'<data id="t"><q>{text}</q><meta><instanceID>uuid:x</instanceID></meta></data>'
    assert submission_data(xml.encode(), fields)["q"] == value


def test_entity_blocks_sit_in_their_container() -> None:
    form = form_of(
        """
| survey |
|        | type         | name       | label | save_to            |
|        | text         | surname    | Name  | households#surname |
|        | begin repeat | children   | Child |                    |
|        | text         | child_name | Name  | kids#full_name     |
|        | end repeat   |            |       |                    |

| entities |
|          | list_name  | label         | repeat   |
|          | households | ${surname}    |          |
|          | kids       | ${child_name} | children |

| settings |
|          | form_id | version |
|          | ent     | 1       |
"""
    )
    xml = b"""<data id="ent" version="1">
      <surname>Ahmetova</surname>
      <children><child_name>Arman</child_name><meta>
        <entity dataset="kids" create="1" id="11111111-1111-4111-8111-111111133301">
          <label>Arman</label></entity></meta></children>
      <meta>
        <entity dataset="households" create="1" update="" baseVersion="" trunkVersion=""
            branchId="" id=" 11111111-1111-4111-8111-111111111101 "><label>Ahmetova</label>
        </entity>
        <instanceID>uuid:e</instanceID>
      </meta></data>"""
    data = submission_data(xml, form.fields)
    assert data["meta"] == {
        "instanceID": "uuid:e",
        "entity": {
            "dataset": "households",
            "id": "11111111-1111-4111-8111-111111111101",
            "create": "1",
            "update": None,
            "baseVersion": None,
            "trunkVersion": None,
            "branchId": None,
            "label": "Ahmetova",
        },
    }
    assert data["children"][0]["meta"]["entity"]["dataset"] == "kids"
    assert data["children"][0]["meta"]["entity"]["label"] == "Arman"


def test_entity_namespaced_elements_and_no_label() -> None:
    xml = b"""<data id="f" xmlns:entities="http://www.opendatakit.org/xforms/entities">
      <meta><entities:entity dataset="people" update="true" baseVersion="3" id="x"/>
      <instanceID>uuid:x</instanceID></meta></data>"""
    entity = submission_data(xml, ())["meta"]["entity"]
    assert entity["update"] == "true"
    assert entity["baseVersion"] == "3"
    assert entity["label"] is None


def test_encrypted_envelope_has_no_data(types_form: XFormInfo) -> None:
    assert submission_data(ENCRYPTED, types_form.fields) == {}


# -- describe ----------------------------------------------------------------------------------


LANG_FORM = """
| survey |
|        | type                                | name       | label::English (en) | label::Русский (ru) | label::Қазақша (kk) | label::العربية (ar) | calculation                  |
|        | note                                | intro      | Hello               | Привет              | Сәлем               | مرحبا               |                              |
|        | integer                             | age        | Age                 | Возраст             | Жасы                | العمر               |                              |
|        | decimal                             | weight     | Weight              | Вес                 | Салмағы             |                     |                              |
|        | select_one yn                       | consent    | Consent             | Согласие            | Келісім             | موافقة              |                              |
|        | select_multiple lang                | langs      | Languages           | Языки               | Тілдер              | اللغات              |                              |
|        | geopoint                            | location   | Location            | Место               | Орны                | الموقع              |                              |
|        | text                                | remarks    | Remarks             | Замечания           | Ескертпелер         | ملاحظات             |                              |
|        | calculate                           | urgent     |                     |                     |                     |                     | if(${age} > 10, 'yes', 'no') |
|        | calculate                           | nothing    |                     |                     |                     |                     | ''                           |
|        | select_one_from_file households.csv | hh         | Household           | Семья               | Отбасы              | الأسرة              |                              |
|        | begin group                         | notes_only | Notes               | Заметки             | Ескертулер          | ملاحظات             |                              |
|        | note                                | n1         | Read                | Читайте             | Оқыңыз              | اقرأ                |                              |
|        | end group                           |            |                     |                     |                     |                     |                              |
|        | begin repeat                        | children   | Child               | Ребёнок             | Бала                | الطفل               |                              |
|        | text                                | child_name | Name                | Имя                 | Аты                 | الاسم               |                              |
|        | select_one yn                       | in_school  | At school?          | Учится?             | Оқиды ма?           | في المدرسة؟          |                              |
|        | end repeat                          |            |                     |                     |                     |                     |                              |

| choices |
|         | list_name | name    | label::English (en) | label::Русский (ru) | label::Қазақша (kk) | label::العربية (ar) |
|         | yn        | yes     | Yes                 | Да                  | Иә                  | نعم                  |
|         | yn        | no      | No                  | Нет                 | Жоқ                 | لا                   |
|         | lang      | kazakh  | Kazakh              | Казахский           | Қазақ тілі          | الكازاخية            |
|         | lang      | russian | Russian             | Русский             | Орыс тілі           | الروسية              |

| settings |
|          | form_id | version | default_language |
|          | langs   | 1       | English (en)     |
"""

LANG_SUBMISSION = """<data id="langs" version="1">
  <intro/><age>12</age><weight>4.5</weight><consent>yes</consent><langs>russian kazakh</langs>
  <location>43.25 76.95 0 5</location><remarks/><urgent>yes</urgent><nothing/>
  <hh>11111111-1111-4111-8111-111111111101</hh><notes_only><n1/></notes_only>
  <children><child_name>Арман</child_name><in_school>no</in_school></children>
  <children><child_name>Дана</child_name><in_school>maybe</in_school></children>
  <extra>kept</extra>
  <meta><instanceID>uuid:l</instanceID></meta>
</data>""".encode()


@pytest.fixture(scope="module")
def lang_form() -> XFormInfo:
    return form_of(LANG_FORM)


def shown(items: tuple[DisplayItem, ...]) -> dict[str, tuple[str, str]]:
    return {item.name: (item.label, item.display) for item in items}


def test_describe_in_russian(lang_form: XFormInfo) -> None:
    data = submission_data(LANG_SUBMISSION, lang_form.fields)
    items = describe(data, lang_form.fields, "ru")
    assert shown(items) == {
        "age": ("Возраст", "12"),
        "weight": ("Вес", "4.5"),
        "consent": ("Согласие", "Да"),
        "langs": ("Языки", "Русский, Казахский"),
        "location": ("Место", "43.25, 76.95"),
        "remarks": ("Замечания", ""),
        "urgent": ("urgent", "yes"),
        "hh": ("Семья", "11111111-1111-4111-8111-111111111101"),
        "children": ("Ребёнок", ""),
        "extra": ("extra", "kept"),
    }
    children = next(item for item in items if item.name == "children")
    assert children.kind == "repeat"
    assert [shown(instance) for instance in children.instances] == [
        {"child_name": ("Имя", "Арман"), "in_school": ("Учится?", "Нет")},
        {"child_name": ("Имя", "Дана"), "in_school": ("Учится?", "maybe")},
    ]
    assert children.instances[0][0].path == "/data/children/child_name"
    age = items[0]
    assert (age.path, age.kind, age.data_type, age.value) == ("/data/age", "input", "int", 12)
    assert next(item for item in items if item.name == "extra").kind == "unknown"


def test_full_language_names_work_too(lang_form: XFormInfo) -> None:
    data = submission_data(LANG_SUBMISSION, lang_form.fields)
    assert shown(describe(data, lang_form.fields, RU)) == shown(
        describe(data, lang_form.fields, "ru")
    )


def test_describe_in_kazakh_and_arabic(lang_form: XFormInfo) -> None:
    data = submission_data(LANG_SUBMISSION, lang_form.fields)
    kk = shown(describe(data, lang_form.fields, "kk"))
    assert kk["consent"] == ("Келісім", "Иә")
    assert kk["langs"] == ("Тілдер", "Орыс тілі, Қазақ тілі")
    ar = shown(describe(data, lang_form.fields, "ar", default_language="English (en)"))
    assert ar["consent"] == ("موافقة", "نعم")
    assert ar["age"] == ("العمر", "12")
    # No Arabic label (pyxform writes "-"): the default language is used.
    assert ar["weight"] == ("Weight", "4.5")


def test_label_fallbacks() -> None:
    fields = (
        Field("a", "/data/a", "input", "string", labels={"English (en)": "A", "ru": ""}),
        Field("b", "/data/b", "input", "string", labels={"Қазақша (kk)": "Б"}),
        Field("c", "/data/c", "input", "string", labels={"": "Plain"}),
        Field("d", "/data/d", "input", "string"),
        Field(
            "e",
            "/data/e",
            "select_one",
            "string",
            labels={"en": "E"},
            choices=(Choice("x", {"en": "Ex"}), Choice("y", {})),
        ),
    )
    data = {"a": "1", "b": "2", "c": "3", "d": None, "e": "y"}
    assert shown(describe(data, fields, "ru")) == {
        "a": ("A", "1"),
        "b": ("Б", "2"),
        "c": ("Plain", "3"),
        "d": ("d", ""),
        "e": ("E", "y"),
    }
    assert shown(describe({"e": "x"}, fields[4:], None)) == {"e": ("E", "Ex")}


def test_describe_skips_notes_meta_and_empty_calculations(lang_form: XFormInfo) -> None:
    data = submission_data(LANG_SUBMISSION, lang_form.fields)
    names = {item.name for item in describe(data, lang_form.fields, "en")}
    assert not names & {"intro", "nothing", "notes_only", "meta", "n1"}
    assert {"urgent", "remarks"} <= names


def test_describe_booleans() -> None:
    fields = (Field("flag", "/data/flag", "input", "boolean", labels={"": "Flag"}),)
    assert describe({"flag": False}, fields, None)[0].display == "no"
    assert describe({"flag": True}, fields, None)[0].display == "yes"


# -- every JavaRosa-filled submission of the programme forms -----------------------------------


def stored_cases() -> list[Path]:
    return sorted(p.parent for p in DATA.glob("*/*/submission.xml"))


CASES = stored_cases()


@cache
def programme_form(form_id: str) -> XFormInfo:
    return parse_xform((DATA / form_id / "form.xml").read_bytes())


def case_id(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def fill_result(case: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((case / "fill-result.json").read_text(encoding="utf-8"))
    return result


def leaves(data: dict[str, Any], fields: tuple[Field, ...]) -> Iterator[tuple[Field, Any]]:
    for item in fields:
        value = data.get(item.name)
        if item.kind == "repeat":
            for entry in value:
                yield from leaves(entry, item.children)
        elif item.children:
            yield from leaves(value, item.children)
        else:
            yield item, value


def test_the_stored_data_is_complete() -> None:
    forms = {p.parent.name for p in DATA.glob("*/form.xml")}
    assert forms == {"family_registration", "home_visit", "school_checkin", "wellbeing_screening"}
    names = {case_id(c) for c in CASES}
    for form_id in forms:
        assert {f"{form_id}/seed{n}" for n in (1, 2, 3)} | {f"{form_id}/edit_seed1"} <= names
    assert {"family_registration/children3", "wellbeing_screening/adult"} <= names
    assert {"wellbeing_screening/child"} <= names
    assert sorted(p.name for p in (DATA / "caselists").iterdir()) == [
        "adults.csv",
        "children.csv",
        "households.csv",
    ]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_javarosa_submission(case: Path) -> None:
    form = programme_form(case.parent.name)
    xml = (case / "submission.xml").read_bytes()
    result = fill_result(case)

    parsed = parse_submission(xml)
    assert (parsed.form_id, parsed.version) == (form.form_id, form.version)
    assert parsed.instance_id == result["instanceID"]
    assert parsed.instance_id.startswith("uuid:")
    assert parsed.instance_name == result["instanceName"]
    assert not parsed.encrypted

    files = sorted(
        p.name for p in case.iterdir() if p.name not in {"submission.xml", "fill-result.json"}
    )
    expected = expected_attachments(xml, form.fields, parsed=parsed)
    assert sorted(expected) == files == sorted(result["attachments"])
    assert all(0 < (case / name).stat().st_size <= 50 * 1024 for name in files)

    data = submission_data(xml, form.fields)
    json.dumps(data, allow_nan=False)
    assert data["meta"]["instanceID"] == parsed.instance_id
    assert data["username"] == "worker1"
    assert data["deviceid"] == "collect:fieldapptest"
    for item, value in leaves(data, form.fields):
        if value is None:
            continue
        if item.data_type == "int":
            assert isinstance(value, int), item.path
        elif item.kind == "select_multiple":
            assert isinstance(value, list) and all(isinstance(v, str) for v in value), item.path
        elif item.data_type == "geopoint":
            assert set(value) == {"latitude", "longitude", "altitude", "accuracy"}, item.path
        else:
            assert isinstance(value, str), item.path

    items = describe(data, form.fields, "ru", default_language=form.default_language)
    by_path = {f.path: f for f in iter_fields(form.fields)}
    checked = 0

    def check(found: tuple[DisplayItem, ...]) -> None:
        nonlocal checked
        for item in found:
            field = by_path[item.path]
            assert field.kind != "note"
            if field.labels:
                assert item.label == field.labels[RU]
                checked += 1
            if field.kind == "select_one" and field.choices and item.value is not None:
                choice = next(c for c in field.choices if c.value == item.value)
                assert item.display == choice.labels[RU]
            check(item.children)
            for instance in item.instances:
                check(instance)

    check(items)
    assert checked >= 5


@pytest.mark.parametrize("case", [c for c in CASES if c.name.startswith("edit_")], ids=case_id)
def test_edits_deprecate_the_original(case: Path) -> None:
    original = parse_submission((case.parent / "seed1" / "submission.xml").read_bytes())
    edit = parse_submission((case / "submission.xml").read_bytes())
    assert edit.deprecated_id == original.instance_id
    assert edit.instance_id != original.instance_id
    data = submission_data(
        (case / "submission.xml").read_bytes(), programme_form(case.parent.name).fields
    )
    assert data["meta"]["deprecatedID"] == original.instance_id


def test_original_submissions_have_no_deprecated_id() -> None:
    for case in CASES:
        if not case.name.startswith("edit_"):
            assert parse_submission((case / "submission.xml").read_bytes()).deprecated_id is None


REGISTRATIONS = [c for c in CASES if c.parent.name == "family_registration"]


@pytest.mark.parametrize("case", REGISTRATIONS, ids=case_id)
def test_registration_entity_blocks(case: Path) -> None:
    form = programme_form("family_registration")
    data = submission_data((case / "submission.xml").read_bytes(), form.fields)
    household = data["meta"]["entity"]
    assert household["dataset"] == "households"
    assert UUID.match(household["id"])
    consent = data["consent"]["consent_given"] == "yes"
    assert household["create"] == ("1" if consent else "0")
    if not consent:
        assert data["children"] == []
        assert data["mother"]["mother_surname"] is None
        return
    assert household["label"].endswith(data["household"]["settlement"])
    adult = data["mother"]["meta"]["entity"]
    assert (adult["dataset"], adult["create"]) == ("adults", "1")
    assert adult["label"].startswith(data["mother"]["mother_full_name"])
    assert data["mother"]["mother_household_id"] == household["id"]
    assert isinstance(data["household"]["household_size"], int)
    child_ids = set()
    for child in data["children"]:
        entity = child["meta"]["entity"]
        assert (entity["dataset"], entity["create"]) == ("children", "1")
        assert entity["label"].startswith(child["child_name"])
        assert child["child_household_id"] == household["id"]
        assert child["child_mother_id"] == adult["id"]
        child_ids.add(entity["id"])
    assert len(child_ids) == len(data["children"])
    assert data["children_count"] == str(len(data["children"]))
    if case.name == "children3":
        assert len(data["children"]) == 3


def test_registration_described_in_russian() -> None:
    form = programme_form("family_registration")
    data = submission_data(
        (DATA / "family_registration" / "children3" / "submission.xml").read_bytes(), form.fields
    )
    items = {item.name: item for item in describe(data, form.fields, "ru")}
    household = items["household"]
    assert household.label == "Домохозяйство"
    size = next(item for item in household.children if item.name == "household_size")
    assert size.label == "Сколько человек живёт в домохозяйстве?"
    assert (size.value, size.display) == (6, "6")
    children = items["children"]
    assert children.label == "Ребёнок"
    assert len(children.instances) == 3
    assert "meta" not in {item.name for item in items["mother"].children}
    location = items["follow_up"].children[1]
    assert location.name == "location"
    assert re.fullmatch(r"-?\d+(\.\d+)?, -?\d+(\.\d+)?", location.display)


@pytest.mark.parametrize(
    ("case", "container", "dataset", "entity_id"),
    [
        ("wellbeing_screening/adult", "adult_screening", "adults", "111111122201"),
        ("wellbeing_screening/child", "child_screening", "children", "111111133301"),
        ("home_visit/met", None, "households", "111111111101"),
        ("school_checkin/enrolled", None, "children", "111111133302"),
    ],
)
def test_follow_up_entity_updates(
    case: str, container: str | None, dataset: str, entity_id: str
) -> None:
    path = DATA / case
    form = programme_form(path.parent.name)
    data = submission_data((path / "submission.xml").read_bytes(), form.fields)
    holder = data[container] if container else data
    entity = holder["meta"]["entity"]
    assert entity["dataset"] == dataset
    assert entity["id"] == f"11111111-1111-4111-8111-{entity_id}"
    assert entity["update"] == "1"
    assert entity["baseVersion"] is not None and entity["baseVersion"].isdigit()
    assert data["urgent"] in {"yes", "no"}
    assert "urgent" in {item.name for item in describe(data, form.fields, "ru")}
