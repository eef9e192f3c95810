"""Consent as a state of the case: given, refused, withdrawn, or none on record (``None``).

A case has ``consent`` — the person's own, or for a child the guardian's — and, for a child
(cases of :data:`CHILD_LISTS`), ``assent``: the child's own agreement, recorded separately.

* **From the registration.** When a registration's case work creates (or, for its own edit,
  updates) a case, its ``consent_given`` answer (``yes`` → given, ``no`` → refused) becomes the
  case's ``consent`` (for children: the guardian's). The programme's registration asks the mother
  only; a child's assent stays "none on record" until a coordinator records it. (A registration
  without consent creates no case at all: the refusal stays on record as the submission.) The
  wellbeing screening's ``child_assent`` is the child's agreement to *that screening* and does
  not change the case's assent.
* **By a coordinator** of the case's region (or an administrator) on the case page, with a
  required reason (:func:`change`).

A refusal or a withdrawal of either stops new follow-ups: the case leaves the phone's case list
(``caselists._visible``), so the CSV, its MD5 and the state key change and phones drop the case at
their next sync; its next follow-up date is cleared, so it is overdue nowhere. When consent (and
assent) is given again, the follow-up is due the same day. Each change is a
:class:`~fieldapp.cases.models.ConsentChange` row (the case's consent history, with the reason)
and a ``case.consent_changed`` audit row, which holds the states and never the reason.

**A household's withdrawal reaches its members.** A household's consent is given by the adult
who registered the family, for the family. Its *members* are the open cases that name it by
their ``household_id`` property (the mother, the children). When a coordinator withdraws (or
refuses, after it was given) a household's consent, every member whose consent is given and
came from the household (:func:`carried`) is withdrawn too, in the same transaction: each
child's (it is the guardian's consent, given by the household's adult). An adult member's
consent (the mother's) is her own and stays until it is changed on her case. Each member gets
its own :class:`~fieldapp.cases.models.ConsentChange` (``from_change_id`` names the household's, the
reason says so without a name) and its own audit row, and leaves the phones and the overdue
lists like any withdrawal. Members in other regions (a transferred child) are withdrawn too: the
consent is the person's, wherever their case is. Giving the household's consent again does
*not* give the members' again: each is recorded by hand on its own case.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask_babel import lazy_pgettext
from sqlalchemy import select

from fieldapp.audit.services import record
from fieldapp.auth.models import Role, User
from fieldapp.cases import events
from fieldapp.cases.models import (
    STOPS_FOLLOW_UPS,
    Case,
    CaseStatus,
    CaseVersion,
    CaseWork,
    ConsentChange,
    ConsentState,
)
from fieldapp.db import column_length, db, utcnow
from fieldapp.errors import Conflict, Forbidden, Invalid
from fieldapp.events import is_sandbox, publish, subscribe
from fieldapp.submissions.models import Submission, SubmissionVersion

#: ``consent`` (own, or a child's guardian's) and ``assent`` (a child's own)
KINDS = ("consent", "assent")
#: lists whose cases are children (they have an assent as well as their guardian's consent)
CHILD_LISTS = ("children",)
#: the registration's consent question and what its answers mean
CONSENT_QUESTION = "consent_given"
_ANSWERS = {"yes": ConsentState.GIVEN.value, "no": ConsentState.REFUSED.value}
#: runs with case work (10), before the webhook outbox (90)
ORDER = 20
#: the case property by which a member names their household (its UUID)
HOUSEHOLD_LINK = "household_id"
#: the reason on a member's change that follows its household's (no names: ids only)
HOUSEHOLD_REASON = "Withdrawn with the household's consent (household consent change %(id)s)."

WORDS = {
    None: lazy_pgettext("consent state", "none on record"),
    ConsentState.GIVEN.value: lazy_pgettext("consent state", "given"),
    ConsentState.REFUSED.value: lazy_pgettext("consent state", "refused"),
    ConsentState.WITHDRAWN.value: lazy_pgettext("consent state", "withdrawn"),
}


def is_child(case: Case) -> bool:
    return case.case_list.name in CHILD_LISTS


def stops_follow_ups(case: Case) -> bool:
    """Whether the case's consent or assent keeps it off phones."""
    return case.consent in STOPS_FOLLOW_UPS or case.assent in STOPS_FOLLOW_UPS


