"""``/review/dashboard``: the counts and charts of a coordinator's regions.

With several regions and no ``?region=``, an overview of all of them (one row each, linked to
the region's own dashboard); with one region, or ``?region=<code>``, that region's dashboard.

The numbers come from :mod:`fieldapp.review.dashboard`, and the counts of the Monday screens
(linked to each screen) from their registry (:mod:`fieldapp.care.screens`); the charts are SVG
drawn on the server (:mod:`fieldapp.web.charts`), each with its numbers in a table. Not
audited: it shows counts only (see the service's docstring).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request
from flask_babel import format_date

from fieldapp.auth.models import Role
from fieldapp.care import queries as care
from fieldapp.care import screens as care_screens
from fieldapp.db import utcnow
from fieldapp.review import dashboard
from fieldapp.web import charts
from fieldapp.web.permissions import current_actor, require

bp = Blueprint("dashboard", __name__)


@bp.get("/review/dashboard")
@require(Role.ADMIN, Role.COORDINATOR)
def region_dashboard() -> Any:
    """All the actor's regions side by side, or the dashboard of the one in ``?region=``."""
    actor = current_actor()
    regions = dashboard.dashboard_regions(actor)
    code = (request.args.get("region") or "").strip() or None
    now = utcnow()
    today = now.date()
    if code is None and len(regions) > 1:
        overview = dashboard.regions_overview(actor, today)
        return render_template(
            "review/dashboard.html",
            regions=regions,
            region=None,
            board=None,
            overview=overview,
            totals=dashboard.total_counts(overview),
            today=today,
            care_counts=care_screens.counts(care.scope_for(actor), now),
        )
    region = dashboard.choose_region(actor, code)
    board = None
    week_chart = overdue_chart = None
    if region is not None:
        board = dashboard.region_dashboard(actor, region, today=today)
        # the Monday as "9 Nov" / "9 нояб." / "9 қар." in the page's language
        week_chart = charts.column_chart(
            [(format_date(w.start, "d MMM"), w.count) for w in board.weeks]
        )
        labels = charts.distinct_labels([(w.name, w.username) for w in board.overdue])
        overdue_chart = charts.bar_chart(
            [(label, w.count) for label, w in zip(labels, board.overdue, strict=True)]
        )
    return render_template(
        "review/dashboard.html",
        regions=regions,
        region=region,
        board=board,
        overview=None,
        week_chart=week_chart,
        overdue_chart=overdue_chart,
        today=today,
        care_counts=care_screens.counts(care.scope_for(actor, region.code), now)
        if region is not None
        else [],
    )
