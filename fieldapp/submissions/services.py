"""Receiving submissions from phones, and reading them back.

:func:`receive_submission` is the one place where "what happens when a submission arrives" is
decided. It flushes only; the caller commits, and answers the phone after the commit.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, false, or_, select

from fieldapp.audit.services import record
from fieldapp.auth.models import Device, Region, Role, User
from fieldapp.blobs import BlobStorage, store_blob
from fieldapp.db import DB_INT_MAX, db, utcnow
from fieldapp.errors import BadRequest, Conflict, DomainError, Forbidden, NotFound
from fieldapp.events import is_sandbox, publish
from fieldapp.forms.models import Form, FormState, FormVersion, VersionStatus
from fieldapp.forms.xform import Field, fields_from_json
from fieldapp.submissions import events
from fieldapp.submissions.models import (
    ReviewState,
    Submission,
    SubmissionAttachment,
    SubmissionVersion,
)
from fieldapp.submissions.parsing import (
    DEFAULT_MAX_ELEMENTS,
    ParsedSubmission,
    expected_attachments,
    invalid_answers,
    parse_tree,
    read_identity,
    submission_data,
)

#: roles that may send data from phones or web forms
SUBMITTING_ROLES = (Role.FIELD_WORKER, Role.COORDINATOR)


@dataclass(frozen=True, slots=True)
class Upload:
    """One file part of a submission POST; ``name`` is the multipart part name."""

    name: str
    data: bytes
    content_type: str | None = None


@dataclass(frozen=True, slots=True)
class TestTarget:
    """Where a test submission of a tried draft goes (``fieldapp.sandbox``): the drafts being
    tried (form id → draft version id) and the region its test rows carry. The caller runs in
    ``sandbox_mode``."""

    drafts: Mapping[str, int]
    region_id: int


@dataclass(frozen=True, slots=True)
class ReceiveResult:
    """What :func:`receive_submission` did.

    ``outcome`` is ``created``, ``edited``, ``attachments_added`` (an identical resubmission that
    brought files still missing) or ``duplicate`` (identical, nothing new).
    """

    submission: Submission
    version: SubmissionVersion
    outcome: str


class FormNotAccepting(DomainError):
    code = "submission.form_closed"
    http_status = 409


class SubmissionDeleted(Conflict):
    """The instanceID (or the one an edit replaces) belongs to a deleted submission."""

    code = "submission.deleted"

    def __init__(self) -> None:
        super().__init__("This submission has been deleted. You may not resubmit it.")


class InstanceIdTaken(Conflict):
    """The instanceID is already used on this server by a submission the actor may not change:
    another form's, or (in the same form) someone else's. The message names no region, person
    or form, so that it tells nothing about the submission that holds the instanceID."""

    code = "submission.instance_id_taken"

    def __init__(self) -> None:
        super().__init__(
            "Another submission on this server already uses this instanceID, so this one was not "
            "stored. Every filled form needs its own instanceID: fill the form again as a new "
            "copy and send that."
        )


def _deprecated_not_found(deprecated_id: str) -> NotFound:
    """The answer to an edit of a submission that is not on the server, or that the actor may
    not change (the same answer for both, ODK-INTEROP §2.4 case 15)."""
    return NotFound(
        "The submission this edit replaces (%(deprecated_id)s) is not on this server.",
        code="submission.deprecated_not_found",
        params={"deprecated_id": deprecated_id},
    )


def may_submit(actor: User) -> bool:
    """Whether the user may send submissions at all."""
    return actor.active and actor.has_role(*SUBMITTING_ROLES) and bool(actor.regions)


def may_change(actor: User, submission: Submission) -> bool:
    """Whether ``actor`` may change ``submission`` by sending XML (an edit, or files for an
    identical resubmission): its original submitter, or a coordinator of its region."""
    if submission.submitted_by_id is not None and submission.submitted_by_id == actor.id:
        return True
    return actor.has_role(Role.COORDINATOR) and submission.region_id in actor.region_ids


@dataclass(frozen=True, slots=True)
class _PublishedVersion:
    """What ingest needs of a published form version; immutable, so cached per process."""

    id: int
    version: str
    fields: tuple[Field, ...]
    entities: list[Any]


#: keyed by (id, XForm MD5): ids alone can come back after a rolled-back transaction
_published_cache: dict[tuple[int, str], _PublishedVersion] = {}


def _published(version_id: int, xform_md5: str) -> _PublishedVersion:
    cached = _published_cache.get((version_id, xform_md5))
    if cached is None:
        row = db.session.get(FormVersion, version_id)
        assert row is not None and row.status == VersionStatus.PUBLISHED
        cached = _PublishedVersion(
            row.id, row.version, fields_from_json(row.fields), list(row.entities or [])
        )
        if len(_published_cache) > 512:
            _published_cache.clear()
        _published_cache[(version_id, xform_md5)] = cached
    return cached


def _form_version(parsed: ParsedSubmission) -> tuple[Form, _PublishedVersion, int | None]:
    """The form, the published version the submission names, and the id of the stored
    submission version with the same instanceID (in any form: instanceIDs are unique on the
    server), if any — in one round trip (every phone upload asks)."""
    row = db.session.execute(
        select(Form, FormVersion.id, FormVersion.xform_md5, SubmissionVersion.id)
        .select_from(Form)
        .outerjoin(
            SubmissionVersion,
            SubmissionVersion.instance_id == parsed.instance_id,
        )
        .outerjoin(
            FormVersion,
            and_(
                FormVersion.form_pk == Form.id,
                FormVersion.version == parsed.version,
                FormVersion.status == VersionStatus.PUBLISHED.value,
            ),
        )
        .where(Form.form_id == parsed.form_id)
    ).one_or_none()
    if row is None or row[0].state == FormState.DRAFT:
        raise NotFound(
            "There is no form '%(form)s' on this server.",
            code="submission.form_not_found",
            params={"form": parsed.form_id},
        )
    form, version_id, xform_md5, existing_id = row
    if version_id is None:
        raise NotFound(
            "The form version specified in this submission '%(version)s' does not "
            "exist for form '%(form)s'. Update the blank form on the phone.",
            code="submission.version_not_found",
            params={"version": parsed.version, "form": parsed.form_id},
        )
    if form.state == FormState.CLOSED:
        raise FormNotAccepting(
            "The form '%(title)s' is closed and no longer accepts submissions. Ask "
            "your coordinator whether a newer form replaces it.",
            params={"title": form.title},
        )
    return form, _published(version_id, xform_md5), existing_id


def _draft_version(
    parsed: ParsedSubmission, target: TestTarget
) -> tuple[Form, _PublishedVersion, int | None]:
    """Like :func:`_form_version`, for a test submission: the tried draft, and only it."""
    draft_id = target.drafts.get(parsed.form_id)
    draft = db.session.get(FormVersion, draft_id) if draft_id is not None else None
    if (
        draft is None
        or draft.status != VersionStatus.DRAFT
        or draft.form.form_id != (parsed.form_id)
    ):
        raise NotFound(
            "There is no draft '%(form)s' in this try.",
            code="submission.form_not_found",
            params={"form": parsed.form_id},
        )
    if draft.version != parsed.version:
        raise NotFound(
            "The form version specified in this submission '%(version)s' is not "
            "the draft being tried (%(version2)s). Download the draft again.",
            code="submission.version_not_found",
            params={"version": parsed.version, "version2": draft.version},
        )
    existing_id = db.session.scalars(
        select(SubmissionVersion.id).where(SubmissionVersion.instance_id == parsed.instance_id)
    ).first()
    facts = _PublishedVersion(
        draft.id, draft.version, fields_from_json(draft.fields), list(draft.entities or [])
    )
    return draft.form, facts, existing_id


def _locked_submission(submission_id: int) -> Submission:
    """The submission row, locked for the rest of the transaction (PostgreSQL); a test one
    too (the caller checks that it is of its own kind)."""
    return db.session.scalars(
        select(Submission)
        .where(Submission.id == submission_id)
        .with_for_update()
        .execution_options(include_sandbox=True)
    ).one()


def _attach(
    version: SubmissionVersion,
    expected: Sequence[str],
    uploads: dict[str, Upload],
    store: BlobStorage,
    carried: dict[str, SubmissionAttachment] | None = None,
) -> None:
    """Create the version's attachment rows: uploaded, carried over from the edited version, or
    expected but still missing."""
    now = utcnow()
    for name in expected:
        upload = uploads.get(name)
        row = SubmissionAttachment(name=name)
        if upload is not None:
            row.blob_sha256 = store_blob(store, upload.data)
            row.content_type = upload.content_type
            row.received_at = now
        elif carried and name in carried and carried[name].blob_sha256 is not None:
            previous = carried[name]
            row.blob_sha256 = previous.blob_sha256
            row.content_type = previous.content_type
            row.received_at = previous.received_at
        version.attachments.append(row)


def _add_missing(version: SubmissionVersion, uploads: dict[str, Upload], store: BlobStorage) -> int:
    """Fill attachments still missing from an identical resubmission; return how many."""
    added = 0
    for row in version.attachments:
        upload = uploads.get(row.name)
        if row.blob_sha256 is None and upload is not None:
            row.blob_sha256 = store_blob(store, upload.data)
            row.content_type = upload.content_type
            row.received_at = utcnow()
            added += 1
    return added


def receive_submission(
    *,
    xml: bytes,
    uploads: Sequence[Upload],
    actor: User,
    store: BlobStorage,
    device: Device | None = None,
    device_id: str | None = None,
    user_agent: str | None = None,
    max_xml_bytes: int = 10 * 1024 * 1024,
    max_xml_elements: int = DEFAULT_MAX_ELEMENTS,
    overdue_days: int = 14,
    test: TestTarget | None = None,
) -> ReceiveResult:
    """Take in one submission POST (ODK-INTEROP §2.4, with fieldapp's §10 rules).

    In order:

    1. parse the XML (hardened parser, once; more than ``max_xml_elements`` elements → 413 as
       soon as the parser passes the limit): no form id → 400; no instanceID → 400 (fieldapp
       does not invent one: a retry would become a duplicate);
    2. resolve the form and version: unknown form or version → 404; an older published version
       is fine; ``closing`` accepts, ``closed`` → 409;
    3. the actor must be a field worker or coordinator with a region → 403;
    4. then, by instanceID (unique on the whole server, whatever the form, enforced by the
       database, so concurrent identical POSTs end in one submission):

       * the instanceID is another form's, or belongs to a submission the actor may not change
         (see :func:`may_change`: its submitter, or a coordinator of its region) → 409
         ``submission.instance_id_taken``, whatever the XML, and nothing changes;
       * **identical XML** of the current version → add any attachments it brings that were
         still missing (split uploads, retries) → 201;
       * identical XML of a replaced version → 409; **different XML** → 409;
       * **deprecatedID** naming the current version of a submission the actor may change →
         an **edit**: new version, review state ``edited``, attachments not re-sent carried
         forward; an unknown deprecatedID, or one the actor may not change → 404 (the same
         answer, so that the edit tells nothing about other people's submissions);
         deprecatedID naming a replaced version → 409 (the phone edited an old copy);
       * otherwise a **new** submission.

    A new submission or edit is **urgent** when the form computes a field ``urgent`` as "yes",
    or when it updates an open case whose follow-up was due more than ``overdue_days`` days
    earlier (the family went unseen too long; case work decides that when it hears of the
    submission, before its work moves the due date).

    A new submission publishes :class:`~fieldapp.submissions.events.SubmissionReceived`, an edit
    :class:`~fieldapp.submissions.events.SubmissionEdited` (case work and the webhook outbox
    subscribe), in the caller's transaction.

    Attachments are written to the blob store (fsynced) before the caller commits the rows.

    A ``test`` submission (a designer trying a draft, ``fieldapp.sandbox``) must fill that
    draft; it is stored as test data (``sandbox``), and an instanceID of real data is "taken".

    :raises DomainError: with the status the phone should get.
    """
    root = parse_tree(xml, max_bytes=max_xml_bytes, max_elements=max_xml_elements)
    parsed = read_identity(root)
    if test is not None:
        form, form_version, existing_id = _draft_version(parsed, test)
    else:
        form, form_version, existing_id = _form_version(parsed)
    if test is None and not may_submit(actor):
        raise Forbidden(
            "%(actor)s may not send submissions; field workers and coordinators with a region can.",
            code="submission.not_allowed",
            params={"actor": actor.username},
        )
    fields = form_version.fields
    expected = expected_attachments(xml, fields, parsed=parsed, root=root)
    by_name = {u.name: u for u in uploads}
    xml_sha = hashlib.sha256(xml).hexdigest()

    if existing_id is not None:
        existing = db.session.get_one(SubmissionVersion, existing_id)
        submission = _locked_submission(existing.submission_id)
        db.session.refresh(existing)
        # before anything that tells this submission's state: someone else's, or another
        # form's, is only "taken" (no files added, nothing changed)
        if (
            existing.form_pk != form.id
            or submission.sandbox != (test is not None)
            or not may_change(actor, submission)
        ):
            raise InstanceIdTaken()
        if submission.deleted_at is not None:
            raise SubmissionDeleted()
        if existing.xml_sha256 != xml_sha:
            raise Conflict(
                "A submission already exists with this ID, but with different XML. "
                "Resubmissions to attach additional multimedia must resubmit an identical "
                "xml_submission_file.",
                code="submission.xml_conflict",
            )
        if submission.current_version_id != existing.id:
            raise Conflict(
                "This submission has since been edited; this copy is out of date and was not "
                "stored again.",
                code="submission.superseded",
            )
        added = _add_missing(existing, by_name, store)
        db.session.flush()
        if added:
            record(
                "submission.attachments_added",
                actor=actor,
                subject_type="submission",
                subject_id=submission.instance_id,
                region_id=submission.region_id,
                form_id=form.form_id,
                count=added,
            )
        return ReceiveResult(submission, existing, "attachments_added" if added else "duplicate")

    now = utcnow()
    data = submission_data(xml, fields, root=root)
    version = SubmissionVersion(
        form_pk=form.id,
        form_version_id=form_version.id,
        instance_id=parsed.instance_id,
        deprecated_id=parsed.deprecated_id,
        instance_name=(parsed.instance_name or None) and parsed.instance_name[:500],
        xml=xml,
        xml_sha256=xml_sha,
        encrypted=parsed.encrypted,
        data=data,
        device_id=(device_id or None) and device_id[:255],
        user_agent=(user_agent or None) and user_agent[:500],
        device_pk=device.id if device else None,
        submitter_id=actor.id,
        received_at=now,
    )
    version.invalid_answers = invalid_answers(data, fields)  # kept as sent, flagged
    urgent = str(data.get("urgent") or "").strip().lower() == "yes"

    if parsed.deprecated_id:
        previous = db.session.scalars(
            select(SubmissionVersion).where(
                SubmissionVersion.form_pk == form.id,
                SubmissionVersion.instance_id == parsed.deprecated_id,
            )
        ).one_or_none()
        if previous is None:
            raise _deprecated_not_found(parsed.deprecated_id)
        submission = _locked_submission(previous.submission_id)
        if submission.sandbox != (test is not None) or not may_change(actor, submission):
            raise _deprecated_not_found(parsed.deprecated_id)
        if submission.deleted_at is not None:
            raise SubmissionDeleted()
        if submission.current_version_id != previous.id:
            raise Conflict(
                "The copy you were editing (%(deprecated_id)s) is now out of date: the "
                "submission was edited since. Download it again and redo the changes.",
                code="submission.edit_out_of_date",
                params={"deprecated_id": parsed.deprecated_id},
            )
        version.submission = submission
        db.session.add(version)
        carried = {a.name: a for a in previous.attachments}
        _attach(version, expected, by_name, store, carried)
        db.session.flush()
        submission.current_version_id = version.id
        submission.review_state = ReviewState.EDITED.value
        submission.urgent = urgent
        submission.updated_at = now
        db.session.flush()
        publish(
            events.SubmissionEdited(
                submission=submission,
                version=version,
                entities=form_version.entities,
                actor=actor,
                overdue_days=overdue_days,
                replaces=parsed.deprecated_id,
                sandbox=is_sandbox(submission),
            )
        )
        record(
            "submission.edited",
            actor=actor,
            subject_type="submission",
            subject_id=submission.instance_id,
            region_id=submission.region_id,
            form_id=form.form_id,
            version=form_version.version,
            replaces=parsed.deprecated_id,
            new=parsed.instance_id,
        )
        return ReceiveResult(submission, version, "edited")

    region = (
        sorted(actor.regions, key=lambda r: r.id)[0]
        if test is None
        else db.session.get_one(Region, test.region_id)
    )
    submission = Submission(
        form_pk=form.id,
        instance_id=parsed.instance_id,
        region_id=region.id,
        submitted_by_id=actor.id,
        review_state=ReviewState.RECEIVED.value,
        urgent=urgent,
        received_at=now,
        updated_at=now,
        sandbox=test is not None,
    )
    # files first (written and fsynced), then every row in one flush
    _attach(version, expected, by_name, store)
    version.submission = submission
    submission.current_version = version
    db.session.add_all([submission, version])
    db.session.flush()
    publish(
        events.SubmissionReceived(
            submission=submission,
            version=version,
            entities=form_version.entities,
            actor=actor,
            overdue_days=overdue_days,
            sandbox=is_sandbox(submission),
        )
    )
    record(
        "submission.created",
        actor=actor,
        subject_type="submission",
        subject_id=submission.instance_id,
        region_id=region.id,
        form_id=form.form_id,
        version=form_version.version,
        attachments_expected=len(expected),
        attachments_received=sum(1 for a in version.attachments if a.blob_sha256),
    )
    return ReceiveResult(submission, version, "created")


# -- reading ---------------------------------------------------------------------------------


def attachment_summary(version: SubmissionVersion) -> list[dict[str, Any]]:
    """Expected files of a version and whether each arrived."""
    return [
        {"name": a.name, "received": a.blob_sha256 is not None, "content_type": a.content_type}
        for a in version.attachments
    ]


def _scope(query: Select[Any], actor: User) -> Select[Any]:
    """Region scoping: administrators all; coordinators their regions; workers their own.
    Deleted submissions are out of every read path (see ``fieldapp.review.deletion``)."""
    query = query.where(Submission.deleted_at.is_(None))
    if actor.has_role(Role.ADMIN):
        return query
    if actor.has_role(Role.COORDINATOR):
        return query.where(Submission.region_id.in_(actor.region_ids or {-1}))
    if actor.has_role(Role.FIELD_WORKER):
        return query.where(Submission.submitted_by_id == actor.id)
    return query.where(false())


def scope_submissions(query: Select[Any], actor: User) -> Select[Any]:
    """Restrict a query over :class:`Submission` to the rows ``actor`` may see.

    For views that compose their own filters and ordering (the review queue) without
    repeating the region rules.
    """
    return _scope(query, actor)


def visible_submission(instance_id: str, *, actor: User) -> Submission:
    """The submission with this (first) instanceID, if the actor may see it.

    :raises NotFound: no such submission, or not visible to the actor (same answer for both).
    """
    # instanceIDs are unique on the server (a unique index): at most one row, never a choice
    found: Submission | None = db.session.scalars(
        _scope(select(Submission).where(Submission.instance_id == instance_id), actor)
    ).one_or_none()
    if found is None:
        raise NotFound("No such submission.", code="submission.not_found")
    return found


def encode_cursor(*parts: object) -> str:
    return base64.urlsafe_b64encode("|".join(str(p) for p in parts).encode()).decode()


def decode_cursor(cursor: str, count: int) -> list[str]:
    """The ``count`` parts of a cursor made by :func:`encode_cursor` (ASCII only)."""
    try:
        parts = base64.urlsafe_b64decode(cursor.encode("ascii")).decode("ascii").split("|")
    except (ValueError, UnicodeError):
        parts = []
    if len(parts) != count:
        raise BadRequest(
            "The cursor is not valid; start from the first page.", code="cursor.invalid"
        )
    return parts


def cursor_id(part: str) -> int:
    """A row id from a cursor: digits within the database's integer range.

    :raises ValueError: anything else (a 40-digit id would overflow the database's integer).
    """

    if not (part.isascii() and part.isdigit() and len(part) <= len(str(DB_INT_MAX))):
        raise ValueError(part)
    value = int(part)
    if value > DB_INT_MAX:
        raise ValueError(part)
    return value


def list_submissions(
    *,
    actor: User,
    form_id: str | None = None,
    review_state: str | None = None,
    region: str | None = None,
    urgent: bool | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[Submission], str | None]:
    """Submissions the actor may see, newest first, with keyset pagination.

    :return: the page and the cursor of the next page (None on the last).
    """
    query = _scope(select(Submission), actor)
    if form_id:
        query = query.join(Form, Form.id == Submission.form_pk).where(Form.form_id == form_id)
    if review_state:
        query = query.where(Submission.review_state == review_state)
    if region:
        query = query.join(Region, Region.id == Submission.region_id).where(Region.code == region)
    if urgent is not None:
        query = query.where(Submission.urgent.is_(urgent))
    if cursor:
        at, ident = decode_cursor(cursor, 2)
        try:
            at_value, id_value = datetime.fromisoformat(at), cursor_id(ident)
        except ValueError:
            raise BadRequest(
                "The cursor is not valid; start from the first page.", code="cursor.invalid"
            ) from None
        query = query.where(
            or_(
                Submission.received_at < at_value,
                and_(Submission.received_at == at_value, Submission.id < id_value),
            )
        )
    rows = db.session.scalars(
        query.order_by(Submission.received_at.desc(), Submission.id.desc()).limit(limit + 1)
    ).all()
    page = list(rows[:limit])
    next_cursor = (
        encode_cursor(page[-1].received_at.isoformat(), page[-1].id) if len(rows) > limit else None
    )
    return page, next_cursor
