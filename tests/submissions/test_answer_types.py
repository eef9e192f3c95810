"""submissions.parsing.invalid_answers: which answers do not parse as their field's type (issue 10
item 10). Pure tests against forms compiled by the real pyxform, and every stored JavaRosa
submission of the programme forms, none of which may be flagged."""

from __future__ import annotations

from pathlib import Path

import pytest

from fieldapp.forms.xform import Choice, Field, XFormInfo, parse_xform
from fieldapp.forms.xlsform import compile_xlsform
from fieldapp.submissions.parsing import (
    EXPECTED_TEXT,
    describe,
    invalid_answers,
    submission_data,
)

DATA = Path(__file__).resolve().parent.parent / "data" / "submissions"

TYPES = """
| survey  |                              |           |          |            |
|         | type                         | name      | label    | appearance |
|         | date                         | d         | D        |            |
|         | dateTime                     | dt        | DT       |            |
|         | time                         | t         | T        |            |
|         | integer                      | i         | I        |            |
|         | decimal                      | n         | N        |            |
|         | geopoint                     | p         | P        |            |
|         | geotrace                     | line      | Line     |            |
|         | geoshape                     | shape     | Shape    |            |
|         | select_one yn                | one       | One      |            |
|         | select_multiple yn           | many      | Many     |            |
|         | select_one_from_file f.csv   | from_file | File     |            |
|         | select_one sx                | searched  | Searched | search('f') |
|         | text                         | free      | Free     |            |
|         | begin_repeat                 | kids      | Kids     |            |
|         | date                         | dob       | DOB      |            |
|         | end_repeat                   |           |          |            |
| choices |                              |           |          |            |
|         | list_name                    | name      | label    |            |
|         | yn                           | yes       | Yes      |            |
|         | yn                           | no        | No       |            |
|         | sx                           | name_key  | label    |            |
| settings |                             |           |          |            |
|         | form_id                      | version   |          |            |
|         | types                        | 1         |          |            |
"""


@pytest.fixture(scope="module")
def form() -> XFormInfo:
    return parse_xform(compile_xlsform(TYPES.encode(), filename="types.md").xform)


def flags(form: XFormInfo, **answers: str) -> dict[str, str]:
    body = "".join(f"<{k}>{v}</{k}>" for k, v in answers.items() if k != "kids")
    body += answers.get("kids", "")
    xml = f'<data id="types"><meta><instanceID>uuid:x</instanceID></meta>{body}</data>'
    data = submission_data(xml.encode(), form.fields)
    return {f["path"]: f["expected"] for f in invalid_answers(data, form.fields)}


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("d", "2026-02-28"),
        ("d", " 2024-02-29 "),
        ("dt", "2026-11-21T10:03:11.123+03:00"),
        ("dt", "2026-11-21T10:03:11.266Z"),
        ("dt", "2026-11-21T10:03"),
        ("t", "10:03:11.123+05:00"),
        ("t", "23:59"),
        ("i", "-12"),
        ("i", "2147483647"),
        ("n", "-3.25"),
        ("n", "1e3"),
        ("p", "-1.258652 36.77493 1646.3 6.3"),
        ("line", "1 2 0 0;1.5 2.5 0 0"),
        ("shape", "1 2;1 3;2 3;1 2;"),
        ("one", "yes"),
        ("many", "yes no"),
        ("from_file", "=anything"),  # choices in a file: not checked here
        ("searched", "=anything"),  # search(): choices looked up on the phone
        ("free", "=HYPERLINK(1)"),  # text is text
        ("d", ""),  # no answer
    ],
)
def test_valid_answers_are_not_flagged(form: XFormInfo, name: str, text: str) -> None:
    assert flags(form, **{name: text}) == {}


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("d", '=HYPERLINK("http://x/")', "date"),
        ("d", "2026-02-30", "date"),
        ("d", "20261121", "date"),
        ("d", "2026-W47-1", "date"),
        ("dt", "2026-11-21", "dateTime"),
        ("dt", "2026-11-21T25:00:00Z", "dateTime"),
        ("t", "24:00", "time"),
        ("t", "+1", "time"),
        ("i", "2147483648", "int"),
        ("i", "4.5", "int"),
        ("i", "1" * 5000, "int"),  # more digits than Python converts: a flag, not a crash
        ("n", "NaN", "decimal"),
        ("n", "-1+2", "decimal"),
        ("p", "91 0", "geopoint"),
        ("p", "@SUM(1)", "geopoint"),
        ("line", "1 2;x y", "geotrace"),
        ("shape", ";", "geoshape"),
        ("one", "maybe", "select_one"),
        ("one", "yes no", "select_one"),
        ("many", "yes =1+1", "select_multiple"),
    ],
)
def test_answers_not_of_their_type_are_flagged(
    form: XFormInfo, name: str, text: str, expected: str
) -> None:
    assert flags(form, **{name: text}) == {f"/data/{name}": expected}
    assert expected in EXPECTED_TEXT


def test_repeat_positions_in_paths(form: XFormInfo) -> None:
    kids = "<kids><dob>2020-01-01</dob></kids><kids><dob>-1</dob></kids>"
    assert flags(form, kids=kids) == {"/data/kids[2]/dob": "date"}
    xml = f'<data id="types">{kids}<meta><instanceID>uuid:x</instanceID></meta></data>'
    data = submission_data(xml.encode(), form.fields)
    (flag,) = invalid_answers(data, form.fields)
    assert flag == {"path": "/data/kids[2]/dob", "field": "/data/kids/dob", "expected": "date"}


def test_describe_marks_flagged_answers_and_shows_them_as_sent(form: XFormInfo) -> None:
    xml = (
        b'<data id="types"><one>=1+1</one><d>2026-01-01</d>'
        b"<kids><dob>x</dob></kids><meta><instanceID>uuid:x</instanceID></meta></data>"
    )
    data = submission_data(xml, form.fields)
    items = describe(data, form.fields, None, invalid=invalid_answers(data, form.fields))
    by_name = {i.name: i for i in items}
    assert by_name["one"].invalid == "select_one"
    assert by_name["one"].display == "=1+1"
    assert by_name["d"].invalid is None
    (entry,) = by_name["kids"].instances
    assert entry[0].invalid == "date"


def test_rank_against_its_choices() -> None:
    field = Field(
        name="r",
        path="/data/r",
        kind="rank",
        data_type="odk:rank",
        choices=(Choice("a", {}), Choice("b", {})),
    )
    assert invalid_answers({"r": "b a"}, (field,)) == []
    assert invalid_answers({"r": "b z"}, (field,)) == [
        {"path": "/data/r", "field": "/data/r", "expected": "rank"}
    ]


@pytest.mark.parametrize(
    "case",
    sorted(p.parent for p in DATA.glob("*/*/submission.xml")),
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_no_javarosa_submission_is_flagged(case: Path) -> None:
    form = parse_xform((case.parent / "form.xml").read_bytes())
    data = submission_data((case / "submission.xml").read_bytes(), form.fields)
    assert invalid_answers(data, form.fields) == []
