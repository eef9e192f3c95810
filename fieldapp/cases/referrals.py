"""Referrals: a case sent to a service (a psychologist...), tracked until it is closed.

* **From a screening.** When an approved submission's case work sets the case property
  ``referral`` (the wellbeing screening saves ``today``, ``week`` or ``month`` — "refer to a
  psychologist? how soon?" — or ``yes`` without an urgency, or ``no``), and the coordinator
  took that property, the case gets a referral to the ``psychologist`` (one per case and
  submission: approving an edit again makes no second one). It was *made* by the worker who
  sent the screening, when the screening arrived.
* **By hand.** A coordinator of the case's region (or an administrator) adds one on the case
  page: service, urgency, optional note.

**Due date** = the day it was made + :data:`DUE_DAYS` of its urgency: ``today`` the same day,
``week`` 7 days, ``month`` 30 days (``yes`` without an urgency counts as ``month``). A referral
is **late** when its due date has passed and it is neither seen nor closed.

**Status**: made → accepted (the service took it) → seen (the person was seen) → closed; it may
be closed before it was seen (the family declined, the service refused) with a note. Each step
keeps who and when; each is audited (``referral.created``, ``referral.status_changed``) with
ids and states only — the note stays on the row.

**Who moves them on**: the case region's coordinators and administrators; and the field worker
the case is assigned to, while it is on their phone (open, consent and assent not refused or
withdrawn), on "My visits" (``/fill``) — the worker sees the person, so they know when the
service took them and when they were seen. Another worker does not see the case at all (404).
Adding a referral by hand stays with coordinators: a screening's referral comes with its
approval, and the coordinator decides the others.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from sqlalchemy import select

from fieldapp.audit.services import record
from fieldapp.auth.models import Role, User
from fieldapp.cases import caselists, events
from fieldapp.cases.consent import approver, stops_follow_ups, submission_of
from fieldapp.cases.models import Case, CaseStatus, CaseWork, Referral, ReferralStatus
from fieldapp.cases.services import may_see
from fieldapp.db import column_length, db, utcnow
from fieldapp.errors import Conflict, Forbidden, Invalid, NotFound
from fieldapp.events import subscribe
from fieldapp.submissions.models import Submission

#: services a referral may go to (a fixed list: free text could carry a name)
SERVICES = {
    "psychologist": _l("Psychologist"),
    "psychiatrist": _l("Psychiatrist"),
    "doctor": _l("Doctor or clinic"),
    "social_services": _l("Social services"),
    "school": _l("School support"),
    "legal": _l("Legal aid"),
    "other": _l("Other service"),
}
#: the case property a form sets to refer, the service its referrals go to, and the values
REFERRAL_PROPERTY = "referral"
FORM_SERVICE = "psychologist"
_FORM_URGENCY = {"today": "today", "week": "week", "month": "month", "yes": "month"}
#: days from the day a referral is made to its due date
DUE_DAYS = {"today": 0, "week": 7, "month": 30}
URGENCY_WORDS = {
    "today": lazy_pgettext("referral urgency", "today"),
    "week": _l("within a week"),
    "month": _l("within a month"),
}
#: each status and the statuses it may move to
NEXT: dict[str, tuple[str, ...]] = {
    ReferralStatus.MADE.value: (ReferralStatus.ACCEPTED.value, ReferralStatus.CLOSED.value),
    ReferralStatus.ACCEPTED.value: (ReferralStatus.SEEN.value, ReferralStatus.CLOSED.value),
    ReferralStatus.SEEN.value: (ReferralStatus.CLOSED.value,),
    ReferralStatus.CLOSED.value: (),
}
#: each status as pages show it (the stored values stay these English words)
STATUS_WORDS = {
    ReferralStatus.MADE.value: lazy_pgettext("referral status", "made"),
    ReferralStatus.ACCEPTED.value: lazy_pgettext("referral status", "accepted"),
    ReferralStatus.SEEN.value: lazy_pgettext("referral status", "seen"),
    ReferralStatus.CLOSED.value: lazy_pgettext("referral status", "closed"),
}
#: not late once in one of these
DONE = (ReferralStatus.SEEN.value, ReferralStatus.CLOSED.value)
#: after case work (10) and consent (20), before the webhook outbox (90)
ORDER = 30


def due_date(urgency: str, made: date) -> date:
    return made + timedelta(days=DUE_DAYS[urgency])


def is_late(referral: Referral, today: date) -> bool:
    return referral.status not in DONE and referral.due < today


def _require_manager(actor: User, case: Case) -> None:
    if actor.has_role(Role.ADMIN):
        return
    if actor.has_role(Role.COORDINATOR) and case.region_id in actor.region_ids:
        return
    raise Forbidden("Only the region's coordinators may change this case.", code="case.forbidden")


def may_move(actor: User, case: Case) -> bool:
    """Whether ``actor`` may move the case's referrals on (the module docstring): whoever sees
    the case (``services.may_see``), a field worker only while it is on their phone."""
    if not may_see(actor, case):
        return False
    return actor.has_role(Role.ADMIN, Role.COORDINATOR) or (
        case.status == CaseStatus.OPEN and not stops_follow_ups(case)
    )


def _require_mover(actor: User, case: Case) -> None:
    if may_move(actor, case):
        return
    if actor.has_role(Role.FIELD_WORKER) and case.assigned_to_id == actor.id:
        raise Conflict(
            "The case is closed or its consent stopped follow-ups: its coordinator moves its "
            "referrals on.",
            code="referral.case_not_followed",
        )
    raise Forbidden("Only the region's coordinators may change this case.", code="case.forbidden")


def _note(note: str | None) -> str | None:
    text = (note or "").strip()
    if len(text) > column_length(Referral.note):
        raise Invalid("The note is too long.", code="referral.note_too_long")
    return text or None


def _create(
    case: Case,
    *,
    service: str,
    urgency: str,
    made_by: User | None,
    made_at: datetime,
    actor: User | None,
    submission: Submission | None = None,
    note: str | None = None,
) -> Referral:
    referral = Referral(
        case_id=case.id,
        service=service,
        urgency=urgency,
        due=due_date(urgency, made_at.date()),
        status=ReferralStatus.MADE.value,
        submission_id=submission.id if submission else None,
        note=note,
        made_by_id=made_by.id if made_by else None,
        made_at=made_at,
    )
    db.session.add(referral)
    db.session.flush()
    record(
        "referral.created",
        actor=actor,
        subject_type="case",
        subject_id=case.uuid,
        region_id=case.region_id,
        referral=referral.id,
        service=service,
        urgency=urgency,
        due=referral.due.isoformat(),
        submission=submission.instance_id if submission else None,
    )
    return referral


def add(case: Case, *, service: str, urgency: str, note: str | None, actor: User) -> Referral:
    """A coordinator refers the case by hand.

    :raises Invalid: an unknown service or urgency, a note too long.
    """
    _require_manager(actor, case)
    if service not in SERVICES:
        raise Invalid("Choose a service from the list.", code="referral.service_invalid")
    if urgency not in DUE_DAYS:
        raise Invalid("Choose how soon: today, week or month.", code="referral.urgency_invalid")
    return _create(
        case,
        service=service,
        urgency=urgency,
        made_by=actor,
        made_at=utcnow(),
        actor=actor,
        note=_note(note),
    )


def of_case(case: Case) -> list[Referral]:
    return list(
        db.session.scalars(
            select(Referral)
            .where(Referral.case_id == case.id)
            .order_by(Referral.made_at.desc(), Referral.id.desc())
        )
    )


def of_caseload(actor: User) -> list[tuple[Referral, Case]]:
    """The open referrals (not closed) of the cases on ``actor``'s phone, soonest due first."""
    rows = db.session.execute(
        select(Referral, Case)
        .join(Case, Case.id == Referral.case_id)
        .where(*caselists.carried_by(actor), Referral.status != ReferralStatus.CLOSED.value)
        .order_by(Referral.due, Referral.id)
    ).all()
    return [(referral, case) for referral, case in rows]


