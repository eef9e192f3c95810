"""Pages for deleting a submission and restoring it (see :mod:`fieldapp.review.deletion`)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from sqlalchemy import select

from fieldapp.auth.models import Role
from fieldapp.auth.services import username_of
from fieldapp.db import db, unit_of_work
from fieldapp.errors import DomainError
from fieldapp.forms.models import Form
from fieldapp.review import deletion
from fieldapp.submissions import services as submissions
from fieldapp.web.i18n import translated_error
from fieldapp.web.permissions import current_actor, require

bp = Blueprint("deletion", __name__)
REVIEWERS = (Role.ADMIN, Role.COORDINATOR)


@bp.post("/submissions/<path:instance_id>/delete")
@require(*REVIEWERS)
def delete(instance_id: str) -> Any:
    """Delete a submission with a reason, once confirmed (``confirm=1``: the first POST shows
    what will happen); back to the queue."""
    actor = current_actor()
    submission = submissions.visible_submission(instance_id, actor=actor)
    reason = request.form.get("reason", "")
    page = url_for("review.submission_page", instance_id=instance_id)
    if request.form.get("confirm") != "1":
        if not reason.strip():
            flash(gettext("Say why the submission is deleted."), "error")
            return redirect(page)
        return render_template(
            "confirm.html",
            confirm={
                "title": gettext("Delete this submission?"),
                "lines": [
                    gettext(
                        "It leaves the review queue, the API, exports and the dashboards; a "
                        "phone that sends it again is refused."
                    ),
                    gettext(
                        "Case versions it already made stay; its work still waiting is cancelled."
                    ),
                    gettext(
                        "It can be restored from the deleted submissions, in the review state "
                        "it had."
                    ),
                ],
                "fields": [("reason", reason)],
                "action": url_for("deletion.delete", instance_id=instance_id),
                "cancel_url": page,
                "back_label": gettext("The submission"),
                "button": gettext("Delete the submission"),
                "danger": True,
            },
        )
    try:
        with unit_of_work():
            deletion.delete_submission(submission, actor=actor, reason=reason)
    except DomainError as exc:
        flash(translated_error(exc), "error")
        return redirect(url_for("review.submission_page", instance_id=instance_id))
    flash(
        gettext("Deleted. It is listed under deleted submissions, where it can be restored."), "ok"
    )
    return redirect(url_for("review.queue"))


@bp.get("/review/deleted")
@require(*REVIEWERS)
def deleted() -> str:
    """The deleted submissions of the actor's regions, with a restore button each."""
    rows = deletion.deleted_submissions(current_actor())
    forms = {
        f.id: f
        for f in db.session.scalars(select(Form).where(Form.id.in_({r.form_pk for r in rows})))
    }
    return render_template(
        "review/deleted.html",
        rows=[
            {
                "instance_id": r.instance_id,
                "form": forms[r.form_pk].title if r.form_pk in forms else "",
                "worker": username_of(r.submitted_by_id),
                "by": username_of(r.deleted_by_id),
                "received_at": r.received_at,
                "deleted_at": r.deleted_at,
                "state": r.review_state,
            }
            for r in rows
        ],
    )


@bp.post("/review/deleted/<path:instance_id>/restore")
@require(*REVIEWERS)
def restore(instance_id: str) -> Any:
    """Restore a deleted submission; to its page."""
    actor = current_actor()
    submission = deletion.deleted_submission(instance_id, actor=actor)
    try:
        with unit_of_work():
            deletion.restore_submission(submission, actor=actor)
    except DomainError as exc:
        flash(translated_error(exc), "error")
        return redirect(url_for("deletion.deleted"))
    flash(gettext("Restored."), "ok")
    return redirect(url_for("review.submission_page", instance_id=instance_id))
