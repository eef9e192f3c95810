"""Trying drafts: tries, their test submissions and test cases, and what becomes of them.

A *try* covers one or more drafts (a registration and its follow-up can be tried together). The
designer fills them in ODK Web Forms in the browser or in ODK Collect (``/collect/test/<token>``).
Test submissions go through the real ingest (``submissions.services.receive_submission``) and the
real case logic (``cases.services``) inside :func:`~fieldapp.sandbox.scope.sandbox_mode`, so
their rows are test rows, which no read path for people sees, and test follow-ups only ever
find test cases. With ``skip_review`` a test submission's case work is applied at once (as if
approved); otherwise it waits for the designer's approval on the draft page.

At publish the designer discards the form's test data or keeps it (as test data, seen only on
the form's test-data page).
"""

from __future__ import annotations

import csv
import hashlib
import io
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import delete, select

from fieldapp.audit.services import record
from fieldapp.auth.models import Region, Role, User
from fieldapp.cases.caselists import _cell
from fieldapp.cases.mapping import referenced_properties
from fieldapp.cases.models import Case, CaseList, CaseStatus, CaseVersion, CaseWork, WorkState
from fieldapp.cases.services import apply_submission, ensure_case_lists
from fieldapp.db import db, utcnow
from fieldapp.errors import Conflict, Invalid, NotFound
from fieldapp.forms.models import Form, FormVersion, VersionStatus
from fieldapp.sandbox.models import DraftTry
from fieldapp.sandbox.scope import sandbox_mode
from fieldapp.submissions.models import ReviewState, Submission, SubmissionVersion
from fieldapp.submissions.services import ReceiveResult, TestTarget

#: what the designer chooses at publish
TEST_DATA_CHOICES = ("discard", "keep")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def may_try(actor: User) -> bool:
    """Designers and administrators try drafts."""
    return actor.active and actor.has_role(Role.DESIGNER, Role.ADMIN)


# -- tries -----------------------------------------------------------------------------------


def start_try(
    forms: Sequence[Form], *, actor: User, skip_review: bool = True
) -> tuple[str, DraftTry]:
    """Start a try of these forms' drafts.

    The case lists the drafts declare are made now (empty, as publishing would), so that test
    registrations have a list to go to and follow-up drafts are served its test cases.

    :raises Conflict: a form has no draft.
    :raises Invalid: no form, or no region exists to hold test rows.
    :return: the token for Collect's URL (shown, never stored) and the try.
    """
    if not forms:
        raise Invalid("Choose at least one draft to try.", code="try.no_form")
    for form in forms:
        if form.draft is None:
            raise Conflict(
                "Form '%(form)s' has no draft to try.",
                code="form.no_draft",
                params={"form": form.form_id},
            )
    region_id = min(actor.region_ids) if actor.region_ids else None
    if region_id is None:
        region_id = db.session.scalars(select(Region.id).order_by(Region.id)).first()
    if region_id is None:
        raise Invalid(
            "Create a region first: test data needs one (nobody sees it).", code="try.no_region"
        )
    for form in forms:
        assert form.draft is not None
        ensure_case_lists(form.draft)
    from fieldapp.forms.services import link_case_lists  # noqa: PLC0415

    link_case_lists()
    token = secrets.token_urlsafe(48)
    draft_try = DraftTry(
        token_sha256=_hash(token),
        created_by_id=actor.id,
        region_id=region_id,
        skip_review=skip_review,
        forms=list(forms),
    )
    db.session.add(draft_try)
    db.session.flush()
    record(
        "form.try_started",
        actor=actor,
        subject_type="form",
        subject_id=",".join(f.form_id for f in forms),
        drafts={f.form_id: f.draft.version for f in forms if f.draft is not None},
        skip_review=skip_review,
    )
    return token, draft_try


def try_for_token(token: str) -> DraftTry | None:
    """The live try of a Collect URL's token (not revoked, its designer still active)."""
    found = db.session.scalars(
        select(DraftTry).where(DraftTry.token_sha256 == _hash(token))
    ).one_or_none()
    if found is None or found.revoked_at is not None or not may_try(found.created_by):
        return None
    return found


