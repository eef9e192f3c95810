"""Property-based fuzzing of the XLSForm upload boundary (POST /api/v1/forms).

Generated workbooks (valid skeletons with random names, labels in many scripts, types,
expressions, settings, sheet names, empty sheets, formula cells, very long cells, merged cells,
typed values), mutations of real workbooks (bytes and the XML parts inside), and markdown/CSV
text. Whatever comes in, the answer is never a 5xx; a refusal is a 4xx JSON error with a code,
and form problems say where they are (sheet, row); a 201 is a draft that can be read back; and
every answer comes within a bounded time.

Example counts are small so that each test runs in well under half a minute; the database of
found examples is off (no files in the work tree), so every run explores afresh.
"""

from __future__ import annotations

import io
import re
import time
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from tests.conftest import post_file

FORMS = Path(__file__).resolve().parents[2] / "forms"
#: one upload may take this long at most (the compile limit is 30 s; fuzzed forms are small).
#: openpyxl writes at most 32,767 characters to a cell, so longer cells come from the XML
#: mutations and the markdown/CSV forms.
ANSWER_SECONDS = 10.0

FUZZ = settings(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def designer(api_token: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_token('designer')}"}


def upload(client: Any, headers: dict[str, str], data: bytes, filename: str) -> Any:
    """Upload and check the answer against the boundary's promises; return the response."""
    started = time.monotonic()
    response = post_file(client, "/api/v1/forms", data, filename, headers=headers)
    elapsed = time.monotonic() - started
    assert elapsed < ANSWER_SECONDS, f"answered after {elapsed:.1f} s"
    assert response.status_code < 500, response.get_data(as_text=True)[:500]
    body = response.get_json(silent=True)
    assert isinstance(body, dict), "every answer is JSON"
    if response.status_code == 201:
        event("201 draft")
        assert_stored_as_draft(client, headers, body)
        return response
    assert 400 <= response.status_code < 500
    error = body["error"]
    event(f"{response.status_code} {error.get('code')}")  # --hypothesis-show-statistics
    assert isinstance(error["code"], str) and re.fullmatch(
        r"[a-z_]+\.[A-Za-z0-9_.]+", error["code"]
    )
    assert isinstance(error["message"], str) and len(error["message"]) > 10
    assert "Traceback" not in error["message"]
    if error["code"] == "form.invalid" or error["code"].startswith("xlsform."):
        assert error["details"], "form problems are listed"
        for problem in error["details"]:
            assert problem["message"] and problem["code"]
            assert "sheet" in problem and "row" in problem
            assert problem["row"] is None or (
                isinstance(problem["row"], int) and problem["row"] > 0
            )
    return response


def assert_stored_as_draft(client: Any, headers: dict[str, str], body: dict[str, Any]) -> None:
    assert body["state"] == "draft"
    detail = client.get(f"/api/v1/forms/{quote(body['form_id'], safe='')}", headers=headers)
    assert detail.status_code == 200, detail.get_json()
    form = detail.get_json()
    assert form["form_id"] == body["form_id"]
    assert form["draft_version"] == body["version"]
    assert any(v["version"] == body["version"] and v["status"] == "draft" for v in form["versions"])


# -- generated workbooks ---------------------------------------------------------------------

SCRIPTS = st.sampled_from(
    [
        (0x20, 0x7E),  # ASCII
        (0xC0, 0x24F),  # Latin accents
        (0x400, 0x4FF),  # Cyrillic
        (0x600, 0x6FF),  # Arabic
        (0x900, 0x97F),  # Devanagari
        (0xE00, 0xE7F),  # Thai
        (0x4E00, 0x4FFF),  # CJK
        (0x1F300, 0x1F64F),  # emoji
        (0x2000, 0x206F),  # punctuation, bidi controls (U+202E ...)
    ]
)


@st.composite
def script_text(draw: Any, max_size: int = 40, min_size: int = 0) -> str:
    low, high = draw(SCRIPTS)
    alphabet = st.characters(min_codepoint=low, max_codepoint=high, exclude_categories=("Cs", "Cc"))
    text = str(draw(st.text(alphabet, min_size=min_size, max_size=max_size)))
    return text if text.strip() or not min_size else "x" + text


NAMES = st.one_of(
    st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True),
    st.sampled_from(["age", "name", "a b", "1st", "é", "x-y", "_", "meta", "instanceID", ""]),
    script_text(max_size=12),
)
TYPES = st.one_of(
    st.sampled_from(
        [
            "text",
            "integer",
            "decimal",
            "note",
            "date",
            "time",
            "dateTime",
            "select_one yn",
            "select_multiple yn",
            "select_one missing",
            "select_one yn or_other",
            "select_one_from_file cases.csv",
            "rank yn",
            "calculate",
            "geopoint",
            "geotrace",
            "image",
            "audio",
            "barcode",
            "acknowledge",
            "range",
            "hidden",
            "start",
            "end",
            "deviceid",
            "begin_group",
            "end_group",
            "begin group",
            "end group",
            "begin_repeat",
            "end_repeat",
            "csv-external",
            "trigger",
            "",
        ]
    ),
    script_text(max_size=15),
)
OPERATORS = st.sampled_from(
    [" = ", " != ", " < ", " >= ", " and ", " or ", " + ", " - ", " * ", " div ", " mod ", " | "]
)
FUNCTIONS = st.sampled_from(
    [
        "selected",
        "count-selected",
        "string-length",
        "today",
        "now",
        "if",
        "regex",
        "concat",
        "coalesce",
        "not",
        "round",
        "jr:choice-name",
        "pulldata",
        "frobnicate",
        "position",
        "",
    ]
)


