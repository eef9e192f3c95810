"""Case pages for coordinators: the list (overdue first) and one case with its history.

Every view of a case page and every list view is audited; a case page also shows who viewed
the record.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select

from fieldapp.audit.models import AuditEvent
from fieldapp.audit.services import record
from fieldapp.auth import services as auth
from fieldapp.auth.models import Region, Role, User
from fieldapp.cases import care, consent, referrals, services, transfers, vocabulary, wellbeing
from fieldapp.cases.models import Case, CaseList, CaseStatus, TransferState
from fieldapp.cases.schemas import CasePageArgs
from fieldapp.db import db, unit_of_work, utcnow
from fieldapp.errors import Conflict, DomainError, Forbidden, Invalid
from fieldapp.submissions.models import Submission
from fieldapp.submissions.services import scope_submissions
from fieldapp.web import charts
from fieldapp.web.args import load_args
from fieldapp.web.i18n import current_language, translated_error
from fieldapp.web.i18n import format_day as i18n_date
from fieldapp.web.permissions import current_actor, require

bp = Blueprint("case_pages", __name__, url_prefix="/cases")

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

#: how a link's relation reads on the case page (``*_of``: the other case points at this one)
RELATION_WORDS = {
    "household": _l("household"),
    "household_of": _l("member of this household"),
    "mother": _l("mother"),
    "mother_of": _l("child"),
    "child": _l("child"),
    "child_of": _l("parent"),
    "sibling": _l("sibling"),
    "sibling_of": _l("sibling"),
    "guardian": _l("guardian"),
    "guardian_of": _l("in their care"),
    "other": _l("linked"),
    "other_of": "linked",
}
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
    all_regions = auth.list_regions()
    regions = [r for r in all_regions if actor.sees_all_regions or r.id in actor.region_ids]
    users = {u.id: u for u in auth.list_users()}
    return render_template(
        "cases/list.html",
        incoming_transfers=transfers.incoming_count(actor),
        pending_transfers=transfers.pending_case_ids([c.id for c in cases]),
        regions_by_id={r.id: r for r in all_regions},
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
    words = vocabulary.for_case_list(case.case_list.name)
    language = reader_language(words.languages())
    answers, system = _property_rows(case, words, language, actor)
    mentioned = {
        str(value)
        for v in case.versions
        for change in v.changes or ()
        if isinstance(change, dict)
        for value in (change.get("old"), change.get("new"))
        if isinstance(value, str) and _UUID.match(value)
    }
    case_codes: dict[str, str] = {}
    if mentioned:
        found = select(Case.uuid, Case.code).where(Case.uuid.in_(mentioned))
        case_codes = dict(db.session.execute(found).tuples().all())
    history = transfers.requests_of_case(case)
    pending = next((r for r in history if r.state == TransferState.PENDING), None)
    consent_history = consent.history(case)
    case_referrals = referrals.of_case(case)
    today = utcnow().date()
    for extra in db.session.scalars(  # the screenings and registrations they came from
        scope_submissions(
            select(Submission).where(
                Submission.id.in_(
                    {h.submission_id for h in consent_history if h.submission_id}
                    | {r.submission_id for r in case_referrals if r.submission_id}
                )
            ),
            actor,
        )
    ):
        submissions.setdefault(extra.id, extra)
    db.session.commit()
    return render_template(
        "cases/detail.html",
        show_value=show_value,
        case=case,
        submissions=submissions,
        users=users,
        links=links,
        viewers=viewers,
        workers=workers,
        regions=regions,
        regions_by_id={r.id: r for r in regions},
        staffing=transfers.staffing(regions),
        transfer_history=history,
        pending_transfer=pending,
        region=region,
        today=utcnow().date(),
        wellbeing=_wellbeing_charts(case),
        answers=answers,
        system=system,
        words=words,
        language=language,
        relation_words=RELATION_WORDS,
        submission_names=submission_names(list(submissions.values())),
        case_codes=case_codes,
        list_titles={cl.name: cl.title for cl in db.session.scalars(select(CaseList))},
        consent_history=consent_history,
        consent_words={
            "words": consent.WORDS,
            "child_lists": consent.CHILD_LISTS,
            "stopped": consent.stops_follow_ups(case),
        },
        referrals=case_referrals,
        referral_words=referrals.words(case_referrals, today),
    )


def submission_names(found: list[Submission]) -> dict[int, str]:
    """How each submission is named on a page: its instance name, else its form and date."""
    from fieldapp.forms.models import Form  # noqa: PLC0415
    from fieldapp.submissions.models import SubmissionVersion  # noqa: PLC0415

    if not found:
        return {}
    forms = select(Form.id, Form.title).where(Form.id.in_({s.form_pk for s in found}))
    titles: dict[int, str] = dict(db.session.execute(forms).tuples().all())
    versions = select(SubmissionVersion.id, SubmissionVersion.instance_name).where(
        SubmissionVersion.id.in_({s.current_version_id for s in found})
    )
    names: dict[int | None, str | None] = dict(db.session.execute(versions).tuples().all())
    return {
        s.id: names.get(s.current_version_id)
        or f"{titles.get(s.form_pk, 'submission')} · {s.received_at:%Y-%m-%d}"
        for s in found
    }


def show_value(words: vocabulary.Vocabulary, prop: str, value: Any, language: str | None) -> str:
    """A case property as a person reads it: choice labels in ``language``, and a date
    question's answer as day.month.year (ISO in English), like every date on the pages."""
    found = words.words.get(prop)
    if found is not None and found.field.data_type == "date" and isinstance(value, str):
        return i18n_date(value)
    return words.value(prop, value, language)