def get_try(try_id: int, *, actor: User) -> DraftTry:
    """A live try of the actor's (an administrator's: anyone's).

    :raises NotFound: no such try, revoked, or someone else's.
    """
    found = db.session.get(DraftTry, try_id)
    if (
        found is None
        or found.revoked_at is not None
        or not may_try(actor)
        or (found.created_by_id != actor.id and not actor.has_role(Role.ADMIN))
    ):
        raise NotFound("No such try.", code="try.not_found")
    return found


def tries_of(form: Form, *, actor: User) -> list[DraftTry]:
    """The actor's live tries that include this form, newest first."""
    return list(
        db.session.scalars(
            select(DraftTry)
            .where(
                DraftTry.created_by_id == actor.id,
                DraftTry.revoked_at.is_(None),
                DraftTry.forms.any(Form.id == form.id),
            )
            .order_by(DraftTry.id.desc())
        )
    )


def end_try(draft_try: DraftTry, *, actor: User) -> None:
    """Stop the try's URL from working (its test data stays until publish or discard)."""
    if draft_try.revoked_at is None:
        draft_try.revoked_at = utcnow()
        db.session.flush()
        record("form.try_ended", actor=actor, subject_type="try", subject_id=draft_try.id)


def drafts_of(draft_try: DraftTry) -> list[tuple[Form, FormVersion]]:
    """The forms of the try that still have a draft, with it."""
    return [(f, f.draft) for f in draft_try.forms if f.draft is not None]


def draft_in_try(draft_try: DraftTry, form_id: str) -> tuple[Form, FormVersion]:
    """:raises NotFound: the form is not in the try, or has no draft any more."""
    for form, draft in drafts_of(draft_try):
        if form.form_id == form_id:
            return form, draft
    raise NotFound(
        "There is no draft '%(form)s' in this try.", code="form.not_found", params={"form": form_id}
    )


def test_target(draft_try: DraftTry) -> TestTarget:
    """What ingest needs to take a test submission of this try."""
    return TestTarget(
        drafts={f.form_id: d.id for f, d in drafts_of(draft_try)}, region_id=draft_try.region_id
    )


def after_test_submission(result: ReceiveResult, draft_try: DraftTry, *, actor: User) -> None:
    """A test submission arrived (in sandbox mode): without review, apply its case work now."""
    if draft_try.skip_review and result.outcome in ("created", "edited"):
        approve(result.submission, actor=actor)


# -- test submissions ------------------------------------------------------------------------


def test_submissions(form: Form) -> list[Submission]:
    """The form's test submissions (of any of its drafts, or kept at publish), newest first."""
    with sandbox_mode():
        return list(
            db.session.scalars(
                select(Submission)
                .where(Submission.form_pk == form.id, Submission.deleted_at.is_(None))
                .order_by(Submission.received_at.desc(), Submission.id.desc())
            )
        )


def test_submission(form: Form, instance_id: str) -> Submission:
    """:raises NotFound: not a test submission of this form."""
    with sandbox_mode():
        found = db.session.scalars(
            select(Submission).where(
                Submission.form_pk == form.id, Submission.instance_id == instance_id
            )
        ).one_or_none()
    if found is None:
        raise NotFound("No such test submission.", code="submission.not_found")
    return found


def pending_work(submission: Submission) -> list[CaseWork]:
    """Case work of a test submission still waiting for the designer's approval."""
    return list(
        db.session.scalars(
            select(CaseWork)
            .where(
                CaseWork.submission_id == submission.id,
                CaseWork.state == WorkState.PENDING.value,
            )
            .order_by(CaseWork.id)
        )
    )


def work_of(submission: Submission) -> list[CaseWork]:
    """All case work of a test submission."""
    return list(
        db.session.scalars(
            select(CaseWork).where(CaseWork.submission_id == submission.id).order_by(CaseWork.id)
        )
    )


def approve(submission: Submission, *, actor: User) -> None:
    """Approve a test submission: its case work reaches the test cases (real case logic)."""
    assert submission.sandbox
    with sandbox_mode():
        apply_submission(submission, approved_by=actor, take=None)
        submission.review_state = ReviewState.APPROVED.value
        db.session.flush()


# -- test cases ------------------------------------------------------------------------------


def test_cases(dataset: str) -> list[Case]:
    """Open test cases of a case list, oldest first."""
    with sandbox_mode():
        return list(
            db.session.scalars(
                select(Case)
                .join(CaseList, CaseList.id == Case.case_list_id)
                .where(CaseList.name == dataset, Case.status == CaseStatus.OPEN.value)
                .order_by(Case.id)
            )
        )


