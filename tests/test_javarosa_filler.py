"""The JavaRosa filler the suite uses to make submissions as ODK Collect would."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from lxml import etree

from fieldapp.forms.xlsform import compile_xlsform
from tests.conftest import need
from tests.javarosa import (
    EXIT_MISSING_MEDIA,
    EXIT_REJECTED,
    FillError,
    build_filler,
    fill,
    fill_result,
    javarosa_available,
    session_build,
)

pytestmark = pytest.mark.java

FORMS_DIR = Path(__file__).resolve().parent.parent / "forms"
KNOWN = "22222222-2222-4222-8222-222222222222"
HOUSEHOLDS_CSV = (
    "name,label,__version,__trunkVersion,__branchId,last_visit,next_visit\n"
    "11111111-1111-4111-8111-111111111111,Ivanova - Almaty,3,3,,2026-01-01,2026-02-01\n"
    f"{KNOWN},Petrova - Shymkent,7,5,b1,2025-12-01,2026-01-15\n"
).encode()


@pytest.fixture(autouse=True)
def _javarosa() -> None:
    need(javarosa_available(), "javac or pyxform's ODK_Validate.jar not found (JavaRosa filler)")


@pytest.fixture(scope="session")
def xforms() -> dict[str, str]:
    out = {}
    for name in ("family_registration", "home_visit"):
        path = FORMS_DIR / f"{name}.xlsx"
        out[name] = compile_xlsform(path.read_bytes(), filename=path.name).xform
    return out


def _one(root: etree._Element, path: str) -> etree._Element:
    found = root.xpath(path)
    assert len(found) == 1, (path, etree.tostring(root))
    return found[0]


def test_family_registration_has_instance_id_and_entities(xforms, tmp_path):
    result = fill_result(
        xforms["family_registration"],
        {},
        {
            "/data/consent/consent_given": "yes",
            "/data/household/settlement": "Almaty",
            "/data/household/household_size": "4",
            "/data/mother/mother_surname": "Ivanova",
            "/data/children/child_name": ["Aru", "Dana"],
            "#property:username": "worker1",
        },
        workdir=tmp_path,
    )
    root = etree.fromstring(result.xml)
    assert root.tag == "data"
    assert root.get("id") == "family_registration"
    instance_id = _one(root, "/data/meta/instanceID").text
    assert instance_id.startswith("uuid:")
    assert instance_id == result.instance_id
    assert _one(root, "/data/username").text == "worker1"
    assert _one(root, "/data/household/household_size").text == "4"

    household = _one(root, "/data/meta/entity")
    assert household.get("dataset") == "households"
    assert household.get("create") == "1"
    assert len(household.get("id")) == 36
    assert _one(root, "/data/meta/entity/label").text == "Ivanova - Almaty"
    mother = _one(root, "/data/mother/meta/entity")
    assert mother.get("dataset") == "adults"
    assert _one(root, "/data/mother/mother_household_id").text == household.get("id")

    children = root.xpath("/data/children")
    assert [c.findtext("child_name") for c in children] == ["Aru", "Dana"]
    ids = {c.find("meta/entity").get("id") for c in children}
    assert len(ids) == 2
    assert household.get("id") not in ids
    assert _one(root, "/data/children_count").text == "2"
    # required signature: a dummy image next to the instance, as Collect keeps media
    assert _one(root, "/data/consent/consent_signature").text in result.attachments
    assert all(path.is_file() for path in result.attachments.values())


def test_repeats_get_no_instance_unless_asked_and_optional_fields_stay_blank(xforms, tmp_path):
    xml = fill(
        xforms["family_registration"], {}, {"/data/consent/consent_given": "yes"}, workdir=tmp_path
    )
    root = etree.fromstring(xml)
    assert root.xpath("/data/children") == []
    assert _one(root, "/data/children_count").text == "0"
    assert _one(root, "/data/mother/mother_phone").text is None


def test_non_relevant_groups_are_left_out(xforms, tmp_path):
    xml = fill(
        xforms["family_registration"], {}, {"/data/consent/consent_given": "no"}, workdir=tmp_path
    )
    root = etree.fromstring(xml)
    assert root.xpath("/data/household | /data/mother") == []
    assert _one(root, "/data/meta/instanceName").text == "Registration declined"


def test_home_visit_updates_the_household_chosen_from_the_csv(xforms, tmp_path):
    xml = fill(
        xforms["home_visit"],
        {"households.csv": HOUSEHOLDS_CSV},
        {
            "/data/household": KNOWN,
            "/data/visit_outcome": "met",
            "/data/needs_section/needs": "food legal",
        },
        workdir=tmp_path,
    )
    root = etree.fromstring(xml)
    entity = _one(root, "/data/meta/entity")
    assert entity.get("dataset") == "households"
    assert entity.get("update") == "1"
    assert entity.get("id") == KNOWN
    assert entity.get("baseVersion") == "7"
    assert entity.get("trunkVersion") == "5"
    assert entity.get("branchId") == "b1"
    assert _one(root, "/data/household_label").text == "Petrova - Shymkent"
    assert _one(root, "/data/prev_last_visit").text == "2025-12-01"
    assert _one(root, "/data/needs_section/needs").text == "food legal"
    assert _one(root, "/data/meta/instanceID").text.startswith("uuid:")


def test_a_household_not_in_the_csv_is_refused(xforms, tmp_path):
    with pytest.raises(FillError, match="not a choice of /data/household") as err:
        fill(
            xforms["home_visit"],
            {"households.csv": HOUSEHOLDS_CSV},
            {"/data/household": "33333333-3333-4333-8333-333333333333"},
            workdir=tmp_path,
        )
    assert err.value.returncode == EXIT_REJECTED


def test_a_missing_case_list_fails_instead_of_using_an_empty_placeholder(xforms, tmp_path):
    with pytest.raises(FillError, match="households") as err:
        fill(xforms["home_visit"], {}, {"/data/household": KNOWN}, workdir=tmp_path)
    assert err.value.returncode == EXIT_MISSING_MEDIA


@pytest.mark.parametrize(
    "answers",
    [
        {"/data/household/household_size": "99", "/data/consent/consent_given": "yes"},
        {"/data/no_such_question": "x"},
        {"/data/household/settlement": "X", "/data/consent/consent_given": "no"},
    ],
    ids=["constraint", "unknown-path", "non-relevant"],
)
def test_answers_collect_would_not_take_are_errors(xforms, tmp_path, answers):
    with pytest.raises(FillError) as err:
        fill(xforms["family_registration"], {}, answers, workdir=tmp_path)
    assert err.value.returncode == EXIT_REJECTED


def test_the_filler_is_compiled_once_per_session():
    first = session_build()
    started = time.monotonic()
    assert session_build() == first
    assert build_filler(first.parent) == first  # cached by the source's hash
    assert time.monotonic() - started < 0.5
    assert (first / "FieldappFill.class").is_file()
