"""Follow-up cadence: when the next visit is due, which cases are overdue, and how phones and
coordinators see it."""

from __future__ import annotations

from datetime import date, timedelta

from fieldapp.db import utcnow
from tests.cases.support import (
    SEED1_HOUSEHOLD,
    home_visit,
    household_of,
    registration,
    set_element,
)


def _today() -> date:
    return utcnow().date()


def _days(n: int) -> str:
    return (_today() + timedelta(days=n)).isoformat()


def test_cadence_sets_the_next_due_date_unless_the_form_gives_one(programme):
    worker, coord = programme["worker"], programme["coord"]
    programme.set_list("households", cadence_days=14)
    assert {
        c["name"]: c["cadence_days"] for c in coord.api.get("/api/v1/case-lists").json["items"]
    }["households"] == 14

    xml, files = registration("seed1")
    coord.api.review(worker.submit(set_element(xml, "next_visit_date", _days(45)), files))
    assert coord.api.case(SEED1_HOUSEHOLD)["next_due"] == _days(45)  # the form's date

    # a visit that gives no next date: due after the cadence, from the approval
    coord.api.review(worker.submit(home_visit(SEED1_HOUSEHOLD, 1, next_visit_date=None)))
    case = coord.api.case(SEED1_HOUSEHOLD)
    assert case["next_due"] == _days(14)
    assert case["properties"]["next_visit"] == _days(45)

    # a visit that gives one: it wins over the cadence
    coord.api.review(worker.submit(home_visit(SEED1_HOUSEHOLD, 2, next_visit_date=_days(60))))
    assert coord.api.case(SEED1_HOUSEHOLD)["next_due"] == _days(60)

    # a changed cadence applies from the next approved follow-up
    programme.set_list("households", cadence_days=7)
    coord.api.review(worker.submit(home_visit(SEED1_HOUSEHOLD, 3, next_visit_date=None)))
    assert coord.api.case(SEED1_HOUSEHOLD)["next_due"] == _days(7)

    # no cadence (0): a visit without a date leaves the due date as it was
    programme.set_list("households", cadence_days=0)
    coord.api.review(worker.submit(home_visit(SEED1_HOUSEHOLD, 4, next_visit_date=None)))
    case = coord.api.case(SEED1_HOUSEHOLD)
    assert case["version"] == 5
    assert case["next_due"] == _days(7)


def test_overdue_cases_are_flagged_filtered_and_sent_first(programme):
    worker, coord = programme["worker"], programme["coord"]
    households = {}
    for key, case in (("later", "seed2"), ("overdue", "seed3")):
        xml, files = registration(case, fresh=True)
        xml = set_element(xml, "next_visit_date", _days(30))
        households[key] = household_of(xml)
        coord.api.review(worker.submit(xml, files))
    # the visit to the second family set its next visit ten days ago, and nobody went
    coord.api.review(
        worker.submit(home_visit(households["overdue"], 1, next_visit_date=_days(-10)))
    )

    listed = {c["id"]: c for c in coord.api.cases("dataset=households")}
    assert listed[households["overdue"]]["overdue"] is True
    assert listed[households["overdue"]]["next_due"] == _days(-10)
    assert listed[households["later"]]["overdue"] is False
    overdue = coord.api.cases("dataset=households&overdue=1")
    assert [c["id"] for c in overdue] == [households["overdue"]]
    assert [c["id"] for c in worker.api.cases("overdue=1")] == [households["overdue"]]

    rows = worker.rows()
    assert [r["name"] for r in rows] == [households["overdue"], households["later"]]
    assert [(r["next_due"], r["overdue"]) for r in rows] == [
        (_days(-10), "yes"),
        (_days(30), "no"),
    ]

    # a visit with a new date takes the case off the overdue list
    coord.api.review(worker.submit(home_visit(households["overdue"], 2, next_visit_date=_days(3))))
    assert coord.api.cases("dataset=households&overdue=1") == []
    assert [r["name"] for r in worker.rows()] == [households["overdue"], households["later"]]
    assert {r["overdue"] for r in worker.rows()} == {"no"}


def test_a_visit_to_a_family_unseen_past_the_threshold_is_urgent(programme):
    """The queue puts first what the form flags and what comes from a family whose follow-up
    is more than URGENT_OVERDUE_DAYS (14) days late; a visit a few days late is not urgent."""
    worker, coord = programme["worker"], programme["coord"]
    households = {}
    for key, case, due in (("late", "seed2", -30), ("slightly_late", "seed3", -3)):
        xml, files = registration(case, fresh=True)
        households[key] = household_of(xml)
        coord.api.review(worker.submit(xml, files))
        # a first visit sets the next one `due` days from today; nobody goes
        coord.api.review(worker.submit(home_visit(households[key], 1, next_visit_date=_days(due))))
        assert coord.api.case(households[key])["next_due"] == _days(due)

    late = worker.submit(home_visit(households["late"], 2, next_visit_date=_days(30)))
    slightly = worker.submit(home_visit(households["slightly_late"], 2, next_visit_date=_days(30)))
    assert coord.api.submission(late)["urgent"] is True
    assert coord.api.submission(slightly)["urgent"] is False
    queue = [s["instance_id"] for s in coord.api.get("/api/v1/submissions?urgent=1").json["items"]]
    assert late in queue
    assert slightly not in queue
