"""Transfer requests: a case moves to another region only when that region takes it.

A coordinator of the case's region (or an administrator) *requests* the move, with an optional
note. Until a coordinator of the receiving region *accepts* it (choosing one of their field
workers: the case then moves through :func:`fieldapp.cases.care.move` in the same unit of work)
or *declines* it (with a reason), the case stays where it was, visible and assigned as before,
marked "transfer pending". The source region may *cancel* it meanwhile. At most one request per
case is pending (a partial unique index).

Reading: both regions see the request itself (case code, regions, people, dates, the note). The
receiving region may read a short summary of the case while the request is pending — a
deliberate cross-region read, audited as ``case.transfer_summary_viewed``. After the move the
source region keeps the request (its history) but no longer the case.

Every act is audited in both regions' logs; free text (note, reason) stays on the request row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from fieldapp.audit.services import record
from fieldapp.auth.models import Region, Role, User, user_regions
from fieldapp.cases import care
from fieldapp.cases.models import Case, CaseStatus, TransferRequest, TransferState
from fieldapp.db import column_length, db, utcnow
from fieldapp.errors import Conflict, Forbidden, Invalid, NotFound

#: how many requests a listing shows at most (newest first)
LIST_LIMIT = 200
_NOTE_MAX = column_length(TransferRequest.note)


def _coordinates(actor: User, region_id: int) -> bool:
    return actor.has_role(Role.ADMIN) or (
        actor.has_role(Role.COORDINATOR) and region_id in actor.region_ids
    )


def _audit(action: str, request: TransferRequest, *, actor: User, **details: Any) -> None:
    case = db.session.get(Case, request.case_id)
    for region_id in (request.from_region_id, request.to_region_id):  # both regions' logs
        record(
            action,
            actor=actor,
            subject_type="case",
            subject_id=case.uuid if case else None,
            region_id=region_id,
            transfer_request=request.id,
            from_region=request.from_region_id,
            to_region=request.to_region_id,
            **details,
        )


def pending_request(case: Case) -> TransferRequest | None:
    """The case's pending request, if any."""
    return db.session.scalars(
        select(TransferRequest).where(
            TransferRequest.case_id == case.id,
            TransferRequest.state == TransferState.PENDING.value,
        )
    ).one_or_none()


def requests_of_case(case: Case) -> Sequence[TransferRequest]:
    """Every request of the case, oldest first (the case page's history; its readers already
    may see the case)."""
    return db.session.scalars(
        select(TransferRequest)
        .where(TransferRequest.case_id == case.id)
        .order_by(TransferRequest.requested_at, TransferRequest.id)
    ).all()


def request_transfer(case: Case, region: Region, *, actor: User, note: str = "") -> TransferRequest:
    """Ask ``region`` to take ``case``. The case stays where it is until accepted.

    :param actor: an administrator or a coordinator of the case's region.
    :param note: optional, for the receiving region (kept on the request, not in the audit log).
    :raises Forbidden: the actor does not coordinate the case's region.
    :raises Invalid: the same region, or a note too long.
    :raises Conflict: the case is not open, or a request is already pending.
    """
    if not _coordinates(actor, case.region_id):
        raise Forbidden(
            "Only the region's coordinators may ask to transfer this case.",
            code="transfer.forbidden",
        )
    if region.id == case.region_id:
        raise Invalid("The case is already in that region.", code="case.same_region")
    if case.status != CaseStatus.OPEN:
        raise Conflict(
            "The case is %(status)s.", code="case.not_open", params={"status": case.status}
        )
    note = note.strip()
    if len(note) > _NOTE_MAX:
        raise Invalid(
            "The note is longer than %(max)s characters.",
            code="transfer.note_long",
            params={"max": _NOTE_MAX},
        )
    if pending_request(case) is not None:
        raise Conflict(
            "A transfer of this case is already waiting for an answer.",
            code="transfer.already_pending",
        )
    row = TransferRequest(
        case_id=case.id,
        from_region_id=case.region_id,
        to_region_id=region.id,
        requested_by_id=actor.id,
        requested_at=utcnow(),
        note=note or None,
        state=TransferState.PENDING.value,
    )
    try:
        with db.session.begin_nested():  # a concurrent request for the same case loses here
            db.session.add(row)
            db.session.flush()
    except IntegrityError:
        raise Conflict(
            "A transfer of this case is already waiting for an answer.",
            code="transfer.already_pending",
        ) from None
    _audit("case.transfer_requested", row, actor=actor, with_note=bool(note))
    return row


