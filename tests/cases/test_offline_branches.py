"""Offline branches (ODK-INTEROP §3.5): a phone makes several updates to one case without a
connection; they arrive out of order; the later one waits for the earlier and both apply."""

from __future__ import annotations

import re
import uuid

from tests.cases.support import SEED1_HOUSEHOLD, VISIT_MET, home_visit, registration


def offline_visit(
    case_uuid: str, base: int, trunk: int, branch: str, **answers: str | None
) -> bytes:
    xml = home_visit(case_uuid, base, template=VISIT_MET, **answers)
    xml = re.sub(rb'trunkVersion="[^"]*"', f'trunkVersion="{trunk}"'.encode(), xml)
    return re.sub(rb'branchId="[^"]*"', f'branchId="{branch}"'.encode(), xml)


def test_out_of_order_offline_updates_are_held_then_applied_in_order(programme):
    worker, coord = programme["worker"], programme["coord"]
    coord.api.review(worker.submit(*registration("seed1")))
    branch = str(uuid.uuid4())
    # on the phone: version 1 (trunk) → update A (base 1) → update B (base 2, its own copy)
    first = offline_visit(SEED1_HOUSEHOLD, 1, 1, branch, next_visit_date="2027-01-10")
    second = offline_visit(SEED1_HOUSEHOLD, 2, 1, branch, next_visit_date="2027-02-20")
    second_id = worker.submit(second)  # B arrives first
    first_id = worker.submit(first)

    coord.api.review(second_id)  # approved, but A is not applied yet: B waits
    assert {c["state"] for c in coord.api.submission(second_id)["case_changes"]} == {"held"}
    assert coord.api.case(SEED1_HOUSEHOLD)["version"] == 1

    coord.api.review(first_id)  # A applies, then B right after it
    case = coord.api.case(SEED1_HOUSEHOLD)
    assert case["version"] == 3
    assert [v["submission"] for v in case["versions"][1:]] == [first_id, second_id]
    assert case["properties"]["next_visit"] == "2027-02-20"
    assert case["conflict"] is None  # nobody else touched it: no conflict
    assert {c["state"] for c in coord.api.submission(second_id)["case_changes"]} == {"applied"}


def test_a_branch_interrupted_by_another_update_is_a_soft_conflict(programme):
    worker, coord = programme["worker"], programme["coord"]
    coord.api.review(worker.submit(*registration("seed1")))  # version 1: the phone's trunk
    branch = str(uuid.uuid4())
    coord.api.review(worker.submit(home_visit(SEED1_HOUSEHOLD, 1)))  # version 2, another phone
    # the offline phone's first change (based on 1) → version 3; its second change is based on
    # that one, which is current — but the branch was interrupted by version 2: soft conflict
    coord.api.review(worker.submit(offline_visit(SEED1_HOUSEHOLD, 1, 1, branch)))
    coord.api.review(worker.submit(offline_visit(SEED1_HOUSEHOLD, 2, 1, branch)))
    case = coord.api.case(SEED1_HOUSEHOLD)
    assert case["version"] == 4
    assert case["versions"][3]["base_version"] == 2
    assert case["versions"][3]["conflict"] == "soft"
