"""fieldapp.forms.xform: what fieldapp reads out of an XForm.

Most XForms here are compiled from markdown XLSForms, so the tests follow real pyxform output;
a few are written by hand to cover what other tools produce.
"""

# XLSForms are markdown tables here; their rows are as wide as the form needs.
# ruff: noqa: RUF001

from __future__ import annotations

import json

import pytest

from fieldapp.forms.xform import (
    Choice,
    EntityDecl,
    Field,
    MediaRef,
    XFormInfo,
    XFormInvalid,
    field_tree_to_json,
    fields_from_json,
    iter_fields,
    parse_xform,
)
from fieldapp.forms.xlsform import compile_xlsform
from fieldapp.xmlsafe import XmlDoctypeForbidden, XmlError

SETTINGS = """
| settings |
|          | form_id | version    | form_title  |
|          | visit   | 2026112101 | Home visit  |
"""


def xform_of(md: str, settings: str = SETTINGS) -> str:
    return compile_xlsform((md + settings).encode(), filename="x.md").xform


def info_of(md: str, settings: str = SETTINGS) -> XFormInfo:
    return parse_xform(xform_of(md, settings))


def by_path(info: XFormInfo) -> dict[str, Field]:
    return {f.path: f for f in iter_fields(info.fields)}


KINDS = """
| survey |
|        | type                 | name     | label    | appearance | parameters          | calculation  | required | relevant  |
|        | start                | start    |          |            |                     |              |          |           |
|        | text                 | name     | Name     | multiline  |                     |              | yes      |           |
|        | integer              | age      | Age      |            |                     |              |          |           |
|        | note                 | intro    | Hello ${name} |       |                     |              |          |           |
|        | select_one yn        | consent  | Consent  | minimal    |                     |              |          |           |
|        | select_multiple need | needs    | Needs    |            |                     |              |          | ${age} > 0 |
|        | image                | photo    | Photo    |            | max-pixels=1024     |              |          |           |
|        | audio                | voice    | Voice    |            |                     |              |          |           |
|        | range                | mood     | Mood     |            | start=1 end=5 step=1 |             |          |           |
|        | rank priority        | priority | Priority |            |                     |              |          |           |
|        | acknowledge          | ok       | OK?      |            |                     |              |          |           |
|        | geopoint             | where    | Where    |            |                     |              |          |           |
|        | calculate            | double   |          |            |                     | ${age} * 2   |          |           |
|        | begin group          | address  | Address  | field-list |                     |              |          |           |
|        | text                 | street   | Street   |            |                     |              |          |           |
|        | end group            | address  |          |            |                     |              |          |           |
|        | begin repeat         | child    | Child    |            |                     |              |          |           |
|        | text                 | cname    | Name     |            |                     |              |          |           |
|        | end repeat           | child    |          |            |                     |              |          |           |
| choices |
|         | list_name | name | label   |
|         | yn        | yes  | Yes     |
|         | yn        | no   | No      |
|         | need      | food | Food    |
|         | need      | home | Housing |
|         | priority  | a    | A       |
|         | priority  | b    | B       |
"""


def test_identity() -> None:
    info = info_of(KINDS)
    assert (info.form_id, info.version, info.title, info.root_name) == (
        "visit",
        "2026112101",
        "Home visit",
        "data",
    )
    assert info.languages == ()
    assert info.default_language is None
    assert not info.encrypted
    assert info.public_key is None
    assert info.entities == ()
    assert info.entities_version is None


def test_field_kinds_and_types() -> None:
    fields = by_path(info_of(KINDS))
    kinds = {path: (f.kind, f.data_type) for path, f in fields.items()}
    assert kinds == {
        "/data/start": ("hidden", "dateTime"),
        "/data/name": ("input", "string"),
        "/data/age": ("input", "int"),
        "/data/intro": ("note", "string"),
        "/data/consent": ("select_one", "string"),
        "/data/needs": ("select_multiple", "string"),
        "/data/photo": ("upload", "binary"),
        "/data/voice": ("upload", "binary"),
        "/data/mood": ("range", "int"),
        "/data/priority": ("rank", "odk:rank"),
        "/data/ok": ("trigger", "string"),
        "/data/where": ("input", "geopoint"),
        "/data/double": ("calculate", "string"),
        "/data/address": ("group", None),
        "/data/address/street": ("input", "string"),
        "/data/child": ("repeat", None),
        "/data/child/cname": ("input", "string"),
        "/data/meta": ("group", None),
        "/data/meta/instanceID": ("hidden", "string"),
    }