def reader_language(available: list[str]) -> str | None:
    """The form language to show: ``?lang=``, else the browser's best match, else ``None``
    (the form's default).

    :param available: form language names such as ``"Русский (ru)"``.
    """
    codes: dict[str, str] = {}
    for name in available:
        match = re.search(r"\(([A-Za-z]{2,3})(?:-[A-Za-z0-9]+)*\)\s*$", name)
        if match:
            codes.setdefault(match.group(1).lower(), name)
    wanted = (request.args.get("lang") or "").strip().lower()
    if wanted in codes:
        return codes[wanted]
    # the page's own language (the person's setting, else the browser's), else the browser's
    # next wish among the form's languages
    if current_language() in codes:
        return codes[current_language()]
    best = request.accept_languages.best_match(list(codes)) if codes else None
    return codes[best] if best else None


def _property_rows(
    case: Case, words: vocabulary.Vocabulary, language: str | None, actor: User
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The case's properties as rows a person reads, in the forms' order, and its system fields.

    A value that is another case's UUID (``household_id``) shows that case by code and label
    (its code only, when the reader may not open it).
    """
    refs = [str(v) for v in case.properties.values() if isinstance(v, str) and _UUID.match(v)]
    linked = (
        {c.uuid: c for c in db.session.scalars(select(Case).where(Case.uuid.in_(refs)))}
        if refs
        else {}
    )
    order = {name: i for i, name in enumerate(words.words)}
    answers: list[dict[str, Any]] = []
    system: list[dict[str, Any]] = []
    for name in sorted(case.properties, key=lambda n: (order.get(n, len(order)), n)):
        value = case.properties[name]
        target = linked.get(value) if isinstance(value, str) else None
        row = {
            "name": name,
            "label": words.label(name, language),
            "text": "" if value is None else show_value(words, name, value, language),
            "case": target,
            "may_open": target is not None and services.may_see(actor, target),
        }
        (system if words.is_system(name) else answers).append(row)
    return answers, system


#: page actions that change a case in a way hard to take back: a POST without ``confirm=1``
#: only shows what will happen (the confirmation page), and acts once that page is sent
CONFIRMED = ("request_transfer", "transfer", "close", "merge")


def _worker_name(case: Case) -> str:
    worker = db.session.get(User, case.assigned_to_id) if case.assigned_to_id else None
    return worker.display_name or worker.username if worker else gettext("nobody")


def _chosen_region(case: Case) -> Region:
    code = request.form.get("region", "").strip()
    if not code:
        raise Invalid(
            "Choose the region that should take the case.", code="transfer.region_missing"
        )
    region = care.get_region_or_404(code)
    if region.id == case.region_id:
        raise Invalid("The case is already in that region.", code="case.same_region")
    return region


def _confirmation(case: Case, action: str, actor: User) -> dict[str, Any]:
    """What the confirmation page of ``action`` says, and the fields it sends again.

    :raises DomainError: the input cannot lead anywhere (no region, no reason, no such case).
    """
    here = db.session.get(Region, case.region_id)
    here_name = here.name if here else ""
    worker = _worker_name(case)
    back = url_for("case_pages.case_page", case_id=case.uuid)
    common = {
        "action": url_for("case_pages.act", case_id=case.uuid),
        "cancel_url": back,
        "back_label": case.code,
        "danger": False,
    }
    if action == "request_transfer":
        region = _chosen_region(case)
        note = request.form.get("note", "")
        coords, workers = transfers.staffing([region])[region.id]
        names = {"here": here_name, "worker": worker, "region": region.name}
        lines = [
            gettext(
                "The case stays in %(here)s and assigned to %(worker)s until a coordinator of "
                "%(region)s accepts.",
                **names,
            ),
            gettext(
                "Coordinators of %(region)s see the case's code, label and list, and your "
                "note; they accept choosing one of their field workers, or decline with a "
                "reason.",
                **names,
            ),
            gettext(
                "Once accepted, the case leaves %(here)s: it goes off the phone of %(worker)s "
                "and out of your lists; this region keeps a history entry that it left.",
                **names,
            ),
        ]
        if not coords:
            lines.append(
                gettext(
                    "%(region)s has no coordinator: only the national office can accept.",
                    region=region.name,
                )
            )
        if not workers:
            lines.append(
                gettext(
                    "%(region)s has no field worker yet: nobody there could take the case.",
                    region=region.name,
                )
            )
        return common | {
            "title": gettext(
                "Ask %(region)s to take %(code)s?", region=region.name, code=case.code
            ),
            "lines": lines,
            "fields": [("action", action), ("region", region.code), ("note", note)],
            "button": gettext("Send the request to %(region)s", region=region.name),
        }
    if action == "transfer":
        if not actor.has_role(Role.ADMIN):
            raise Forbidden(
                "Ask the receiving region to take the case: use Request transfer.",
                code="transfer.request_needed",
            )
        region = _chosen_region(case)
        return common | {
            "title": gettext(
                "Move %(code)s to %(region)s now?", code=case.code, region=region.name
            ),
            "lines": [
                gettext(
                    "The case moves to %(region)s at once, with no worker: it leaves the phone "
                    "of %(worker)s and the lists of %(here)s.",
                    region=region.name,
                    worker=worker,
                    here=here_name,
                ),
                gettext(
                    "A coordinator of %(region)s then assigns it to a field worker.",
                    region=region.name,
                ),
                gettext("A transfer request still waiting for an answer is cancelled."),
            ],
            "fields": [("action", action), ("region", region.code)],
            "button": gettext("Move to %(region)s", region=region.name),
            "danger": True,
        }
    if action == "close":
        reason = request.form.get("reason", "")
        if not reason.strip():
            raise Invalid("Say why the case is closed.", code="case.reason_missing")
        return common | {
            "title": gettext("Close %(code)s?", code=case.code),
            "lines": [
                gettext(
                    "Closing stops follow-ups on phones: the case leaves the phone of "
                    "%(worker)s and the overdue lists.",
                    worker=worker,
                ),
                gettext("The reason is kept with the case."),
                gettext("The case can be reopened from its page."),
            ],
            "fields": [("action", action), ("reason", reason)],
            "button": gettext("Close the case"),
            "danger": True,
        }
    # merge
    other = services.visible_case(request.form.get("other", ""), actor=actor)
    if other.id == case.id or other.case_list_id != case.case_list_id:
        raise Invalid(
            "Only two different cases of the same list can be merged.", code="case.merge_invalid"
        )
    codes = {"code": case.code, "other": other.code}
    return common | {
        "title": gettext("Merge %(other)s into %(code)s?", **codes),
        "lines": [
            gettext(
                "%(code)s keeps its values; where it has none, those of %(other)s are taken: "
                "one new version of %(code)s.",
                **codes,
            ),
            gettext(
                "%(other)s becomes a pointer to %(code)s (status merged): it leaves phones and "
                "lists, and its submissions count for %(code)s.",
                **codes,
            ),
            gettext("A merge cannot be undone."),
        ],
        "fields": [("action", action), ("other", other.code)],
        "button": gettext("Merge %(other)s into %(code)s", **codes),
        "danger": True,
    }


@bp.post("/<case_id>/act")
@require(Role.ADMIN, Role.COORDINATOR)
def act(case_id: str) -> Any:
    """Assign, request or cancel a transfer, transfer (administrators), close, reopen or merge
    from the case page; the actions in :data:`CONFIRMED` ask first."""
    actor = current_actor()
    case = services.visible_case(case_id, actor=actor)
    action = request.form.get("action", "")
    back = redirect(url_for("case_pages.case_page", case_id=case.uuid))
    if action in CONFIRMED and request.form.get("confirm") != "1":
        try:
            confirm = _confirmation(case, action, actor)
        except DomainError as exc:
            db.session.rollback()
            flash(translated_error(exc), "error")
            return back
        db.session.rollback()
        return render_template("confirm.html", confirm=confirm)

    def cancel_transfer() -> None:
        pending = transfers.pending_request(case)
        if pending is None:
            raise Conflict("No transfer of this case is waiting.", code="transfer.not_pending")
        transfers.cancel(pending, actor=actor)

    def transfer() -> None:
        if not actor.has_role(Role.ADMIN):
            raise Forbidden(
                "Ask the receiving region to take the case: use Request transfer.",
                code="transfer.request_needed",
            )
        care.transfer(case, _chosen_region(case), actor=actor)

    acts: dict[str, Callable[[], object]] = {
        "assign": lambda: care.assign(
            case, auth.get_user_by_username(request.form.get("user", "")), actor=actor
        ),
        "request_transfer": lambda: transfers.request_transfer(
            case, _chosen_region(case), actor=actor, note=request.form.get("note", "")
        ),
        "cancel_transfer": cancel_transfer,
        "transfer": transfer,
        "close": lambda: care.close(case, actor=actor, reason=request.form.get("reason", "")),
        "reopen": lambda: care.reopen(case, actor=actor),
        "merge": lambda: care.merge(
            case, services.visible_case(request.form.get("other", ""), actor=actor), actor=actor
        ),
    }
    if action not in acts:
        flash(gettext("Unknown action."), "error")
        return back
    try:
        with unit_of_work():
            acts[action]()
        flash(str(_DONE.get(action, _l("Saved."))))
    except DomainError as exc:
        flash(translated_error(exc), "error")
    if (
        action == "transfer"
        and case.region_id not in actor.region_ids
        and not actor.sees_all_regions
    ):
        return redirect(url_for("case_pages.case_list"))
    return back


_DONE = {
    "request_transfer": _l(
        "Transfer requested; the case stays here until the other region accepts."
    ),
    "cancel_transfer": _l("Transfer request cancelled."),
    "close": _l("Closed."),
    "merge": _l("Merged."),
}
