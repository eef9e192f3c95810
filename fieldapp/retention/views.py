"""Pages: a form's retention (on the form page) and erasing a case on request (administrators).

``POST /forms/<form_id>/retention`` sets how long the form's deleted submissions are kept
(designers, administrators). ``GET /admin/cases/<case_id>/erase`` says what erasing the case
would take; ``POST`` the same URL, with a reason and the case's code typed again, erases it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext, ngettext
from sqlalchemy import select

from fieldapp.audit.services import record
from fieldapp.auth.models import Role
from fieldapp.blobs import BlobStorage
from fieldapp.cases.models import CaseList
from fieldapp.db import db, unit_of_work
from fieldapp.errors import DomainError, Invalid
from fieldapp.forms import services as forms
from fieldapp.forms.models import Form
from fieldapp.retention import blobgc, erasure, settings
from fieldapp.web.permissions import current_actor, require

bp = Blueprint("retention", __name__)


@bp.app_template_global()
def retention_case_lists(form: Form) -> list[CaseList]:
    """The case lists the form's versions fill, with their retention (for the form page)."""
    names = {
        str(decl.get("dataset"))
        for version in form.versions
        for decl in (version.entities or [])
        if isinstance(decl, dict)
    }
    if not names:
        return []
    return list(
        db.session.scalars(select(CaseList).where(CaseList.name.in_(names)).order_by(CaseList.name))
    )


def parse_days(raw: str | None) -> int | None:
    """A retention in days from a form field: empty keeps for ever.

    :raises Invalid: not a whole number from 1 to :data:`settings.MAX_DAYS`.
    """
    value = (raw or "").strip()
    if not value:
        return None
    if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= settings.MAX_DAYS:
        raise Invalid(
            "Give the days as a whole number from 1 to %(max)s, or leave the "
            "field empty to keep them.",
            code="retention.days_invalid",
            params={"max": settings.MAX_DAYS},
        )
    return int(value)


@bp.post("/forms/<form_id>/retention")
@require(Role.ADMIN, Role.DESIGNER)
def form_retention(form_id: str) -> Any:
    """Set how long the form's deleted submissions are kept; back to the form page."""
    form = forms.get_form(form_id)
    days = parse_days(request.form.get("deleted_days"))
    with unit_of_work():
        settings.set_deleted_retention(form, days, actor=current_actor())
    flash(
        ngettext(
            "Deleted submissions are now kept %(num)d day.",
            "Deleted submissions are now kept %(num)d days.",
            days,
        )
        if days
        else gettext("Deleted submissions are now kept until someone restores them.")
    )
    return redirect(url_for("forms.detail", form_id=form.form_id))


def _page(case: Any, plan: erasure.Erasure, *, error: DomainError | None = None) -> Any:
    body = render_template(
        "retention/erase.html",
        case=case,
        plan=plan,
        error=error,
        reason=request.form.get("reason", "") if error else "",
    )
    return body, (error.http_status if error else 200)


@bp.get("/admin/cases/<case_id>/erase")
@require(Role.ADMIN)
def erase_confirm(case_id: str) -> Any:
    """What erasing the case takes; the form to confirm it."""
    actor = current_actor()
    case = erasure.case_to_erase(case_id, actor=actor)
    plan = erasure.plan_case(case)
    with unit_of_work():
        record(
            "case.viewed",
            actor=actor,
            subject_type="case",
            subject_id=case.uuid,
            region_id=case.region_id,
            page="erase",
        )
    return _page(case, plan)


@bp.post("/admin/cases/<case_id>/erase")
@require(Role.ADMIN)
def erase(case_id: str) -> Any:
    """Erase the case (the reason given, its code typed again); to the case list."""
    actor = current_actor()
    case = erasure.case_to_erase(case_id, actor=actor)
    try:
        reason = erasure.check_reason(request.form.get("reason", ""), case)
    except Invalid as exc:
        return _page(case, erasure.plan_case(case), error=exc)
    if request.form.get("confirm", "").strip().upper() != case.code:
        unconfirmed = Invalid(
            "Type the case's code to confirm the erasure.", code="erasure.not_confirmed"
        )
        return _page(case, erasure.plan_case(case), error=unconfirmed)
    with unit_of_work():
        done = erasure.erase_case(case, actor=actor, reason=reason)
    store = current_app.extensions.get("fieldapp.blobs")
    removed = 0
    if isinstance(store, BlobStorage) and done.blobs:
        removed = blobgc.collect(store, grace=timedelta(0), only=done.blobs)
    counts = done.counts
    flash(
        gettext(
            "Erased: cases %(cases)d, submissions %(submissions)d, files %(files)d "
            "(%(removed)d no longer used by anything removed).",
            cases=counts["cases"],
            submissions=counts["submissions"],
            files=counts["attachments"],
            removed=removed,
        )
    )
    return redirect(url_for("case_pages.case_list"))
