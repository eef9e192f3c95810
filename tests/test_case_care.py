"""Caring for cases through the API: assign, transfer, close/reopen, links, duplicates, merge."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from fieldapp.audit.models import AuditEvent
from fieldapp.cases import services as cases
from fieldapp.cases.models import Case, CaseList
from fieldapp.db import db


@pytest.fixture
def setup(app, make_user, make_region, api_token):
    north, south = make_region("north"), make_region("south")
    lists = {}
    for name, prefix in (("households", "HH"), ("children", "CH")):
        case_list = CaseList(
            name=name,
            title=name.title(),
            code_prefix=prefix,
            cadence_days=30,
            properties=["full_name", "birth_date", "household_id"],
        )
        db.session.add(case_list)
        lists[name] = case_list
    db.session.commit()
    w1 = make_user("field_worker", username="w1", regions=["north"])
    w2 = make_user("field_worker", username="w2", regions=["north"])
    w3 = make_user("field_worker", username="w3", regions=["south"])
    household = cases.create_case(
        lists["households"],
        label="Omarova - Talgar",
        properties={},
        region_id=north.id,
        assigned_to=w1,
        actor=None,
    )
    child = cases.create_case(
        lists["children"],
        label="Amina Omarova (2016)",
        properties={
            "full_name": "Amina Omarova",
            "birth_date": "2016-03-02",
            "household_id": household.uuid,
        },
        region_id=north.id,
        assigned_to=w1,
        actor=None,
    )
    twin = cases.create_case(
        lists["children"],
        label="OMAROVA Amina",
        properties={"full_name": "OMAROVA  amina", "birth_date": "2016-09-09"},
        region_id=north.id,
        assigned_to=w2,
        actor=None,
    )
    db.session.commit()
    coord = {"Authorization": f"Bearer {api_token('coordinator', regions=['north'])}"}
    other = {"Authorization": f"Bearer {api_token('coordinator', regions=['south'])}"}
    return {
        "household": household.uuid,
        "child": child.uuid,
        "twin": twin.uuid,
        "coord": coord,
        "other": other,
        "w1": w1.id,
        "w2": w2.id,
        "w3": w3.id,
        "south": south.id,
    }


def _audit(action):
    return db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)).all()


def test_assign_moves_a_case_between_workers_of_the_region(client, setup):
    r = client.post(
        f"/api/v1/cases/{setup['child']}/assign", json={"user": "w2"}, headers=setup["coord"]
    )
    assert r.status_code == 200 and r.json["assigned_to"] == "w2"
    bad = client.post(
        f"/api/v1/cases/{setup['child']}/assign", json={"user": "w3"}, headers=setup["coord"]
    )
    assert bad.status_code == 422
    assert _audit("case.assigned")


def test_an_administrators_transfer_moves_the_case_and_hides_it_from_the_old_region(
    client, setup, api_token
):
    admin = {"Authorization": f"Bearer {api_token('admin')}"}
    r = client.post(
        f"/api/v1/cases/{setup['child']}/transfer",
        json={"region": "south", "assign_to": "w3"},
        headers=admin,
    )
    assert r.status_code == 200
    assert r.json["region"] == "south" and r.json["assigned_to"] == "w3"
    assert client.get(f"/api/v1/cases/{setup['child']}", headers=setup["coord"]).status_code == 404
    assert client.get(f"/api/v1/cases/{setup['child']}", headers=setup["other"]).status_code == 200
    assert {e.region_id for e in _audit("case.transferred")} >= {setup["south"]}


def test_a_coordinators_transfer_into_another_region_is_a_request_and_the_case_stays(client, setup):
    url = f"/api/v1/cases/{setup['child']}/transfer"
    chosen = client.post(url, json={"region": "south", "assign_to": "w3"}, headers=setup["coord"])
    assert chosen.status_code == 422
    assert chosen.json["error"]["code"] == "transfer.assign_on_accept"
    r = client.post(
        url, json={"region": "south", "note": "moved to her aunt"}, headers=setup["coord"]
    )
    assert r.status_code == 202
    request = r.json["transfer_request"]
    assert (request["from_region"], request["to_region"], request["state"]) == (
        "north",
        "south",
        "pending",
    )
    # nothing moved: still the sender's, with its worker, and not the receiver's yet
    case = client.get(f"/api/v1/cases/{setup['child']}", headers=setup["coord"])
    assert case.status_code == 200
    assert case.json["region"] == "north" and case.json["assigned_to"] == "w1"
    assert client.get(f"/api/v1/cases/{setup['child']}", headers=setup["other"]).status_code == 404
    assert not _audit("case.transferred")
    assert {e.region_id for e in _audit("case.transfer_requested")} >= {setup["south"]}
    again = client.post(url, json={"region": "south"}, headers=setup["coord"])
    assert again.status_code == 409
    assert again.json["error"]["code"] == "transfer.already_pending"


def test_close_reason_is_kept_with_the_case_not_in_the_audit_log(client, setup):
    closed = client.post(
        f"/api/v1/cases/{setup['child']}/close",
        json={"reason": "Amina moved to her aunt"},
        headers=setup["coord"],
    )
    assert closed.json["status_reason"] == "Amina moved to her aunt"
    events = _audit("case.closed")
    assert events and all("Amina" not in str(e.details) for e in events)


def test_close_needs_a_reason_and_reopen_works(client, setup):
    assert (
        client.post(
            f"/api/v1/cases/{setup['child']}/close", json={}, headers=setup["coord"]
        ).status_code
        == 422
    )
    closed = client.post(
        f"/api/v1/cases/{setup['child']}/close",
        json={"reason": "moved abroad"},
        headers=setup["coord"],
    )
    assert closed.json["status"] == "closed"
    reopened = client.post(f"/api/v1/cases/{setup['child']}/reopen", headers=setup["coord"])
    assert reopened.json["status"] == "open"


def test_other_regions_coordinator_cannot_act(client, setup):
    r = client.post(
        f"/api/v1/cases/{setup['child']}/close", json={"reason": "x"}, headers=setup["other"]
    )
    assert r.status_code == 404


def test_links_from_properties_and_recorded_ones(client, setup):
    links = client.get(f"/api/v1/cases/{setup['child']}/links", headers=setup["coord"]).json
    assert {(ln["relation"], ln["id"]) for ln in links["items"]} == {
        ("household", setup["household"])
    }
    back = client.get(f"/api/v1/cases/{setup['household']}/links", headers=setup["coord"]).json
    assert ("household_of", setup["child"]) in {(ln["relation"], ln["id"]) for ln in back["items"]}
    made = client.post(
        f"/api/v1/cases/{setup['twin']}/links",
        json={"to": setup["household"], "relation": "household"},
        headers=setup["coord"],
    )
    assert made.status_code == 201
    assert ("household", setup["household"]) in {
        (ln["relation"], ln["id"]) for ln in made.json["items"]
    }


def test_duplicates_are_found_by_normalised_name_and_birth_year(client, setup):
    r = client.get("/api/v1/case-lists/children/duplicates", headers=setup["coord"])
    assert r.status_code == 200
    assert [sorted(c["id"] for c in g) for g in r.json["groups"]] == [
        sorted([setup["child"], setup["twin"]])
    ]
    assert (
        client.get("/api/v1/case-lists/children/duplicates", headers=setup["other"]).json["groups"]
        == []
    )


def test_merge_chooses_each_property_and_leaves_a_pointer(client, setup):
    r = client.post(
        f"/api/v1/cases/{setup['child']}/merge",
        json={"other": setup["twin"], "choose": {"birth_date": "drop"}},
        headers=setup["coord"],
    )
    assert r.status_code == 200, r.json
    assert r.json["properties"]["birth_date"] == "2016-09-09"
    assert r.json["properties"]["household_id"] == setup["household"]
    assert r.json["version"] == 2
    twin = db.session.scalars(select(Case).where(Case.uuid == setup["twin"])).one()
    assert twin.status == "merged"
    assert twin.merged_into_id is not None
    again = client.post(
        f"/api/v1/cases/{setup['child']}/merge",
        json={"other": setup["twin"]},
        headers=setup["coord"],
    )
    assert again.status_code == 409
    assert _audit("case.merged")


def test_care_acts_are_audited_without_names(client, setup):
    client.post(
        f"/api/v1/cases/{setup['child']}/close",
        json={"reason": "family moved"},
        headers=setup["coord"],
    )
    for event in db.session.scalars(select(AuditEvent)).all():
        assert "Amina" not in str(event.details)


def test_resolving_a_conflict_is_audited_and_may_restore_values(client, setup):
    case = db.session.scalars(select(Case).where(Case.uuid == setup["child"])).one()
    case.conflict = "hard"
    db.session.commit()
    r = client.post(
        f"/api/v1/cases/{setup['child']}/resolve",
        json={"properties": {"birth_date": "2016-03-03"}, "note": "checked papers"},
        headers=setup["coord"],
    )
    assert r.status_code == 200, r.json
    assert r.json["conflict"] is None
    assert r.json["version"] == 2
    assert r.json["properties"]["birth_date"] == "2016-03-03"
    assert _audit("case.conflict_resolved")
    again = client.post(f"/api/v1/cases/{setup['child']}/resolve", json={}, headers=setup["coord"])
    assert again.status_code == 409
