"""What the /fill pages show a field worker: the forms they may fill, and their own submissions
that a coordinator sent back (review state ``has_issues``) to correct.

Only the worker's own submissions are ever read here; the rules for sending are the OpenRosa
ones (``submissions.services.receive_submission``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from fieldapp.auth.models import User
from fieldapp.db import db
from fieldapp.errors import NotFound
from fieldapp.forms import services as forms
from fieldapp.forms.models import Form, FormState
from fieldapp.review.models import ReviewAction
from fieldapp.submissions.models import ReviewState, Submission, SubmissionVersion
from fieldapp.submissions.services import may_submit


@dataclass(frozen=True)
class OpenForm:
    """A form the worker can fill now."""

    form_id: str
    title: str
    version: str


@dataclass(frozen=True)
class Returned:
    """A submission sent back to its worker, with the coordinator's note."""

    instance_id: str
    form_id: str
    form_title: str
    received_at: datetime
    note: str
    noted_at: datetime | None


def open_forms(actor: User) -> list[OpenForm]:
    """The published, open forms ``actor`` may fill (the same list ODK Collect gets).

    :param actor: the logged-in worker.
    """
    if not may_submit(actor):
        return []
    found = []
    for form in forms.list_forms():
        version = form.current_version
        if version is None or form.state != FormState.OPEN:
            continue
        found.append(OpenForm(form.form_id, version.title or form.form_id, version.version))
    return sorted(found, key=lambda f: f.title.lower())


def returned_submissions(actor: User) -> list[Returned]:
    """``actor``'s own submissions in review state ``has_issues``, newest decision first.

    :param actor: the logged-in worker; nobody else's submissions are read.
    """
    rows = db.session.execute(
        select(Submission, Form)
        .join(Form, Form.id == Submission.form_pk)
        .where(
            Submission.submitted_by_id == actor.id,
            Submission.review_state == ReviewState.HAS_ISSUES.value,
            Submission.deleted_at.is_(None),
        )
        .order_by(Submission.updated_at.desc(), Submission.id.desc())
        .limit(200)
    ).all()
    returned = []
    for submission, form in rows:
        action = _last_send_back(submission)
        returned.append(
            Returned(
                instance_id=submission.instance_id,
                form_id=form.form_id,
                form_title=form.title or form.form_id,
                received_at=submission.received_at,
                note=action.note if action else "",
                noted_at=action.at if action else None,
            )
        )
    returned.sort(key=lambda r: r.noted_at or r.received_at, reverse=True)
    return returned


def _last_send_back(submission: Submission) -> ReviewAction | None:
    action: ReviewAction | None = db.session.scalars(
        select(ReviewAction)
        .where(
            ReviewAction.submission_id == submission.id,
            ReviewAction.to_state == ReviewState.HAS_ISSUES.value,
        )
        .order_by(ReviewAction.id.desc())
        .limit(1)
    ).first()
    return action


@dataclass(frozen=True)
class Correction:
    """A sent-back submission as the page needs it to load the answers for editing."""

    submission: Submission
    version: SubmissionVersion
    note: str
    attachment_names: Sequence[str]


def correction(form_id: str, instance_id: str, *, actor: User) -> Correction:
    """The worker's own submission ``instance_id`` of ``form_id``, if it was sent back.

    :param instance_id: the submission's first instanceID (as the index links it).
    :raises NotFound: not the actor's, not this form's, or not in review state ``has_issues``
        (one answer for all, so that nothing is revealed).
    """
    found: Submission | None = db.session.scalars(
        select(Submission)
        .join(Form, Form.id == Submission.form_pk)
        .where(
            Submission.instance_id == instance_id,
            Form.form_id == form_id,
            Submission.submitted_by_id == actor.id,
            Submission.deleted_at.is_(None),
        )
    ).one_or_none()  # instanceIDs are unique on the server
    if (
        found is None
        or found.review_state != ReviewState.HAS_ISSUES.value
        or found.current_version is None
        or not may_submit(actor)
    ):
        raise NotFound("There is no submission to correct here.", code="submission.not_found")
    version = found.current_version
    action = _last_send_back(found)
    names = [a.name for a in version.attachments if a.blob_sha256 is not None]
    return Correction(found, version, action.note if action else "", names)
