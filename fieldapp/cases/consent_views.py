"""Consent and referrals on the case page, and the two Monday screens.

* ``POST /cases/<case_id>/consent`` — a coordinator records consent or assent with a reason;
  a confirmation page first (``templates/confirm.html``), acting once it is sent (``confirm=1``).
* ``POST /cases/<case_id>/referrals`` — a coordinator adds a referral by hand.
* ``POST /cases/<case_id>/referrals/<referral_id>`` — moves a referral on (``to``); also the
  case's own field worker, from "My visits" on ``/fill``.
* ``GET /consent/missing`` — "No consent on record or withdrawn".
* ``GET /referrals/late`` — "Late referrals" (past due, neither seen nor closed).

Coordinators (their regions) and administrators (every region, a region filter) only; a case
of another region is 404, as on the case page.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from marshmallow import Schema

from fieldapp.audit.services import record
from fieldapp.auth import services as auth
from fieldapp.auth.models import Region, Role, User
from fieldapp.cases import consent, referrals, screens, services
from fieldapp.cases.models import STOPS_FOLLOW_UPS, Case
from fieldapp.db import db, unit_of_work, utcnow
from fieldapp.errors import DomainError, NotFound
from fieldapp.web.args import Page, Text, load_args
from fieldapp.web.i18n import translated_error
from fieldapp.web.permissions import current_actor, require

bp = Blueprint("consent_pages", __name__)


class ScreenArgs(Schema):
    region = Text(column=Region.code, load_default="")
    page = Page(load_default=1)


def _back(case: Case) -> Any:
    return redirect(url_for("case_pages.case_page", case_id=case.uuid))


def _worker_name(case: Case) -> str:
    worker = db.session.get(User, case.assigned_to_id) if case.assigned_to_id else None
    return (worker.display_name or worker.username) if worker else _("nobody")


def _members_lines(case: Case, state: str, actor: User) -> list[str]:
    """What a household's change does to its members' consent (by code; members the actor
    may not see, in another region, only by count)."""
    if state in STOPS_FOLLOW_UPS:
        reached = consent.carried(case)
        if not reached:
            return []
        shown = [m.code for m in reached if services.may_see(actor, m)]
        hidden = len(reached) - len(shown)
        lines = [
            ngettext(
                "%(num)s member case of this household is also withdrawn: its consent came "
                "from the household's.",
                "%(num)s member cases of this household are also withdrawn: their consent "
                "came from the household's.",
                len(reached),
            )
        ]
        if shown:
            lines.append(_("Withdrawn with it: %(codes)s.", codes=", ".join(shown)))
        if hidden:
            lines.append(
                ngettext(
                    "%(num)s of them is in a region you do not cover; it is withdrawn too.",
                    "%(num)s of them are in regions you do not cover; they are withdrawn too.",
                    hidden,
                )
            )
        return lines
    if state == "given" and consent.members(case):
        return [
            _(
                "The members' consent is not given again with the household's: record it on "
                "each member's case."
            )
        ]
    return []


def _consent_confirmation(
    case: Case, kind: str, state: str, reason: str, actor: User
) -> dict[str, Any]:
    """What the confirmation page of a consent change says.

    :raises DomainError: the change cannot be made (checked before anything is asked).
    """
    consent.check_change(case, kind, state, reason)
    words = {"new": str(consent.WORDS[state]), "old": str(consent.WORDS[getattr(case, kind)])}
    if kind == "assent":
        first = _("The child's assent becomes %(new)s (now %(old)s).", **words)
        title = _("Record the child's assent of %(code)s as %(new)s?", code=case.code, **words)
    elif consent.is_child(case):
        first = _("The guardian's consent becomes %(new)s (now %(old)s).", **words)
        title = _("Record the guardian's consent of %(code)s as %(new)s?", code=case.code, **words)
    else:
        first = _("Consent becomes %(new)s (now %(old)s).", **words)
        title = _("Record consent of %(code)s as %(new)s?", code=case.code, **words)
    lines = [first]
    stops = state in ("refused", "withdrawn")
    if stops and not consent.stops_follow_ups(case):
        lines.append(
            _(
                "Follow-ups stop: the case leaves %(name)s's phone and the web forms at their "
                "next sync, and it is no longer due or overdue anywhere.",
                name=_worker_name(case),
            )
        )
    elif not stops and consent.stops_follow_ups(case):
        other = "assent" if kind == "consent" else "consent"
        if getattr(case, other) in ("refused", "withdrawn"):
            still = str(consent.WORDS[getattr(case, other)])
            lines.append(
                _("Follow-ups stay stopped: the assent is still %(state)s.", state=still)
                if other == "assent"
                else _("Follow-ups stay stopped: the consent is still %(state)s.", state=still)
            )
        else:
            lines.append(
                _(
                    "Follow-ups resume: the case returns to %(name)s's phone, due today.",
                    name=_worker_name(case),
                )
            )
    if kind == "consent":
        lines.extend(_members_lines(case, state, actor))
    lines.append(
        _(
            "The reason is kept in the case's consent history; the audit log records only the "
            "change."
        )
    )
    return {
        "action": url_for("consent_pages.change_consent", case_id=case.uuid),
        "cancel_url": url_for("case_pages.case_page", case_id=case.uuid),
        "back_label": case.code,
        "title": title,
        "lines": lines,
        "fields": [("kind", kind), ("state", state), ("reason", reason)],
        "button": _("Record: %(state)s", state=words["new"]),
        "danger": stops,
    }


@bp.post("/cases/<case_id>/consent")
@require(Role.ADMIN, Role.COORDINATOR)
def change_consent(case_id: str) -> Any:
    """Record consent or assent (``kind``) as ``state`` with a ``reason``; confirms first."""
    actor = current_actor()
    case = services.visible_case(case_id, actor=actor)
    kind = request.form.get("kind", "")
    state = request.form.get("state", "")
    reason = request.form.get("reason", "")
    if request.form.get("confirm") != "1":
        try:
            confirm = _consent_confirmation(case, kind, state, reason, actor)
        except DomainError as exc:
            db.session.rollback()
            flash(translated_error(exc), "error")
            return _back(case)
        db.session.rollback()
        return render_template("confirm.html", confirm=confirm)
    try:
        with unit_of_work():
            consent.change(case, kind=kind, state=state, reason=reason, actor=actor)
        flash(_("Consent recorded.") if kind == "consent" else _("Assent recorded."))
    except DomainError as exc:
        flash(translated_error(exc), "error")
    return _back(case)


@bp.post("/cases/<case_id>/referrals")
@require(Role.ADMIN, Role.COORDINATOR)
def add_referral(case_id: str) -> Any:
    """Refer the case by hand: ``service``, ``urgency``, an optional ``note``."""
    actor = current_actor()
    case = services.visible_case(case_id, actor=actor)
    try:
        with unit_of_work():
            referrals.add(
                case,
                service=request.form.get("service", ""),
                urgency=request.form.get("urgency", ""),
                note=request.form.get("note"),
                actor=actor,
            )
        flash(_("Referral added."))
    except DomainError as exc:
        flash(translated_error(exc), "error")
    return _back(case)


@bp.post("/cases/<case_id>/referrals/<int:referral_id>")
@require(Role.ADMIN, Role.COORDINATOR, Role.FIELD_WORKER)
def move_referral(case_id: str, referral_id: int) -> Any:
    """Move a referral of the case on to ``to`` (accepted, seen, closed), with a ``note``.

    Also the case's own field worker, from "My visits" (back there); another worker: 404."""
    actor = current_actor()
    case = services.visible_case(case_id, actor=actor)
    referral = referrals.get(case, referral_id)
    back = (
        redirect(url_for("fill.index", _anchor="referrals"))
        if not actor.has_role(Role.ADMIN, Role.COORDINATOR)
        else _back(case)
    )
    try:
        with unit_of_work():
            referrals.move(
                referral,
                case,
                to=request.form.get("to", ""),
                note=request.form.get("note"),
                actor=actor,
            )
        flash(_("Referral updated."))
    except DomainError as exc:
        flash(translated_error(exc), "error")
    return back


