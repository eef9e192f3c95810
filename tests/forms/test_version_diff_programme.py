"""The diff on a real programme workbook: family_registration.xlsx as published, the JavaRosa
registrations of tests/data sent through OpenRosa, then a second version edited the way a
designer edits it in Excel (openpyxl here): a passport choice removed, the household size made
text, the district no longer saved to the household."""

from __future__ import annotations

import io
import re
from typing import Any

import openpyxl
import pytest

from tests.cases.support import DATA, ROOT, attachments_of
from tests.openrosa.helpers import Collect, device_for

CASES = ("seed1", "seed2", "seed3", "children3", "no_consent")


def _edited_workbook() -> bytes:
    book = openpyxl.load_workbook(ROOT / "forms" / "family_registration.xlsx")
    survey = book["survey"]
    header = [c.value for c in survey[1]]
    type_col, name_col = header.index("type"), header.index("name")
    save_col = header.index("save_to")
    for row in survey.iter_rows(min_row=2):
        if row[name_col].value == "household_size":
            row[type_col].value = "text"
        if row[name_col].value == "district":
            row[save_col].value = None
    choices = book["choices"]
    for row in choices.iter_rows(min_row=2):
        if (row[0].value, row[1].value) == ("passport", "in_process"):
            choices.delete_rows(row[0].row)
            break
    settings = book["settings"]
    version_col = [c.value for c in settings[1]].index("version")
    settings.cell(row=2, column=version_col + 1).value = "2026120301"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _answered(element: str, value: str | None = None) -> int:
    """How many of the sent registrations have this answer (read from their XML)."""
    count = 0
    for case in CASES:
        xml = (DATA / "family_registration" / case / "submission.xml").read_text()
        found = re.search(rf"<{element}>([^<]+)</{element}>", xml)
        if found and (value is None or found.group(1) == value):
            count += 1
    return count


@pytest.fixture
def designer(api_token: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_token('designer')}"}


def test_a_designers_excel_edit_of_a_programme_form(
    app: Any, client: Any, designer: dict[str, str], make_user: Any
) -> None:
    source = (ROOT / "forms" / "family_registration.xlsx").read_bytes()
    first = client.post(
        "/api/v1/forms",
        data={"file": (io.BytesIO(source), "family_registration.xlsx")},
        headers=designer,
        content_type="multipart/form-data",
    )
    assert first.status_code == 201, first.json
    published = client.post(
        "/api/v1/forms/family_registration/publish",
        json={"acknowledge_warnings": True, "note": "As built."},
        headers=designer,
    )
    assert published.status_code == 200, published.json
    worker = make_user("field_worker", regions=["north"])
    phone = Collect(app, f"/collect/key/{device_for(worker)}")
    assert phone.get("/forms/family_registration.xml", openrosa=False).status_code == 200
    for case in CASES:
        path = DATA / "family_registration" / case
        sent = phone.submit((path / "submission.xml").read_bytes(), attachments_of(path))
        assert sent.status_code == 201, (case, sent.data)

    second = client.post(
        "/api/v1/forms",
        data={"file": (io.BytesIO(_edited_workbook()), "family_registration.xlsx")},
        headers=designer,
        content_type="multipart/form-data",
    )
    assert second.status_code == 201, second.json
    assert second.json["version"] == "2026120301"
    diff = client.get("/api/v1/forms/family_registration/diff", headers=designer).json
    assert (diff["from"]["version"], diff["to"]["version"]) == ("2026112101", "2026120301")
    assert diff["summary"] == {"added": 0, "removed": 0, "changed": 3, "moved": 0}
    questions = {q["name"]: q for q in diff["questions"]}
    passport = questions["passport_status"]
    (removed,) = passport["choices"]
    assert (removed["change"], removed["value"]) == ("removed", "in_process")
    used = _answered("passport_status", "in_process")
    assert used == 3
    assert removed["submissions"] == {"total": used, "by_version": {"2026112101": used}}
    size = questions["household_size"]
    assert {"attribute": "type", "old": "integer", "new": "text"} in size["changes"]
    assert size["submissions"]["total"] == _answered("household_size") == 4
    district = questions["district"]
    assert district["changes"] == [{"attribute": "save_to", "old": "district", "new": None}]
    messages = [e["message"] for e in diff["effects"]]
    assert f"Choice `in_process` of `passport_status` removed: {used} submissions used it." in (
        messages
    )
    assert "Property `district` of `households` is no longer updated by this form." in messages
    assert any(
        m.startswith("Property `household_size` of `households` now gets text answers")
        for m in messages
    )
    assert diff["submissions"] == {"total": len(CASES), "by_version": {"2026112101": len(CASES)}}
    versions = client.get("/api/v1/forms/family_registration/versions", headers=designer).json
    current = next(v for v in versions["versions"] if v["version"] == "2026112101")
    assert (current["submissions"], current["phones"], current["publish_note"]) == (
        len(CASES),
        1,
        "As built.",
    )
