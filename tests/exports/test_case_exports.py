"""Case list exports: the reader's cases only, properties as columns, neutralised, audited."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable
from datetime import date

import openpyxl
from flask import Flask
from sqlalchemy import select

from fieldapp.audit.models import AuditEvent
from fieldapp.auth import services as auth
from fieldapp.auth.models import User
from fieldapp.cases.models import Case, CaseList
from fieldapp.db import db


def _world(make_user: Callable[..., User]) -> dict[str, str]:
    coord1 = make_user("coordinator", username="coord1", regions=["north"])
    coord2 = make_user("coordinator", username="coord2", regions=["south"])
    worker1 = make_user("field_worker", username="worker1", regions=["north"])
    admin = make_user("admin", username="boss", regions=[])
    households = CaseList(name="households", title="Households", properties=["village", "size"])
    db.session.add(households)
    db.session.flush()
    north, south = coord1.regions[0].id, coord2.regions[0].id
    for code, label, region, props in [
        ("HH-N1", "Amina family", north, {"village": "=cmd|' /C calc'!A0", "size": 4}),
        ("HH-N2", "Ali family", north, {"village": "Kosshy"}),
        ("HH-S1", "Dana family", south, {"village": "Talgar", "size": 2}),
    ]:
        db.session.add(
            Case(
                uuid=str(uuid.uuid4()),
                code=code,
                case_list_id=households.id,
                label=label,
                properties=props,
                region_id=region,
                assigned_to_id=worker1.id if region == north else None,
                next_due=date(2026, 1, 1),
            )
        )
    db.session.commit()
    tokens = {
        name: auth.issue_api_token(user, actor=None)[0]
        for name, user in [
            ("coord1", coord1),
            ("coord2", coord2),
            ("admin", admin),
            ("worker1", worker1),
        ]
    }
    db.session.commit()
    return tokens


def test_case_csv_is_scoped_and_neutralised(app: Flask, make_user):
    tokens = _world(make_user)
    client = app.test_client()
    response = client.get(
        "/api/v1/cases.csv?dataset=households",
        headers={"Authorization": f"Bearer {tokens['coord1']}"},
    )
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    assert [r["code"] for r in rows] == ["HH-N1", "HH-N2"]
    first = rows[0]
    assert first["label"] == "Amina family"
    assert first["region"] == "north"
    assert first["worker"] == "worker1"
    assert first["status"] == "open"
    assert first["next_due"] == "2026-01-01"
    assert first["overdue"] == "true"
    assert first["property-village"] == "'=cmd|' /C calc'!A0"
    assert first["property-size"] == "4"
    south = client.get(
        "/api/v1/cases.csv?dataset=households",
        headers={"Authorization": f"Bearer {tokens['coord2']}"},
    )
    assert [
        r["code"] for r in csv.DictReader(io.StringIO(south.get_data().decode("utf-8-sig")))
    ] == ["HH-S1"]
    refused = client.get(
        "/api/v1/cases.csv?dataset=households",
        headers={"Authorization": f"Bearer {tokens['worker1']}"},
    )
    assert refused.status_code == 404
    finished = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "export.finished").order_by(AuditEvent.id)
    ).all()
    assert [e.details["rows"] for e in finished] == [2, 1]
    assert all(e.subject_type == "case_list" for e in finished)


def test_case_xlsx(app: Flask, make_user):
    tokens = _world(make_user)
    response = app.test_client().get(
        "/api/v1/cases.xlsx?dataset=households&region=south",
        headers={"Authorization": f"Bearer {tokens['admin']}"},
    )
    assert response.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(response.get_data()), read_only=True)
    rows = list(book["households"].iter_rows(values_only=True))
    assert rows[0][:3] == ("code", "label", "region")
    assert [r[0] for r in rows[1:]] == ["HH-S1"]
    assert rows[1][-1] == 2
    unknown = app.test_client().get(
        "/api/v1/cases.csv?dataset=nothing", headers={"Authorization": f"Bearer {tokens['admin']}"}
    )
    assert unknown.status_code == 404
