"""Erasing cases and submissions for good, with everything derived from them.

Two entry points share :func:`erase`: an administrator's erasure on request
(:func:`erase_case`, from ``/admin/cases/<case_id>/erase`` or ``fieldapp erase-case``) and the
retention purge (:mod:`fieldapp.retention.purge`).

What erasing a case takes with it:

* the case, the cases merged into it (duplicates of the same person), their versions, links
  (both ways), overdue notices;
* every submission that names the case: case work for it (created or updated it), a case version
  made from it, or its UUID anywhere in a version's XML (a follow-up that chose it from a case
  list). **A submission that touched several cases is erased whole** — its XML holds the erased
  person's answers and cannot be cut apart safely. The other cases keep their current record and
  history (their versions stay, without the link to the erased submission); the confirmation
  page names them by code so the administrator knows before confirming;
* with each submission: its versions, attachments, case work, review history and comments;
* webhook deliveries about any of them (any state: a delivered one still holds its payload),
  and in other deliveries' payloads any mention of them;
* prepared export files of the submissions' forms made since the oldest erased submission
  arrived (the job stays, marked deleted: the file may contain it);
* references left in other rows: another case's properties or versions naming an erased case's
  UUID or code are emptied; audit rows about them keep who did what and when, but their subject
  and any identifier in their details become ``erased`` (the audit log keeps that something was
  done, not to whom);
* then the blobs nobody refers to any more (:mod:`fieldapp.retention.blobgc`), after the commit.

The audit log gets one ``case.erased`` row: by whom, the reason, the counts; no UUID, code, name
or answer (the reason is checked not to quote the case's code, UUID, label or values).

Only administrators erase (they see every region; the service checks the region all the same).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Text, cast, delete, or_, select, update

from fieldapp.audit.models import AuditEvent
from fieldapp.audit.services import record
from fieldapp.auth.models import Role, User
from fieldapp.cases.models import Case, CaseList, CaseVersion, CaseWork
from fieldapp.cases.services import may_see
from fieldapp.db import column_length, db, utcnow
from fieldapp.errors import Invalid, NotFound
from fieldapp.exports import jobs as export_jobs
from fieldapp.exports.models import ExportJob, JobState
from fieldapp.forms.models import Form
from fieldapp.sandbox.scope import INCLUDE_SANDBOX
from fieldapp.submissions.models import Submission, SubmissionAttachment, SubmissionVersion
from fieldapp.webhooks.models import WebhookDelivery

#: what an identifier of an erased record becomes in the rows that keep a trace
ERASED = "erased"
#: the longest reason kept
REASON_MAX = 500
#: the shortest string value of a case that the reason may not quote
_QUOTE_MIN = 4


@dataclass
class Erasure:
    """What an erasure takes (computed first, shown on the confirmation page), and did."""

    case_ids: list[int] = field(default_factory=list)
    submission_ids: list[int] = field(default_factory=list)
    #: codes of cases that keep their record but lose submissions erased with this one
    other_case_codes: list[str] = field(default_factory=list)
    #: counts by kind, for the page and the audit row
    counts: dict[str, int] = field(default_factory=dict)
    #: blobs the erased rows referred to (collected after the commit)
    blobs: set[str] = field(default_factory=set)


# -- who and what ----------------------------------------------------------------------------


def may_erase(actor: User) -> bool:
    """Administrators only: an erasure cannot be undone."""
    return actor.active and actor.has_role(Role.ADMIN)


def case_to_erase(case_id: str, *, actor: User) -> Case:
    """The case an administrator asks to erase (by UUID or code).

    :raises NotFound: no such case, or the actor may not erase (a wrong role learns nothing).
    """
    key = (case_id or "").strip()
    found = None
    if key and len(key) <= column_length(Case.uuid):
        found = db.session.scalars(
            select(Case).where((Case.uuid == key.lower()) | (Case.code == key.upper()))
        ).one_or_none()
    if found is None or not may_erase(actor) or not may_see(actor, found):
        raise NotFound("No such case.", code="case.not_found")
    return found


def _identifiers(cases: Sequence[Case]) -> list[str]:
    return sorted({c.uuid for c in cases} | {c.code for c in cases})


def _mentions(column: Any, needles: Iterable[str]) -> ColumnElement[bool]:
    """The JSON or text column contains one of these (ASCII) identifiers."""
    text = cast(column, Text)
    return or_(*[text.contains(n, autoescape=True) for n in needles])


def _xml_mentions(needles: Iterable[str]) -> ColumnElement[bool]:
    """A submission version's XML bytes contain one of these identifiers."""
    return or_(*[SubmissionVersion.xml.like(b"%" + n.encode() + b"%") for n in needles])


