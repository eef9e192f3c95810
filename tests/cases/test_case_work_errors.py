"""Case work that cannot be applied never fails the phone's upload nor the approval: the
reason shows with the submission, and nothing else changes."""

from __future__ import annotations

import uuid

import pytest

from tests.cases.support import SEED1_HOUSEHOLD, home_visit, household_of, registration


@pytest.fixture
def before(programme) -> list[dict]:
    """One approved registration; the cases as they stand."""
    worker, coord = programme["worker"], programme["coord"]
    coord.api.review(worker.submit(*registration("seed1")))
    return coord.api.cases()


def _errors(coord, instance: str) -> list[str]:
    changes = coord.api.submission(instance)["case_changes"]
    assert {c["state"] for c in changes} == {"error"}
    return sorted({c["error"] for c in changes})


def test_update_of_an_unknown_case(programme, before):
    worker, coord = programme["worker"], programme["coord"]
    unknown = str(uuid.uuid4())
    visit = worker.submit(home_visit(unknown, 1))  # 201
    coord.api.review(visit)
    assert coord.api.submission(visit)["review_state"] == "approved"
    (reason,) = _errors(coord, visit)
    assert unknown in reason and "no case" in reason.lower()
    assert coord.api.cases() == before
    assert coord.api.get(f"/api/v1/cases/{unknown}").status_code == 404


def test_an_id_that_is_not_a_uuid(programme, before):
    worker, coord = programme["worker"], programme["coord"]
    visit = worker.submit(home_visit("household-42", 1))  # 201
    # known on receipt: the coordinator sees it before deciding
    (reason,) = _errors(coord, visit)
    assert "not a valid UUID" in reason
    assert {c["case_id"] for c in coord.api.submission(visit)["case_changes"]} == {"household-42"}
    coord.api.review(visit)
    assert coord.api.submission(visit)["review_state"] == "approved"
    assert _errors(coord, visit) == [reason]
    assert coord.api.cases() == before


def test_a_new_case_without_a_label(programme, before):
    worker, coord = programme["worker"], programme["coord"]
    xml, files = registration("seed2", fresh=True)
    household_id = household_of(xml)
    start = xml.index(b'<entity dataset="households"')
    label_start = xml.index(b"<label>", start)
    label_end = xml.index(b"</label>", label_start) + len(b"</label>")
    xml = xml[:label_start] + b"<label />" + xml[label_end:]
    instance = worker.submit(xml, files)  # 201
    coord.api.review(instance)

    changes = coord.api.submission(instance)["case_changes"]
    household = [c for c in changes if c["dataset"] == "households"]
    assert {c["state"] for c in household} == {"error"}
    assert "label" in household[0]["error"]
    assert coord.api.get(f"/api/v1/cases/{household_id}").status_code == 404
    # each entity block stands on its own: the mother and children were registered
    others = {c["case_id"] for c in changes if c["dataset"] != "households"}
    assert {c["state"] for c in changes if c["dataset"] != "households"} == {"applied"}
    after = coord.api.cases()
    assert {c["id"] for c in after} == {c["id"] for c in before} | others
    assert [c for c in after if c["id"] in {b["id"] for b in before}] == before


def test_a_registration_of_an_existing_case_does_not_create_it_again(programme, before):
    worker, coord = programme["worker"], programme["coord"]
    xml, files = registration("seed1")
    again = xml.replace(b"uuid:4f78e703", b"uuid:5f78e703")  # same family, another instance
    instance = worker.submit(again, files)
    coord.api.review(instance)
    assert {c["state"] for c in coord.api.submission(instance)["case_changes"]} == {"error"}
    assert coord.api.cases() == before
    assert coord.api.case(SEED1_HOUSEHOLD)["version"] == 1
