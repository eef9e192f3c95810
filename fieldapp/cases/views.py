"""The cases API: list (region-scoped, overdue first on request), read with versions."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from sqlalchemy import select

from fieldapp.audit.services import record
from fieldapp.auth.models import Region, Role, User
from fieldapp.auth.services import get_user_by_username, username_of
from fieldapp.cases import care, consent, referrals, services, transfers
from fieldapp.cases.models import Case, CaseList, CaseStatus, ConsentChange, Referral
from fieldapp.cases.schemas import (
    AssignBody,
    CaseListUpdateBody,
    CasesArgs,
    CloseBody,
    ConsentBody,
    DuplicatesArgs,
    LinkBody,
    MergeBody,
    ReferralBody,
    ReferralMoveBody,
    ResolveBody,
    TransferBody,
)
from fieldapp.db import db, unit_of_work, utcnow
from fieldapp.errors import BadRequest, Invalid
from fieldapp.submissions.models import Submission
from fieldapp.submissions.services import cursor_id, decode_cursor, encode_cursor
from fieldapp.web.args import load_args, load_json
from fieldapp.web.permissions import current_actor, require

api = Blueprint("cases_api", __name__, url_prefix="/api/v1")
READERS = (Role.ADMIN, Role.COORDINATOR, Role.FIELD_WORKER)


def case_json(case: Case) -> dict[str, Any]:
    today = utcnow().date()
    region = db.session.get(Region, case.region_id)
    return {
        "id": case.uuid,
        "code": case.code,
        "dataset": case.case_list.name,
        "label": case.label,
        "properties": case.properties,
        "version": case.version,
        "region": region.code if region else None,
        "assigned_to": username_of(case.assigned_to_id),
        "next_due": case.next_due.isoformat() if case.next_due else None,
        "overdue": case.overdue(today),
        "status": case.status,
        "conflict": case.conflict,
        "status_reason": case.status_reason,
    }


@api.get("/cases")
@require(*READERS)
def api_cases() -> Any:
    """Cases the caller may see (``?dataset=&region=&overdue=&status=&cursor=``); audited."""
    actor = current_actor()
    args = load_args(CasesArgs())
    query = select(Case).join(CaseList, CaseList.id == Case.case_list_id)
    if not actor.has_role(Role.ADMIN):
        query = query.where(Case.region_id.in_(actor.region_ids or {-1}))
        if not actor.has_role(Role.COORDINATOR):
            query = query.where(Case.assigned_to_id == actor.id)
    if args["dataset"]:
        query = query.where(CaseList.name == args["dataset"])
    if args["region"]:
        query = query.join(Region, Region.id == Case.region_id).where(Region.code == args["region"])
    status = args["status"]
    if status != "all":
        query = query.where(Case.status == status)
    if args["overdue"] in ("1", "true", "yes"):
        query = query.where(Case.status == CaseStatus.OPEN.value, Case.next_due < utcnow().date())
    if args["cursor"]:
        (last_id,) = decode_cursor(args["cursor"], 1)
        try:
            query = query.where(Case.id > cursor_id(last_id))
        except ValueError:
            raise BadRequest("The cursor is not valid.", code="cursor.invalid") from None
    limit = args["limit"]
    rows = db.session.scalars(query.order_by(Case.id).limit(limit + 1)).all()
    page = list(rows[:limit])
    with unit_of_work():
        record(
            "case.list_viewed",
            actor=actor,
            subject_type="case_list",
            subject_id=args["dataset"] or None,
            count=len(page),
        )
    return {
        "items": [case_json(c) for c in page],
        "next_cursor": encode_cursor(page[-1].id) if len(rows) > limit else None,
    }


@api.get("/cases/<case_id>")
@require(*READERS)
def api_case(case_id: str) -> Any:
    """One case with its versions: which submission, who approved, what changed. Audited."""
    actor = current_actor()
    case = services.visible_case(case_id, actor=actor)
    versions = []
    for v in case.versions:
        submission = db.session.get(Submission, v.submission_id) if v.submission_id else None
        versions.append(
            {
                "version": v.version,
                "created_at": v.created_at.isoformat(),
                "submission": submission.instance_id if submission else None,
                "approved_by": username_of(v.approved_by_id),
                "changes": v.changes,
                "conflict": v.conflict,
                "conflicting_properties": v.conflicting_properties,
                "base_version": v.base_version,
                "source": v.source,
            }
        )
    body = case_json(case) | {"versions": versions}
    with unit_of_work():
        record(
            "case.viewed",
            actor=actor,
            subject_type="case",
            subject_id=case.uuid,
            region_id=case.region_id,
        )
    return body


@api.get("/case-lists")
@require(Role.ADMIN, Role.DESIGNER, Role.COORDINATOR)
def api_case_lists() -> Any:
    """Case lists with their follow-up settings."""
    return {
        "items": [
            {
                "name": c.name,
                "title": c.title,
                "approval_required": c.approval_required,
                "cadence_days": c.cadence_days,
                "next_visit_property": c.next_visit_property,
                "closed_retention_days": c.closed_retention_days,
                "properties": c.properties,
                "phone_label": c.phone_label,
                "phone_label_names": c.phone_label_names,
            }
            for c in services.list_case_lists()
        ]
    }


@api.patch("/case-lists/<name>")
@require(Role.ADMIN, Role.DESIGNER)
def api_update_case_list(name: str) -> Any:
    """Set ``cadence_days``, ``approval_required``, ``next_visit_property``, ``phone_label``
    (what a phone's case picker shows after the code) or ``phone_label_names``."""
    case_list = services.get_case_list(name)
    if case_list is None:
        from fieldapp.errors import NotFound  # noqa: PLC0415

        raise NotFound("No such case list.", code="case_list.not_found")
    body = load_json(CaseListUpdateBody())
    with unit_of_work():
        services.update_case_list(
            case_list,
            actor=current_actor(),
            cadence_days=body["cadence_days"],
            approval_required=body["approval_required"],
            next_visit_property=body["next_visit_property"],
            phone_label=body["phone_label"],
            phone_label_names=body["phone_label_names"],
            closed_retention_days=body.get("closed_retention_days", services.KEEP),
        )
    return {
        "name": case_list.name,
        "approval_required": case_list.approval_required,
        "cadence_days": case_list.cadence_days,
        "next_visit_property": case_list.next_visit_property,
        "phone_label": case_list.phone_label,
        "phone_label_names": case_list.phone_label_names,
        "closed_retention_days": case_list.closed_retention_days,
    }


# -- caring for cases ------------------------------------------------------------------------

MANAGERS = (Role.ADMIN, Role.COORDINATOR)


def _user_or_404(username: str | None) -> User | None:
    from fieldapp.errors import NotFound  # noqa: PLC0415

    if not username:
        return None
    user = get_user_by_username(username)
    if user is None:
        raise NotFound("No such user.", code="user.not_found")
    return user


@api.post("/cases/<case_id>/assign")
@require(*MANAGERS)
def api_assign(case_id: str) -> Any:
    """``{"user": "worker1"}`` (or null to unassign)."""
    case = services.visible_case(case_id, actor=current_actor())
    body = load_json(AssignBody())
    with unit_of_work():
        care.assign(case, _user_or_404(body["user"]), actor=current_actor())
    return case_json(case)


@api.post("/cases/<case_id>/transfer")
@require(*MANAGERS)
def api_transfer(case_id: str) -> Any:
    """``{"region": "turkistan", "assign_to": "worker2", "note": "..."}``.

    Into a region the caller also coordinates (or by an administrator): the case moves at once
    (200, the case; ``assign_to`` optional). Into anyone else's region: a transfer request that
    the receiving region's coordinator accepts, choosing the worker, or declines (202, the
    request); until then the case stays where it is. ``assign_to`` is then refused: the
    receiving region chooses.
    """
    actor = current_actor()
    case = services.visible_case(case_id, actor=actor)
    body = load_json(TransferBody())
    region = care.get_region_or_404(body["region"])
    if actor.has_role(Role.ADMIN) or region.id in actor.region_ids:
        with unit_of_work():
            care.transfer(case, region, actor=actor, assign_to=_user_or_404(body["assign_to"]))
        return case_json(case)
    if body["assign_to"]:
        raise Invalid(
            "The receiving region's coordinator chooses the worker when accepting the transfer; "
            "leave assign_to out.",
            code="transfer.assign_on_accept",
        )
    origin = db.session.get(Region, case.region_id)
    with unit_of_work():
        request = transfers.request_transfer(case, region, actor=actor, note=body["note"] or "")
    return {
        "transfer_request": {
            "id": request.id,
            "case": case.uuid,
            "from_region": origin.code if origin else None,
            "to_region": region.code,
            "state": request.state,
            "requested_at": request.requested_at.isoformat(),
        }
    }, 202


@api.post("/cases/<case_id>/close")
@require(*MANAGERS)
def api_close(case_id: str) -> Any:
    """``{"reason": "..."}``."""
    case = services.visible_case(case_id, actor=current_actor())
    body = load_json(CloseBody())
    with unit_of_work():
        care.close(case, actor=current_actor(), reason=body["reason"] or "")
    return case_json(case)


@api.post("/cases/<case_id>/reopen")
@require(*MANAGERS)
def api_reopen(case_id: str) -> Any:
    """Reopen a closed case."""
    case = services.visible_case(case_id, actor=current_actor())
    with unit_of_work():
        care.reopen(case, actor=current_actor())
    return case_json(case)


@api.get("/cases/<case_id>/links")
@require(*READERS)
def api_links(case_id: str) -> Any:
    """Linked cases (household, mother, children...) the caller may see."""
    case = services.visible_case(case_id, actor=current_actor())
    return {"items": care.links_of(case, actor=current_actor())}


@api.post("/cases/<case_id>/links")
@require(*MANAGERS)
def api_link(case_id: str) -> Any:
    """``{"to": "<case id or code>", "relation": "household"}``."""
    actor = current_actor()
    case = services.visible_case(case_id, actor=actor)
    body = load_json(LinkBody())
    other = services.visible_case(body["to"], actor=actor)
    with unit_of_work():
        care.link(case, other, body["relation"], actor=actor)
    return {"items": care.links_of(case, actor=actor)}, 201


@api.get("/case-lists/<name>/duplicates")
@require(*MANAGERS)
def api_duplicates(name: str) -> Any:
    """Likely duplicates: open cases of one region with the same normalised name and birth
    year (``?keys=full_name,birth_year`` to choose the properties compared)."""
    from fieldapp.errors import NotFound  # noqa: PLC0415

    case_list = services.get_case_list(name)
    if case_list is None:
        raise NotFound("No such case list.", code="case_list.not_found")
    args = load_args(DuplicatesArgs())
    region = care.get_region_or_404(args["region"]) if args["region"] else None
    keys = [k for k in (args["keys"] or "full_name,birth_year").split(",") if k]
    groups = care.find_duplicates(case_list, actor=current_actor(), region=region, keys=keys)
    with unit_of_work():
        record(
            "case.duplicates_listed",
            actor=current_actor(),
            subject_type="case_list",
            subject_id=name,
            groups=len(groups),
        )
    return {"groups": [[case_json(c) for c in group] for group in groups]}


@api.post("/cases/<case_id>/merge")
@require(*MANAGERS)
def api_merge(case_id: str) -> Any:
    """Merge another case into this one: ``{"other": id, "choose": {"prop": "keep"|"drop"}}``."""
    actor = current_actor()
    keep = services.visible_case(case_id, actor=actor)
    body = load_json(MergeBody())
    drop = services.visible_case(body["other"], actor=actor)
    choose = body["choose"] or {}
    with unit_of_work():
        care.merge(keep, drop, actor=actor, choose=choose)
    return case_json(keep) | {"merged": drop.uuid}


@api.post("/cases/<case_id>/resolve")
@require(*MANAGERS)
def api_resolve(case_id: str) -> Any:
    """Clear a conflict: ``{"properties": {chosen values}, "note": "..."}`` (both optional)."""
    case = services.visible_case(case_id, actor=current_actor())
    body = load_json(ResolveBody())
    with unit_of_work():
        care.resolve_conflict(
            case,
            actor=current_actor(),
            properties=body["properties"] or {},
            note=body["note"] or "",
        )
    return case_json(case)


# -- consent and referrals -------------------------------------------------------------------


def _consent_change_json(change: ConsentChange) -> dict[str, Any]:
    submission = db.session.get(Submission, change.submission_id) if change.submission_id else None
    return {
        "id": change.id,
        "kind": change.kind,
        "old_state": change.old_state,
        "new_state": change.new_state,
        "source": change.source,
        "submission": submission.instance_id if submission else None,
        "actor": username_of(change.actor_id),
        "reason": change.reason,
        "household_change": change.from_change_id,
        "at": change.at.isoformat(),
    }


def _consent_json(case: Case) -> dict[str, Any]:
    return {
        "case": case.uuid,
        "code": case.code,
        "consent": case.consent,
        "assent": case.assent if consent.is_child(case) else None,
        "follow_ups_stopped": consent.stops_follow_ups(case),
        "history": [_consent_change_json(c) for c in consent.history(case)],
    }


def referral_json(referral: Referral) -> dict[str, Any]:
    submission = (
        db.session.get(Submission, referral.submission_id) if referral.submission_id else None
    )
    out: dict[str, Any] = {
        "id": referral.id,
        "service": referral.service,
        "urgency": referral.urgency,
        "due": referral.due.isoformat(),
        "late": referrals.is_late(referral, utcnow().date()),
        "status": referral.status,
        "next": list(referrals.NEXT[referral.status]),
        "note": referral.note,
        "submission": submission.instance_id if submission else None,
        "made_by": username_of(referral.made_by_id),
        "made_at": referral.made_at.isoformat(),
    }
    for step in ("accepted", "seen", "closed"):
        at = getattr(referral, f"{step}_at")
        out[f"{step}_by"] = username_of(getattr(referral, f"{step}_by_id"))
        out[f"{step}_at"] = at.isoformat() if at else None
    return out


@api.get("/cases/<case_id>/consent")
@require(*MANAGERS)
def api_consent(case_id: str) -> Any:
    """The case's consent (and a child's assent) and its history with the reasons; audited."""
    actor = current_actor()
    case = services.visible_case(case_id, actor=actor)
    body = _consent_json(case)
    with unit_of_work():
        record(
            "case.consent_viewed",
            actor=actor,
            subject_type="case",
            subject_id=case.uuid,
            region_id=case.region_id,
        )
    return body


@api.post("/cases/<case_id>/consent")
@require(*MANAGERS)
def api_change_consent(case_id: str) -> Any:
    """``{"kind": "consent"|"assent", "state": "given"|"refused"|"withdrawn", "reason"}``: no
    confirmation step. A household's withdrawal withdraws its children's too: they are listed
    by id (those in regions the caller does not cover only counted)."""
    actor = current_actor()
    case = services.visible_case(case_id, actor=actor)
    body = load_json(ConsentBody())
    with unit_of_work():
        change = consent.change(
            case, kind=body["kind"], state=body["state"], reason=body["reason"], actor=actor
        )
        followed = [db.session.get(Case, f.case_id) for f in consent.followers(change)]
        members = [m for m in followed if m is not None]
        shown = [m.uuid for m in members if services.may_see(actor, m)]
        result = _consent_json(case) | {
            "change": _consent_change_json(change),
            "members_withdrawn": shown,
            "members_withdrawn_elsewhere": len(members) - len(shown),
        }
    return result, 201


@api.get("/cases/<case_id>/referrals")
@require(*READERS)
def api_referrals(case_id: str) -> Any:
    """The case's referrals, newest first (its worker too: they move them on); audited."""
    actor = current_actor()
    case = services.visible_case(case_id, actor=actor)
    items = [referral_json(r) for r in referrals.of_case(case)]
    with unit_of_work():
        record(
            "case.referrals_viewed",
            actor=actor,
            subject_type="case",
            subject_id=case.uuid,
            region_id=case.region_id,
            count=len(items),
        )
    return {"items": items}


@api.post("/cases/<case_id>/referrals")
@require(*MANAGERS)
def api_add_referral(case_id: str) -> Any:
    """``{"service", "urgency": "today"|"week"|"month", "note"}``."""
    actor = current_actor()
    case = services.visible_case(case_id, actor=actor)
    body = load_json(ReferralBody())
    with unit_of_work():
        referral = referrals.add(
            case, service=body["service"], urgency=body["urgency"], note=body["note"], actor=actor
        )
        result = referral_json(referral)
    return result, 201


@api.post("/cases/<case_id>/referrals/<int:referral_id>")
@require(*READERS)
def api_move_referral(case_id: str, referral_id: int) -> Any:
    """``{"to": "accepted"|"seen"|"closed", "note"}`` (closing before seen needs a note); the
    case's coordinators, administrators and the worker it is assigned to."""
    actor = current_actor()
    case = services.visible_case(case_id, actor=actor)
    referral = referrals.get(case, referral_id)
    body = load_json(ReferralMoveBody())
    with unit_of_work():
        referrals.move(referral, case, to=body["to"], note=body["note"], actor=actor)
        result = referral_json(referral)
    return result