def expressions(names: list[str]) -> Any:
    refs = st.sampled_from(names).map(lambda n: "${" + n + "}") if names else st.just("${x}")
    atoms = st.one_of(
        refs,
        st.integers(-(10**12), 10**12).map(str),
        st.sampled_from([".", "'yes'", '"no"', "true()", "''", "${", "}", "(", ")", "'", "[1]"]),
        script_text(max_size=10).map(lambda t: f"'{t}'"),
        script_text(max_size=10),
    )

    def extend(children: Any) -> Any:
        return st.one_of(
            st.tuples(children, OPERATORS, children).map("".join),
            children.map(lambda c: f"({c})"),
            st.tuples(FUNCTIONS, st.lists(children, max_size=3)).map(
                lambda fa: f"{fa[0]}({', '.join(fa[1])})"
            ),
        )

    return st.recursive(atoms, extend, max_leaves=8)


CELL_VALUES = st.one_of(
    st.none(),
    st.integers(-(10**15), 10**15),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.datetimes(),
    st.sampled_from(["=1+1", "=A1", '=HYPERLINK("http://example.org")', "=NOW()", "@x", "-1"]),
)
LONG_TEXT = st.integers(30_000, 40_000).map(lambda n: "ä" * n)
SHEET_NAMES = st.one_of(
    st.sampled_from(["survey", "Survey", "SURVEY", "survey ", "choices", "settings", "entities"]),
    st.from_regex(r"[A-Za-z0-9 _-]{1,31}", fullmatch=True),
)


TAME_TYPES = st.sampled_from(
    [
        "text",
        "integer",
        "decimal",
        "note",
        "date",
        "select_one yn",
        "select_multiple yn",
        "geopoint",
        "image",
        "acknowledge",
        "calculate",
    ]
)
IDENTIFIERS = st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True)


@st.composite
def tame_rows(draw: Any) -> tuple[list[list[Any]], list[list[Any]]]:
    """survey and settings rows of a form pyxform should accept: random texts, sane structure."""
    names = draw(st.lists(IDENTIFIERS, min_size=1, max_size=8, unique=True))
    survey: list[list[Any]] = [["type", "name", "label", "relevant", "calculation", "hint"]]
    for index, name in enumerate(names):
        kind = draw(TAME_TYPES)
        label = (
            draw(st.one_of(script_text(min_size=1), LONG_TEXT))
            if index == 0
            else draw(script_text(min_size=1))
        )
        earlier = names[:index]
        relevant = ""
        if earlier and draw(st.booleans()):
            ref = "${" + draw(st.sampled_from(earlier)) + "}"
            relevant = draw(
                st.sampled_from(
                    [f"{ref} != ''", f"string-length({ref}) > 2", f"{ref} = 'yes' or {ref} = 'no'"]
                )
            )
        calculation = "1 + 1" if kind == "calculate" else ""
        hint = draw(st.one_of(st.just(""), script_text(), CELL_VALUES))
        survey.append(
            [kind, name, "" if kind == "calculate" else label, relevant, calculation, hint]
        )
    form_settings = [
        ["form_id", "version", "form_title", "default_language"],
        [
            draw(IDENTIFIERS),
            draw(st.integers(1, 10**12).map(str)),
            draw(script_text(min_size=1)),
            draw(st.sampled_from(["", "English (en)"])),
        ],
    ]
    return survey, form_settings


