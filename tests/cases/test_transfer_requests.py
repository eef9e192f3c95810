"""Transfer requests as a state machine (fieldapp.cases.transfers): pending → accepted, declined
or cancelled; the case moves only on acceptance; region scoping on every act and read; at most
one pending request per case as a database constraint; every act audited in both regions."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from fieldapp.audit.models import AuditEvent
from fieldapp.cases import care, transfers
from fieldapp.cases import services as cases
from fieldapp.cases.models import Case, CaseList, TransferRequest
from fieldapp.db import db, utcnow
from fieldapp.errors import Conflict, Forbidden, Invalid, NotFound


@pytest.fixture
def world(app, make_user, make_region) -> dict[str, Any]:
    north, south, east = make_region("north"), make_region("south"), make_region("east")
    households = CaseList(name="households", title="Households", code_prefix="HH")
    db.session.add(households)
    db.session.commit()
    people = {
        "coord_n": make_user("coordinator", username="coord_n", regions=["north"]),
        "coord_n2": make_user("coordinator", username="coord_n2", regions=["north"]),
        "coord_s": make_user("coordinator", username="coord_s", regions=["south"]),
        "coord_e": make_user("coordinator", username="coord_e", regions=["east"]),
        "worker_n": make_user("field_worker", username="worker_n", regions=["north"]),
        "worker_s": make_user("field_worker", username="worker_s", regions=["south"]),
        "admin": make_user("admin", username="admin_x"),
    }
    case = cases.create_case(
        households,
        label="Family A",
        properties={"settlement": "A"},
        region_id=north.id,
        assigned_to=people["worker_n"],
        actor=None,
    )
    db.session.commit()
    return {"case": case, "north": north, "south": south, "east": east, **people}


def _audit(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _fresh(case: Case) -> Case:
    db.session.expire_all()
    found = db.session.get(Case, case.id)
    assert found is not None
    return found


def test_a_request_leaves_the_case_where_it_is_and_is_audited_in_both_regions(world):
    case = world["case"]
    before = case.updated_at
    row = transfers.request_transfer(case, world["south"], actor=world["coord_n"], note=" moved ")
    db.session.commit()
    case = _fresh(case)
    assert (case.region_id, case.assigned_to_id) == (world["north"].id, world["worker_n"].id)
    assert case.updated_at == before  # the phone keeps the case
    assert (row.state, row.note, row.from_region_id, row.to_region_id) == (
        "pending",
        "moved",
        world["north"].id,
        world["south"].id,
    )
    assert transfers.pending_request(case) is row
    events = _audit("case.transfer_requested")
    assert {e.region_id for e in events} == {world["north"].id, world["south"].id}
    assert all(e.subject_id == case.uuid and "moved" not in str(e.details) for e in events)


def test_at_most_one_pending_request_per_case(world):
    case = world["case"]
    transfers.request_transfer(case, world["south"], actor=world["coord_n"])
    with pytest.raises(Conflict) as refused:
        transfers.request_transfer(case, world["east"], actor=world["coord_n2"])
    assert refused.value.code == "transfer.already_pending"
    db.session.commit()
    # the database itself refuses a second pending row (a concurrent request)
    with pytest.raises(IntegrityError), db.session.begin_nested():
        db.session.add(
            TransferRequest(
                case_id=case.id,
                from_region_id=world["north"].id,
                to_region_id=world["east"].id,
                state="pending",
            )
        )
        db.session.flush()
    # decided requests do not count
    db.session.add(
        TransferRequest(
            case_id=case.id,
            from_region_id=world["north"].id,
            to_region_id=world["east"].id,
            state="declined",
            decided_at=utcnow(),
        )
    )
    db.session.flush()
    # and the state's invariants are CHECKs: a pending request has no decision time
    with pytest.raises(IntegrityError), db.session.begin_nested():
        db.session.add(
            TransferRequest(
                case_id=case.id,
                from_region_id=world["north"].id,
                to_region_id=world["east"].id,
                state="cancelled",
            )
        )
        db.session.flush()


def test_only_the_source_regions_coordinators_may_request(world):
    case = world["case"]
    for who in ("coord_s", "coord_e", "worker_n"):
        with pytest.raises(Forbidden):
            transfers.request_transfer(case, world["south"], actor=world[who])
    with pytest.raises(Invalid) as same:
        transfers.request_transfer(case, world["north"], actor=world["coord_n"])
    assert same.value.code == "case.same_region"
    with pytest.raises(Invalid):
        transfers.request_transfer(case, world["south"], actor=world["coord_n"], note="x" * 1001)
    care.close(case, actor=world["coord_n"], reason="ended")
    with pytest.raises(Conflict):
        transfers.request_transfer(case, world["south"], actor=world["coord_n"])
    assert db.session.scalars(select(TransferRequest)).all() == []


def test_accepting_moves_the_case_to_the_chosen_worker(world):
    case = world["case"]
    row = transfers.request_transfer(case, world["south"], actor=world["coord_n"])
    db.session.commit()
    with pytest.raises(Invalid) as no_worker:
        transfers.accept(row, actor=world["coord_s"], worker=None)
    assert no_worker.value.code == "transfer.worker_missing"
    with pytest.raises(Invalid) as wrong_worker:
        transfers.accept(row, actor=world["coord_s"], worker=world["worker_n"])
    assert wrong_worker.value.code == "case.assignee_invalid"
    for who in ("coord_n", "coord_e", "worker_s"):  # the source, a third region, a worker
        with pytest.raises(Forbidden):
            transfers.accept(row, actor=world[who], worker=world["worker_s"])
    assert _fresh(case).region_id == world["north"].id
    row = db.session.get(TransferRequest, row.id)
    transfers.accept(row, actor=world["coord_s"], worker=world["worker_s"])
    db.session.commit()
    case = _fresh(case)
    assert (case.region_id, case.assigned_to_id) == (world["south"].id, world["worker_s"].id)
    row = db.session.get(TransferRequest, row.id)
    assert row.state == "accepted"
    assert (row.decided_by_id, row.assigned_to_id) == (world["coord_s"].id, world["worker_s"].id)
    assert row.decided_at is not None
    both = {world["north"].id, world["south"].id}
    assert {e.region_id for e in _audit("case.transfer_accepted")} == both
    assert {e.region_id for e in _audit("case.transferred")} == both  # care.transfer's record
    with pytest.raises(Conflict) as twice:
        transfers.decline(row, actor=world["coord_s"], reason="changed my mind")
    assert twice.value.code == "transfer.not_pending"
    # the source keeps the request, not the case
    assert transfers.visible_request(row.id, actor=world["coord_n"]).id == row.id
    with pytest.raises(NotFound):
        cases.visible_case(case.uuid, actor=world["coord_n"])


def test_declining_needs_a_reason_and_leaves_the_case(world):
    case = world["case"]
    row = transfers.request_transfer(case, world["south"], actor=world["coord_n"])
    with pytest.raises(Invalid):
        transfers.decline(row, actor=world["coord_s"], reason="  ")
    with pytest.raises(Forbidden):
        transfers.decline(row, actor=world["coord_n"], reason="no")
    transfers.decline(row, actor=world["coord_s"], reason="No places this month")
    db.session.commit()
    case = _fresh(case)
    assert (case.region_id, case.assigned_to_id) == (world["north"].id, world["worker_n"].id)
    row = db.session.get(TransferRequest, row.id)
    assert (row.state, row.decision_note) == ("declined", "No places this month")
    assert len(_audit("case.transfer_declined")) == 2
    assert "No places" not in str([e.details for e in _audit("case.transfer_declined")])
    # a new request may follow
    again = transfers.request_transfer(case, world["east"], actor=world["coord_n"])
    assert again.state == "pending"


def test_cancelling_by_the_source_region(world):
    case = world["case"]
    row = transfers.request_transfer(case, world["south"], actor=world["coord_n"])
    for who in ("coord_s", "coord_e"):
        with pytest.raises(Forbidden):
            transfers.cancel(row, actor=world[who])
    transfers.cancel(row, actor=world["coord_n2"])  # any coordinator of the source region
    db.session.commit()
    row = db.session.get(TransferRequest, row.id)
    assert (row.state, row.decided_by_id) == ("cancelled", world["coord_n2"].id)
    with pytest.raises(Conflict):
        transfers.accept(row, actor=world["coord_s"], worker=world["worker_s"])
    assert _fresh(case).region_id == world["north"].id
    assert len(_audit("case.transfer_cancelled")) == 2


def test_an_administrators_direct_move_settles_a_pending_request(world):
    case = world["case"]
    row = transfers.request_transfer(case, world["south"], actor=world["coord_n"])
    care.transfer(case, world["east"], actor=world["admin"])
    db.session.commit()
    row = db.session.get(TransferRequest, row.id)
    assert (row.state, row.decided_by_id) == ("cancelled", world["admin"].id)
    assert _fresh(case).region_id == world["east"].id


def test_accepting_a_case_closed_meanwhile_is_refused(world):
    case = world["case"]
    row = transfers.request_transfer(case, world["south"], actor=world["coord_n"])
    care.close(case, actor=world["coord_n"], reason="family left the country")
    with pytest.raises(Conflict) as refused:
        transfers.accept(row, actor=world["coord_s"], worker=world["worker_s"])
    assert refused.value.code == "case.not_open"
    assert row.state == "pending"


def test_reading_is_scoped_and_the_summary_is_an_audited_read(world):
    case = world["case"]
    row = transfers.request_transfer(case, world["south"], actor=world["coord_n"], note="n")
    db.session.commit()
    for who in ("coord_n", "coord_s", "admin"):
        assert transfers.visible_request(row.id, actor=world[who]).id == row.id
        assert [r.id for r in transfers.requests_for(world[who])] == [row.id]
    with pytest.raises(NotFound):
        transfers.visible_request(row.id, actor=world["coord_e"])
    with pytest.raises(NotFound):
        transfers.visible_request(row.id + 1000, actor=world["admin"])
    assert transfers.requests_for(world["coord_e"]) == []
    assert transfers.requests_for(world["worker_n"]) == []
    assert (
        transfers.incoming_count(world["coord_s"]),
        transfers.incoming_count(world["coord_n"]),
    ) == (1, 0)
    assert transfers.pending_case_ids([case.id]) == {case.id: world["south"].id}
    # the source region reads the case on its own page; the summary is the receiver's
    assert transfers.summary_for_decision(row, actor=world["coord_n"]) is None
    assert _audit("case.transfer_summary_viewed") == []
    summary = transfers.summary_for_decision(row, actor=world["coord_s"])
    assert summary is not None
    assert (summary.code, summary.label, summary.assigned) == (case.code, "Family A", True)
    [event] = _audit("case.transfer_summary_viewed")
    assert (event.actor_id, event.subject_id, event.region_id) == (
        world["coord_s"].id,
        case.uuid,
        world["north"].id,
    )
    transfers.decline(row, actor=world["coord_s"], reason="no")
    assert transfers.summary_for_decision(row, actor=world["coord_s"]) is None


def test_staffing_says_which_regions_have_nobody(world, make_region):
    empty = make_region("empty")
    counts = transfers.staffing([world["north"], world["south"], world["east"], empty])
    assert counts[world["north"].id] == (2, 1)
    assert counts[world["south"].id] == (1, 1)
    assert counts[world["east"].id] == (1, 0)
    assert counts[empty.id] == (0, 0)