def test_field_order_follows_the_form() -> None:
    info = info_of(KINDS)
    assert [f.name for f in info.fields] == [
        "start", "name", "age", "intro", "consent", "needs", "photo", "voice", "mood",
        "priority", "ok", "where", "double", "address", "child", "meta",
    ]  # fmt: skip
    assert [f.path for f in iter_fields(info.fields)][13:17] == [
        "/data/address",
        "/data/address/street",
        "/data/child",
        "/data/child/cname",
    ]


def test_field_details() -> None:
    fields = by_path(info_of(KINDS))
    name = fields["/data/name"]
    assert (name.labels, name.required, name.appearance) == ({"": "Name"}, True, "multiline")
    assert fields["/data/age"].required is False
    assert fields["/data/intro"].labels == {"": "Hello ${name}"}
    assert fields["/data/needs"].relevant == " /data/age  > 0"
    assert fields["/data/photo"].mediatype == "image/*"
    assert fields["/data/voice"].mediatype == "audio/*"
    assert fields["/data/double"].calculate == " /data/age  * 2"
    assert fields["/data/address"].appearance == "field-list"
    assert fields["/data/address"].labels == {"": "Address"}
    assert fields["/data/child"].labels == {"": "Child"}
    assert fields["/data/meta"].labels == {}


def test_static_choices() -> None:
    fields = by_path(info_of(KINDS))
    assert fields["/data/consent"].choices == (
        Choice("yes", {"": "Yes"}),
        Choice("no", {"": "No"}),
    )
    assert [c.value for c in fields["/data/needs"].choices or ()] == ["food", "home"]
    assert [c.value for c in fields["/data/priority"].choices or ()] == ["a", "b"]
    assert fields["/data/consent"].choices_from is None
    assert fields["/data/age"].choices is None


def test_repeat_appears_once() -> None:
    xform = xform_of(
        "| survey |\n| | type | name | label | repeat_count |\n"
        "| | begin repeat | r | R | 3 |\n| | text | a | A | |\n| | end repeat | r | | |\n"
    )
    info = parse_xform(xform)
    assert [f.path for f in iter_fields(info.fields)] == [
        "/data/r_count",  # pyxform turns a constant repeat_count into a calculate
        "/data/r",
        "/data/r/a",
        "/data/meta",
        "/data/meta/instanceID",
    ]


LANGUAGES = """
| survey |
|        | type          | name | label::English (en) | label::Русский (ru) | label::العربية (ar) | hint::English (en) | image::English (en) | audio::English (en) | big-image::English (en) | video::English (en) |
|        | select_one yn | q1   | Q1 ${q0}            | В1                  | س١                  | Help               | q1.png              | q1.mp3              | q1-big.png              | q1.mp4              |
|        | text          | q2   | Q2                  | В2                  | س٢                  |                    | q1.png              |                     |                         |                     |
| choices |
|         | list_name | name | label::English (en) | label::Русский (ru) | label::العربية (ar) | image::English (en) |
|         | yn        | y    | Yes                 | Да                  | نعم                 | yes.png             |
|         | yn        | n    | No                  | Нет                 | لا                  |                     |
"""

LANGUAGE_SETTINGS = """
| settings |
|          | form_id | version | default_language |
|          | visit   | 1       | Русский (ru)     |
"""


def test_languages() -> None:
    md = LANGUAGES.replace("Q1 ${q0}", "Q1 ${q2}")
    info = info_of(md, LANGUAGE_SETTINGS)
    assert set(info.languages) == {"English (en)", "Русский (ru)", "العربية (ar)"}
    assert info.default_language == "Русский (ru)"
    q1 = by_path(info)["/data/q1"]
    assert q1.labels == {"English (en)": "Q1 ${q2}", "Русский (ru)": "В1", "العربية (ar)": "س١"}
    assert q1.hints["English (en)"] == "Help"
    assert q1.choices is not None
    assert q1.choices[0] == Choice(
        "y", {"English (en)": "Yes", "Русский (ru)": "Да", "العربية (ar)": "نعم"}
    )


def test_media_from_labels_and_choices() -> None:
    md = LANGUAGES.replace("Q1 ${q0}", "Q1")
    info = info_of(md, LANGUAGE_SETTINGS)
    assert set(info.media) == {
        MediaRef("q1.png", "image"),
        MediaRef("q1.mp3", "audio"),
        MediaRef("q1-big.png", "big-image"),
        MediaRef("q1.mp4", "video"),
        MediaRef("yes.png", "image"),
    }
    assert len(info.media) == 5  # q1.png is used twice