def words(shown: Iterable[Referral], today: date) -> dict[str, Any]:
    """What the referral templates put into words (services, urgencies, statuses, the next
    steps), and which of the ``shown`` referrals are late."""
    return {
        "services": SERVICES,
        "urgency": URGENCY_WORDS,
        "next": NEXT,
        "statuses": STATUS_WORDS,
        "late": {r.id for r in shown if is_late(r, today)},
    }


def get(case: Case, referral_id: int) -> Referral:
    """:raises NotFound: no such referral of this case."""
    referral = db.session.get(Referral, referral_id)
    if referral is None or referral.case_id != case.id:
        raise NotFound("No such referral.", code="referral.not_found")
    return referral


def move(referral: Referral, case: Case, *, to: str, note: str | None, actor: User) -> None:
    """Move a referral one step on (or close it early, which needs a note).

    :raises Forbidden: the actor may not move the case's referrals (:func:`may_move`).
    :raises Invalid: an unknown status, no note when closing one not seen.
    :raises Conflict: a step the referral's status does not allow; the worker's case is off
        their phone.
    """
    _require_mover(actor, case)
    if to not in NEXT:
        raise Invalid("Choose accepted, seen or closed.", code="referral.status_invalid")
    if to not in NEXT[referral.status]:
        raise Conflict(
            "A referral that is %(status)s cannot become %(to)s.",
            code="referral.step_invalid",
            params={"status": referral.status, "to": to},
        )
    text = _note(note)
    if to == ReferralStatus.CLOSED and referral.status != ReferralStatus.SEEN and not text:
        raise Invalid(
            "Say why the referral is closed before the person was seen.",
            code="referral.note_missing",
        )
    old = referral.status
    now = utcnow()
    referral.status = to
    setattr(referral, f"{to}_by_id", actor.id)
    setattr(referral, f"{to}_at", now)
    if text:
        referral.note = text if not referral.note else f"{referral.note}\n{text}"[-1000:]
    db.session.flush()
    record(
        "referral.status_changed",
        actor=actor,
        subject_type="case",
        subject_id=case.uuid,
        region_id=case.region_id,
        referral=referral.id,
        old=old,
        new=to,
    )