def plan_case(case: Case) -> Erasure:
    """Everything erasing ``case`` takes (nothing is changed)."""
    cases = [case]
    frontier = [case.id]
    while frontier:  # the duplicates merged into it, and theirs
        merged = list(db.session.scalars(select(Case).where(Case.merged_into_id.in_(frontier))))
        merged = [c for c in merged if c.id not in {k.id for k in cases}]
        cases.extend(merged)
        frontier = [c.id for c in merged]
    uuids = [c.uuid for c in cases]
    ids = [c.id for c in cases]
    submission_ids = set(
        db.session.scalars(select(CaseWork.submission_id).where(CaseWork.case_uuid.in_(uuids)))
    )
    submission_ids |= {
        s
        for s in db.session.scalars(
            select(CaseVersion.submission_id).where(CaseVersion.case_id.in_(ids))
        )
        if s is not None
    }
    submission_ids |= set(
        db.session.scalars(
            select(SubmissionVersion.submission_id).where(_xml_mentions(uuids)).distinct()
        )
    )
    # only real submissions (the scope's filter): a test submission never touches a real case
    submissions = sorted(
        db.session.scalars(select(Submission.id).where(Submission.id.in_(submission_ids)))
    )
    plan = Erasure(case_ids=ids, submission_ids=submissions)
    others = db.session.scalars(
        select(Case.code)
        .where(
            Case.id.not_in(ids),
            Case.uuid.in_(
                select(CaseWork.case_uuid).where(CaseWork.submission_id.in_(submissions))
            ),
        )
        .order_by(Case.code)
    )
    plan.other_case_codes = list(others)
    _count(plan)
    return plan


def plan_submissions(submission_ids: Sequence[int]) -> Erasure:
    """Erasing these submissions only (the purge of deleted ones): no case goes."""
    plan = Erasure(submission_ids=sorted(set(submission_ids)))
    _count(plan)
    return plan


def _count(plan: Erasure) -> None:
    subs = plan.submission_ids
    version_ids = select(SubmissionVersion.id).where(SubmissionVersion.submission_id.in_(subs))
    attachments = db.session.execute(
        select(SubmissionAttachment.blob_sha256).where(
            SubmissionAttachment.version_id.in_(version_ids)
        )
    ).all()
    plan.blobs = {sha for (sha,) in attachments if sha}
    plan.counts = {
        "cases": len(plan.case_ids),
        "case_versions": _n(select(CaseVersion.id).where(CaseVersion.case_id.in_(plan.case_ids))),
        "submissions": len(subs),
        "submission_versions": _n(version_ids),
        "attachments": len(attachments),
        "other_cases": len(plan.other_case_codes),
    }


def _n(query: Any) -> int:
    return len(db.session.scalars(query).all())


# -- the erasure -----------------------------------------------------------------------------


def check_reason(reason: str, case: Case) -> str:
    """The reason as kept in the audit log.

    :raises Invalid: none given, too long, or it quotes the case (its code, UUID, label or one
        of its values): the audit log must not hold what is being erased.
    """
    reason = " ".join((reason or "").split())
    if not reason:
        raise Invalid(
            "Say why the case is erased; the reason is kept in the audit log.",
            code="erasure.reason_missing",
        )
    if len(reason) > REASON_MAX:
        raise Invalid(
            "Keep the reason under %(max)s characters.",
            code="erasure.reason_too_long",
            params={"max": REASON_MAX},
        )
    quoted = [case.uuid, case.code, case.label]
    quoted += [v for v in (case.properties or {}).values() if isinstance(v, str)]
    folded = reason.casefold()
    if any(len(q.strip()) >= _QUOTE_MIN and q.strip().casefold() in folded for q in quoted):
        raise Invalid(
            "The reason quotes the case (its code, id, name or an answer). The audit log keeps "
            "the reason, so say why without naming the person, e.g. “the person asked”, “court "
            "order 12/2026”, “registered by mistake”.",
            code="erasure.reason_quotes_case",
        )
    return reason


def erase_case(case: Case, *, actor: User, reason: str) -> Erasure:
    """Erase a case and everything derived from it (see the module docstring); flushes.

    The caller commits, then collects ``result.blobs`` (:func:`fieldapp.retention.blobgc.collect`
    with ``only=``).

    :raises NotFound: the actor may not erase it.
    :raises Invalid: the reason is missing or quotes the case.
    """
    if not may_erase(actor) or not may_see(actor, case):
        raise NotFound("No such case.", code="case.not_found")
    reason = check_reason(reason, case)
    db.session.refresh(case, with_for_update=True)
    plan = plan_case(case)
    region_id, dataset = case.region_id, case.case_list.name
    erase(plan, db.session.scalars(select(Case).where(Case.id.in_(plan.case_ids))).all())
    details: dict[str, Any] = {"dataset": dataset, "reason": reason, **plan.counts}
    record(
        "case.erased", actor=actor, subject_type="case", subject_id=None, region_id=region_id,
        **details,
    )  # fmt: skip
    return plan


