"""The coordinators' dashboard: how their regions stand, in counts.

Someone with several regions (an administrator, a coordinator of more than one) first sees all
of them side by side (:func:`regions_overview`: one grouped query per kind of count, whatever
the number of regions). For one region at a time: submissions waiting for a decision (new,
corrected, urgent) and sent back to workers; open cases whose follow-up is overdue, per assigned
worker; submissions received per week over the last weeks. A coordinator sees only their own
regions, an administrator any.

Only counts leave this module: no case, person or answer is named, so looking at the dashboard is
not written to the audit log (the case and submission pages it links to are). Workers are staff,
and their overdue counts are about their caseload, not about the people in it.

Weeks are ISO weeks (Monday to Sunday) in UTC, the time zone every page shows; the counts per
week are one indexed range query over ``(region_id, received_at)`` with one ``CASE`` sum per
week, the same SQL on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any

from sqlalchemy import and_, case, func, select

from fieldapp.auth.models import Region, Role, User
from fieldapp.cases.models import Case, CaseStatus
from fieldapp.db import db
from fieldapp.errors import NotFound
from fieldapp.submissions.models import ReviewState, Submission
from fieldapp.submissions.services import scope_submissions

#: how many weeks the per-week chart covers by default (the current week included)
WEEKS = 12
#: states that wait for a coordinator's decision
WAITING = (ReviewState.RECEIVED.value, ReviewState.EDITED.value)


@dataclass(frozen=True)
class ReviewCounts:
    """Submissions of the region by where they stand in review."""

    received: int
    edited: int
    #: urgent ones among those waiting for a decision (received or edited)
    urgent: int
    has_issues: int


@dataclass(frozen=True)
class WorkerOverdue:
    """Open cases of the region assigned to one worker whose next follow-up date has passed."""

    #: the worker's username (``None``: cases nobody is assigned to)
    username: str | None
    #: how the worker is shown (display name, else username)
    name: str
    count: int


@dataclass(frozen=True)
class WeekCount:
    """Submissions received in the week starting on ``start`` (a Monday)."""

    start: date
    count: int

    @property
    def end(self) -> date:
        return self.start + timedelta(days=6)


@dataclass(frozen=True)
class RegionDashboard:
    region: Region
    today: date
    counts: ReviewCounts
    overdue: tuple[WorkerOverdue, ...]
    weeks: tuple[WeekCount, ...]

    @property
    def overdue_total(self) -> int:
        return sum(w.count for w in self.overdue)


@dataclass(frozen=True)
class RegionSummary:
    """One row of the overview of several regions."""

    region: Region
    counts: ReviewCounts
    #: open cases whose next follow-up date has passed
    overdue: int
    #: open cases in all
    open_cases: int


def dashboard_regions(actor: User) -> list[Region]:
    """The regions whose dashboard ``actor`` may see, by name."""
    if actor.sees_all_regions:
        regions = list(db.session.scalars(select(Region)))
    elif actor.has_role(Role.COORDINATOR):
        regions = list(actor.regions)
    else:
        regions = []
    return sorted(regions, key=lambda r: (r.name.lower(), r.code))


def choose_region(actor: User, code: str | None) -> Region | None:
    """The region ``code`` if ``actor`` may see it; without a code, the first of theirs.

    :return: ``None`` when the actor has no region at all.
    :raises NotFound: ``code`` is not one of the actor's regions (or does not exist).
    """
    regions = dashboard_regions(actor)
    if not code:
        return regions[0] if regions else None
    for region in regions:
        if region.code == code:
            return region
    raise NotFound("No such region.", code="region.not_found")


def _check(actor: User, region: Region) -> None:
    """Every reading function checks the region itself: no caller can forget it.

    :raises NotFound: the actor is neither an administrator nor a coordinator of ``region``.
    """
    if not (
        actor.sees_all_regions
        or (actor.has_role(Role.COORDINATOR) and region.id in actor.region_ids)
    ):
        raise NotFound("No such region.", code="region.not_found")


def review_counts(actor: User, region: Region) -> ReviewCounts:
    """New, corrected, urgent and sent-back submissions of ``region``."""
    _check(actor, region)
    query = scope_submissions(
        select(Submission.review_state, Submission.urgent, func.count(Submission.id))
        .where(Submission.region_id == region.id)
        .where(Submission.review_state.in_((*WAITING, ReviewState.HAS_ISSUES.value)))
        .group_by(Submission.review_state, Submission.urgent),
        actor,
    )
    by_state: dict[str, int] = {}
    urgent = 0
    for state, is_urgent, count in db.session.execute(query).all():
        by_state[state] = by_state.get(state, 0) + int(count)
        if is_urgent and state in WAITING:
            urgent += int(count)
    return ReviewCounts(
        received=by_state.get(ReviewState.RECEIVED.value, 0),
        edited=by_state.get(ReviewState.EDITED.value, 0),
        urgent=urgent,
        has_issues=by_state.get(ReviewState.HAS_ISSUES.value, 0),
    )


def overdue_by_worker(actor: User, region: Region, today: date) -> list[WorkerOverdue]:
    """Open cases of ``region`` due before ``today``, per assigned worker, most first."""
    _check(actor, region)
    rows = db.session.execute(
        select(Case.assigned_to_id, User.username, User.display_name, func.count(Case.id))
        .outerjoin(User, User.id == Case.assigned_to_id)
        .where(
            Case.region_id == region.id,
            Case.status == CaseStatus.OPEN.value,
            Case.next_due < today,
        )
        .group_by(Case.assigned_to_id, User.username, User.display_name)
    ).all()
    out = [
        WorkerOverdue(
            username=username,
            name=(display_name or username) if username else "nobody (unassigned)",
            count=int(count),
        )
        for _, username, display_name, count in rows
    ]
    return sorted(out, key=lambda w: (-w.count, w.username is None, w.name.lower()))


def regions_overview(actor: User, today: date) -> list[RegionSummary]:
    """Waiting, urgent, sent-back and overdue counts of every region ``actor`` may see, by name."""
    regions = dashboard_regions(actor)
    ids = [r.id for r in regions]
    if not ids:
        return []
    waiting: dict[int, dict[str, int]] = {}
    urgent: dict[int, int] = {}
    query = scope_submissions(
        select(
            Submission.region_id,
            Submission.review_state,
            Submission.urgent,
            func.count(Submission.id),
        )
        .where(Submission.region_id.in_(ids))
        .where(Submission.review_state.in_((*WAITING, ReviewState.HAS_ISSUES.value)))
        .group_by(Submission.region_id, Submission.review_state, Submission.urgent),
        actor,
    )
    for region_id, state, is_urgent, count in db.session.execute(query).all():
        by_state = waiting.setdefault(region_id, {})
        by_state[state] = by_state.get(state, 0) + int(count)
        if is_urgent and state in WAITING:
            urgent[region_id] = urgent.get(region_id, 0) + int(count)
    overdue: dict[int, int] = {}
    open_cases: dict[int, int] = {}
    cases = db.session.execute(
        select(
            Case.region_id,
            func.count(Case.id),
            func.sum(case((Case.next_due < today, 1), else_=0)),
        )
        .where(
            Case.region_id.in_(ids),
            Case.status == CaseStatus.OPEN.value,
            Case.sandbox.is_(False),
        )
        .group_by(Case.region_id)
    ).all()
    for region_id, count, late in cases:
        open_cases[region_id] = int(count)
        overdue[region_id] = int(late or 0)
    out = []
    for region in regions:
        by_state = waiting.get(region.id, {})
        out.append(
            RegionSummary(
                region=region,
                counts=ReviewCounts(
                    received=by_state.get(ReviewState.RECEIVED.value, 0),
                    edited=by_state.get(ReviewState.EDITED.value, 0),
                    urgent=urgent.get(region.id, 0),
                    has_issues=by_state.get(ReviewState.HAS_ISSUES.value, 0),
                ),
                overdue=overdue.get(region.id, 0),
                open_cases=open_cases.get(region.id, 0),
            )
        )
    return out


def total_counts(rows: Sequence[RegionSummary]) -> ReviewCounts:
    """The sum of the overview's review counts."""
    return ReviewCounts(
        received=sum(r.counts.received for r in rows),
        edited=sum(r.counts.edited for r in rows),
        urgent=sum(r.counts.urgent for r in rows),
        has_issues=sum(r.counts.has_issues for r in rows),
    )