@st.composite
def wild_rows(draw: Any) -> tuple[list[list[Any]], list[list[Any]]]:
    """survey and settings rows with random content in every cell."""
    names = draw(st.lists(NAMES, min_size=1, max_size=8))
    header = ["type", "name", "label", "relevant", "constraint", "calculation", "required"]
    header += draw(
        st.lists(
            st.sampled_from(
                [
                    "label::Español (es)",
                    "hint",
                    "appearance",
                    "choice_filter",
                    "repeat_count",
                    "default",
                    "save_to",
                    "parameters",
                    "bind::jr:preload",
                ]
            ),
            max_size=3,
            unique=True,
        )
    )
    survey: list[list[Any]] = [header]
    for name in names:
        row: list[Any] = [
            draw(TYPES),
            name,
            draw(st.one_of(script_text(), LONG_TEXT))
            if draw(st.integers(0, 20)) == 0
            else draw(script_text()),
            draw(st.one_of(st.just(""), expressions(names))),
            draw(st.one_of(st.just(""), expressions(names))),
            draw(st.one_of(st.just(""), expressions(names))),
            draw(st.sampled_from(["", "yes", "no", "true", "TRUE", "maybe"])),
        ]
        row += [draw(st.one_of(script_text(max_size=10), CELL_VALUES)) for _ in header[7:]]
        survey.append(row)
    form_settings = [
        ["form_id", "version", "form_title", "default_language", "instance_name", "style"],
        [
            draw(st.one_of(IDENTIFIERS, NAMES)),
            draw(st.one_of(st.integers(0, 10**12).map(str), script_text(max_size=12), CELL_VALUES)),
            draw(script_text()),
            draw(st.sampled_from(["", "English (en)", "Español (es)", "xx"])),
            draw(st.one_of(st.just(""), expressions(names))),
            draw(st.sampled_from(["", "pages", "theme-grid", "nonsense"])),
        ],
    ]
    return survey, form_settings


@st.composite
def workbooks(draw: Any) -> bytes:
    """A workbook: half of them forms pyxform accepts, half with random content everywhere;
    now and then a misnamed, empty or stray sheet, merged cells or a cell far away."""
    tame = draw(st.booleans())
    survey, form_settings = draw(tame_rows() if tame else wild_rows())
    choices = [
        ["list_name", "name", "label"],
        ["yn", "yes", draw(script_text(min_size=1))],
        ["yn", "no", draw(script_text(min_size=1))],
    ]
    if not tame:
        choices += [
            ["yn", draw(NAMES), draw(script_text())] for _ in range(draw(st.integers(0, 3)))
        ]
    sheets: list[tuple[str, list[list[Any]]]] = [("survey", survey), ("choices", choices)]
    if tame or draw(st.integers(0, 9)):  # now and then no settings sheet
        sheets.append(("settings", form_settings))
    if not tame and draw(st.integers(0, 3)) == 0:
        sheets[0] = (draw(SHEET_NAMES), survey)  # a misnamed survey sheet
    for _ in range(draw(st.integers(0, 2))):  # empty or stray sheets
        stray = draw(SHEET_NAMES if not tame else st.sampled_from(["notes", "Sheet2", "ملاحظات"]))
        sheets.insert(draw(st.integers(0, len(sheets))), (stray, [] if tame else [["x", "y"]]))
    book = Workbook()
    assert book.active is not None
    book.remove(book.active)
    for title, rows in sheets:
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
        if rows and not tame and draw(st.integers(0, 5)) == 0:  # merged cells
            last = draw(st.integers(2, max(2, len(rows))))
            sheet.merge_cells(f"A{last}:C{last}")
        if rows and draw(st.integers(0, 5)) == 0:  # a lone cell far below or to the right
            sheet.cell(
                row=len(rows) + draw(st.integers(2, 100)),
                column=draw(st.integers(8, 40)),
                value=draw(CELL_VALUES),
            )
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


@settings(FUZZ, max_examples=35)
@given(data=workbooks())
def test_generated_workbooks(client: Any, designer: dict[str, str], data: bytes) -> None:
    upload(client, designer, data, "fuzz.xlsx")


# -- mutated real workbooks ------------------------------------------------------------------

REAL = sorted(FORMS.glob("*.xlsx"))
XML_JUNK = st.sampled_from(
    [
        b"<row>",
        b"</c>",
        b'<c r="XFD1048576" t="s"><v>999999</v></c>',
        b'<row r="1048577">',
        b'<c t="inlineStr"><is><t>' + b"x" * 40_000 + b"</t></is></c>",
        b"<!DOCTYPE x>",
        b"&amp;",
        b"&undefined;",
        b"\x00",
        b"\xff\xfe",
        b'r="0"',
        b't="e"',
        b"<v>1e309</v>",
        b"]]>",
    ]
)