def erase(plan: Erasure, cases: Sequence[Case]) -> None:
    """Delete what ``plan`` names and scrub what refers to it; flushes (the caller audits)."""
    if not plan.case_ids and not plan.submission_ids:
        return
    subs = list(
        db.session.scalars(select(Submission).where(Submission.id.in_(plan.submission_ids)))
    )
    instance_ids = set(
        db.session.scalars(
            select(SubmissionVersion.instance_id).where(
                SubmissionVersion.submission_id.in_(plan.submission_ids)
            )
        )
    ) | {s.instance_id for s in subs}
    case_needles = _identifiers(cases)
    labels = [c.label for c in cases if len(c.label.strip()) >= _QUOTE_MIN]
    needles = sorted(set(case_needles) | instance_ids)
    subjects = [f"case:{c.uuid}" for c in cases] + [f"submission:{i}" for i in instance_ids]
    _drop_exports(subs)
    db.session.flush()

    # webhook deliveries about them go (their attempts cascade); others lose the mentions
    if subjects:
        db.session.execute(
            delete(WebhookDelivery)
            .where(WebhookDelivery.subject.in_(subjects))
            .execution_options(synchronize_session=False)
        )
    if needles:
        for delivery in db.session.scalars(
            select(WebhookDelivery).where(_mentions(WebhookDelivery.payload, needles))
        ):
            delivery.payload = _scrub(delivery.payload, needles + labels, ERASED)

    # the rows themselves (versions, attachments, case work, reviews, links cascade)
    if plan.submission_ids:
        db.session.execute(
            delete(Submission)
            .where(Submission.id.in_(plan.submission_ids))
            .execution_options(synchronize_session=False, **{INCLUDE_SANDBOX: True})
        )
    if plan.case_ids:
        # work of kept submissions naming an erased case (never applied) goes with it
        uuids = [c.uuid for c in cases]
        db.session.execute(
            delete(CaseWork)
            .where(CaseWork.case_uuid.in_(uuids))
            .execution_options(synchronize_session=False)
        )
        db.session.execute(
            update(Case)
            .where(Case.merged_into_id.in_(plan.case_ids))
            .values(merged_into_id=None)
            .execution_options(synchronize_session=False, **{INCLUDE_SANDBOX: True})
        )
        db.session.execute(
            delete(Case)
            .where(Case.id.in_(plan.case_ids))
            .execution_options(synchronize_session=False, **{INCLUDE_SANDBOX: True})
        )
    for obj in [*subs, *cases]:
        if obj in db.session:
            db.session.expunge(obj)
    db.session.flush()

    if case_needles:
        _scrub_other_cases(case_needles)
    _redact_audit(needles, labels)
    db.session.flush()


def _drop_exports(subs: Sequence[Submission]) -> None:
    """Prepared export files of these submissions' forms that may contain them."""
    if not subs:
        return
    since: datetime = min(s.received_at for s in subs)
    form_ids = list(
        db.session.scalars(select(Form.form_id).where(Form.id.in_({s.form_pk for s in subs})))
    )
    for job in db.session.scalars(
        select(ExportJob).where(
            ExportJob.form_id.in_(form_ids),
            ExportJob.state.in_(
                [JobState.QUEUED.value, JobState.RUNNING.value, JobState.READY.value]
            ),
        )
    ):
        if job.state == JobState.READY and job.finished_at is not None and job.finished_at < since:
            continue  # made before the first of them arrived
        if job.state == JobState.QUEUED:
            continue  # will read the rows as they are when it runs
        job.state = JobState.DELETED.value  # a running one stops at its next heartbeat
        job.finished_at = job.finished_at or utcnow()
        export_jobs._remove_files(job)


def _scrub(value: Any, needles: Sequence[str], replacement: Any) -> Any:
    """``value`` with every string mentioning one of ``needles`` replaced."""
    if isinstance(value, str):
        folded = value.casefold()
        return replacement if any(n.casefold() in folded for n in needles) else value
    if isinstance(value, dict):
        return {k: _scrub(v, needles, replacement) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, needles, replacement) for v in value]
    return value


def _scrub_other_cases(needles: Sequence[str]) -> None:
    """Another case's values naming an erased case (a household id on a child) are emptied."""
    for other in db.session.scalars(
        select(Case)
        .where(_mentions(Case.properties, needles))
        .execution_options(**{INCLUDE_SANDBOX: True})
    ):
        other.properties = _scrub(other.properties, needles, None)
    for version in db.session.scalars(
        select(CaseVersion).where(
            or_(_mentions(CaseVersion.properties, needles), _mentions(CaseVersion.changes, needles))
        )
    ):
        version.properties = _scrub(version.properties, needles, None)
        version.changes = _scrub(version.changes, needles, None)
    for work in db.session.scalars(select(CaseWork).where(_mentions(CaseWork.properties, needles))):
        work.properties = _scrub(work.properties, needles, None)


def _redact_audit(needles: Sequence[str], labels: Sequence[str]) -> None:
    """Audit rows about an erased record, or naming one, keep the act but not the record."""
    if not needles:
        return
    for event in db.session.scalars(
        select(AuditEvent).where(
            or_(AuditEvent.subject_id.in_(needles), _mentions(AuditEvent.details, needles))
        )
    ):
        if event.subject_id in needles:
            event.subject_id = ERASED
        event.details = _scrub(event.details, [*needles, *labels], ERASED)


def list_datasets() -> list[str]:
    return list(db.session.scalars(select(CaseList.name).order_by(CaseList.name)))
