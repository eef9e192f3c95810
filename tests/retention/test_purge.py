"""The retention purge: deleted submissions and closed cases past their keeping time leave the
database and the blob store (shared files stay); one pass at a time across processes."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy import select, update

from fieldapp.audit.models import AuditEvent
from fieldapp.blobs import Blob
from fieldapp.cases.models import Case
from fieldapp.db import db, utcnow
from fieldapp.forms.models import Form
from fieldapp.retention import worker
from fieldapp.submissions.models import Submission, SubmissionStateCount
from tests.cases.support import SEED1_ADULT, SEED1_HOUSEHOLD, SEED1_INSTANCE, registration
from tests.retention.conftest import rows_naming, store_of


def _delete(person: Any, instance_id: str) -> None:
    response = person.api.client.delete(
        f"/api/v1/submissions/{instance_id}", json={"reason": "a test"}, headers=person.api.headers
    )
    assert response.status_code == 200, response.json


def _deleted_days_ago(instance_id: str, days: int) -> None:
    db.session.execute(
        update(Submission)
        .where(Submission.instance_id == instance_id)
        .values(deleted_at=utcnow() - timedelta(days=days))
    )
    db.session.commit()


def _exists(instance_id: str) -> bool:
    db.session.expire_all()
    found = db.session.scalars(select(Submission.id).where(Submission.instance_id == instance_id))
    return found.first() is not None


def test_deleted_submissions_past_their_forms_retention_go_with_their_own_files(
    programme, app: Flask
):
    worker_n, coord = programme["worker"], programme["coord"]
    shared_xml, shared_files = registration("seed1")  # deleted 31 days ago
    kept_xml, kept_files = registration("seed1", fresh=True)  # not deleted: same photo
    own_xml, own_files = registration("seed1", fresh=True)  # deleted 31 days ago, own photo
    own_files = [
        (name, b"\xff\xd8 a photo of its own " + str(utcnow()).encode()) for name, _ in own_files
    ]
    recent_xml, recent_files = registration("seed1", fresh=True)  # deleted 5 days ago
    old, kept, own, recent = (
        worker_n.submit(x, f)
        for x, f in (
            (shared_xml, shared_files),
            (kept_xml, kept_files),
            (own_xml, own_files),
            (recent_xml, recent_files),
        )
    )
    for instance in (old, own, recent):
        _delete(coord, instance)
    _deleted_days_ago(old, 31)
    _deleted_days_ago(own, 31)
    _deleted_days_ago(recent, 5)
    shared_sha = hashlib.sha256(shared_files[0][1]).hexdigest()
    own_sha = hashlib.sha256(own_files[0][1]).hexdigest()
    store = store_of(app)
    assert store.path_for(own_sha).exists()

    dry = worker.run_pass(app, holder="test", dry_run=True)
    assert dry is not None
    assert dry.submissions == {"family_registration": 2}
    assert _exists(old)
    assert _exists(own)

    report = worker.run_pass(app, holder="test")
    assert report is not None
    assert report.submissions == {"family_registration": 2}
    db.session.expire_all()
    # the database: nothing names the purged submissions; the others are there
    assert rows_naming([old, own]) == []
    assert _exists(kept)
    assert _exists(recent)
    # the blob store: the shared photo stays, the purged one's own photo is gone
    assert db.session.get(Blob, shared_sha) is not None
    assert store.path_for(shared_sha).exists()
    assert db.session.get(Blob, own_sha) is None
    assert not store.path_for(own_sha).exists()
    # one audit row for the pass, with counts only
    purged = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "retention.purged")
    ).one()
    assert purged.actor_id is None
    assert purged.details["deleted_submissions"] == {"family_registration": 2}
    # the settled counts stay right (the triggers saw the rows go)
    assert sum(db.session.scalars(select(SubmissionStateCount.n))) == 0


def test_a_form_that_keeps_deleted_submissions_loses_none(programme, app: Flask):
    worker_n, coord = programme["worker"], programme["coord"]
    xml, files = registration("seed1")
    instance = worker_n.submit(xml, files)
    _delete(coord, instance)
    _deleted_days_ago(instance, 3650)
    db.session.execute(
        update(Form)
        .where(Form.form_id == "family_registration")
        .values(deleted_retention_days=None)
    )
    db.session.commit()
    report = worker.run_pass(app, holder="test")
    assert report is not None
    assert report.total == 0
    assert _exists(instance)


def test_closed_cases_past_their_lists_retention_are_erased_with_their_submissions(
    programme, app: Flask
):
    worker_n, coord = programme["worker"], programme["coord"]
    programme.set_list("households", closed_retention_days=10)
    xml, files = registration("seed1")
    worker_n.submit(xml, files)
    coord.api.review(SEED1_INSTANCE)
    for case_id in (SEED1_HOUSEHOLD, SEED1_ADULT):  # adults keep closed cases (no retention)
        response = coord.api.post(f"/api/v1/cases/{case_id}/close", {"reason": "moved abroad"})
        assert response.status_code == 200, response.json
    code = coord.api.case(SEED1_HOUSEHOLD)["code"]

    soon = worker.run_pass(app, holder="test", now=utcnow() + timedelta(days=5))
    assert soon is not None
    assert soon.total == 0
    report = worker.run_pass(app, holder="test", now=utcnow() + timedelta(days=11))
    assert report is not None
    assert report.cases == {"households": 1}
    db.session.expire_all()
    assert rows_naming([SEED1_HOUSEHOLD, code, SEED1_INSTANCE]) == []
    adult = db.session.scalars(select(Case).where(Case.uuid == SEED1_ADULT)).one()
    assert adult.status == "closed"
    purged = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "retention.purged")
    ).one()
    assert purged.details["closed_cases"] == {"households": 1}
    assert purged.details["case_submissions"] == 1


def test_one_pass_at_a_time_and_once_per_interval(programme, app: Flask):
    now = utcnow()
    lease = timedelta(minutes=30)
    assert worker.take_lease("server-a", now=now, lease=lease, interval=None)
    # another server finds the lease taken
    assert worker.run_pass(app, holder="server-b", now=now) is None
    worker.release_lease("server-a", finished_at=now)
    # free again, but the last pass was just now: a periodic worker waits for the interval
    hourly = timedelta(hours=1)
    assert worker.run_pass(app, holder="server-b", now=now, interval=hourly) is None
    later = now + timedelta(hours=1, seconds=1)
    assert worker.run_pass(app, holder="server-b", now=later, interval=hourly) is not None
    # a holder that died: its lease expires and another takes over
    assert worker.take_lease("server-c", now=later, lease=lease, interval=None)
    assert not worker.take_lease("server-d", now=later, lease=lease, interval=None)
    assert worker.take_lease("server-d", now=later + lease * 2, lease=lease, interval=None)
