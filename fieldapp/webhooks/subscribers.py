"""The webhook outbox hears of every domain event (see :mod:`fieldapp.events`).

For each active endpoint that chose the event, one :class:`WebhookDelivery` row is added in
the event's own transaction, with its payload built now (the state the event describes). The
request that caused the event pays for one small query and these inserts; sending is the
worker's (:mod:`fieldapp.webhooks.worker`). Sandbox (test) events produce nothing.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import select

from fieldapp.auth.models import Region
from fieldapp.cases.events import CaseEvent, CaseTransferred, FollowUpOverdue
from fieldapp.cases.models import Case
from fieldapp.db import db, utcnow
from fieldapp.events import Event, subscribe
from fieldapp.submissions.events import (
    SubmissionEvent,
    SubmissionReviewed,
    SubmissionStored,
)
from fieldapp.submissions.models import Submission, SubmissionVersion
from fieldapp.webhooks.catalogue import EVENT_TYPES
from fieldapp.webhooks.models import WebhookDelivery, WebhookEndpoint

#: after every other subscriber (case work is 10), so payloads show their result
ORDER = 90


def new_msg_id() -> str:
    """A ``webhook-id``: unique per message, kept across attempts."""
    return "msg_" + secrets.token_urlsafe(18)


def _region_code(region_id: int | None) -> str | None:
    if region_id is None:
        return None
    region = db.session.get(Region, region_id)
    return region.code if region else None


def _submission_data(submission: Submission) -> dict[str, Any]:
    form = submission.form
    version = (
        db.session.get(SubmissionVersion, submission.current_version_id)
        if submission.current_version_id
        else None
    )
    return {
        "instance_id": submission.instance_id,
        "form_id": form.form_id if form is not None else None,
        "form_version": version.form_version.version if version is not None else None,
        "review_state": submission.review_state,
        "region": _region_code(submission.region_id),
        "urgent": submission.urgent,
        "received_at": submission.received_at.isoformat(),
        "links": {
            "api": f"/api/v1/submissions/{submission.instance_id}",
            "page": f"/submissions/{submission.instance_id}",
        },
    }


def _case_data(case: Case) -> dict[str, Any]:
    return {
        "case_id": case.uuid,
        "code": case.code,
        "dataset": case.case_list.name,
        "region": _region_code(case.region_id),
        "status": case.status,
        "version": case.version,
        "next_due": case.next_due.isoformat() if case.next_due else None,
        "links": {"api": f"/api/v1/cases/{case.uuid}", "page": f"/cases/{case.uuid}"},
    }


def _subject_and_data(event: Event) -> tuple[str, dict[str, Any], dict[str, Any] | None]:
    """The event's subject, its minimal data, and the answers (for endpoints that opted in)."""
    if isinstance(event, SubmissionEvent):
        data = _submission_data(event.submission)
        answers = None
        if isinstance(event, SubmissionStored):
            answers = None if event.version.encrypted else dict(event.version.data or {})
        if isinstance(event, SubmissionReviewed):
            data["previous_review_state"] = event.previous
        return f"submission:{event.submission.instance_id}", data, answers
    if isinstance(event, CaseEvent):
        data = _case_data(event.case)
        if isinstance(event, CaseTransferred):
            data["previous_region"] = _region_code(event.from_region_id)
        if isinstance(event, FollowUpOverdue):
            data["due"] = event.due.isoformat()
        changed = getattr(event, "changed", None)
        if changed is not None:
            data["changed"] = list(changed)  # property names only, never values
        return f"case:{event.case.uuid}", data, None
    raise TypeError(type(event).__name__)


@subscribe(Event, order=ORDER)
def _enqueue(event: Event) -> None:
    if event.sandbox or event.name not in EVENT_TYPES:
        return
    endpoints = [
        e
        for e in db.session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.active.is_(True)))
        if event.name in (e.events or ())
    ]
    if not endpoints:
        return
    subject, data, answers = _subject_and_data(event)
    now = utcnow()
    for endpoint in endpoints:
        body = dict(data)
        if endpoint.include_answers and answers is not None:
            body["answers"] = answers
        db.session.add(
            WebhookDelivery(
                endpoint_id=endpoint.id,
                msg_id=new_msg_id(),
                event=event.name,
                subject=subject[:120],
                payload={"type": event.name, "timestamp": now.isoformat(), "data": body},
                next_attempt_at=now,
                created_at=now,
            )
        )
    db.session.flush()
