"""``/review/dashboard``: one region's counts and charts for its coordinators.

The numbers come from :mod:`fieldapp.review.dashboard`; the charts are SVG drawn on the server
(:mod:`fieldapp.web.charts`), each with its numbers in a table. Not audited: it shows counts
only (see the service's docstring).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request

from fieldapp.auth.models import Role
from fieldapp.db import utcnow
from fieldapp.review import dashboard
from fieldapp.web import charts
from fieldapp.web.permissions import current_actor, require

bp = Blueprint("dashboard", __name__)


@bp.get("/review/dashboard")
@require(Role.ADMIN, Role.COORDINATOR)
def region_dashboard() -> Any:
    """The dashboard of the region in ``?region=`` (default: the actor's first region)."""
    actor = current_actor()
    regions = dashboard.dashboard_regions(actor)
    region = dashboard.choose_region(actor, (request.args.get("region") or "").strip() or None)
    board = None
    week_chart = overdue_chart = None
    if region is not None:
        board = dashboard.region_dashboard(actor, region, today=utcnow().date())
        week_chart = charts.column_chart(dashboard.week_labels(board.weeks))
        overdue_chart = charts.bar_chart([(w.name, w.count) for w in board.overdue])
    return render_template(
        "review/dashboard.html",
        regions=regions,
        region=region,
        board=board,
        week_chart=week_chart,
        overdue_chart=overdue_chart,
    )