def _pending(request: TransferRequest) -> Case:
    if request.state != TransferState.PENDING:
        raise Conflict(
            "This request was %(state)s already.",
            code="transfer.not_pending",
            params={"state": request.state},
        )
    case = db.session.get(Case, request.case_id, with_for_update=True)
    db.session.refresh(request, with_for_update=True)  # a decision made meanwhile wins
    if request.state != TransferState.PENDING:
        raise Conflict(
            "This request was %(state)s already.",
            code="transfer.not_pending",
            params={"state": request.state},
        )
    assert case is not None  # the request goes with its case (ON DELETE CASCADE)
    return case


def _decide(request: TransferRequest, state: TransferState, *, actor: User) -> None:
    request.state = state.value
    request.decided_by_id = actor.id
    request.decided_at = utcnow()


def accept(request: TransferRequest, *, actor: User, worker: User | None) -> Case:
    """Take the case into the receiving region, assigned to ``worker``: the case moves
    (:func:`fieldapp.cases.care.move`: both regions' logs, the event, phones re-download).

    :param actor: an administrator or a coordinator of the receiving region.
    :param worker: required; an active field worker of the receiving region.
    :raises Forbidden: the actor does not coordinate the receiving region.
    :raises Invalid: no worker, or not one of the receiving region's.
    :raises Conflict: decided already, or the case is no longer open or has moved meanwhile.
    """
    if not _coordinates(actor, request.to_region_id):
        raise Forbidden(
            "Only the receiving region's coordinators may accept.", code="transfer.forbidden"
        )
    case = _pending(request)
    if worker is None:
        raise Invalid("Choose the field worker who takes the case.", code="transfer.worker_missing")
    if (
        not worker.has_role(Role.FIELD_WORKER)
        or not worker.active
        or request.to_region_id not in worker.region_ids
    ):
        raise Invalid(
            "%(worker)s is not an active field worker of the receiving region.",
            code="case.assignee_invalid",
            params={"worker": worker.username},
        )
    if case.status != CaseStatus.OPEN:
        raise Conflict(
            "The case is %(status)s now.", code="case.not_open", params={"status": case.status}
        )
    if case.region_id != request.from_region_id:
        raise Conflict("The case has moved since the request.", code="transfer.stale")
    region = db.session.get(Region, request.to_region_id)
    assert region is not None
    _decide(request, TransferState.ACCEPTED, actor=actor)
    request.assigned_to_id = worker.id
    db.session.flush()
    _audit("case.transfer_accepted", request, actor=actor, assigned_to=worker.id)
    care.move(case, region, actor=actor, assign_to=worker)
    return case


def decline(request: TransferRequest, *, actor: User, reason: str) -> None:
    """Say no, with a reason (kept on the request, shown to the source region). The case is
    left as it is.

    :raises Forbidden: the actor does not coordinate the receiving region.
    :raises Invalid: no reason, or one too long.
    :raises Conflict: decided already.
    """
    if not _coordinates(actor, request.to_region_id):
        raise Forbidden(
            "Only the receiving region's coordinators may decline.", code="transfer.forbidden"
        )
    reason = reason.strip()
    if not reason:
        raise Invalid("Say why the transfer is declined.", code="transfer.reason_missing")
    if len(reason) > _NOTE_MAX:
        raise Invalid(
            "The reason is longer than %(max)s characters.",
            code="transfer.note_long",
            params={"max": _NOTE_MAX},
        )
    _pending(request)
    _decide(request, TransferState.DECLINED, actor=actor)
    request.decision_note = reason
    db.session.flush()
    _audit("case.transfer_declined", request, actor=actor)


def cancel(request: TransferRequest, *, actor: User) -> None:
    """Withdraw a pending request (its requester, a coordinator of the source region, or an
    administrator).

    :raises Forbidden: anyone else.
    :raises Conflict: decided already.
    """
    if request.requested_by_id != actor.id and not _coordinates(actor, request.from_region_id):
        raise Forbidden(
            "Only the requesting region's coordinators may cancel.", code="transfer.forbidden"
        )
    _pending(request)
    _decide(request, TransferState.CANCELLED, actor=actor)
    db.session.flush()
    _audit("case.transfer_cancelled", request, actor=actor)


