"""Who sees which submissions and cases: coordinators their regions', field workers their own,
designers none; whatever is out of sight is answered 404, as if it did not exist."""

from __future__ import annotations

import pytest

from tests.cases.support import SEED1_HOUSEHOLD, SEED1_INSTANCE, home_visit, registration


@pytest.fixture
def people(programme):
    """north: coord, worker (who registers seed1), worker2; south: coord_s, worker_s."""
    programme.person("worker2", "field_worker", ["north"])
    programme.person("coord_s", "coordinator", ["south"])
    programme.person("worker_s", "field_worker", ["south"])
    programme.person("designer", "designer")
    worker, coord = programme["worker"], programme["coord"]
    coord.api.review(worker.submit(*registration("seed1")))
    return programme


def test_a_coordinator_of_another_region_sees_nothing(people):
    coord, other = people["coord"], people["coord_s"]
    code = coord.api.case(SEED1_HOUSEHOLD)["code"]
    assert other.api.get(f"/api/v1/submissions/{SEED1_INSTANCE}").status_code == 404
    assert other.api.get(f"/api/v1/cases/{SEED1_HOUSEHOLD}").status_code == 404
    assert other.api.get(f"/api/v1/cases/{code}").status_code == 404
    assert other.api.get(f"/api/v1/submissions/{SEED1_INSTANCE}/attachments/x.jpg").status_code == (
        404
    )
    assert other.api.get("/api/v1/submissions").json["items"] == []
    assert other.api.cases() == []
    assert other.api.cases("region=north") == []
    decided = other.api.post(f"/api/v1/submissions/{SEED1_INSTANCE}/review", {"state": "approved"})
    assert decided.status_code == 404
    # their own coordinator sees both, also by code
    assert coord.api.case(code)["id"] == SEED1_HOUSEHOLD
    assert [s["instance_id"] for s in coord.api.get("/api/v1/submissions").json["items"]] == [
        SEED1_INSTANCE
    ]
    assert len(coord.api.cases()) == 4


def test_field_workers_see_only_their_own(people):
    worker, worker2, coord = people["worker"], people["worker2"], people["coord"]
    # the worker who registered the family
    assert worker.api.submission(SEED1_INSTANCE)["submitted_by"] == "worker"
    assert worker.api.case(SEED1_HOUSEHOLD)["assigned_to"] == "worker"
    assert len(worker.api.cases()) == 4
    # a colleague in the same region
    assert worker2.api.get(f"/api/v1/submissions/{SEED1_INSTANCE}").status_code == 404
    assert worker2.api.get(f"/api/v1/cases/{SEED1_HOUSEHOLD}").status_code == 404
    assert worker2.api.get("/api/v1/submissions").json["items"] == []
    assert worker2.api.cases() == []
    # their own registration is theirs alone
    xml, files = registration("children3")
    mine = worker2.submit(xml, files)
    coord.api.review(mine)
    assert [s["instance_id"] for s in worker2.api.get("/api/v1/submissions").json["items"]] == [
        mine
    ]
    assert {c["assigned_to"] for c in worker2.api.cases()} == {"worker2"}
    assert SEED1_HOUSEHOLD not in {c["id"] for c in worker2.api.cases()}
    # workers do not review
    refused = worker.api.post(f"/api/v1/submissions/{mine}/review", {"state": "approved"})
    assert refused.status_code == 404


def test_a_designer_sees_no_submissions_or_cases(people):
    designer = people["designer"]
    for url in (
        f"/api/v1/submissions/{SEED1_INSTANCE}",
        f"/api/v1/cases/{SEED1_HOUSEHOLD}",
        "/api/v1/submissions",
        "/api/v1/cases",
    ):
        assert designer.api.get(url).status_code == 404, url


def test_an_update_from_another_region_does_not_reach_the_case(people):
    coord, other_coord, other_worker = people["coord"], people["coord_s"], people["worker_s"]
    before = coord.api.case(SEED1_HOUSEHOLD)
    visit = other_worker.submit(home_visit(SEED1_HOUSEHOLD, 1))
    changes = other_coord.api.submission(visit)["case_changes"]
    # the other region's coordinator learns nothing about the case
    assert {c["current"] for c in changes} == {None}
    assert {c["case_code"] for c in changes} == {None}
    other_coord.api.review(visit)
    changes = other_coord.api.submission(visit)["case_changes"]
    assert {c["state"] for c in changes} == {"error"}
    assert "another region" in changes[0]["error"]
    assert coord.api.case(SEED1_HOUSEHOLD) == before
