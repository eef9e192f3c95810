"""Case pages for coordinators: the list (overdue first) and one case with its history.

Every view of a case page and every list view is audited; a case page also shows who viewed
the record.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import func, or_, select

from fieldapp.audit.models import AuditEvent
from fieldapp.audit.services import record
from fieldapp.auth import services as auth
from fieldapp.auth.models import Region, Role, User
from fieldapp.cases import care, services, wellbeing
from fieldapp.cases.models import Case, CaseList, CaseStatus
from fieldapp.cases.schemas import CasePageArgs
from fieldapp.db import db, unit_of_work, utcnow
from fieldapp.errors import DomainError
from fieldapp.submissions.models import Submission
from fieldapp.submissions.services import scope_submissions
from fieldapp.web import charts
from fieldapp.web.args import load_args
from fieldapp.web.permissions import current_actor, require

bp = Blueprint("case_pages", __name__, url_prefix="/cases")
PAGE_SIZE = 50


def _visible_query(actor: User) -> Any:
    query = select(Case).join(CaseList, CaseList.id == Case.case_list_id)
    if not actor.has_role(Role.ADMIN):
        query = query.where(Case.region_id.in_(actor.region_ids or {-1}))
    return query


@bp.get("")
@require(Role.ADMIN, Role.COORDINATOR)
def case_list() -> Any:
    """Cases of the actor's regions: search by code, filter, overdue first."""
    actor = current_actor()
    today = utcnow().date()
    query = _visible_query(actor)
    args = request.args
    checked = load_args(CasePageArgs())
    if checked["q"]:
        needle = checked["q"].strip().upper()
        query = query.where(or_(Case.code.contains(needle), Case.uuid == needle.lower()))
    if checked["dataset"]:
        query = query.where(CaseList.name == checked["dataset"])
    if checked["region"]:
        query = query.join(Region, Region.id == Case.region_id).where(
            Region.code == checked["region"]
        )
    status = checked["status"]
    if status in ("open", "closed", "merged"):
        query = query.where(Case.status == status)
    if checked["overdue"] == "1":
        query = query.where(Case.status == CaseStatus.OPEN.value, Case.next_due < today)
    page = int(checked["page"])
    overdue_first = (Case.next_due >= today) | Case.next_due.is_(None)
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    cases = db.session.scalars(
        query.order_by(overdue_first, Case.next_due, Case.code)
        .limit(PAGE_SIZE)
        .offset((page - 1) * PAGE_SIZE)
    ).all()
    with unit_of_work():
        record(
            "case.list_viewed",
            actor=actor,
            subject_type="case_list",
            subject_id=checked["dataset"] or None,
            count=len(cases),
        )
    regions = [r for r in auth.list_regions() if actor.sees_all_regions or r.id in actor.region_ids]
    users = {u.id: u for u in auth.list_users()}
    return render_template(
        "cases/list.html",
        cases=cases,
        total=total,
        page=page,
        page_size=PAGE_SIZE,
        today=today,
        lists=services.list_case_lists(),
        regions=regions,
        users=users,
        args=args,
        status=status,
    )


def _wellbeing_charts(case: Case) -> dict[str, Any]:
    """The case's screening totals as two line charts (PHQ and GAD-7; WHO-5) and a table."""
    found = wellbeing.screenings(case)

    def series(name: str, label: str, css: str) -> tuple[str, str, list[Any]]:
        return label, css, [(s.on, s.scores[name]) for s in found if name in s.scores]

    phq = wellbeing.phq_name(case)
    scores = [
        line
        for line in (
            series(wellbeing.PHQ, f"{phq} total", "series-phq"),
            series(wellbeing.GAD, "GAD-7 total", "series-gad"),
        )
        if line[2]
    ]
    who = series(wellbeing.WHO5, "WHO-5 (%)", "series-who")
    return {
        "screenings": found,
        "phq": phq,
        "scores": charts.line_chart(
            scores, top_value=wellbeing.MAXIMUM[wellbeing.PHQ], guides=[("10: moderate", 10)]
        )
        if scores
        else None,
        "who": charts.line_chart(
            [who], top_value=wellbeing.MAXIMUM[wellbeing.WHO5], guides=[("50%: poor", 50)]
        )
        if who[2]
        else None,
    }


@bp.get("/<case_id>")
@require(Role.ADMIN, Role.COORDINATOR)
def case_page(case_id: str) -> Any:
    """One case: properties, links, timeline of versions and submissions, actions, viewers."""
    actor = current_actor()
    case = services.visible_case(case_id, actor=actor)
    # the submissions the timeline may link to: those the reader may open (a deleted one, or one
    # of a region the case has left, keeps its version on the timeline without a link)
    submissions = {
        s.id: s
        for s in db.session.scalars(
            scope_submissions(
                select(Submission).where(
                    Submission.id.in_([v.submission_id for v in case.versions if v.submission_id])
                ),
                actor,
            )
        )
    }
    users = {u.id: u for u in auth.list_users()}
    # this view is recorded first, so that it counts among the viewers shown
    record(
        "case.viewed",
        actor=actor,
        subject_type="case",
        subject_id=case.uuid,
        region_id=case.region_id,
    )
    viewers = db.session.execute(
        select(AuditEvent.actor_id, func.count(), func.max(AuditEvent.at))
        .where(AuditEvent.action == "case.viewed", AuditEvent.subject_id == case.uuid)
        .group_by(AuditEvent.actor_id)
    ).all()
    workers = [
        u
        for u in users.values()
        if u.active and u.has_role(Role.FIELD_WORKER) and case.region_id in u.region_ids
    ]
    regions = auth.list_regions()
    links = care.links_of(case, actor=actor)
    region = db.session.get(Region, case.region_id)
    db.session.commit()
    return render_template(
        "cases/detail.html",
        case=case,
        submissions=submissions,
        users=users,
        links=links,
        viewers=viewers,
        workers=workers,
        regions=regions,
        region=region,
        today=utcnow().date(),
        wellbeing=_wellbeing_charts(case),
    )


@bp.post("/<case_id>/act")
@require(Role.ADMIN, Role.COORDINATOR)
def act(case_id: str) -> Any:
    """Assign, transfer, close or reopen from the case page."""
    actor = current_actor()
    case = services.visible_case(case_id, actor=actor)
    action = request.form.get("action", "")
    acts = {
        "assign": lambda: care.assign(
            case, auth.get_user_by_username(request.form.get("user", "")), actor=actor
        ),
        "transfer": lambda: care.transfer(
            case, care.get_region_or_404(request.form.get("region", "")), actor=actor
        ),
        "close": lambda: care.close(case, actor=actor, reason=request.form.get("reason", "")),
        "reopen": lambda: care.reopen(case, actor=actor),
    }
    if action not in acts:
        flash("Unknown action.", "error")
        return redirect(url_for("case_pages.case_page", case_id=case.uuid))
    try:
        with unit_of_work():
            acts[action]()
        flash("Saved.")
    except DomainError as exc:
        flash(exc.message, "error")
    if (
        action == "transfer"
        and case.region_id not in actor.region_ids
        and not actor.sees_all_regions
    ):
        return redirect(url_for("case_pages.case_list"))
    return redirect(url_for("case_pages.case_page", case_id=case.uuid))
