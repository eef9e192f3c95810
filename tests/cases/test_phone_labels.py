"""What a phone's case picker shows (``CaseList.phone_label``): the code and the words the
list's designer chose — no name unless the programme switches names on for the list — the
same in Collect's CSV and in /fill, and a changed setting reaches phones at their next sync."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from fieldapp.cases import phone_labels, services
from fieldapp.cases.models import Case, CaseList
from fieldapp.db import db
from fieldapp.errors import Invalid
from tests.cases.support import SEED1_HOUSEHOLD, SEED1_NAMES, SEED1_SETTLEMENT, registration
from tests.conftest import Browser

SURNAME = "oscar mike"  # the mother's surname in seed1, in the household's own label


def _approved(programme) -> Case:
    programme["coord"].api.review(programme["worker"].submit(*registration("seed1")))
    return db.session.scalars(select(Case).where(Case.uuid == SEED1_HOUSEHOLD)).one()


def _label(programme) -> str:
    (row,) = programme["worker"].rows()
    return row["label"]


def test_the_default_label_tells_families_apart_without_naming_anyone(programme):
    household = _approved(programme)
    label = _label(programme)
    parts = label.split(" · ")
    assert parts[0] == household.code
    assert SEED1_SETTLEMENT in parts and str(household.properties["household_size"]) in parts
    assert any(p.startswith("ages ") for p in parts)  # the household's children and mother
    assert any(p.startswith(("due ", "overdue since ")) for p in parts)
    for name in SEED1_NAMES:
        if name != SEED1_SETTLEMENT:
            assert name not in label


def test_designer_chooses_the_parts_and_the_phone_gets_them_at_its_next_sync(programme, app):
    _approved(programme)
    before = programme["worker"].manifest_hash()
    designer = programme.person("designer", "designer", [])
    response = designer.api.patch(
        "/api/v1/case-lists/households",
        {"phone_label": ["district", "hosting_relatives"]},
    )
    assert response.status_code == 200, response.json
    assert response.json["phone_label"] == ["district", "hosting_relatives"]
    label = _label(programme)
    household = db.session.scalars(select(Case).where(Case.uuid == SEED1_HOUSEHOLD)).one()
    # the choice by its label in the form, not its name ("no_relatives")
    assert label == f"{household.code} · oscar echo · Nobody: own or rented home"
    assert programme["worker"].manifest_hash() != before  # phones download the list again

    # the same file for /fill (ODK Web Forms, signed in in the browser)
    web = Browser(app.test_client())
    assert web.login(programme["worker"].username).status_code == 302
    csv = web.get("/fill/collect/forms/home_visit/attachments/households.csv").data.decode()
    assert label in csv


def test_names_only_when_switched_on_for_the_list(programme):
    household = _approved(programme)
    code, own_label = household.code, household.label
    designer = programme.person("designer", "designer", [])
    refused = designer.api.patch("/api/v1/case-lists/adults", {"phone_label": ["phone"]})
    assert refused.status_code == 422
    assert refused.json["error"]["code"] == "case_list.identifying_label_part"
    unknown = designer.api.patch("/api/v1/case-lists/households", {"phone_label": ["nope"]})
    assert unknown.json["error"]["code"] == "case_list.unknown_label_part"
    assert SURNAME not in _label(programme)

    on = designer.api.patch("/api/v1/case-lists/households", {"phone_label_names": True})
    assert on.status_code == 200
    assert _label(programme).startswith(f"{own_label} · {code}")
    # switching names off again takes the label off at once
    designer.api.patch("/api/v1/case-lists/households", {"phone_label_names": False})
    assert SURNAME not in _label(programme)


def test_member_ages_and_due_dates():
    assert phone_labels._age("2014-07-15", date(2026, 12, 5)) == 12
    assert phone_labels._age("2014-12-06", date(2026, 12, 5)) == 11
    assert phone_labels._age("1990", date(2026, 12, 5)) == 36
    assert phone_labels._age("not a date", date(2026, 12, 5)) is None
    assert phone_labels.identifying("mother_full_name") and phone_labels.identifying("phone")
    assert not phone_labels.identifying("settlement")


def test_a_designer_sets_the_label_on_the_case_list_page(programme, app):
    _approved(programme)
    designer = programme.person("designer", "designer", [])
    web = Browser(app.test_client())
    assert web.login(designer.username).status_code == 302
    page = web.get("/case-lists/households").data.decode()
    assert "Who is hosting the family?" in page  # parts by their question's words
    assert 'value="settlement" checked' in page
    saved = web.post(
        "/case-lists/households",
        data={"cadence_days": "30", "approval_required": "on", "phone_label": ["district"]},
    )
    assert saved.status_code == 302
    households = services.get_case_list("households")
    assert households is not None and households.phone_label == ["district"]
    bad = web.post("/case-lists/adults", data={"phone_label": ["phone"]})
    assert bad.status_code == 422 and "identifies a person" in bad.data.decode()
    adults = db.session.scalars(select(CaseList).where(CaseList.name == "adults")).one()
    assert "phone" not in adults.phone_label


def test_check_refuses_too_many_parts(programme):
    _approved(programme)
    households = services.get_case_list("households")
    assert households is not None
    with pytest.raises(Invalid):
        phone_labels.check(households, phone_labels.choosable(households)[:7], names=False)
