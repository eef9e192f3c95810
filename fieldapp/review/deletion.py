"""Deleting a submission, and restoring it (ODK-INTEROP §7 case 29).

A coordinator deletes a submission that should not be there (sent to the wrong form, a test, a
duplicate registration). Deletion is *soft*: the rows and files stay, but the submission
disappears from every read path (queue, API, dashboards, the worker's returned list) and its
work that had not reached a case yet never will. A phone that sends it again gets 409 "This
submission has been deleted", as from ODK Central, so a retrying phone cannot bring it back.
A coordinator of the region can restore it; its review state is what it was.

Case versions an approved submission already made stay: the case history is a record of what
happened, and deleting the submission does not undo a visit.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from fieldapp.audit.services import record
from fieldapp.auth.models import Role, User
from fieldapp.cases.models import CaseWork, WorkState
from fieldapp.cases.services import record_case_work
from fieldapp.db import db, utcnow
from fieldapp.errors import Conflict, Forbidden, Invalid, NotFound
from fieldapp.events import is_sandbox, publish
from fieldapp.forms.models import FormVersion
from fieldapp.review.models import ReviewAction
from fieldapp.review.services import may_review
from fieldapp.submissions import events as submission_events
from fieldapp.submissions.models import ReviewState, Submission, SubmissionVersion

#: what a deleted submission's waiting case work is told
DELETED_WORK = "The submission was deleted."


def _in_history(submission: Submission, actor: User, note: str) -> None:
    """A line in the submission's review history that leaves its state as it is."""
    db.session.add(
        ReviewAction(
            submission_id=submission.id,
            from_state=submission.review_state,
            to_state=submission.review_state,
            actor_id=actor.id,
            note=note,
        )
    )


def delete_submission(submission: Submission, *, actor: User, reason: str) -> None:
    """Delete (softly) a submission the actor may review.

    :raises Forbidden: the actor may not review it.
    :raises Invalid: no reason given (it stays in the review history).
    :raises Conflict: already deleted.
    """
    if not may_review(actor, submission):
        raise Forbidden("You may not delete this submission.", code="review.forbidden")
    reason = (reason or "").strip()
    if not reason:
        raise Invalid(
            "Say why the submission is deleted; the reason stays in its history.",
            code="submission.delete_reason_missing",
        )
    db.session.refresh(submission, with_for_update=True)
    if submission.deleted_at is not None:
        raise Conflict("This submission is already deleted.", code="submission.already_deleted")
    for work in db.session.scalars(
        select(CaseWork).where(
            CaseWork.submission_id == submission.id,
            CaseWork.state.in_([WorkState.PENDING.value, WorkState.HELD.value]),
        )
    ):
        work.state = WorkState.SUPERSEDED.value
        work.error = DELETED_WORK
    submission.deleted_at = utcnow()
    submission.deleted_by_id = actor.id
    _in_history(submission, actor, f"Deleted: {reason[:4900]}")
    db.session.flush()
    record(
        "submission.deleted",
        actor=actor,
        subject_type="submission",
        subject_id=submission.instance_id,
        region_id=submission.region_id,
        review_state=submission.review_state,
    )
    publish(
        submission_events.SubmissionDeleted(
            submission=submission, actor=actor, sandbox=is_sandbox(submission)
        )
    )


def restore_submission(submission: Submission, *, actor: User) -> None:
    """Bring a deleted submission back, in the review state it had.

    Work that was waiting when it was deleted is made again from its current version (unless it
    was approved or rejected meanwhile, which cannot happen while deleted).

    :raises Forbidden: the actor may not review it.
    :raises Conflict: not deleted.
    """
    if not may_review(actor, submission):
        raise Forbidden("You may not restore this submission.", code="review.forbidden")
    db.session.refresh(submission, with_for_update=True)
    if submission.deleted_at is None:
        raise Conflict("This submission is not deleted.", code="submission.not_deleted")
    submission.deleted_at = None
    submission.deleted_by_id = None
    _in_history(submission, actor, "Restored.")
    db.session.flush()
    undecided = submission.review_state not in (ReviewState.APPROVED, ReviewState.REJECTED)
    if undecided and submission.current_version_id is not None:
        version = db.session.get_one(SubmissionVersion, submission.current_version_id)
        form_version = db.session.get_one(FormVersion, version.form_version_id)
        record_case_work(submission, version, list(form_version.entities or []), actor=actor)
    record(
        "submission.restored",
        actor=actor,
        subject_type="submission",
        subject_id=submission.instance_id,
        region_id=submission.region_id,
    )


def deleted_submission(instance_id: str, *, actor: User) -> Submission:
    """A deleted submission the actor may review (to restore it).

    :raises NotFound: no such deleted submission, or not the actor's region.
    """
    query = select(Submission).where(
        Submission.instance_id == instance_id, Submission.deleted_at.is_not(None)
    )
    found = db.session.scalars(query).one_or_none()  # instanceIDs are unique on the server
    if found is None or not may_review(actor, found):
        raise NotFound("No such deleted submission.", code="submission.not_found")
    return found


def deleted_submissions(actor: User, *, limit: int = 200) -> Sequence[Submission]:
    """The deleted submissions of the actor's regions, most recently deleted first."""
    query = select(Submission).where(Submission.deleted_at.is_not(None))
    if not actor.has_role(Role.ADMIN):
        query = query.where(Submission.region_id.in_(actor.region_ids or {-1}))
    return db.session.scalars(
        query.order_by(Submission.deleted_at.desc(), Submission.id.desc()).limit(limit)
    ).all()