def mutate_entry(data: bytes, name: str, position: float, junk: bytes, cut: int) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(data))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == name:
                at = int(len(content) * position)
                content = content[:at] + junk + content[at + cut :]
            target.writestr(info.filename, content)
    return buffer.getvalue()


@st.composite
def mutated_workbooks(draw: Any) -> tuple[bytes, str]:
    base = draw(st.sampled_from(REAL)).read_bytes()
    how = draw(st.sampled_from(["entry", "entry", "entry", "flip", "truncate", "splice"]))
    if how == "entry":
        names = zipfile.ZipFile(io.BytesIO(base)).namelist()
        data = mutate_entry(
            base,
            draw(st.sampled_from(names)),
            draw(st.floats(0, 1)),
            draw(st.one_of(XML_JUNK, st.binary(max_size=40))),
            draw(st.integers(0, 200)),
        )
    elif how == "flip":
        data = bytearray(base)
        for _ in range(draw(st.integers(1, 8))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        data = bytes(data)
    elif how == "truncate":
        data = base[: draw(st.integers(0, len(base)))]
    else:
        at = draw(st.integers(0, len(base)))
        data = base[:at] + draw(st.binary(max_size=200)) + base[at:]
    filename = draw(
        st.sampled_from(
            [
                "form.xlsx",
                "form.xlsx",
                "form.XLSX",
                "form.xls",
                "form.md",
                "form.csv",
                "form.xlsm",
                "form",
            ]
        )
    )
    return data, filename


@settings(FUZZ, max_examples=60)
@given(case=mutated_workbooks())
def test_mutated_real_workbooks(
    client: Any, designer: dict[str, str], case: tuple[bytes, str]
) -> None:
    upload(client, designer, *case)


# -- markdown and CSV text -------------------------------------------------------------------


@st.composite
def text_forms(draw: Any) -> tuple[bytes, str]:
    """A markdown or CSV form: half of them valid, half with random content in every cell."""
    csv = draw(st.booleans())
    tame = draw(st.booleans())
    sep = "," if csv else "|"

    def cell(text: str) -> str:
        if csv:
            return '"' + text.replace('"', '""') + '"'
        return text.replace("|", "\\|") if tame else text

    def line(sheet: str, cells: list[str]) -> str:
        row = sep.join([sheet, *map(cell, cells)])
        return row if csv else f"| {row} |"

    names = draw(st.lists(IDENTIFIERS if tame else NAMES, min_size=1, max_size=6, unique=tame))
    lines = [line("survey", []), line("", ["type", "name", "label", "relevant"])]
    for index, name in enumerate(names):
        if tame:
            label = draw(st.one_of(script_text(min_size=1), LONG_TEXT))
            kind = draw(TAME_TYPES.filter(lambda t: t != "calculate"))
            relevant = "${" + names[index - 1] + "} != ''" if index else ""
        else:
            label = draw(LONG_TEXT) if draw(st.integers(0, 10)) == 0 else draw(script_text())
            kind, relevant = draw(TYPES), draw(expressions(names))
        lines.append(line("", [kind, name, label.replace("\n", " ") if tame else label, relevant]))
    lines += [line("choices", []), line("", ["list_name", "name", "label"])]
    lines += [line("", ["yn", "yes", "Yes"]), line("", ["yn", "no", "No"])]
    form_id = draw(IDENTIFIERS if tame else NAMES)
    version = draw(st.integers(1, 10**9).map(str) if tame else script_text(max_size=8))
    lines += [line("settings", []), line("", ["form_id", "version"]), line("", [form_id, version])]
    for _ in range(draw(st.integers(0, 0 if tame else 3))):  # stray lines, some with controls
        stray = draw(st.one_of(script_text(max_size=60), st.text(max_size=20)))
        lines.insert(draw(st.integers(0, len(lines))), stray)
    text = "\n".join(lines)
    return text.encode("utf-8", "surrogatepass"), "form.csv" if csv else "form.md"


@settings(FUZZ, max_examples=40)
@given(case=text_forms())
def test_markdown_and_csv_forms(
    client: Any, designer: dict[str, str], case: tuple[bytes, str]
) -> None:
    upload(client, designer, *case)


@settings(FUZZ, max_examples=30)
@given(
    data=st.binary(max_size=2_000), filename=st.sampled_from(["f.xlsx", "f.xls", "f.md", "f.csv"])
)
def test_random_bytes(client: Any, designer: dict[str, str], data: bytes, filename: str) -> None:
    upload(client, designer, data, filename)