def lacking(case: Case) -> bool:
    """Whether the case belongs on the "no consent on record or withdrawn" screen: its consent
    is not given, or (a child) its assent was refused or withdrawn."""
    return case.consent != ConsentState.GIVEN.value or case.assent in STOPS_FOLLOW_UPS


def _require_manager(actor: User, case: Case) -> None:
    if actor.has_role(Role.ADMIN):
        return
    if actor.has_role(Role.COORDINATOR) and case.region_id in actor.region_ids:
        return
    raise Forbidden("Only the region's coordinators may change this case.", code="case.forbidden")


def check_change(case: Case, kind: str, state: str, reason: str) -> str:
    """The reason, checked; :raises Invalid: or :raises Conflict: when the change cannot be."""
    if kind not in KINDS:
        raise Invalid("Choose consent or assent.", code="consent.kind_invalid")
    if kind == "assent" and not is_child(case):
        raise Invalid("Only a child's case has an assent of its own.", code="consent.not_a_child")
    if state not in {s.value for s in ConsentState}:
        raise Invalid("Choose given, refused or withdrawn.", code="consent.state_invalid")
    text = reason.strip()
    if not text:
        raise Invalid("Say why the consent changes.", code="consent.reason_missing")
    if len(text) > column_length(ConsentChange.reason):
        raise Invalid("The reason is too long.", code="consent.reason_too_long")
    if getattr(case, kind) == state:
        raise Conflict(
            "The %(kind)s is already %(state)s.",
            code="consent.unchanged",
            params={"kind": kind, "state": state},
        )
    if state == ConsentState.WITHDRAWN and getattr(case, kind) != ConsentState.GIVEN:
        raise Conflict(
            "Only a given %(kind)s can be withdrawn; record a refusal instead.",
            code="consent.not_given",
            params={"kind": kind},
        )
    return text


def _set(
    case: Case,
    kind: str,
    state: str,
    *,
    actor: User | None,
    source: str,
    reason: str | None,
    submission: Submission | None,
    from_change: ConsentChange | None = None,
) -> ConsentChange:
    old = getattr(case, kind)
    stopped_before = stops_follow_ups(case)
    setattr(case, kind, state)
    stopped_now = stops_follow_ups(case)
    now = utcnow()
    case.updated_at = now  # the caseload state key changes: phones fetch the list again
    if stopped_now and not stopped_before:
        case.next_due = None  # no follow-up is due any more, so none is overdue
    elif stopped_before and not stopped_now:
        case.next_due = now.date()  # follow-ups resume: one is due now
    change = ConsentChange(
        case_id=case.id,
        kind=kind,
        old_state=old,
        new_state=state,
        source=source,
        submission_id=submission.id if submission else None,
        actor_id=actor.id if actor else None,
        reason=reason,
        from_change_id=from_change.id if from_change else None,
        at=now,
    )
    db.session.add(change)
    db.session.flush()
    # the states only: the reason may name people or their circumstances (it stays on the row)
    record(
        "case.consent_changed",
        actor=actor,
        subject_type="case",
        subject_id=case.uuid,
        region_id=case.region_id,
        kind=kind,
        old=old,
        new=state,
        source=source,
        submission=submission.instance_id if submission else None,
        follow_ups="stopped" if stopped_now else "offered",
        **_household_details(from_change),
    )
    return change


def _household_details(from_change: ConsentChange | None) -> dict[str, Any]:
    """The audit details naming the household's change a member's follows (ids only)."""
    if from_change is None:
        return {}
    household = db.session.get(Case, from_change.case_id)
    return {
        "household_change": from_change.id,
        "household": household.uuid if household else None,
    }


def members(household: Case) -> list[Case]:
    """The open cases that name ``household`` as theirs (``household_id``), by code."""
    return list(
        db.session.scalars(
            select(Case)
            .where(
                Case.properties[HOUSEHOLD_LINK].as_string() == household.uuid,
                Case.id != household.id,
                Case.status == CaseStatus.OPEN.value,
            )
            .order_by(Case.code)
        )
    )


def carried(household: Case) -> list[Case]:
    """The members whose given consent came from ``household``'s: its children's (their
    consent is the guardian's, the adult who gave the household's). An adult member's consent
    is her own and stays. Empty unless the household's consent is given."""
    if household.consent != ConsentState.GIVEN:
        return []
    return [m for m in members(household) if is_child(m) and m.consent == ConsentState.GIVEN.value]


