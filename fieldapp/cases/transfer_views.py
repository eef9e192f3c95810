"""Pages for transfer requests (:mod:`fieldapp.cases.transfers`): the requests from and to the
coordinator's regions, one request with what the receiving region needs to decide, and the
accept / decline / cancel step (accept and decline confirm first)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext

from fieldapp.audit.services import record
from fieldapp.auth import services as auth
from fieldapp.auth.models import Region, Role, User
from fieldapp.cases import services, transfers
from fieldapp.cases.models import Case, TransferRequest, TransferState
from fieldapp.db import db, unit_of_work
from fieldapp.errors import DomainError, Invalid
from fieldapp.web.i18n import translated_error
from fieldapp.web.permissions import current_actor, require

bp = Blueprint("transfers", __name__, url_prefix="/transfers")
MANAGERS = (Role.ADMIN, Role.COORDINATOR)


def _coordinates(actor: User, region_id: int) -> bool:
    return actor.has_role(Role.ADMIN) or region_id in actor.region_ids


def _name(user: User | None) -> str:
    return (user.display_name or user.username) if user else gettext("nobody")


def _context() -> dict[str, Any]:
    return {
        "regions": {r.id: r for r in auth.list_regions()},
        "users": {u.id: u for u in auth.list_users()},
    }


@bp.get("")
@require(*MANAGERS)
def transfer_list() -> Any:
    """Requests to the actor's regions (waiting ones first) and from them; audited."""
    actor = current_actor()
    rows = transfers.requests_for(actor)
    cases = {c.id: c for c in (db.session.get(Case, r.case_id) for r in rows) if c is not None}
    # the label is shown where the reader may see the case, and to the receiving region while
    # its answer is awaited (the deliberate cross-region read this list is audited for)
    labelled = {
        r.id
        for r in rows
        if r.case_id in cases
        and (
            services.may_see(actor, cases[r.case_id])
            or (r.state == TransferState.PENDING and _coordinates(actor, r.to_region_id))
        )
    }
    with unit_of_work():
        record(
            "case.transfer_list_viewed",
            actor=actor,
            subject_type="case_transfer_requests",
            count=len(rows),
            labelled=sorted(cases[r.case_id].uuid for r in rows if r.id in labelled),
        )
    incoming = [r for r in rows if _coordinates(actor, r.to_region_id)]
    outgoing = [r for r in rows if r not in incoming]
    return render_template(
        "cases/transfers.html",
        incoming=incoming,
        outgoing=outgoing,
        cases=cases,
        labelled=labelled,
        **_context(),
    )


def _workers_of(region_id: int) -> list[User]:
    return [
        u
        for u in auth.list_users()
        if u.active and u.has_role(Role.FIELD_WORKER) and region_id in u.region_ids
    ]


@bp.get("/<int:request_id>")
@require(*MANAGERS)
def transfer_page(request_id: int) -> Any:
    """One request: regions, people, note, decision; for the receiving region while pending,
    the case's summary (audited) and the accept and decline forms."""
    actor = current_actor()
    row = transfers.visible_request(request_id, actor=actor)
    case = db.session.get(Case, row.case_id)
    assert case is not None
    summary = transfers.summary_for_decision(row, actor=actor)
    record(
        "case.transfer_viewed",
        actor=actor,
        subject_type="case",
        subject_id=case.uuid,
        region_id=case.region_id,
        transfer_request=row.id,
    )
    may_open = services.may_see(actor, case)
    db.session.commit()
    return render_template(
        "cases/transfer.html",
        transfer=row,
        code=case.code,
        case_uuid=case.uuid if may_open else None,
        summary=summary,
        may_decide=row.state == TransferState.PENDING and _coordinates(actor, row.to_region_id),
        may_cancel=row.state == TransferState.PENDING
        and (row.requested_by_id == actor.id or _coordinates(actor, row.from_region_id)),
        workers=_workers_of(row.to_region_id),
        **_context(),
    )


