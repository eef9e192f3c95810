"""The transfer request and the confirmation steps through the pages (real HTTP, real
database): nothing acts without ``confirm=1``; the case stays visible and assigned while
pending; the receiving region decides; a third region is a stranger; everything escaped."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from fieldapp.audit.models import AuditEvent
from fieldapp.auth import services as auth
from fieldapp.cases import services as cases
from fieldapp.cases.models import Case, CaseList, TransferRequest
from fieldapp.db import db


@pytest.fixture
def world(app, make_user, make_region, login_as) -> dict[str, Any]:
    north, south = make_region("north", "North"), make_region("south", "South")
    make_region("empty", "Empty")
    households = CaseList(name="households", title="Households", code_prefix="HH")
    db.session.add(households)
    db.session.commit()
    worker_n = make_user("field_worker", username="aigerim", regions=["north"])
    make_user("field_worker", username="dana", regions=["south"])
    case = cases.create_case(
        households,
        label="<b>Family</b> A",
        properties={"settlement": "A"},
        region_id=north.id,
        assigned_to=worker_n,
        actor=None,
    )
    other = cases.create_case(
        households, label="Family A (again)", properties={}, region_id=north.id,
        assigned_to=None, actor=None,
    )  # fmt: skip
    db.session.commit()
    return {
        "case": case.uuid,
        "code": case.code,
        "other": other.uuid,
        "other_code": other.code,
        "north": login_as("coordinator", regions=["north"]),
        "south": login_as("coordinator", regions=["south"]),
        "east": login_as("coordinator", regions=["east"]),
        "north_id": north.id,
        "south_id": south.id,
    }


def _case(uuid: str) -> Case:
    db.session.expire_all()
    return db.session.scalars(select(Case).where(Case.uuid == uuid)).one()


def _requests() -> list[TransferRequest]:
    db.session.expire_all()
    return list(db.session.scalars(select(TransferRequest)))


def _request(world: dict[str, Any], note: str = "Moved to <i>her</i> sister") -> int:
    done = world["north"].post(
        f"/cases/{world['case']}/act",
        {"action": "request_transfer", "region": "south", "note": note, "confirm": "1"},
    )
    assert done.status_code == 302
    [row] = _requests()
    return row.id


def test_the_case_page_preselects_no_region_and_says_who_is_missing(world):
    html = world["north"].get(f"/cases/{world['case']}").data.decode()
    select_html = re.search(r'<select id="transfer-region".*?</select>', html, re.S)
    assert select_html is not None
    options = select_html.group(0)
    assert '<option value="" selected>Choose a region…</option>' in options
    assert options.count("selected") == 1
    assert "Empty (no coordinator, no field worker)" in options
    assert ">South</option>" in options  # a coordinator and a worker: nothing to say


def test_requesting_confirms_first_then_keeps_the_case_here_marked_pending(world):
    north = world["north"]
    missing = north.post(
        f"/cases/{world['case']}/act", {"action": "request_transfer", "region": ""},
        follow_redirects=True,
    )  # fmt: skip
    assert "Choose the region" in missing.data.decode()
    asked = north.post(
        f"/cases/{world['case']}/act",
        {"action": "request_transfer", "region": "south", "note": "<i>x</i>"},
    )
    assert asked.status_code == 200
    text = asked.data.decode()
    assert (
        "The case stays in North and assigned to aigerim until a coordinator of South accepts."
    ) in text
    assert 'name="confirm" value="1"' in text and "&lt;i&gt;x&lt;/i&gt;" in text
    assert _requests() == []  # nothing happened yet
    _request(world)
    case = _case(world["case"])
    assert case.region_id == world["north_id"] and case.assigned_to_id is not None
    page = north.get(f"/cases/{world['case']}").data.decode()
    assert "transfer pending to South" in page
    assert "Cancel the transfer request" in page
    assert "Moved to &lt;i&gt;her&lt;/i&gt; sister" in page  # the history, escaped
    listing = north.get("/cases").data.decode()
    assert world["code"] in listing and "transfer pending to South" in listing
    # a second request while one waits is refused
    again = north.post(
        f"/cases/{world['case']}/act",
        {"action": "request_transfer", "region": "empty", "confirm": "1"},
        follow_redirects=True,
    )
    assert "already waiting" in again.data.decode()
    assert len(_requests()) == 1


def test_the_receiving_region_sees_decides_and_both_keep_the_history(world):
    request_id = _request(world)
    south, north = world["south"], world["north"]
    assert "1 transfer request waiting for your answer" in south.get("/cases").data.decode()
    listing = south.get("/transfers").data.decode()
    assert world["code"] in listing and "&lt;b&gt;Family&lt;/b&gt; A" in listing
    assert "Moved to &lt;i&gt;her&lt;/i&gt; sister" in listing
    page = south.get(f"/transfers/{request_id}").data.decode()
    assert "&lt;b&gt;Family&lt;/b&gt; A" in page and "Accept…" in page
    assert "Open the case page" not in page  # not theirs yet
    assert south.get(f"/cases/{world['case']}").status_code == 404
    viewed = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "case.transfer_summary_viewed")
    ).all()
    assert [e.subject_id for e in viewed] == [world["case"]]
    # accepting asks first, naming the worker; a worker is required
    no_worker = south.post(
        f"/transfers/{request_id}/decide", {"action": "accept", "worker": ""},
        follow_redirects=True,
    )  # fmt: skip
    assert "Choose the field worker" in no_worker.data.decode()
    asked = south.post(f"/transfers/{request_id}/decide", {"action": "accept", "worker": "dana"})
    assert asked.status_code == 200
    assert "moves from North to South and is assigned to dana" in asked.data.decode()
    assert _case(world["case"]).region_id == world["north_id"]
    done = south.post(
        f"/transfers/{request_id}/decide", {"action": "accept", "worker": "dana", "confirm": "1"}
    )
    assert done.headers["Location"].endswith(f"/cases/{world['case']}")
    case = _case(world["case"])
    assert case.region_id == world["south_id"]
    assert case.assigned_to_id == auth.get_user_by_username("dana").id
    # the receiving side's case page shows where it came from
    history = south.get(f"/cases/{world['case']}").data.decode()
    assert "North → South</strong>: accepted" in history and "given to dana" in history
    # the source keeps the request, not the case's data
    assert north.get(f"/cases/{world['case']}").status_code == 404
    left = north.get(f"/transfers/{request_id}").data.decode()
    assert world["code"] in left and "accepted" in left
    assert "Family" not in left and "its record is no longer shown here" in left
    outgoing = north.get("/transfers").data.decode()
    assert world["code"] in outgoing and "Family" not in outgoing


def test_declining_confirms_and_leaves_the_case(world):
    request_id = _request(world)
    south = world["south"]
    asked = south.post(f"/transfers/{request_id}/decide", {"action": "decline", "reason": "full"})
    assert "The case stays in North, assigned to aigerim" in asked.data.decode()
    assert _requests()[0].state == "pending"
    south.post(
        f"/transfers/{request_id}/decide", {"action": "decline", "reason": "full", "confirm": "1"}
    )
    [row] = _requests()
    assert (row.state, row.decision_note) == ("declined", "full")
    assert _case(world["case"]).region_id == world["north_id"]
    page = world["north"].get(f"/cases/{world['case']}").data.decode()
    assert "declined" in page and 'Reason:</span> <span dir="auto">full' in page


def test_cancelling_from_the_case_page(world):
    _request(world)
    world["north"].post(f"/cases/{world['case']}/act", {"action": "cancel_transfer"})
    assert _requests()[0].state == "cancelled"
    assert "transfer pending" not in world["north"].get(f"/cases/{world['case']}").data.decode()


def test_a_third_region_and_workers_are_strangers(world, login_as):
    request_id = _request(world)
    east = world["east"]
    assert east.get(f"/transfers/{request_id}").status_code == 404
    refused = east.post(
        f"/transfers/{request_id}/decide", {"action": "accept", "worker": "dana", "confirm": "1"}
    )
    assert refused.status_code == 404
    assert world["code"] not in east.get("/transfers").data.decode()
    worker = login_as("field_worker", regions=["south"])
    assert worker.get("/transfers").status_code == 404
    assert worker.post(f"/transfers/{request_id}/decide", {"action": "cancel"}).status_code == 404
    # the source region cannot accept its own request
    world["north"].post(
        f"/transfers/{request_id}/decide", {"action": "accept", "worker": "dana", "confirm": "1"}
    )
    assert _requests()[0].state == "pending"


def test_an_administrator_moves_directly_after_confirming(world, login_as):
    admin = login_as("admin")
    asked = admin.post(f"/cases/{world['case']}/act", {"action": "transfer", "region": "south"})
    assert "moves to South at once, with no worker" in asked.data.decode()
    assert _case(world["case"]).region_id == world["north_id"]
    admin.post(
        f"/cases/{world['case']}/act", {"action": "transfer", "region": "south", "confirm": "1"}
    )
    assert _case(world["case"]).region_id == world["south_id"]


def test_merging_from_the_case_page_confirms_first(world):
    north = world["north"]
    unknown = north.post(
        f"/cases/{world['case']}/act", {"action": "merge", "other": "HH-NOPE"},
        follow_redirects=True,
    )  # fmt: skip
    assert "No such case" in unknown.data.decode()
    asked = north.post(
        f"/cases/{world['case']}/act", {"action": "merge", "other": world["other_code"]}
    )
    text = asked.data.decode()
    assert f"Merge {world['other_code']} into {world['code']}?" in text
    assert "A merge cannot be undone." in text
    assert _case(world["other"]).status == "open"
    north.post(
        f"/cases/{world['case']}/act",
        {"action": "merge", "other": world["other_code"], "confirm": "1"},
    )
    assert _case(world["other"]).status == "merged"


def test_publishing_without_the_confirmation_does_not_publish(login_as):
    import io

    from fieldapp.forms import services as forms

    designer = login_as("designer")
    form = (
        b"| survey   |         |      |       |\n|          | type    | name | label |\n"
        b"|          | text    | name | Name  |\n| settings |         |      |       |\n"
        b"|          | form_id | version | form_title |\n|          | scratch | 1 | Scratch |\n"
    )
    uploaded = designer.post(
        "/forms/upload", {"file": (io.BytesIO(form), "scratch.md")},
        content_type="multipart/form-data",
    )  # fmt: skip
    assert uploaded.status_code == 302
    refused = designer.post("/forms/scratch/publish", {"acknowledge_warnings": "on"})
    assert refused.headers["Location"].endswith("/forms/scratch/publish")
    assert forms.get_form("scratch").current_version is None
    done = designer.post("/forms/scratch/publish", {"acknowledge_warnings": "on", "confirm": "1"})
    assert done.status_code == 302
    assert forms.get_form("scratch").current_version is not None
