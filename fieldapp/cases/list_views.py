"""Pages where designers set up a case list: follow-up cadence, approval, what phones show.

``GET /case-lists`` lists them; ``GET /case-lists/<name>`` shows one list's settings and
``POST`` the same URL changes them (designers and administrators), through
:func:`fieldapp.cases.services.update_case_list` like the JSON API. The phone label part shows
each property by its question's words and a sample of how a phone's case picker will read.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_babel import lazy_gettext as _l

from fieldapp.auth.models import Role
from fieldapp.cases import phone_labels, services, vocabulary
from fieldapp.cases.models import CaseList
from fieldapp.db import db, unit_of_work
from fieldapp.errors import DomainError, Invalid, NotFound
from fieldapp.web.permissions import current_actor, require

bp = Blueprint("case_lists", __name__, url_prefix="/case-lists")

#: how the computed parts of a phone label are described
COMPUTED_WORDS = {
    phone_labels.NEXT_DUE: _l("next follow-up date (due or overdue)"),
    phone_labels.MEMBER_AGES: _l("ages of the household's members"),
}


def _case_list_or_404(name: str) -> CaseList:
    found = services.get_case_list(name[:255])
    if found is None:
        raise NotFound("No such case list.", code="case_list.not_found")
    return found


@bp.get("")
@require(Role.ADMIN, Role.DESIGNER)
def index() -> Any:
    """Every case list with its settings in one line."""
    return render_template("cases/lists.html", case_lists=services.list_case_lists())


def _page(case_list: CaseList, *, error: DomainError | None = None) -> Any:
    words = vocabulary.for_case_list(case_list.name)
    from fieldapp.cases.pages import reader_language  # noqa: PLC0415 (a page helper)

    language = reader_language(words.languages())
    parts = [
        {
            "name": part,
            "label": str(COMPUTED_WORDS.get(part) or words.label(part, language)),
            "identifying": phone_labels.identifying(part),
            "chosen": part in (case_list.phone_label or ()),
        }
        for part in phone_labels.choosable(case_list)
    ]
    # how a picker row will read, with the questions' words in place of any family's answers
    # (a designer sets the list up; they do not read its records)
    shown = [f"[{p['label']}]" for p in parts if p["chosen"]]
    lead = [f"[{gettext('case label')}]"] if case_list.phone_label_names else []
    sample = " · ".join([*lead, f"{case_list.code_prefix}-7K3Q9", *shown])
    body = render_template(
        "cases/list_settings.html",
        case_list=case_list,
        parts=parts,
        sample=sample,
        error=error,
    )
    return body, (error.http_status if error else 200)


@bp.get("/<name>")
@require(Role.ADMIN, Role.DESIGNER)
def settings_page(name: str) -> Any:
    return _page(_case_list_or_404(name))


def _days(raw: str | None, *, field: str, low: int, high: int) -> int | None:
    value = (raw or "").strip()
    if not value:
        return None
    if not value.isascii() or not value.isdigit() or not low <= int(value) <= high:
        raise Invalid(
            "%(field)s: give a whole number from %(low)s to %(high)s, or leave it empty.",
            code="case_list.days_invalid",
            params={"field": field, "low": low, "high": high},
        )
    return int(value)


@bp.post("/<name>")
@require(Role.ADMIN, Role.DESIGNER)
def update(name: str) -> Any:
    """Save the list's settings; a bad value shows the page again with the reason (422)."""
    case_list = _case_list_or_404(name)
    form = request.form
    try:
        cadence = _days(form.get("cadence_days"), field="Days between visits", low=1, high=3650)
        retention = _days(
            form.get("closed_retention_days"), field="Closed cases kept", low=1, high=36500
        )
        chosen = [p[:255] for p in form.getlist("phone_label")[:50]]
        with unit_of_work():
            services.update_case_list(
                case_list,
                actor=current_actor(),
                # 0 clears a cadence (the service takes None as "unchanged")
                cadence_days=cadence
                if cadence is not None
                else (0 if case_list.cadence_days else None),
                approval_required=form.get("approval_required") == "on",
                phone_label=chosen,
                phone_label_names=form.get("phone_label_names") == "on",
                closed_retention_days=retention,
            )
    except DomainError as exc:
        db.session.rollback()
        return _page(_case_list_or_404(name), error=exc)
    flash(
        gettext(
            "%(title)s: saved. Phones download the list again at their next sync.",
            title=case_list.title,
        )
    )
    return redirect(url_for("case_lists.settings_page", name=case_list.name))