def _accept_confirmation(row: TransferRequest, case: Case) -> dict[str, Any]:
    username = request.form.get("worker", "").strip()
    worker = auth.get_user_by_username(username) if username else None
    if worker is None:
        raise Invalid("Choose the field worker who takes the case.", code="transfer.worker_missing")
    source = db.session.get(Region, row.from_region_id)
    target = db.session.get(Region, row.to_region_id)
    assert source is not None and target is not None
    old_worker = db.session.get(User, case.assigned_to_id) if case.assigned_to_id else None
    return {
        "title": gettext("Take %(code)s into %(region)s?", code=case.code, region=target.name),
        "lines": [
            gettext(
                "%(code)s moves from %(source)s to %(target)s and is assigned to %(worker)s: "
                "it reaches their phone at its next update and leaves the phone of %(old)s.",
                code=case.code,
                source=source.name,
                target=target.name,
                worker=_name(worker),
                old=_name(old_worker),
            ),
            gettext(
                "%(region)s keeps a history entry that the case left, but no longer sees it.",
                region=source.name,
            ),
        ],
        "fields": [("action", "accept"), ("worker", worker.username)],
        "button": gettext("Accept and assign to %(name)s", name=_name(worker)),
        "danger": False,
    }


def _decline_confirmation(row: TransferRequest, case: Case) -> dict[str, Any]:
    reason = request.form.get("reason", "")
    if not reason.strip():
        raise Invalid("Say why the transfer is declined.", code="transfer.reason_missing")
    source = db.session.get(Region, row.from_region_id)
    assert source is not None
    old_worker = db.session.get(User, case.assigned_to_id) if case.assigned_to_id else None
    return {
        "title": gettext("Decline the transfer of %(code)s?", code=case.code),
        "lines": [
            gettext(
                "The case stays in %(region)s, assigned to %(name)s, as it is.",
                region=source.name,
                name=_name(old_worker),
            ),
            gettext(
                "The coordinators of %(region)s see your reason with the request.",
                region=source.name,
            ),
        ],
        "fields": [("action", "decline"), ("reason", reason)],
        "button": gettext("Decline the transfer"),
        "danger": True,
    }


@bp.post("/<int:request_id>/decide")
@require(*MANAGERS)
def decide(request_id: int) -> Any:
    """``action=accept`` (with ``worker``), ``decline`` (with ``reason``) — both shown on a
    confirmation page first, acting only with ``confirm=1`` — or ``cancel``."""
    actor = current_actor()
    row = transfers.visible_request(request_id, actor=actor)
    case = db.session.get(Case, row.case_id)
    assert case is not None
    action = request.form.get("action", "")
    here = url_for("transfers.transfer_page", request_id=row.id)
    if action in ("accept", "decline") and request.form.get("confirm") != "1":
        try:
            if row.state != TransferState.PENDING or not _coordinates(actor, row.to_region_id):
                raise Invalid("This request is not yours to answer.", code="transfer.not_yours")
            build = _accept_confirmation if action == "accept" else _decline_confirmation
            confirm = build(row, case) | {
                "action": url_for("transfers.decide", request_id=row.id),
                "cancel_url": here,
                "back_label": gettext("Transfer of %(code)s", code=case.code),
            }
        except DomainError as exc:
            db.session.rollback()
            flash(translated_error(exc), "error")
            return redirect(here)
        db.session.rollback()
        return render_template("confirm.html", confirm=confirm)
    try:
        with unit_of_work():
            if action == "accept":
                username = request.form.get("worker", "").strip()
                worker = auth.get_user_by_username(username) if username else None
                transfers.accept(row, actor=actor, worker=worker)
                message = gettext("%(code)s is now in this region.", code=case.code)
            elif action == "decline":
                transfers.decline(row, actor=actor, reason=request.form.get("reason", ""))
                message = gettext("Declined; the case stays where it was.")
            elif action == "cancel":
                transfers.cancel(row, actor=actor)
                message = gettext("Transfer request cancelled.")
            else:
                raise Invalid("Unknown action.", code="transfer.action_invalid")
    except DomainError as exc:
        flash(translated_error(exc), "error")
        return redirect(here)
    flash(message)
    if action == "accept" or (action == "cancel" and services.may_see(actor, case)):
        return redirect(url_for("case_pages.case_page", case_id=case.uuid))
    return redirect(url_for("transfers.transfer_list"))
