"""The programme's own forms in forms/: they compile cleanly, carry their languages and case
work, and pass ODK Validate (JavaRosa)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fieldapp.cli import programme_form_files
from fieldapp.forms.xform import iter_fields, parse_xform
from fieldapp.forms.xlsform import compile_xlsform, odk_validate

FORMS_DIR = Path(__file__).resolve().parent.parent / "forms"
FILES = programme_form_files(FORMS_DIR)
BASE_LANGUAGES = {"English (en)", "Русский (ru)", "Қазақша (kk)"}
CHILD_ANSWERS = {"school_checkin", "wellbeing_screening"}

EXPECTED_ENTITIES = {
    "family_registration": {
        ("households", True, False),
        ("adults", True, False),
        ("children", True, False),
    },
    "home_visit": {("households", False, True)},
    "school_checkin": {("children", False, True)},
    "wellbeing_screening": {("adults", False, True), ("children", False, True)},
}


def _compiled(path: Path):
    return compile_xlsform(path.read_bytes(), filename=path.name)


def test_the_four_programme_forms_are_there():
    assert sorted(p.stem for p in FILES) == sorted(EXPECTED_ENTITIES)
    assert all(p.suffix == ".xlsx" for p in FILES)


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_form_compiles_without_warnings_and_has_its_languages(path: Path):
    compiled = _compiled(path)
    assert compiled.warnings == ()
    info = parse_xform(compiled.xform)
    assert info.form_id == path.stem
    assert info.version
    expected = BASE_LANGUAGES | ({"العربية (ar)"} if path.stem in CHILD_ANSWERS else set())
    assert set(info.languages) == expected
    for field in iter_fields(info.fields):
        if field.kind in ("input", "select_one", "select_multiple", "note", "upload"):
            assert set(field.labels) >= BASE_LANGUAGES, f"{field.path} lacks a translation"


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_form_declares_its_case_work(path: Path):
    info = parse_xform(_compiled(path).xform)
    declared = {(e.dataset, e.create, e.update) for e in info.entities}
    assert declared == EXPECTED_ENTITIES[path.stem]
    for entity in info.entities:
        assert entity.properties, f"{entity.dataset} saves no properties"


@pytest.mark.parametrize(
    "path", [p for p in FILES if p.stem != "family_registration"], ids=lambda p: p.stem
)
def test_follow_up_forms_compute_urgent_and_read_a_case_list(path: Path):
    info = parse_xform(_compiled(path).xform)
    names = {f.name: f for f in iter_fields(info.fields)}
    assert "urgent" in names
    assert names["urgent"].calculate
    assert any(m.kind == "file-csv" for m in info.media)


@pytest.mark.java
@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_form_passes_odk_validate(path: Path):
    result = odk_validate(_compiled(path).xform, timeout=120)
    assert result.ran
    assert result.problems == ()
