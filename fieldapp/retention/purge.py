"""The retention purge: deleted submissions and closed cases past their keeping time go for good.

* A **deleted submission** (``submissions.deleted_at``) is kept ``forms.deleted_retention_days``
  days (30 by default; NULL keeps it), then erased with its versions, attachments, case work,
  review history and webhook deliveries. Case versions it made stay (the case's history), as
  they did while it was deleted, without the link to it.
* A **closed case** (``cases.closed_at``) is kept ``case_lists.closed_retention_days`` days
  (NULL, the default, keeps it), then erased as on request (:mod:`fieldapp.retention.erasure`):
  with every submission that names it and everything derived.

Each pass handles at most :data:`BATCH` of each, every case in its own transaction, and ends by
collecting the blobs nobody refers to any more (:mod:`fieldapp.retention.blobgc`). It writes one
``retention.purged`` audit row per pass that removed something: counts per form and case list,
no identifiers. It runs in the job worker (:mod:`fieldapp.retention.worker`) and as
``fieldapp purge [--dry-run]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select

from fieldapp.audit.services import record
from fieldapp.blobs import BlobStorage
from fieldapp.cases.models import Case, CaseList, CaseStatus
from fieldapp.db import db, utcnow, write_intent
from fieldapp.forms.models import Form
from fieldapp.retention import blobgc
from fieldapp.retention.erasure import erase, plan_case, plan_submissions
from fieldapp.submissions.models import Submission

#: most deleted submissions, and most closed cases, one pass removes
BATCH = 500


@dataclass
class PurgeReport:
    """What a pass removed (or, dry, would remove)."""

    dry_run: bool = False
    #: form id -> deleted submissions erased
    submissions: dict[str, int] = field(default_factory=dict)
    #: case list -> closed cases erased
    cases: dict[str, int] = field(default_factory=dict)
    #: submissions erased with those cases
    case_submissions: int = 0
    blobs: int = 0

    @property
    def total(self) -> int:
        return sum(self.submissions.values()) + sum(self.cases.values())


def due_submissions(now: datetime) -> list[tuple[int, str]]:
    """Deleted submissions past their form's retention: (id, form id), oldest deletion first."""
    rows = db.session.execute(
        select(Submission.id, Form.form_id, Submission.deleted_at, Form.deleted_retention_days)
        .join(Form, Form.id == Submission.form_pk)
        .where(Submission.deleted_at.is_not(None), Form.deleted_retention_days.is_not(None))
        .order_by(Submission.deleted_at, Submission.id)
    ).all()
    due = [
        (sid, form_id)
        for sid, form_id, deleted_at, days in rows
        if deleted_at <= now - timedelta(days=days)
    ]
    return due[:BATCH]


def due_cases(now: datetime) -> list[tuple[int, str]]:
    """Closed cases past their list's retention: (id, list name), oldest closing first."""
    closed_at = func.coalesce(Case.closed_at, Case.updated_at)
    rows = db.session.execute(
        select(Case.id, CaseList.name, closed_at, CaseList.closed_retention_days)
        .join(CaseList, CaseList.id == Case.case_list_id)
        .where(Case.status == CaseStatus.CLOSED.value, CaseList.closed_retention_days.is_not(None))
        .order_by(closed_at, Case.id)
    ).all()
    due = [(cid, name) for cid, name, at, days in rows if at <= now - timedelta(days=days)]
    return due[:BATCH]


def purge(
    store: BlobStorage | None,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    blob_grace: timedelta = timedelta(hours=1),
) -> PurgeReport:
    """One pass (commits as it goes; see the module docstring)."""
    now = now or utcnow()
    report = PurgeReport(dry_run=dry_run)
    token = write_intent.set(not dry_run)
    freed: set[str] = set()
    try:
        submissions = due_submissions(now)
        for _sid, form_id in submissions:
            report.submissions[form_id] = report.submissions.get(form_id, 0) + 1
        cases = due_cases(now)
        if dry_run:
            for cid, name in cases:
                report.cases[name] = report.cases.get(name, 0) + 1
                case = db.session.get_one(Case, cid)
                report.case_submissions += len(plan_case(case).submission_ids)
            db.session.rollback()
            return report
        if submissions:
            plan = plan_submissions([sid for sid, _ in submissions])
            erase(plan, [])
            freed |= plan.blobs
            db.session.commit()
        for cid, name in cases:
            found = db.session.get(Case, cid)
            if found is None or found.status != CaseStatus.CLOSED:
                db.session.rollback()
                continue  # erased or reopened meanwhile
            plan = plan_case(found)
            erase(plan, db.session.scalars(select(Case).where(Case.id.in_(plan.case_ids))).all())
            report.cases[name] = report.cases.get(name, 0) + 1
            report.case_submissions += len(plan.submission_ids)
            freed |= plan.blobs
            db.session.commit()
        if report.total:
            record(
                "retention.purged",
                actor=None,
                subject_type="retention",
                deleted_submissions=report.submissions,
                closed_cases=report.cases,
                case_submissions=report.case_submissions,
            )
            db.session.commit()
    finally:
        write_intent.reset(token)
    if store is not None:
        # the freed files at once; then anything else unreferenced for the grace period
        report.blobs = blobgc.collect(store, grace=timedelta(0), only=freed) if freed else 0
        report.blobs += blobgc.collect(store, grace=blob_grace, now=now)
    return report