# -- from approved screenings ----------------------------------------------------------------


def _proposed(submission: Submission, case: Case) -> object:
    work = db.session.scalars(
        select(CaseWork).where(
            CaseWork.submission_id == submission.id,
            CaseWork.version_id == submission.current_version_id,
            CaseWork.case_uuid == case.uuid,
        )
    ).first()
    return work.properties.get(REFERRAL_PROPERTY) if work is not None else None


def from_submission(case: Case, submission: Submission, *, actor: User | None) -> Referral | None:
    """The referral an applied submission asks for, if it asks (and the coordinator took it)."""
    proposed = _proposed(submission, case)
    urgency = _FORM_URGENCY.get(str(proposed)) if proposed is not None else None
    if urgency is None or case.properties.get(REFERRAL_PROPERTY) != proposed:
        return None  # no referral, or its proposal was left out on approval
    exists = db.session.scalars(
        select(Referral.id).where(
            Referral.case_id == case.id, Referral.submission_id == submission.id
        )
    ).first()
    if exists is not None:
        return None
    submitter = (
        db.session.get(User, submission.submitted_by_id) if submission.submitted_by_id else None
    )
    return _create(
        case,
        service=FORM_SERVICE,
        urgency=urgency,
        made_by=submitter,
        made_at=submission.received_at,
        actor=actor,
        submission=submission,
    )


@subscribe(events.CaseUpdated, order=ORDER)
def _referral_of_updated_case(event: events.CaseUpdated) -> None:
    submission = submission_of(event)
    if submission is not None:
        from_submission(event.case, submission, actor=approver(event.case))


@subscribe(events.CaseCreated, order=ORDER)
def _referral_of_new_case(event: events.CaseCreated) -> None:
    submission = submission_of(event)
    if submission is not None:
        from_submission(event.case, submission, actor=approver(event.case))
