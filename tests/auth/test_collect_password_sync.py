"""A Collect sync with a username and password notes the phone, not a login per request
(issue 10, item 6, the password part); failures are still audited, without the password."""

from __future__ import annotations

import base64
from datetime import timedelta

from sqlalchemy import func, select, update

from fieldapp.audit.models import AuditEvent
from fieldapp.auth.models import CollectSync, User
from fieldapp.db import db, utcnow
from tests.conftest import TEST_PASSWORD

AGENT = "org.odk.collect.android/v2025.2.0 Dalvik/2.1.0 (Linux; U; Android 14)"


def _headers(username: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {
        "X-OpenRosa-Version": "1.0",
        "Authorization": f"Basic {token}",
        "User-Agent": AGENT,
    }


def _count(action: str) -> int:
    return int(
        db.session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
        )
    )


def test_a_sync_writes_no_login_row_per_request(client, make_user):
    worker = make_user("field_worker")
    for _ in range(5):
        response = client.get("/collect/formList", headers=_headers(worker.username, TEST_PASSWORD))
        assert response.status_code == 200
        assert (
            client.head(
                "/collect/submission", headers=_headers(worker.username, TEST_PASSWORD)
            ).status_code
            == 204
        )
    assert _count("auth.login") == 0
    db.session.expire_all()
    assert db.session.get(User, worker.id).last_login_at is None
    rows = db.session.scalars(select(CollectSync).where(CollectSync.user_id == worker.id)).all()
    assert len(rows) == 1
    assert rows[0].user_agent == AGENT
    assert _count("auth.collect_app_seen") == 1


def test_the_phones_last_seen_moves_every_few_minutes(client, make_user):
    worker = make_user("field_worker")
    client.get("/collect/formList", headers=_headers(worker.username, TEST_PASSWORD))
    row = db.session.scalars(select(CollectSync).where(CollectSync.user_id == worker.id)).one()
    first = row.last_seen_at
    client.get("/collect/formList", headers=_headers(worker.username, TEST_PASSWORD))
    db.session.expire_all()
    assert db.session.get(CollectSync, row.id).last_seen_at == first
    db.session.execute(
        update(CollectSync)
        .where(CollectSync.id == row.id)
        .values(last_seen_at=utcnow() - timedelta(minutes=6))
    )
    db.session.commit()
    client.get("/collect/formList", headers=_headers(worker.username, TEST_PASSWORD))
    db.session.expire_all()
    assert utcnow() - db.session.get(CollectSync, row.id).last_seen_at < timedelta(minutes=1)


def test_failed_syncs_are_still_audited_without_the_password(client, make_user):
    worker = make_user("field_worker")
    response = client.get("/collect/formList", headers=_headers(worker.username, "wrong-secret"))
    assert response.status_code == 401
    events = list(
        db.session.scalars(select(AuditEvent).where(AuditEvent.action == "auth.login_failed"))
    )
    assert len(events) == 1
    assert events[0].subject_id == str(worker.id)
    assert "wrong-secret" not in str(events[0].details)