def week_start(day: date) -> date:
    """The Monday of ``day``'s ISO week."""
    return day - timedelta(days=day.weekday())


def submissions_per_week(
    actor: User, region: Region, today: date, weeks: int = WEEKS
) -> list[WeekCount]:
    """Submissions of ``region`` received in each of the last ``weeks`` weeks, oldest first."""
    _check(actor, region)
    starts = [week_start(today) - timedelta(weeks=weeks - 1 - i) for i in range(weeks)]
    bounds = [datetime.combine(s, time(), UTC) for s in [*starts, starts[-1] + timedelta(weeks=1)]]
    sums: list[Any] = [
        func.sum(
            case(
                (and_(Submission.received_at >= lo, Submission.received_at < hi), 1),
                else_=0,
            )
        )
        for lo, hi in pairwise(bounds)
    ]
    query = scope_submissions(
        select(*sums).where(
            Submission.region_id == region.id,
            Submission.received_at >= bounds[0],
            Submission.received_at < bounds[-1],
        ),
        actor,
    )
    row = db.session.execute(query).one()
    return [WeekCount(start, int(count or 0)) for start, count in zip(starts, row, strict=True)]


def region_dashboard(
    actor: User, region: Region, *, today: date, weeks: int = WEEKS
) -> RegionDashboard:
    """Everything the dashboard shows for one region.

    :param today: the day overdue is measured against, and whose week is the last one shown.
    :raises NotFound: the actor may not see ``region``.
    """
    _check(actor, region)
    return RegionDashboard(
        region=region,
        today=today,
        counts=review_counts(actor, region),
        overdue=tuple(overdue_by_worker(actor, region, today)),
        weeks=tuple(submissions_per_week(actor, region, today, weeks)),
    )


def week_labels(weeks: Sequence[WeekCount]) -> list[tuple[str, int]]:
    """``(label, count)`` per week for a chart: the Monday as ``9 Nov``."""
    return [(f"{w.start.day} {w.start:%b}", w.count) for w in weeks]
