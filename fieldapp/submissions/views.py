"""The submissions API: list, read (data, attachments, case changes), review."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from fieldapp.audit.services import record
from fieldapp.auth.models import Role
from fieldapp.auth.services import username_of
from fieldapp.cases.services import case_changes
from fieldapp.db import db, unit_of_work
from fieldapp.errors import NotFound
from fieldapp.review import deletion
from fieldapp.review import services as review
from fieldapp.submissions import services
from fieldapp.submissions.models import Submission
from fieldapp.submissions.schemas import DeleteBody, ReviewBody, SubmissionListArgs
from fieldapp.web.args import load_args, load_json
from fieldapp.web.files import blob_body, blob_store, file_response
from fieldapp.web.permissions import current_actor, require

api = Blueprint("submissions_api", __name__, url_prefix="/api/v1/submissions")
READERS = (Role.ADMIN, Role.COORDINATOR, Role.FIELD_WORKER)


def summary(submission: Submission) -> dict[str, Any]:
    """A submission as the list shows it."""
    version = submission.current_version
    return {
        "instance_id": submission.instance_id,
        "form_id": submission.form.form_id,
        "version": version.form_version.version if version else None,
        "submitted_by": username_of(submission.submitted_by_id),
        "region": _region_code(submission.region_id),
        "review_state": submission.review_state,
        "urgent": submission.urgent,
        "received_at": submission.received_at.isoformat(),
        "updated_at": submission.updated_at.isoformat(),
        "instance_name": version.instance_name if version else None,
    }


def _region_code(region_id: int) -> str | None:
    from fieldapp.auth.models import Region  # noqa: PLC0415

    region = db.session.get(Region, region_id)
    return region.code if region else None


def detail(submission: Submission) -> dict[str, Any]:
    """A submission with its data, attachments, case changes, versions and review history."""
    version = submission.current_version
    assert version is not None
    return summary(submission) | {
        "data": version.data,
        # answers kept as sent but not of their field's type (never copied to a case); null
        # for versions received before answers were checked
        "invalid_answers": version.invalid_answers,
        "encrypted": version.encrypted,
        "device_id": version.device_id,
        "attachments": services.attachment_summary(version),
        "case_changes": case_changes(submission),
        "versions": [
            {
                "instance_id": v.instance_id,
                "deprecated_id": v.deprecated_id,
                "received_at": v.received_at.isoformat(),
                "form_version": v.form_version.version,
            }
            for v in submission.versions
        ],
        "reviews": [
            {
                "from": a.from_state,
                "to": a.to_state,
                "note": a.note,
                "by": username_of(a.actor_id),
                "at": a.at.isoformat(),
                "take": a.take,
            }
            for a in review.history(submission)
        ],
    }


def _flag(value: str | None) -> bool | None:
    if value is None or value == "":
        return None
    return value.lower() in ("1", "true", "yes")


@api.get("")
@require(*READERS)
def api_list() -> Any:
    """Submissions the caller may see, newest first (``?cursor=`` for the next page)."""
    args = load_args(SubmissionListArgs())
    page, next_cursor = services.list_submissions(
        actor=current_actor(),
        form_id=args["form_id"] or None,
        review_state=args["review_state"] or None,
        region=args["region"] or None,
        urgent=_flag(args["urgent"]),
        cursor=args["cursor"] or None,
        limit=args["limit"],
    )
    return {"items": [summary(s) for s in page], "next_cursor": next_cursor}


@api.get("/<path:instance_id>/attachments/<name>")
@require(*READERS)
def api_attachment(instance_id: str, name: str) -> Response:
    """One attachment of the current version (audited: it may show a person)."""
    submission = services.visible_submission(instance_id, actor=current_actor())
    version = submission.current_version
    assert version is not None
    found = next((a for a in version.attachments if a.name == name and a.blob_sha256), None)
    if found is None or found.blob_sha256 is None:
        raise NotFound("No such attachment.", code="submission.attachment_not_found")
    store = blob_store()
    with unit_of_work():
        record(
            "submission.attachment_viewed",
            actor=current_actor(),
            subject_type="submission",
            subject_id=submission.instance_id,
            region_id=submission.region_id,
            name=name,
        )
    return file_response(blob_body(store, found.blob_sha256), name, found.content_type)


@api.get("/<path:instance_id>")
@require(*READERS)
def api_detail(instance_id: str) -> Any:
    """One submission (every view is audited)."""
    submission = services.visible_submission(instance_id, actor=current_actor())
    body = detail(submission)
    with unit_of_work():
        record(
            "submission.viewed",
            actor=current_actor(),
            subject_type="submission",
            subject_id=submission.instance_id,
            region_id=submission.region_id,
        )
    return body


@api.post("/<path:instance_id>/review")
@require(Role.ADMIN, Role.COORDINATOR)
def api_review(instance_id: str) -> Any:
    """``{"state": "approved"|"has_issues"|"rejected", "note": "...", "take": {prop: bool}}``."""
    submission = services.visible_submission(instance_id, actor=current_actor())
    body = load_json(ReviewBody())
    take = body["take"] or {}
    with unit_of_work():
        applied = review.review_submission(
            submission,
            state=body["state"],
            actor=current_actor(),
            note=body["note"] or "",
            take=take,
        )
        result = detail(submission) | {
            "case_versions": [
                {"case_id": v.case.uuid, "version": v.version, "changes": v.changes}
                for v in applied
            ]
        }
    return result


@api.delete("/<path:instance_id>")
@require(Role.ADMIN, Role.COORDINATOR)
def api_delete(instance_id: str) -> Any:
    """``{"reason": "..."}``: delete softly (a phone resending it gets 409); restorable."""
    submission = services.visible_submission(instance_id, actor=current_actor())
    body = load_json(DeleteBody())
    with unit_of_work():
        deletion.delete_submission(submission, actor=current_actor(), reason=body["reason"] or "")
        deleted_at = submission.deleted_at
    assert deleted_at is not None
    return {"instance_id": instance_id, "deleted": True, "deleted_at": deleted_at.isoformat()}


@api.post("/<path:instance_id>/restore")
@require(Role.ADMIN, Role.COORDINATOR)
def api_restore(instance_id: str) -> Any:
    """Bring a deleted submission back, in the review state it had."""
    submission = deletion.deleted_submission(instance_id, actor=current_actor())
    with unit_of_work():
        deletion.restore_submission(submission, actor=current_actor())
        result = detail(submission)
    return result
