"""The case loop: a registration from a phone becomes cases when a coordinator approves it, the
worker's phone receives them, and a follow-up visit becomes a new version, field by field."""

from __future__ import annotations

import re

from tests.cases.support import (
    SEED1_ADULT,
    SEED1_CHILDREN,
    SEED1_HOUSEHOLD,
    SEED1_INSTANCE,
    SEED1_NAMES,
    SEED1_SETTLEMENT,
    home_visit,
    registration,
)

CODE = re.compile(r"(HH|AD|CH)-[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{5}")


def _pseudonymous(code: str, label: str) -> bool:
    words = re.findall(r"\w{3,}", label)
    return bool(CODE.fullmatch(code)) and not any(w.upper() in code for w in words)


def test_registration_to_cases_to_phone_to_follow_up(programme):
    worker, coord = programme["worker"], programme["coord"]
    xml, files = registration("seed1")
    instance = worker.submit(xml, files)
    assert instance == SEED1_INSTANCE

    # the coordinator sees what the registration would create, and nothing exists yet
    body = coord.api.submission(instance)
    assert body["review_state"] == "received"
    creates = {(c["dataset"], c["case_id"]) for c in body["case_changes"]}
    assert creates == {
        ("households", SEED1_HOUSEHOLD),
        ("adults", SEED1_ADULT),
        *(("children", c) for c in SEED1_CHILDREN),
    }
    assert all(c["action"] == "create" and c["state"] == "pending" for c in body["case_changes"])
    assert all(c["current"] is None and c["conflict"] is False for c in body["case_changes"])
    size = next(c for c in body["case_changes"] if c["property"] == "household_size")
    assert size["proposed"] == 8
    assert coord.api.cases() == []
    assert coord.api.get(f"/api/v1/cases/{SEED1_HOUSEHOLD}").status_code == 404

    # approval makes the cases: version 1, the worker's region and caseload, coded, typed
    decided = coord.api.review(instance)
    assert decided["review_state"] == "approved"
    assert len(decided["case_versions"]) == 4
    children = coord.api.cases("dataset=children")
    assert sorted(c["id"] for c in children) == sorted(SEED1_CHILDREN)
    for child in children:
        assert child["version"] == 1
        assert child["region"] == "north"
        assert child["assigned_to"] == "worker"
        assert child["status"] == "open"
        assert child["code"].startswith("CH-")
        assert _pseudonymous(child["code"], child["label"])
        assert isinstance(child["properties"]["languages"], list)
        assert child["properties"]["household_id"] == SEED1_HOUSEHOLD
    (household,) = coord.api.cases("dataset=households")
    assert household["id"] == SEED1_HOUSEHOLD
    assert household["label"] == "oscar mike - hotel november"
    assert _pseudonymous(household["code"], household["label"])
    assert household["properties"]["household_size"] == 8
    assert household["properties"]["next_visit"] == "2027-01-06"
    (adult,) = coord.api.cases("dataset=adults")
    assert adult["id"] == SEED1_ADULT and adult["version"] == 1

    # the worker's phone: the manifest names the case list, which holds the new household
    # under its code, never a name
    manifest = worker.phone.get("/forms/home_visit/manifest").data.decode()
    # (``approvalEntityList`` is Collect's name for a list whose new cases wait for approval)
    assert re.search(
        r'<mediaFile type="(approvalE|e)ntityList">\s*<filename>households.csv<', manifest
    )
    response = worker.case_list()
    assert response.status_code == 200
    assert response.content_type.startswith("text/csv")
    text = response.data.decode()
    assert text.splitlines()[0].startswith("name,label,__version,")
    for name in SEED1_NAMES:
        if name != SEED1_SETTLEMENT:  # a settlement is not a name: the label may show it
            assert name not in text
    (row,) = worker.rows()
    assert row["name"] == SEED1_HOUSEHOLD
    assert row["label"].startswith(household["code"] + " · ")
    assert SEED1_SETTLEMENT in row["label"]
    assert row["__version"] == "1"

    # a home visit from that list (baseVersion from the CSV): pending until approved
    visit = worker.submit(home_visit(row["name"], row["__version"]))
    changes = coord.api.submission(visit)["case_changes"]
    proposed = {c["property"]: (c["current"], c["proposed"]) for c in changes}
    assert proposed == {
        "last_visit": (None, "2026-07-02"),
        "last_visit_outcome": (None, "moved"),
        "next_visit": ("2027-01-06", "2027-02-16"),
    }
    assert {c["action"] for c in changes} == {"update"}
    assert {c["case_code"] for c in changes} == {household["code"]}
    assert coord.api.case(SEED1_HOUSEHOLD)["version"] == 1

    # approved, leaving the next visit date: only the taken properties change
    coord.api.review(visit, take={"next_visit": False})
    case = coord.api.case(SEED1_HOUSEHOLD)
    assert case["version"] == 2
    assert [v["version"] for v in case["versions"]] == [1, 2]
    latest = case["versions"][1]
    assert latest["submission"] == visit
    assert latest["approved_by"] == "coord"
    assert latest["base_version"] == 1
    assert latest["conflict"] is None
    assert sorted(c["property"] for c in latest["changes"]) == ["last_visit", "last_visit_outcome"]
    assert {c["property"]: c["new"] for c in latest["changes"]} == {
        "last_visit": "2026-07-02",
        "last_visit_outcome": "moved",
    }
    assert case["properties"]["next_visit"] == "2027-01-06"  # left: the old value stays
    assert case["properties"]["household_size"] == 8  # untouched by the visit
    assert case["versions"][0]["approved_by"] == "coord"
    assert case["versions"][0]["submission"] == SEED1_INSTANCE

    # the phone's next download carries version 2
    (row,) = worker.rows()
    assert row["__version"] == "2"