# -- reading ---------------------------------------------------------------------------------


def visible_request(request_id: int, *, actor: User) -> TransferRequest:
    """A request the actor may see: administrators any; coordinators those from or to one of
    their regions.

    :raises NotFound: no such request, or none of the actor's.
    """
    row = db.session.get(TransferRequest, request_id)
    if row is None or not (
        _coordinates(actor, row.from_region_id) or _coordinates(actor, row.to_region_id)
    ):
        raise NotFound("No such transfer request.", code="transfer.not_found")
    return row


def requests_for(actor: User) -> Sequence[TransferRequest]:
    """The requests from or to the actor's regions (every one for administrators), pending
    first, then newest first."""
    if not actor.has_role(Role.ADMIN, Role.COORDINATOR):
        return []
    query = select(TransferRequest)
    if not actor.has_role(Role.ADMIN):
        ids = actor.region_ids or {-1}
        query = query.where(
            or_(TransferRequest.to_region_id.in_(ids), TransferRequest.from_region_id.in_(ids))
        )
    return db.session.scalars(
        query.order_by(
            TransferRequest.state != TransferState.PENDING.value,
            TransferRequest.requested_at.desc(),
            TransferRequest.id.desc(),
        ).limit(LIST_LIMIT)
    ).all()


def incoming_count(actor: User) -> int:
    """How many pending requests wait for the actor (to one of their regions; all of them for
    administrators)."""
    if not actor.has_role(Role.ADMIN, Role.COORDINATOR):
        return 0
    query = select(func.count()).where(TransferRequest.state == TransferState.PENDING.value)
    if not actor.has_role(Role.ADMIN):
        query = query.where(TransferRequest.to_region_id.in_(actor.region_ids or {-1}))
    return db.session.scalar(query) or 0


def pending_case_ids(case_ids: Sequence[int]) -> dict[int, int]:
    """Of these cases, those with a pending request: case id → receiving region id."""
    if not case_ids:
        return {}
    rows = db.session.execute(
        select(TransferRequest.case_id, TransferRequest.to_region_id).where(
            TransferRequest.case_id.in_(case_ids),
            TransferRequest.state == TransferState.PENDING.value,
        )
    )
    return {int(case_id): int(region_id) for case_id, region_id in rows.tuples()}


@dataclass(frozen=True)
class CaseSummary:
    """What the receiving region reads before deciding: no properties, no history."""

    code: str
    label: str
    case_list: str
    status: str
    next_due: str | None
    assigned: bool
    versions: int


def summary_for_decision(request: TransferRequest, *, actor: User) -> CaseSummary | None:
    """The case's summary for the receiving region while the request is pending (audited:
    ``case.transfer_summary_viewed``); ``None`` for anyone else or once decided (the source
    region reads the case on its own page while it holds it)."""
    if request.state != TransferState.PENDING or not _coordinates(actor, request.to_region_id):
        return None
    case = db.session.get(Case, request.case_id)
    if case is None:
        return None
    record(
        "case.transfer_summary_viewed",
        actor=actor,
        subject_type="case",
        subject_id=case.uuid,
        region_id=case.region_id,
        transfer_request=request.id,
        reader_region=request.to_region_id,
    )
    return CaseSummary(
        code=case.code,
        label=case.label,
        case_list=case.case_list.title,
        status=case.status,
        next_due=case.next_due.isoformat() if case.next_due else None,
        assigned=case.assigned_to_id is not None,
        versions=case.version,
    )


def staffing(regions: Sequence[Region]) -> dict[int, tuple[int, int]]:
    """Active coordinators and field workers per region id (to say which regions nobody could
    take a case in)."""
    counts: dict[int, tuple[int, int]] = {r.id: (0, 0) for r in regions}
    rows = db.session.execute(
        select(user_regions.c.region_id, User.role, func.count())
        .join(User, User.id == user_regions.c.user_id)
        .where(User.active.is_(True), User.role.in_([Role.COORDINATOR, Role.FIELD_WORKER]))
        .group_by(user_regions.c.region_id, User.role)
    )
    for region_id, role, count in rows:
        if region_id not in counts:
            continue
        coords, workers = counts[region_id]
        if role == Role.COORDINATOR:
            coords = count
        else:
            workers = count
        counts[region_id] = (coords, workers)
    return counts