def test_files_from_select_from_file_and_instances() -> None:
    info = info_of(
        """
| survey |
|        | type                                  | name   | label  | calculation                                       |
|        | select_one_from_file households.csv   | hh     | Family |                                                   |
|        | select_multiple_from_file places.xml  | places | Places |                                                   |
|        | select_one_from_file areas.geojson    | area   | Area   |                                                   |
|        | calculate                             | size   |        | instance('households')/root/item[name=${hh}]/size |
|        | calculate                             | phone  |        | pulldata('contacts', 'phone', 'key', ${hh})      |
"""
    )
    assert info.media == (
        MediaRef("households.csv", "file-csv"),
        MediaRef("places.xml", "file"),
        MediaRef("areas.geojson", "file"),
        MediaRef("contacts.csv", "file-csv"),
    )
    fields = by_path(info)
    assert (fields["/data/hh"].choices, fields["/data/hh"].choices_from) == (None, "households")
    assert fields["/data/places"].kind == "select_multiple"
    assert fields["/data/places"].choices_from == "places"


def test_encrypted_form() -> None:
    info = info_of(
        "| survey |\n| | type | name | label |\n| | text | a | A |\n",
        """
| settings |
|          | form_id | version | public_key   | submission_url                      | instance_name |
|          | visit   | 1       | MIIBIjANBgkq | https://example.org/collect/submission | concat('v-', ${a}) |
""",
    )
    assert info.encrypted
    assert info.public_key == "MIIBIjANBgkq"
    assert info.submission_url == "https://example.org/collect/submission"
    assert info.instance_name == "concat('v-',  /data/a )"
    assert by_path(info)["/data/meta/instanceName"].kind == "calculate"


ENTITIES = """
| survey |
|        | type         | name      | label  | save_to               |
|        | begin group  | mother    | Mother |                       |
|        | text         | full_name | Name   | mothers#full_name     |
|        | date         | dob       | Born   | mothers#birth_date    |
|        | end group    | mother    |        |                       |
|        | begin repeat | child     | Child  |                       |
|        | text         | cname     | Name   | children#child_name   |
|        | begin group  | school    | School |                       |
|        | text         | sname     | School | children#school       |
|        | end group    | school    |        |                       |
|        | end repeat   | child     |        |                       |
| entities |
|          | list_name | label        |
|          | mothers   | ${full_name} |
|          | children  | ${cname}     |
"""


def test_entities_in_groups_and_repeats() -> None:
    info = info_of(ENTITIES)
    assert info.entities_version == "2025.1.0"
    assert info.entities == (
        EntityDecl(
            dataset="mothers",
            container_path="/data/mother",
            create=True,
            update=False,
            label_expr=" /data/mother/full_name ",
            properties=(
                ("full_name", "/data/mother/full_name"),
                ("birth_date", "/data/mother/dob"),
            ),
        ),
        EntityDecl(
            dataset="children",
            container_path="/data/child",
            create=True,
            update=False,
            label_expr=" ../../../cname ",
            properties=(
                ("child_name", "/data/child/cname"),
                ("school", "/data/child/school/sname"),
            ),
        ),
    )
    fields = by_path(info)
    assert fields["/data/child/cname"].save_to == "child_name"
    # the entity blocks are declarations, not fields
    assert not any("/entity" in path for path in fields)
    assert "/data/mother/meta" not in fields


def test_entity_update() -> None:
    info = info_of(
        """
| survey |
|        | type                                  | name        | label  | save_to    |
|        | select_one_from_file participants.csv | participant | Who    |            |
|        | date                                  | visit_date  | Date   | last_visit |
| entities |
|          | list_name    | entity_id      | update_if             |
|          | participants | ${participant} | ${visit_date} != ''   |
"""
    )
    assert info.entities_version == "2024.1.0"
    (decl,) = info.entities
    assert decl == EntityDecl(
        dataset="participants",
        container_path="/data",
        create=False,
        update=True,
        label_expr=None,
        properties=(("last_visit", "/data/visit_date"),),
    )
    assert MediaRef("participants.csv", "file-csv") in info.media


def test_entity_upsert() -> None:
    info = info_of(
        """
| survey |
|        | type                                  | name        | label | save_to   |
|        | select_one_from_file participants.csv | participant | Who   |           |
|        | text                                  | child_name  | Name  | full_name |
| entities |
|          | list_name    | entity_id                        | create_if           | update_if            | label         |
|          | participants | coalesce(${participant}, uuid()) | ${participant} = '' | ${participant} != '' | ${child_name} |
"""
    )
    (decl,) = info.entities
    assert (decl.create, decl.update, decl.label_expr) == (True, True, " /data/child_name ")


