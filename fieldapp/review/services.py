"""Deciding on submissions: approve (merging case work field by field), has issues, reject."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import select

from fieldapp.audit.services import record
from fieldapp.auth.models import Role, User
from fieldapp.cases.models import CaseVersion
from fieldapp.cases.services import apply_submission, reject_submission_work
from fieldapp.db import db
from fieldapp.errors import Conflict, Forbidden, Invalid
from fieldapp.events import is_sandbox, publish
from fieldapp.review.models import ReviewAction
from fieldapp.submissions.events import SubmissionReviewed
from fieldapp.submissions.models import ReviewState, Submission

DECISIONS = (ReviewState.APPROVED, ReviewState.HAS_ISSUES, ReviewState.REJECTED)


def may_review(actor: User, submission: Submission) -> bool:
    """Coordinators review their regions' submissions; administrators any."""
    if actor.has_role(Role.ADMIN):
        return True
    return actor.has_role(Role.COORDINATOR) and submission.region_id in actor.region_ids


def review_submission(
    submission: Submission,
    *,
    state: str,
    actor: User,
    note: str = "",
    take: Mapping[str, bool] | None = None,
) -> list[CaseVersion]:
    """Record a decision.

    ``approved`` applies the submission's pending case work, taking or leaving each proposed
    property as ``take`` says (default: take all), as one new version per case. ``rejected`` and
    ``has_issues`` need a note (the worker sees it). An approved submission stays approved.

    :raises Invalid: unknown state, or a note missing.
    :raises Conflict: the submission is already approved.
    :raises Forbidden: the actor may not review it.
    :return: the case versions the approval made.
    """
    if not may_review(actor, submission):
        raise Forbidden("You may not review this submission.", code="review.forbidden")
    if state not in {s.value for s in DECISIONS}:
        raise Invalid(
            "The decision must be approved, has_issues or rejected.", code="review.state_invalid"
        )
    note = (note or "").strip()
    if state in (ReviewState.HAS_ISSUES, ReviewState.REJECTED) and not note:
        raise Invalid("Say what is wrong: the worker sees this note.", code="review.note_missing")
    db.session.refresh(submission, with_for_update=True)
    if submission.review_state == ReviewState.APPROVED:
        raise Conflict(
            "This submission is already approved; its changes are in the cases.",
            code="review.already_approved",
        )
    previous = submission.review_state
    applied: list[CaseVersion] = []
    if state == ReviewState.APPROVED:
        applied = apply_submission(submission, approved_by=actor, take=take)
    elif state == ReviewState.REJECTED:
        reject_submission_work(submission)
    submission.review_state = state
    db.session.add(
        ReviewAction(
            submission_id=submission.id,
            from_state=previous,
            to_state=state,
            actor_id=actor.id,
            note=note,
            take=dict(take or {}),
        )
    )
    db.session.flush()
    record(
        "submission.reviewed",
        actor=actor,
        subject_type="submission",
        subject_id=submission.instance_id,
        region_id=submission.region_id,
        old=previous,
        new=state,
        left=sorted(k for k, v in (take or {}).items() if not v),
        case_versions=len(applied),
    )
    publish(
        SubmissionReviewed(
            submission=submission,
            state=state,
            previous=previous,
            actor=actor,
            sandbox=is_sandbox(submission),
        )
    )
    return applied


def comment(submission: Submission, *, actor: User, note: str) -> ReviewAction:
    """A comment that does not change the state."""
    if not may_review(actor, submission):
        raise Forbidden("You may not comment on this submission.", code="review.forbidden")
    if not note.strip():
        raise Invalid("A comment needs text.", code="review.note_missing")
    action = ReviewAction(
        submission_id=submission.id,
        from_state=submission.review_state,
        to_state=submission.review_state,
        actor_id=actor.id,
        note=note.strip(),
    )
    db.session.add(action)
    db.session.flush()
    record(
        "submission.commented",
        actor=actor,
        subject_type="submission",
        subject_id=submission.instance_id,
        region_id=submission.region_id,
    )
    return action


def history(submission: Submission) -> Sequence[ReviewAction]:
    """Decisions and comments, oldest first."""
    return db.session.scalars(
        select(ReviewAction)
        .where(ReviewAction.submission_id == submission.id)
        .order_by(ReviewAction.id)
    ).all()
