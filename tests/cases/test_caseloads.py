"""What a phone downloads as its case list: its worker's open cases in its region, nothing
else, with a manifest hash that is the MD5 of the file and changes only when the file would."""

from __future__ import annotations

import hashlib

import pytest

from tests.cases.support import home_visit, household_of, registration


def _register(programme, worker: str, coord: str, case: str = "seed1") -> str:
    """A fresh family registered by ``worker`` and approved; returns the household id."""
    xml, files = registration(case, fresh=True)
    household = household_of(xml)
    programme[coord].api.review(programme[worker].submit(xml, files))
    return household


@pytest.fixture
def caseloads(programme):
    """Households of worker (2), worker2 (1) in north and worker_s (1) in south."""
    programme.person("worker2", "field_worker", ["north"])
    programme.person("coord_s", "coordinator", ["south"])
    programme.person("worker_s", "field_worker", ["south"])
    return {
        "worker": [
            _register(programme, "worker", "coord", "seed1"),
            _register(programme, "worker", "coord", "seed2"),
        ],
        "worker2": [_register(programme, "worker2", "coord", "seed3")],
        "worker_s": [_register(programme, "worker_s", "coord_s", "children3")],
    }


def test_each_phone_gets_only_its_workers_cases(programme, caseloads):
    for worker, households in caseloads.items():
        rows = programme[worker].rows()
        assert sorted(r["name"] for r in rows) == sorted(households), worker
        assert all(r["__version"] == "1" for r in rows)


def test_a_coordinators_phone_gets_every_case_of_their_region(programme, caseloads):
    rows = programme["coord"].rows()
    assert sorted(r["name"] for r in rows) == sorted(caseloads["worker"] + caseloads["worker2"])


def test_manifest_hash_is_the_md5_of_the_file_and_its_etag(programme, caseloads):
    worker = programme["worker"]
    token = worker.manifest_hash()
    response = worker.case_list()
    assert response.status_code == 200
    assert token == hashlib.md5(response.data).hexdigest()
    assert response.headers["ETag"] == f'"{token}"'
    again = worker.phone.get(
        "/forms/home_visit/attachments/households.csv",
        openrosa=False,
        headers={"If-None-Match": f'"{token}"'},
    )
    assert again.status_code == 304
    assert again.data == b""
    # another worker's file differs, and so does its hash
    assert programme["worker2"].manifest_hash() != token


def test_the_hash_changes_with_visible_cases_only(programme, caseloads):
    worker, coord, coord_s = programme["worker"], programme["coord"], programme["coord_s"]
    first = worker.manifest_hash()
    assert worker.manifest_hash() == first  # stable

    # another region's case changes: this phone's list does not
    coord_s.api.review(programme["worker_s"].submit(home_visit(caseloads["worker_s"][0], 1)))
    assert coord_s.api.case(caseloads["worker_s"][0])["version"] == 2
    assert worker.manifest_hash() == first
    # nor does a colleague's case in the same region
    coord.api.review(programme["worker2"].submit(home_visit(caseloads["worker2"][0], 1)))
    assert worker.manifest_hash() == first

    # one of this worker's cases changes: a new hash, for the new file
    visit = worker.submit(home_visit(caseloads["worker"][0], 1))
    assert worker.manifest_hash() == first  # not yet approved
    coord.api.review(visit)
    second = worker.manifest_hash()
    assert second != first
    response = worker.case_list()
    assert hashlib.md5(response.data).hexdigest() == second
    versions = {r["name"]: r["__version"] for r in worker.rows()}
    assert versions == {caseloads["worker"][0]: "2", caseloads["worker"][1]: "1"}
    stale = worker.phone.get(
        "/forms/home_visit/attachments/households.csv",
        openrosa=False,
        headers={"If-None-Match": f'"{first}"'},
    )
    assert stale.status_code == 200


def test_closed_cases_are_not_sent(programme, caseloads):
    worker, coord = programme["worker"], programme["coord"]
    kept, closed = caseloads["worker"]
    before = worker.manifest_hash()
    response = coord.api.post(f"/api/v1/cases/{closed}/close", {"reason": "Moved abroad."})
    assert response.status_code == 200, response.json
    assert [r["name"] for r in worker.rows()] == [kept]
    assert closed not in [r["name"] for r in coord.rows()]
    after = worker.manifest_hash()
    assert after != before
    assert after == hashlib.md5(worker.case_list().data).hexdigest()
    assert closed not in {c["id"] for c in coord.api.cases("status=open")}
    # reopened, it is back on the phone
    assert coord.api.post(f"/api/v1/cases/{closed}/reopen", {}).status_code == 200
    assert sorted(r["name"] for r in worker.rows()) == sorted([kept, closed])


def test_a_reassigned_case_moves_between_phones(programme, caseloads):
    worker, worker2, coord = programme["worker"], programme["worker2"], programme["coord"]
    moved = caseloads["worker"][1]
    hashes = (worker.manifest_hash(), worker2.manifest_hash())
    response = coord.api.post(f"/api/v1/cases/{moved}/assign", {"user": "worker2"})
    assert response.status_code == 200, response.json
    assert [r["name"] for r in worker.rows()] == [caseloads["worker"][0]]
    assert sorted(r["name"] for r in worker2.rows()) == sorted([*caseloads["worker2"], moved])
    assert worker.manifest_hash() != hashes[0]
    assert worker2.manifest_hash() != hashes[1]