def test_take_and_leave_on_a_registration(programme):
    worker, coord = programme["worker"], programme["coord"]
    instance = worker.submit(*registration("seed1"))
    coord.api.review(instance, take={"household_size": False, "phone": False})
    household = coord.api.case(SEED1_HOUSEHOLD)
    assert "household_size" not in household["properties"]
    assert household["properties"]["settlement"] == "hotel november"  # taken by default
    created = {c["property"] for c in household["versions"][0]["changes"]}
    assert "household_size" not in created and "settlement" in created
    adult = coord.api.case(SEED1_ADULT)
    assert "phone" not in adult["properties"]
    assert adult["properties"]["passport_status"] == "in_process"
    # the decision is on record with the submission
    (review,) = coord.api.submission(instance)["reviews"]
    assert review["take"] == {"household_size": False, "phone": False}
    assert review["by"] == "coord"


def test_registration_applies_on_receipt_when_the_list_needs_no_approval(programme):
    worker, coord = programme["worker"], programme["coord"]
    # a coordinator may not change list settings; a designer may
    refused = coord.api.patch("/api/v1/case-lists/households", {"approval_required": False})
    assert refused.status_code == 404
    programme.set_list("households", approval_required=False)

    instance = worker.submit(*registration("seed1"))
    household = coord.api.case(SEED1_HOUSEHOLD)
    assert household["version"] == 1
    assert household["assigned_to"] == "worker"
    assert household["versions"][0]["approved_by"] is None
    # the other lists still wait for approval
    assert coord.api.get(f"/api/v1/cases/{SEED1_ADULT}").status_code == 404
    body = coord.api.submission(instance)
    assert body["review_state"] == "received"
    states = {(c["dataset"], c["state"]) for c in body["case_changes"]}
    assert states == {("households", "applied"), ("adults", "pending"), ("children", "pending")}

    # approving the rest creates the others and does not touch the household again
    coord.api.review(instance)
    assert coord.api.case(SEED1_ADULT)["version"] == 1
    assert coord.api.case(SEED1_HOUSEHOLD)["version"] == 1
    assert {c["state"] for c in coord.api.submission(instance)["case_changes"]} == {"applied"}

    # follow-ups of that list apply on receipt too
    worker.submit(home_visit(SEED1_HOUSEHOLD, 1))
    household = coord.api.case(SEED1_HOUSEHOLD)
    assert household["version"] == 2
    assert household["properties"]["last_visit_outcome"] == "moved"