def change(case: Case, *, kind: str, state: str, reason: str, actor: User) -> ConsentChange:
    """A coordinator (of the case's region) or an administrator records consent or assent.

    :raises Forbidden: the actor does not manage the case's region.
    :raises Invalid: an unknown kind or state, assent of an adult or household, no reason.
    :raises Conflict: the state is already so, or withdrawing what was never given.

    A household's consent withdrawn (or refused after it was given) withdraws its members' that
    came from it (:func:`carried`), each with its own change and audit row.
    """
    _require_manager(actor, case)
    text = check_change(case, kind, state, reason)
    reached = carried(case) if kind == "consent" and state in STOPS_FOLLOW_UPS else []
    found = _set(case, kind, state, actor=actor, source="staff", reason=text, submission=None)
    publish(events.CaseUpdated(case=case, changed=[kind], sandbox=is_sandbox(case)))
    for member in reached:
        _set(
            member,
            "consent",
            ConsentState.WITHDRAWN.value,
            actor=actor,
            source="staff",
            reason=HOUSEHOLD_REASON % {"id": found.id},
            submission=None,
            from_change=found,
        )
        publish(events.CaseUpdated(case=member, changed=["consent"], sandbox=is_sandbox(member)))
    return found


def followers(change: ConsentChange) -> list[ConsentChange]:
    """The members' changes that followed a household's ``change``."""
    return list(
        db.session.scalars(
            select(ConsentChange)
            .where(ConsentChange.from_change_id == change.id)
            .order_by(ConsentChange.id)
        )
    )


def history(case: Case) -> list[ConsentChange]:
    return list(
        db.session.scalars(
            select(ConsentChange)
            .where(ConsentChange.case_id == case.id)
            .order_by(ConsentChange.at, ConsentChange.id)
        )
    )


# -- from the registration -------------------------------------------------------------------


def consent_answer(data: Mapping[str, Any]) -> str | None:
    """The consent state a submission's answers give (``consent_given`` at the top level or in
    a group, never inside a repeat), or ``None`` when the form does not ask it."""
    stack: list[Mapping[str, Any]] = [data]
    while stack:
        node = stack.pop()
        answer = node.get(CONSENT_QUESTION)
        if isinstance(answer, str) and answer in _ANSWERS:
            return _ANSWERS[answer]
        stack.extend(v for v in node.values() if isinstance(v, Mapping))
    return None


def _work_creates(submission: Submission, case: Case) -> bool:
    return (
        db.session.scalars(
            select(CaseWork.id).where(
                CaseWork.submission_id == submission.id,
                CaseWork.version_id == submission.current_version_id,
                CaseWork.case_uuid == case.uuid,
                CaseWork.create.is_(True),
            )
        ).first()
        is not None
    )


def from_submission(case: Case, submission: Submission, *, actor: User | None) -> None:
    """Set the case's consent from the registration that created it (or its edit)."""
    version = (
        db.session.get(SubmissionVersion, submission.current_version_id)
        if submission.current_version_id
        else None
    )
    if version is None or version.encrypted:
        return
    state = consent_answer(version.data or {})
    if state is None or state == case.consent or not _work_creates(submission, case):
        return
    _set(
        case, "consent", state, actor=actor, source="submission", reason=None, submission=submission
    )


def submission_of(event: events.CaseCreated | events.CaseUpdated) -> Submission | None:
    """The submission whose approval made the event's case version (``None``: made by hand)."""
    if event.submission_instance_id is None:
        return None
    return db.session.scalars(
        select(Submission).where(Submission.instance_id == event.submission_instance_id)
    ).one_or_none()


@subscribe(events.CaseCreated, order=ORDER)
def _consent_of_new_case(event: events.CaseCreated) -> None:
    submission = submission_of(event)
    if submission is not None:
        from_submission(event.case, submission, actor=approver(event.case))


@subscribe(events.CaseUpdated, order=ORDER)
def _consent_of_updated_case(event: events.CaseUpdated) -> None:
    submission = submission_of(event)
    if submission is not None:
        from_submission(event.case, submission, actor=approver(event.case))


def approver(case: Case) -> User | None:
    """Whoever approved the version just made (``None`` when applied on receipt)."""
    approver = db.session.scalars(
        select(CaseVersion.approved_by_id)
        .where(CaseVersion.case_id == case.id)
        .order_by(CaseVersion.version.desc())
        .limit(1)
    ).first()
    return db.session.get(User, approver) if approver else None
