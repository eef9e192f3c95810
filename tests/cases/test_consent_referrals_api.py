"""Consent and referrals through /api/v1: read and change a case's consent, list, add and move
its referrals; every bad input a 4xx with a code (never a 5xx), region-scoped on reads and
writes, audited like the pages (never the reason or the note)."""

from __future__ import annotations

import json

from sqlalchemy import select

from fieldapp.audit.models import AuditEvent
from fieldapp.db import db
from tests.cases.support import (
    SEED1_ADULT,
    SEED1_CHILDREN,
    SEED1_HOUSEHOLD,
    Programme,
    registered,
)

REASON = "Ms Oscar Mike asked us to stop visiting"


def _audit(action: str) -> list[AuditEvent]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        )
    )


def test_consent_is_read_and_changed_through_the_api_and_reaches_the_households_children(
    programme: Programme,
) -> None:
    registered(programme)
    coord = programme["coord"].api
    read = coord.get(f"/api/v1/cases/{SEED1_HOUSEHOLD}/consent")
    assert read.status_code == 200
    assert read.json["consent"] == "given" and read.json["follow_ups_stopped"] is False
    assert [h["source"] for h in read.json["history"]] == ["submission"]
    assert _audit("case.consent_viewed")[-1].subject_id == SEED1_HOUSEHOLD

    url = f"/api/v1/cases/{SEED1_HOUSEHOLD}/consent"
    done = coord.post(url, {"kind": "consent", "state": "withdrawn", "reason": REASON})
    assert done.status_code == 201, done.json
    assert done.json["consent"] == "withdrawn" and done.json["follow_ups_stopped"] is True
    assert done.json["change"]["reason"] == REASON
    assert sorted(done.json["members_withdrawn"]) == sorted(SEED1_CHILDREN)
    assert done.json["members_withdrawn_elsewhere"] == 0
    child = coord.get(f"/api/v1/cases/{SEED1_CHILDREN[0]}/consent").json
    assert child["consent"] == "withdrawn"
    assert child["history"][-1]["household_change"] == done.json["change"]["id"]
    assert coord.get(f"/api/v1/cases/{SEED1_ADULT}/consent").json["consent"] == "given"
    for row in _audit("case.consent_changed"):
        assert "Oscar" not in json.dumps(row.details)

    again = coord.post(url, {"kind": "consent", "state": "withdrawn", "reason": "again"})
    assert again.status_code == 409 and again.json["error"]["code"] == "consent.unchanged"


def test_every_bad_consent_input_is_a_4xx_with_a_code(programme: Programme) -> None:
    registered(programme)
    coord = programme["coord"].api
    url = f"/api/v1/cases/{SEED1_ADULT}/consent"
    good = {"kind": "consent", "state": "withdrawn", "reason": "r"}
    for body, status, code in (
        ({**good, "kind": "nonsense"}, 422, "validation"),
        ({**good, "state": "maybe"}, 422, "validation"),
        ({**good, "reason": ""}, 422, "validation"),
        ({**good, "reason": "x" * 1001}, 422, "validation"),
        ({**good, "reason": None}, 422, "validation"),
        ({**good, "reason": 7}, 422, "validation"),
        ({"kind": "consent", "state": "given"}, 422, "validation"),
        ({**good, "extra": 1}, 422, "validation"),
        ({**good, "kind": "assent"}, 422, "consent.not_a_child"),
    ):
        response = coord.post(url, body)
        assert response.status_code == status, (body, response.json)
        assert response.json["error"]["code"] == code, body
    for raw in (b"[1, 2]", b"not json", b'"text"'):
        response = coord.client.post(
            url, data=raw, headers={**coord.headers, "Content-Type": "application/json"}
        )
        assert 400 <= response.status_code < 500, raw
        assert response.json["error"]["code"], raw
    assert coord.get(url).json["consent"] == "given"


def test_consent_is_the_regions_coordinators_and_invisible_to_others(
    programme: Programme,
) -> None:
    registered(programme)
    south = programme.person("coord_s", "coordinator", ["south"]).api
    worker = programme["worker"].api
    url = f"/api/v1/cases/{SEED1_ADULT}/consent"
    body = {"kind": "consent", "state": "withdrawn", "reason": "r"}
    for who in (south, worker):
        assert who.get(url).status_code == 404
        assert who.post(url, body).status_code == 404
    assert programme["coord"].api.get(url).json["consent"] == "given"


def test_referrals_are_listed_added_and_moved_through_the_api(programme: Programme) -> None:
    registered(programme)
    coord, worker = programme["coord"].api, programme["worker"].api
    other = programme.person("worker2", "field_worker", ["north"]).api
    south = programme.person("coord_s", "coordinator", ["south"]).api
    url = f"/api/v1/cases/{SEED1_ADULT}/referrals"

    added = coord.post(url, {"service": "doctor", "urgency": "week", "note": "the clinic"})
    assert added.status_code == 201, added.json
    referral = added.json
    assert (referral["status"], referral["next"]) == ("made", ["accepted", "closed"])
    created = _audit("referral.created")[-1]
    assert created.details["referral"] == referral["id"] and "clinic" not in str(created.details)

    for body in (
        {"service": "nonsense", "urgency": "week"},
        {"service": "doctor", "urgency": "soon"},
        {"service": "doctor"},
        {"service": "doctor", "urgency": "week", "note": "x" * 1001},
        {"service": ["doctor"], "urgency": "week"},
    ):
        response = coord.post(url, body)
        assert response.status_code == 422 and response.json["error"]["code"] == "validation"
    # adding is the coordinators'; other workers and regions do not see the case
    assert worker.post(url, {"service": "doctor", "urgency": "week"}).status_code == 404
    for who in (other, south):
        assert who.get(url).status_code == 404
        assert who.post(f"{url}/{referral['id']}", {"to": "accepted"}).status_code == 404

    listed = worker.get(url)
    assert listed.status_code == 200 and [r["id"] for r in listed.json["items"]] == [referral["id"]]
    assert _audit("case.referrals_viewed")[-1].actor_id == programme["worker"].user_id

    move = f"{url}/{referral['id']}"
    assert worker.post(move, {"to": "nonsense"}).json["error"]["code"] == "validation"
    assert worker.post(move, {"to": "seen"}).json["error"]["code"] == "referral.step_invalid"
    assert worker.post(move, {"to": "closed"}).json["error"]["code"] == "referral.note_missing"
    moved = worker.post(move, {"to": "accepted", "note": "booked"})
    assert moved.status_code == 200, moved.json
    assert moved.json["status"] == "accepted" and moved.json["accepted_by"] == "worker"
    step = _audit("referral.status_changed")[-1]
    assert (step.details["old"], step.details["new"]) == ("made", "accepted")
    assert coord.post(f"{url}/999999", {"to": "accepted"}).status_code == 404
    assert coord.post(move, {"to": "seen"}).json["status"] == "seen"