def _scope(actor: User, region_code: str) -> tuple[set[int] | None, list[Region]]:
    """The region ids to read and the regions to offer in the filter.

    :raises NotFound: a region filter outside the reader's regions.
    """
    regions = [r for r in auth.list_regions() if actor.sees_all_regions or r.id in actor.region_ids]
    if region_code:
        chosen = next((r for r in regions if r.code == region_code), None)
        if chosen is None:
            raise NotFound("No such region.", code="region.not_found")
        return {chosen.id}, regions
    return (None if actor.sees_all_regions else set(actor.region_ids)), regions


def _users() -> dict[int, User]:
    return {u.id: u for u in auth.list_users()}


@bp.get("/consent/missing")
@require(Role.ADMIN, Role.COORDINATOR)
def missing_consent() -> Any:
    """Open cases with no consent on record, refused or withdrawn (a child's assent too)."""
    actor = current_actor()
    args = load_args(ScreenArgs())
    ids, regions = _scope(actor, args["region"])
    found = screens.missing_consent(ids, page=args["page"])
    with unit_of_work():
        record(
            "case.consent_screen_viewed",
            actor=actor,
            subject_type="case_list",
            region=args["region"] or None,
            count=len(found.rows),
        )
    return render_template(
        "cases/consent_missing.html",
        found=found,
        args=args,
        regions=regions,
        regions_by_id={r.id: r for r in regions},
        users=_users(),
        words=consent.WORDS,
        child_lists=consent.CHILD_LISTS,
        page_size=screens.PAGE_SIZE,
    )


@bp.get("/referrals/late")
@require(Role.ADMIN, Role.COORDINATOR)
def late_referrals() -> Any:
    """Referrals past their due date, neither seen nor closed."""
    actor = current_actor()
    args = load_args(ScreenArgs())
    ids, regions = _scope(actor, args["region"])
    today = utcnow().date()
    found = screens.late_referrals(ids, today, page=args["page"])
    with unit_of_work():
        record(
            "referral.late_screen_viewed",
            actor=actor,
            subject_type="case_list",
            region=args["region"] or None,
            count=len(found.rows),
        )
    return render_template(
        "cases/referrals_late.html",
        found=found,
        args=args,
        today=today,
        regions=regions,
        regions_by_id={r.id: r for r in regions},
        users=_users(),
        services=referrals.SERVICES,
        urgency_words=referrals.URGENCY_WORDS,
        statuses=referrals.STATUS_WORDS,
        page_size=screens.PAGE_SIZE,
    )