def test_edit_supersedes_pending_case_work(programme):
    worker, coord = programme["worker"], programme["coord"]
    worker.submit(*registration("seed1"))
    edit, files = registration("edit_seed1")
    edit = edit.replace(b"<household_size>8<", b"<household_size>9<")
    edit = edit.replace(b"<district>oscar echo<", b"<district>Edited district<")
    worker.submit(edit, files)

    body = coord.api.submission(SEED1_INSTANCE)
    assert body["review_state"] == "edited"
    proposed = {
        c["property"]: c["proposed"] for c in body["case_changes"] if c["dataset"] == "households"
    }
    assert proposed["household_size"] == 9
    assert proposed["district"] == "Edited district"
    assert {c["state"] for c in body["case_changes"]} == {"pending"}

    coord.api.review(SEED1_INSTANCE)
    household = coord.api.case(SEED1_HOUSEHOLD)
    assert household["version"] == 1 and len(household["versions"]) == 1
    assert household["properties"]["household_size"] == 9
    assert household["properties"]["district"] == "Edited district"
    # each case made once, from the edit alone, and nothing failed
    assert len(coord.api.cases()) == 4
    assert {c["state"] for c in coord.api.submission(SEED1_INSTANCE)["case_changes"]} == {"applied"}


def test_rejection_leaves_cases_untouched(programme):
    worker, coord = programme["worker"], programme["coord"]
    worker.submit(*registration("seed1"))
    refused = coord.api.review(SEED1_INSTANCE, "rejected", status=422)
    assert refused["error"]["code"] == "review.note_missing"
    coord.api.review(SEED1_INSTANCE, "rejected", note="Consent form is unsigned.")
    body = coord.api.submission(SEED1_INSTANCE)
    assert body["review_state"] == "rejected"
    assert {c["state"] for c in body["case_changes"]} == {"rejected"}
    assert coord.api.cases() == []

    # a rejected visit leaves an existing case as it was
    other, files = registration("children3")
    coord.api.review(worker.submit(other, files))
    before = coord.api.cases("dataset=households")
    (household,) = before
    visit = worker.submit(home_visit(household["id"], 1))
    coord.api.review(visit, "rejected", note="This family was not visited that day.")
    assert coord.api.cases("dataset=households") == before


def test_a_rejected_submission_approved_later_applies_its_case_work(programme):
    worker, coord = programme["worker"], programme["coord"]
    worker.submit(*registration("seed1"))
    coord.api.review(SEED1_INSTANCE, "rejected", note="Wrong family?")
    coord.api.review(SEED1_INSTANCE, "approved")
    assert coord.api.case(SEED1_HOUSEHOLD)["version"] == 1
    assert len(coord.api.cases()) == 4


def test_approving_twice_is_refused_and_changes_nothing(programme):
    worker, coord = programme["worker"], programme["coord"]
    worker.submit(*registration("seed1"))
    coord.api.review(SEED1_INSTANCE)
    before = coord.api.cases()
    again = coord.api.review(SEED1_INSTANCE, status=409)
    assert again["error"]["code"] == "review.already_approved"
    rejected = coord.api.review(SEED1_INSTANCE, "rejected", note="too late", status=409)
    assert rejected["error"]["code"] == "review.already_approved"
    assert coord.api.cases() == before
    assert coord.api.submission(SEED1_INSTANCE)["review_state"] == "approved"


def test_has_issues_keeps_the_work_waiting_for_approval(programme):
    worker, coord = programme["worker"], programme["coord"]
    worker.submit(*registration("seed1"))
    refused = coord.api.review(SEED1_INSTANCE, "has_issues", status=422)
    assert refused["error"]["code"] == "review.note_missing"
    coord.api.review(SEED1_INSTANCE, "has_issues", note="Check the household size.")
    body = coord.api.submission(SEED1_INSTANCE)
    assert body["review_state"] == "has_issues"
    assert {c["state"] for c in body["case_changes"]} == {"pending"}
    assert coord.api.cases() == []
    coord.api.review(SEED1_INSTANCE)
    assert len(coord.api.cases()) == 4


def test_edit_of_an_approved_registration_updates_the_cases_it_created(programme):
    worker, coord = programme["worker"], programme["coord"]
    worker.submit(*registration("seed1"))
    coord.api.review(SEED1_INSTANCE)
    assert coord.api.case(SEED1_HOUSEHOLD)["version"] == 1
    edit, files = registration("edit_seed1")
    edit = edit.replace(b"<household_size>8<", b"<household_size>9<")
    worker.submit(edit, files)
    coord.api.review(SEED1_INSTANCE)
    household = coord.api.case(SEED1_HOUSEHOLD)
    assert household["version"] == 2
    assert household["properties"]["household_size"] == 9
    assert [
        c["property"]
        for c in household["versions"][1]["changes"]
        if c["property"] == "household_size"
    ] == ["household_size"]
    assert {c["state"] for c in coord.api.submission(SEED1_INSTANCE)["case_changes"]} == {"applied"}
