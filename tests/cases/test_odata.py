"""The ODK Central-compatible OData feed (/v1): sessions, $metadata, paging, filters, scope."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from lxml import etree
from sqlalchemy import select

from fieldapp.audit.models import AuditEvent
from fieldapp.db import db
from fieldapp.odata import edm
from fieldapp.odata import services as odata
from fieldapp.submissions.models import Submission
from tests.cases.support import home_visit, registration
from tests.conftest import TEST_PASSWORD

SVC = "/v1/projects/1/forms/family_registration.svc"
EDM = "{http://docs.oasis-open.org/odata/ns/edm}"


@pytest.fixture
def world(programme):
    programme.person("coord_s", "coordinator", ["south"])
    programme.person("worker_s", "field_worker", ["south"])
    programme.person("designer", "designer")
    worker, coord = programme["worker"], programme["coord"]
    for case in ("seed1", "children3"):
        coord.api.review(worker.submit(*registration(case)))
    programme["worker_s"].submit(*registration("seed1", fresh=True))
    return programme


def _get(app, token: str, url: str, **params: Any) -> Any:
    headers = {"Authorization": f"Bearer {token}"}
    if params:
        return app.test_client().get(url, query_string=params, headers=headers)
    return app.test_client().get(url, headers=headers)


def _token(person) -> str:
    return str(person.api.headers["Authorization"]).removeprefix("Bearer ")


def test_session_login_with_the_central_body(app, world):
    client = app.test_client()
    answer = client.post("/v1/sessions", json={"email": "coord", "password": TEST_PASSWORD})
    assert answer.status_code == 200, answer.json
    token = answer.json["token"]
    assert answer.json["expiresAt"] > answer.json["createdAt"]
    me = client.get("/v1/users/current", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json["email"] == "coord"
    wrong = client.post("/v1/sessions", json={"email": "coord", "password": "nope nope nope"})
    assert wrong.status_code == 401
    assert "message" in wrong.json
    out = client.delete(f"/v1/sessions/{token}", headers={"Authorization": f"Bearer {token}"})
    assert out.status_code == 200
    assert (
        client.get("/v1/users/current", headers={"Authorization": f"Bearer {token}"}).status_code
        == 401
    )


def test_basic_auth_and_no_auth(app, world):
    client = app.test_client()
    assert client.get("/v1/projects").status_code == 401
    basic = base64.b64encode(f"coord:{TEST_PASSWORD}".encode()).decode()
    answer = client.get(f"{SVC}/Submissions", headers={"Authorization": f"Basic {basic}"})
    assert answer.status_code == 200
    assert len(answer.json["value"]) == 2


def test_metadata_follows_the_field_tree(app, world):
    answer = _get(app, _token(world["coord"]), f"{SVC}/$metadata")
    assert answer.status_code == 200
    root = etree.fromstring(answer.data)
    assert root.tag == "{http://docs.oasis-open.org/odata/ns/edmx}Edmx"
    assert root.get("Version") == "4.0"
    schema = root.find(f".//{EDM}Schema")
    ns = schema.get("Namespace")
    types = {t.get("Name"): t for t in schema.findall(f"{EDM}EntityType")}
    complex_names = {t.get("Name") for t in schema.findall(f"{EDM}ComplexType")}
    sets = {
        s.get("Name"): s.get("EntityType")
        for s in schema.findall(f"{EDM}EntityContainer/{EDM}EntitySet")
    }
    with app.app_context():
        tree = odata.form_tree(odata.get_form("family_registration"))
    tables = edm.tables(tree)
    assert set(sets) == {t.name for t in tables} == set(types)
    assert len(tables) > 1  # the form has repeats
    for name, type_name in sets.items():
        assert type_name == f"{ns}.{name}"
        keys = [k.get("Name") for k in types[name].findall(f"{EDM}Key/{EDM}PropertyRef")]
        assert keys == ["__id"]
    # every property's type is an Edm type or a declared complex type; top-level fields present
    top = {p.get("Name") for p in types["Submissions"].findall(f"{EDM}Property")}
    for node in tree:
        if node.kind != "repeat":
            assert node.name in top
    for prop in schema.iter(f"{EDM}Property"):
        kind = prop.get("Type")
        assert kind.startswith("Edm.") or kind.removeprefix(ns + ".") in complex_names, kind
    for nav in schema.iter(f"{EDM}NavigationProperty"):
        inner = nav.get("Type").removeprefix(f"Collection({ns}.").removesuffix(")")
        assert inner in types


def test_submissions_rows_match_the_data(app, world):
    answer = _get(
        app, _token(world["coord"]), f"{SVC}/Submissions", **{"$expand": "*", "$count": "true"}
    )
    assert answer.status_code == 200
    body = answer.json
    assert body["@odata.count"] == 2
    with app.app_context():
        subs = {
            s.instance_id: s
            for s in db.session.scalars(select(Submission).where(Submission.region_id.isnot(None)))
        }
        for row in body["value"]:
            sub = subs[row["__id"]]
            data = sub.current_version.data
            assert row["meta"]["instanceID"] == data["meta"]["instanceID"]
            assert row["__system"]["reviewState"] == odata.CENTRAL_STATE[sub.review_state]
            assert row["__system"]["submitterId"] == str(sub.submitted_by_id)
            # repeats expanded with the same number of rows
            for key, value in data.items():
                if isinstance(value, list) and value and isinstance(value[0], dict):
                    assert len(row[key]) == len(value)


def test_next_link_walk_returns_every_row_once(app, world):
    token = _token(world["coord"])
    seen: list[str] = []
    url = f"{SVC}/Submissions?$top=1&$count=true"
    pages = 0
    while url:
        answer = _get(app, token, url.removeprefix("http://localhost"))
        assert answer.status_code == 200, answer.json
        assert answer.json["@odata.count"] == 2
        seen += [r["__id"] for r in answer.json["value"]]
        url = answer.json.get("@odata.nextLink")
        pages += 1
        assert pages < 10
    assert len(seen) == len(set(seen)) == 2


def test_repeat_tables_page_and_link_to_their_parent(app, world):
    token = _token(world["coord"])
    service = _get(app, token, SVC).json["value"]
    repeats = [s["name"] for s in service if s["name"] != "Submissions"]
    assert repeats
    ids = {r["__id"] for r in _get(app, token, f"{SVC}/Submissions").json["value"]}
    for name in repeats:
        everything = _get(app, token, f"{SVC}/{name}", **{"$count": "true"}).json
        walked: list[str] = []
        url = f"{SVC}/{name}?$top=1"
        while url:
            page = _get(app, token, url.removeprefix("http://localhost")).json
            walked += [r["__id"] for r in page["value"]]
            url = page.get("@odata.nextLink")
        assert sorted(walked) == sorted(r["__id"] for r in everything["value"])
        assert len(walked) == everything["@odata.count"] == len(set(walked))
        if name.count(".") == 1:
            for row in everything["value"]:
                assert row["__Submissions-id"] in ids


def test_filters(app, world):
    token = _token(world["coord"])

    def count(expr: str) -> int:
        answer = _get(app, token, f"{SVC}/Submissions", **{"$filter": expr})
        assert answer.status_code == 200, answer.json
        return len(answer.json["value"])

    assert count("__system/reviewState eq 'approved'") == 2
    assert count("__system/reviewState eq null") == 0
    assert count("__system/submissionDate ge 2000-01-01") == 2
    assert count("__system/submissionDate lt 2000-01-01T00:00:00Z") == 0
    uid = world["worker"].user_id
    assert count(f"__system/submitterId eq {uid} and __system/reviewState ne 'rejected'") == 2
    assert (
        count(f"__system/submitterId eq {uid + 1000} or (not __system/reviewState eq 'approved')")
        == 0
    )
    for bad in (
        "foo eq 1",
        "__system/reviewState eq",
        "1 eq 1",
        "__system/reviewState eq 'nope'",
        "((((",
        "__system/submissionDate ge 'x'",
        "__system/submitterId eq 99999999999",
    ):
        answer = _get(app, token, f"{SVC}/Submissions", **{"$filter": bad})
        assert answer.status_code == 400, bad
        assert answer.json["message"]


def test_scope_and_roles(app, world):
    south = _get(app, _token(world["coord_s"]), f"{SVC}/Submissions").json["value"]
    assert len(south) == 1
    for who in ("worker", "designer"):
        assert _get(app, _token(world[who]), f"{SVC}/Submissions").status_code == 403


def test_select_and_options(app, world):
    token = _token(world["coord"])
    rows = _get(app, token, f"{SVC}/Submissions", **{"$select": "__id,__system/reviewState"}).json[
        "value"
    ]
    assert rows and all(set(r) == {"__id", "__system"} for r in rows)
    for params in (
        {"$top": "-1"},
        {"$skip": "-3"},
        {"$top": "99999999999"},
        {"$expand": "x"},
        {"$select": "nope"},
        {"$skiptoken": "garbage"},
        {"$count": "maybe"},
    ):
        assert _get(app, token, f"{SVC}/Submissions", **params).status_code == 400, params
    assert _get(app, token, f"{SVC}/Nope").status_code == 404
    assert _get(app, token, "/v1/projects/2/forms").status_code == 404


def test_entities_feed_and_audit(app, world):
    token = _token(world["coord"])
    answer = _get(
        app, token, "/v1/projects/1/datasets/households.svc/Entities", **{"$count": "true"}
    )
    assert answer.status_code == 200, answer.json
    rows = answer.json["value"]
    assert rows and answer.json["@odata.count"] == len(rows)
    assert all(r["__system"]["version"] >= 1 and r["label"] for r in rows)
    south = _get(app, _token(world["coord_s"]), "/v1/projects/1/datasets/households.svc/Entities")
    assert {r["__id"] for r in south.json["value"]}.isdisjoint({r["__id"] for r in rows})
    meta = _get(app, token, "/v1/projects/1/datasets/households.svc/$metadata")
    etree.fromstring(meta.data)
    with app.app_context():
        actions = db.session.scalars(
            select(AuditEvent.action).where(AuditEvent.action.like("odata.%"))
        ).all()
    assert "odata.entities_read" in actions


def test_home_visits_also_served(app, world):
    token = _token(world["coord"])
    assert _get(app, token, "/v1/projects/1/forms/home_visit.svc/Submissions").status_code == 200
    forms = _get(app, token, "/v1/projects/1/forms").json
    assert {f["xmlFormId"] for f in forms} >= {"family_registration", "home_visit"}
    assert home_visit  # the helper stays importable for later tests