def test_json_round_trip() -> None:
    info = info_of(LANGUAGES.replace("Q1 ${q0}", "Q1"), LANGUAGE_SETTINGS)
    for md in (KINDS, ENTITIES):
        info = info_of(md)
        stored = json.loads(json.dumps(field_tree_to_json(info.fields)))
        assert fields_from_json(stored) == info.fields
    assert stored[0]["name"] == "mother"
    assert stored[0]["children"][0]["save_to"] == "full_name"


def test_json_with_missing_optional_keys() -> None:
    (field,) = fields_from_json([{"name": "a", "path": "/data/a", "kind": "input"}])
    assert field == Field(name="a", path="/data/a", kind="input")


HAND_WRITTEN = """<?xml version="1.0" encoding="UTF-8"?>
<h:html xmlns="http://www.w3.org/2002/xforms" xmlns:h="http://www.w3.org/1999/xhtml"
        xmlns:jr="http://openrosa.org/javarosa" xmlns:orx="http://openrosa.org/xforms"
        xmlns:xsd="http://www.w3.org/2001/XMLSchema">
  <h:head>
    <h:title>Hand made</h:title>
    <model>
      <itext>
        <translation lang="kk"><text id="c-yes"><value>Иә</value></text></translation>
        <translation lang="ru" default="true()"><text id="c-yes"><value>Да</value></text></translation>
      </itext>
      <instance>
        <survey id="hand" orx:version="x">
          <group1><answer/><more/></group1>
          <orx:meta><orx:instanceID/></orx:meta>
        </survey>
      </instance>
      <bind nodeset="/survey/group1/answer" type="xsd:string" required="false()"/>
      <bind nodeset="/survey/group1/more" type="xsd:int" required="/survey/group1/answer = 'yes'"/>
      <bind nodeset="/survey/meta/instanceID" type="string" jr:preload="uid"/>
    </model>
  </h:head>
  <h:body>
    <group ref="/survey/group1">
      <label>Group</label>
      <select1 ref="answer">
        <label>Answer <output value="/survey/group1/more"/> now</label>
        <item><label ref="jr:itext('c-yes')"/><value>yes</value></item>
        <item><label>No</label><value>no</value></item>
      </select1>
      <input ref="more"><label>More</label><hint>Only if yes</hint></input>
    </group>
  </h:body>
</h:html>
"""


def test_hand_written_xform() -> None:
    info = parse_xform(HAND_WRITTEN.encode())
    assert (info.form_id, info.version, info.root_name, info.title) == (
        "hand",
        "",
        "survey",
        "Hand made",
    )
    assert info.languages == ("kk", "ru")
    assert info.default_language == "ru"
    fields = by_path(info)
    answer = fields["/survey/group1/answer"]
    assert answer.kind == "select_one"
    assert answer.data_type == "string"
    assert answer.required is False
    assert answer.labels == {"": "Answer ${more} now"}
    assert answer.choices == (Choice("yes", {"kk": "Иә", "ru": "Да"}), Choice("no", {"": "No"}))
    more = fields["/survey/group1/more"]
    assert (more.kind, more.data_type, more.required) == ("input", "int", True)
    assert more.hints == {"": "Only if yes"}
    assert fields["/survey/meta/instanceID"].kind == "hidden"


@pytest.mark.parametrize(
    ("xml", "says"),
    [
        ("<data id='x'/>", "root element"),
        ("<h:html xmlns:h='http://www.w3.org/1999/xhtml'><h:head/></h:html>", "model"),
        (
            "<h:html xmlns:h='http://www.w3.org/1999/xhtml' xmlns='http://www.w3.org/2002/xforms'>"
            "<h:head><model><bind nodeset='/a'/></model></h:head></h:html>",
            "primary instance",
        ),
        (
            "<h:html xmlns:h='http://www.w3.org/1999/xhtml' xmlns='http://www.w3.org/2002/xforms'>"
            "<h:head><model><instance><data><a/></data></instance></model></h:head></h:html>",
            "no id",
        ),
    ],
    ids=["not-html", "no-model", "no-instance", "no-id"],
)
def test_not_an_xform(xml: str, says: str) -> None:
    with pytest.raises(XFormInvalid) as info:
        parse_xform(xml)
    assert info.value.code == "xform.invalid"
    assert says in info.value.message


def test_unsafe_or_broken_xml_is_refused() -> None:
    with pytest.raises(XmlDoctypeForbidden):
        parse_xform('<!DOCTYPE h:html [<!ENTITY x SYSTEM "file:///etc/passwd">]><h:html/>')
    with pytest.raises(XmlError) as info:
        parse_xform("<h:html")
    assert info.value.code == "xml.invalid"
