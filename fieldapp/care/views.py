"""``/care`` (the Monday screens and their counts) and ``/care/<screen>`` (one screen).

Administrators and coordinators only (anyone else: 404, as for a page that does not exist);
``?region=<code>`` narrows to one of the reader's regions (another region: 404). A screen lists
cases, so each view of one is audited (``care.screen_viewed``, with the screen and the number of
rows; no case is named); the index shows counts only and is not.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, url_for
from marshmallow import Schema
from sqlalchemy import select

from fieldapp.audit.services import record
from fieldapp.auth.models import Region, Role
from fieldapp.care import queries, screens
from fieldapp.cases.models import CaseList
from fieldapp.db import db, unit_of_work, utcnow
from fieldapp.web.args import Text, load_args
from fieldapp.web.permissions import current_actor, require

bp = Blueprint("care", __name__, url_prefix="/care")

#: at most this many rows of one list are shown (the count says how many there are)
MAX_ROWS = 500


class CareArgs(Schema):
    region = Text(column=Region.code, load_default="")


@bp.get("")
@require(Role.ADMIN, Role.COORDINATOR)
def index() -> Any:
    """The Monday screens with their counts for the reader's regions (or the one chosen)."""
    actor = current_actor()
    checked = load_args(CareArgs())
    scope = queries.scope_for(actor, checked["region"] or None)
    now = utcnow()
    return render_template(
        "care/index.html", scope=scope, counts=screens.counts(scope, now), today=now.date()
    )


@bp.get("/<screen>")
@require(Role.ADMIN, Role.COORDINATOR)
def screen_page(screen: str) -> Any:
    """One Monday screen."""
    actor = current_actor()
    chosen = screens.get(screen)
    checked = load_args(CareArgs())
    scope = queries.scope_for(actor, checked["region"] or None)
    if chosen.endpoint is not None:  # served by its own package; the region choice goes along
        return redirect(
            url_for(chosen.endpoint, region=scope.chosen.code if scope.chosen else None)
        )
    now = utcnow()
    context = dict(chosen.build(scope, now))
    result = context.get("result")
    with unit_of_work():
        record(
            "care.screen_viewed",
            actor=actor,
            subject_type="care_screen",
            subject_id=chosen.name,
            region_id=scope.chosen.id if scope.chosen is not None else None,
            count=getattr(result, "count", None),
        )
    regions = {r.id: r for r in scope.regions}
    return render_template(
        chosen.template,
        screen=chosen,
        screens=list(screens.SCREENS.values()),
        scope=scope,
        regions_by_id=regions,
        # a case list's title (``Households``) where a row names its list, as the case pages do
        list_titles={cl.name: cl.title for cl in db.session.scalars(select(CaseList))},
        now=now,
        today=now.date(),
        max_rows=MAX_ROWS,
        waited_words=queries.waited_words,
        rules=queries,
        **context,
    )
