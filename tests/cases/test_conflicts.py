"""Updates made on a phone's older copy of a case: applied, and marked soft or hard conflicts."""

from __future__ import annotations

import pytest

from tests.cases.support import SEED1_HOUSEHOLD, VISIT_MET, home_visit, registration


@pytest.fixture
def household(programme) -> str:
    """The seed1 household, approved (version 1), then visited and approved (version 2)."""
    worker, coord = programme["worker"], programme["coord"]
    coord.api.review(worker.submit(*registration("seed1")))
    coord.api.review(worker.submit(home_visit(SEED1_HOUSEHOLD, 1)))  # outcome "moved"
    case = coord.api.case(SEED1_HOUSEHOLD)
    assert case["version"] == 2 and case["conflict"] is None
    return SEED1_HOUSEHOLD


def test_update_of_untouched_properties_from_an_older_version_is_a_soft_conflict(
    programme, household
):
    worker, coord = programme["worker"], programme["coord"]
    # a visit filled on the version-1 copy that records only the housing, which nobody has
    # changed since (visit date, outcome and next visit left out)
    visit = worker.submit(
        home_visit(
            household,
            1,
            template=VISIT_MET,
            visit_date=None,
            visit_outcome=None,
            next_visit_date=None,
        )
    )
    changes = coord.api.submission(visit)["case_changes"]
    assert {c["property"] for c in changes} == {
        "housing_type",
        "housing_condition",
        "secure_tenancy",
        "income_sufficient",
        "relatives_attitude",
        "risk_level",
    }
    assert not any(c["conflict"] for c in changes)

    coord.api.review(visit)
    case = coord.api.case(household)
    assert case["version"] == 3
    assert case["conflict"] == "soft"
    latest = case["versions"][2]
    assert latest["conflict"] == "soft"
    assert latest["conflicting_properties"] == []
    assert latest["base_version"] == 1
    # both visits are in the case
    assert case["properties"]["last_visit_outcome"] == "moved"
    assert case["properties"]["housing_type"] == "social"


def test_overwriting_a_property_changed_since_is_a_hard_conflict(programme, household):
    worker, coord = programme["worker"], programme["coord"]
    # a second visit on the version-1 copy with another outcome and next visit
    visit = worker.submit(home_visit(household, 1, template=VISIT_MET))
    changes = {c["property"]: c for c in coord.api.submission(visit)["case_changes"]}
    assert changes["last_visit_outcome"]["current"] == "moved"
    assert changes["last_visit_outcome"]["proposed"] == "met"
    conflicting = sorted(p for p, c in changes.items() if c["conflict"])
    assert conflicting == ["last_visit", "last_visit_outcome", "next_visit"]
    assert changes["housing_type"]["conflict"] is False

    coord.api.review(visit)
    case = coord.api.case(household)
    assert case["version"] == 3
    assert case["conflict"] == "hard"
    latest = case["versions"][2]
    assert latest["conflict"] == "hard"
    assert latest["conflicting_properties"] == conflicting
    assert case["properties"]["last_visit_outcome"] == "met"  # the later approval wins
    listed = {c["id"]: c for c in coord.api.cases("dataset=households")}
    assert listed[household]["conflict"] == "hard"

    # a later soft conflict does not hide the hard one
    soft = worker.submit(
        home_visit(
            household,
            2,
            template=VISIT_MET,
            visit_date=None,
            visit_outcome=None,
            next_visit_date=None,
        )
    )
    assert not any(c["conflict"] for c in coord.api.submission(soft)["case_changes"])
    coord.api.review(soft)
    assert coord.api.case(household)["conflict"] == "hard"


def test_an_update_based_on_the_current_version_is_no_conflict(programme, household):
    worker, coord = programme["worker"], programme["coord"]
    visit = worker.submit(home_visit(household, 2, template=VISIT_MET))
    assert not any(c["conflict"] for c in coord.api.submission(visit)["case_changes"])
    coord.api.review(visit)
    case = coord.api.case(household)
    assert case["version"] == 3
    assert case["conflict"] is None
    assert case["versions"][2]["conflict"] is None
