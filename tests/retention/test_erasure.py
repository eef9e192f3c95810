"""Erasing a case on request: the case, the submissions that name it and everything derived
from them leave the database and the blob store; the audit log keeps one row without personal
data; only administrators may, after confirming."""

from __future__ import annotations

import hashlib
from typing import Any

from flask import Flask
from sqlalchemy import select

from fieldapp.audit.models import AuditEvent
from fieldapp.blobs import Blob
from fieldapp.cases.models import Case, CaseVersion
from fieldapp.db import db, utcnow
from fieldapp.exports import jobs
from fieldapp.exports.models import ExportJob
from fieldapp.submissions.models import Submission
from fieldapp.webhooks import services as webhooks
from fieldapp.webhooks.models import WebhookDelivery
from tests.cases.support import (
    SEED1_ADULT,
    SEED1_HOUSEHOLD,
    SEED1_INSTANCE,
    SEED1_NAMES,
    home_visit,
    registration,
)
from tests.retention.conftest import rows_naming, store_of

REASON = "The person asked to be forgotten (request 12/2026)."


def _family(programme: Any, app: Flask, *, photo: bytes | None = None) -> dict[str, Any]:
    """seed1 registered and approved, a home visit of its household approved, a webhook
    endpoint told of everything, a prepared export of the registrations ready."""
    worker, coord = programme["worker"], programme["coord"]
    admin = programme.person("admin", "admin", [])
    from fieldapp.auth.models import User

    hook, _ = webhooks.create_endpoint(
        url="http://127.0.0.1:7699/hook",
        events=["submission.received", "submission.reviewed", "case.created", "case.updated"],
        include_answers=True,
        actor=db.session.get_one(User, admin.user_id),
        allow_private=True,
    )
    db.session.commit()
    xml, files = registration("seed1")
    if photo is not None:
        files = [(name, photo) for name, _ in files]
    worker.submit(xml, files)
    coord.api.review(SEED1_INSTANCE)
    visit = worker.submit(home_visit(SEED1_HOUSEHOLD, 1))
    coord.api.review(visit)
    job = ExportJob(
        token="erasure-test-job",
        user_id=coord.user_id,
        form_id="family_registration",
        format="csv.zip",
        params={},
        state="ready",
        finished_at=utcnow(),
        expires_at=utcnow(),
    )
    db.session.add(job)
    db.session.commit()
    jobs.file_path(job, app).write_bytes(b"PK a prepared export")
    code = coord.api.case(SEED1_HOUSEHOLD)["code"]
    return {
        "admin": admin,
        "code": code,
        "visit": visit,
        "job": job,
        "hook": hook,
        "photo_sha": hashlib.sha256(files[0][1]).hexdigest(),
    }


def test_erasing_a_household_leaves_no_row_naming_it_and_keeps_shared_files(
    programme, app: Flask, desk
):
    family = _family(programme, app)
    # another family's registration carries the same photo: the file is shared
    other_xml, other_files = registration("seed1", fresh=True)
    programme["worker"].submit(other_xml, other_files)
    needles = [SEED1_HOUSEHOLD, family["code"], SEED1_INSTANCE, family["visit"]]
    assert rows_naming(needles)  # the test sees them before
    assert db.session.scalars(select(WebhookDelivery)).all()

    browser = desk("admin")
    page = browser.get(f"/admin/cases/{family['code']}/erase")
    assert page.status_code == 200
    text = page.data.decode()
    assert 'data-count="submissions">2<' in text  # the registration and the visit
    assert 'data-count="cases">1<' in text
    assert 'id="other-cases"' in text  # the registration recorded the adult and children too
    for name in SEED1_NAMES:
        assert name not in text.lower()

    # refused: no confirmation; a reason quoting the case; nothing changed
    url = f"/admin/cases/{SEED1_HOUSEHOLD}/erase"
    refused = browser.post(url, {"reason": REASON, "confirm": "HH-NOPE"})
    assert refused.status_code == 422
    assert 'data-error-code="erasure.not_confirmed"' in refused.data.decode()
    quoting = browser.post(url, {"reason": f"asked by {family['code']}", "confirm": family["code"]})
    assert quoting.status_code == 422
    assert "erasure.reason_quotes_case" in quoting.data.decode()
    assert db.session.scalars(select(Case).where(Case.uuid == SEED1_HOUSEHOLD)).one_or_none()

    done = browser.post(url, {"reason": REASON, "confirm": family["code"].lower()})
    assert done.status_code == 302, done.data

    db.session.expire_all()
    # the database: no row anywhere names the case or its submissions
    assert rows_naming(needles) == []
    assert (
        db.session.scalars(
            select(Submission.instance_id).where(Submission.instance_id == SEED1_INSTANCE)
        ).all()
        == []
    )
    # the other cases of the registration keep their record, without the erased submission
    adult = db.session.scalars(select(Case).where(Case.uuid == SEED1_ADULT)).one()
    versions = db.session.scalars(select(CaseVersion).where(CaseVersion.case_id == adult.id))
    assert [v.submission_id for v in versions] == [None]
    # webhook deliveries about them are gone; the export file that may contain them too
    subjects = set(db.session.scalars(select(WebhookDelivery.subject)))
    assert not any(SEED1_HOUSEHOLD in s or SEED1_INSTANCE in s for s in subjects)
    job = db.session.get_one(ExportJob, family["job"].id)
    assert job.state == "deleted"
    assert not jobs.file_path(job, app).exists()
    # the audit log: one row that it happened, by whom, why, counts; no identifier or name
    erased = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "case.erased")).one()
    assert erased.actor_id == family["admin"].user_id
    assert erased.subject_id is None
    assert erased.details["reason"] == REASON
    assert erased.details["submissions"] == 2
    assert erased.details["cases"] == 1
    assert not any(n in str(erased.details) for n in [*needles, *SEED1_NAMES])
    # earlier audit rows about the case keep the act, not the case
    viewed = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action.in_(["case.viewed", "case.created"]))
    ).all()
    assert viewed
    assert "erased" in {e.subject_id for e in viewed}
    # the blob store: the shared photo stays (the other registration refers to it)
    sha = family["photo_sha"]
    assert db.session.get(Blob, sha) is not None
    assert store_of(app).path_for(sha).exists()
    # the case page is gone
    assert browser.get(f"/cases/{SEED1_HOUSEHOLD}").status_code == 404


def test_an_erased_submissions_own_files_leave_the_store(programme, app: Flask, desk):
    photo = b"\xff\xd8\xff\xe0 a photo only this family has " + str(utcnow()).encode()
    family = _family(programme, app, photo=photo)
    sha = family["photo_sha"]
    path = store_of(app).path_for(sha)
    assert path.exists()

    browser = desk("admin")
    response = browser.post(
        f"/admin/cases/{family['code']}/erase", {"reason": REASON, "confirm": family["code"]}
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Blob, sha) is None
    assert not path.exists()


def test_only_administrators_erase(programme, app: Flask, desk):
    family = _family(programme, app)
    coord = programme["coord"]  # the case's own region
    browser = desk("coord")
    url = f"/admin/cases/{family['code']}/erase"
    assert browser.get(url).status_code == 404
    assert browser.post(url, {"reason": REASON, "confirm": family["code"]}).status_code == 404
    assert coord.api.case(SEED1_HOUSEHOLD)["code"] == family["code"]
    assert (
        db.session.scalars(select(AuditEvent).where(AuditEvent.action == "case.erased")).all() == []
    )