@dataclass(frozen=True, slots=True)
class TestCaseList:
    content: bytes
    token: str


def test_case_list(dataset: str, draft_try: DraftTry, *, today: date | None = None) -> TestCaseList:
    """The case-list CSV a follow-up draft gets in a try: the test cases of the list, in the
    shape phones get (``cases.caselists``), with the properties the try's drafts or any
    published form read. Never a real case: it is read in sandbox mode."""
    today = today or utcnow().date()
    case_list = db.session.scalars(select(CaseList).where(CaseList.name == dataset)).one_or_none()
    columns: list[str] = []
    if case_list is not None:
        xforms = [d.xform for _f, d in drafts_of(draft_try)] + list(
            db.session.scalars(
                select(FormVersion.xform).join(Form, Form.current_version_id == FormVersion.id)
            )
        )
        used = referenced_properties(xforms, dataset)
        columns = [p for p in case_list.properties if p in used]
    buffer = io.StringIO()
    # read by ODK Web Forms and Collect only, like the phones' lists (see cases.caselists for
    # why these cells are not neutralised against spreadsheet formulas)
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["name", "label", "__version", *columns, "next_due", "overdue"])
    for case in test_cases(dataset) if case_list is not None else []:
        writer.writerow(
            [
                case.uuid,
                case.code,
                case.version,
                *(_cell(case.properties.get(c)) for c in columns),
                case.next_due.isoformat() if case.next_due else "",
                "yes" if case.overdue(today) else "no",
            ]
        )
    content = buffer.getvalue().encode()
    return TestCaseList(content, hashlib.md5(content, usedforsecurity=False).hexdigest())


def test_deleted_states(dataset: str, ids: list[str]) -> list[tuple[str, bool]]:
    """For each id the try's phone holds: whether it is no longer an open test case."""
    live = {c.uuid for c in test_cases(dataset)}
    return [(case_id, case_id not in live) for case_id in ids]


# -- the end of test data --------------------------------------------------------------------


def _discard(submission_ids: Sequence[int]) -> tuple[int, int]:
    """Delete these test submissions (versions, attachments, case work, reviews cascade) and
    the test cases they created (their versions and links cascade). Sandbox mode throughout:
    a real row can never match."""
    if not submission_ids:
        return 0, 0
    with sandbox_mode():
        case_ids = list(
            db.session.scalars(
                select(Case.id)
                .join(CaseVersion, CaseVersion.case_id == Case.id)
                .where(CaseVersion.version == 1, CaseVersion.submission_id.in_(submission_ids))
            )
        )
        if case_ids:
            db.session.execute(delete(Case).where(Case.id.in_(case_ids)))
        db.session.execute(delete(Submission).where(Submission.id.in_(submission_ids)))
    return len(submission_ids), len(case_ids)


def discard_test_data(form: Form, *, actor: User | None) -> tuple[int, int]:
    """Delete every test submission of the form and the test cases they created.

    :return: how many submissions and cases.
    """
    with sandbox_mode():
        ids = list(db.session.scalars(select(Submission.id).where(Submission.form_pk == form.id)))
    counts = _discard(ids)
    if ids:
        record(
            "form.test_data_discarded",
            actor=actor,
            subject_type="form",
            subject_id=form.form_id,
            submissions=counts[0],
            cases=counts[1],
        )
    return counts


def discard_draft_test_data(draft: FormVersion) -> None:
    """A draft is going away (replaced or discarded): its test submissions go with it (their
    rows refer to the draft version)."""
    if draft.status != VersionStatus.DRAFT:
        return
    ids = list(
        db.session.scalars(
            select(SubmissionVersion.submission_id)
            .where(SubmissionVersion.form_version_id == draft.id)
            .distinct()
        )
    )
    if ids:
        with sandbox_mode():
            ids = list(db.session.scalars(select(Submission.id).where(Submission.id.in_(ids))))
    _discard(ids)


def at_publish(form: Form, test_data: str, *, actor: User | None) -> None:
    """What the designer chose for the form's test data at publish.

    :raises Invalid: neither ``discard`` nor ``keep``.
    """
    if test_data not in TEST_DATA_CHOICES:
        raise Invalid('test_data must be "discard" or "keep".', code="form.test_data_invalid")
    if test_data == "discard":
        discard_test_data(form, actor=actor)
