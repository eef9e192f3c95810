"""The questions a coordinator asks every Monday, answered from cases and submissions.

Four questions, one function each (the screens of :mod:`fieldapp.care.screens`):

* :func:`overdue` — open cases whose next follow-up date has passed, by how many days, and
  per region and worker the open and overdue cases, with the workers who are *overloaded*:
  more than :data:`OVERLOAD_OPEN_CASES` open cases, or at least :data:`OVERLOAD_MIN_OVERDUE`
  overdue making up at least :data:`OVERLOAD_OVERDUE_SHARE` of their open cases.
* :func:`worsened_screenings` — people whose latest wellbeing screening is worse than their
  previous one: PHQ (PHQ-9, or PHQ-A for children) or GAD-7 up by at least
  :data:`SCORE_RISE` points or into a worse band, or WHO-5 down from above 50 % to 50 % or
  less. A child whose latest screening has a safety answer of concern (PHQ-A item 9 above 0,
  or yes to either safety question) is listed whatever the scores, and those children come
  first.
* :func:`school` — school-age children (6 to 17 on 1 September of the school year) with no
  school check-in this term, and children whose latest check-in is worse than the previous
  one: at least :data:`ABSENCE_RISE` more days absent in the month, or bullying reported where
  the previous one reported none ("this term": the latest check-in is dated in it).
  Kazakhstan's school year has four terms: September-October,
  November-December, January-March, April-May; from June to August the term looked at is the
  one that ended in May.
* :func:`urgent_unreviewed` — urgent submissions waiting for a decision (new or corrected),
  oldest first, with how long they have waited.

Where the answers come from: a screening or a check-in is a submission of its form (not deleted,
not rejected, not test data) and the entity block of its current version (its case work, whether
pending, applied or not applicable): the proposed properties hold the totals and answers the
form saves to the case (``wellbeing_screening`` → ``phq_total``, ``phq_band``, ``gad_total``,
``who5_percent``, ``last_screening_date``; ``school_checkin`` → ``last_school_checkin``,
``attendance_days_absent``, ``bullying_reported``). A screening waiting for review counts: a
worsening should not wait for the queue. A screening without a PHQ band did not reach the
results page (a child who did not assent) and has no scores. The date of a screening or check-in
is the one the form records, else the day it was received.

Region scoping: every function takes a :class:`Scope` made by :func:`scope_for`, which admits
administrators (every region, or one chosen) and coordinators (their regions, or one of them)
and refuses everyone else (``NotFound``, as for a page that does not exist); each function checks
the scope again. Cases are scoped by the case's region (the region that follows the person now),
urgent submissions by the submission's region (the region whose queue holds it). Only open
cases are listed.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from flask import has_app_context
from flask_babel import (
    LazyString,
    format_decimal,
    gettext,
    lazy_ngettext,
    lazy_pgettext,
    ngettext,
)
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, case, func, select

from fieldapp.auth.models import Region, Role, User
from fieldapp.cases.mapping import as_date
from fieldapp.cases.models import Case, CaseList, CaseStatus, CaseWork, WorkState
from fieldapp.db import db
from fieldapp.errors import NotFound
from fieldapp.forms.models import Form
from fieldapp.submissions.models import ReviewState, Submission, SubmissionVersion

SCREENING_FORM = "wellbeing_screening"
SCHOOL_FORM = "school_checkin"
CHILDREN = "children"
#: the case lists a screening updates (an adult or a child)
SCREENED = ("adults", CHILDREN)

#: a worker with more open cases than this is overloaded (about 15 families with their members)
OVERLOAD_OPEN_CASES = 60
#: ... and so is one with at least this many overdue cases ...
OVERLOAD_MIN_OVERDUE = 3
#: ... that are at least this share of their open cases
OVERLOAD_OVERDUE_SHARE = 0.25
#: a PHQ or GAD-7 total this many points above the previous screening's is a worsening
SCORE_RISE = 5
#: WHO-5 at or below this percentage means poor wellbeing
WHO5_POOR = 50.0
#: this many more days absent (in the month) than at the previous check-in is a worsening
ABSENCE_RISE = 3
#: school age: from 6 to 17 years old on 1 September of the school year
SCHOOL_AGE = (6, 17)
#: what the screens read of each entry's proposed properties
SCREENING_PROPERTIES = ("phq_total", "phq_band", "gad_total", "who5_percent")
SCHOOL_PROPERTIES = ("attendance_days_absent", "bullying_reported")

#: case work that stands for its submission (not replaced by an edit, not rejected)
_LIVE_WORK = (
    WorkState.PENDING.value,
    WorkState.APPLIED.value,
    WorkState.HELD.value,
    WorkState.ERROR.value,
)
#: what a decision is waiting for
_WAITING = (ReviewState.RECEIVED.value, ReviewState.EDITED.value)

PHQ_BANDS = (
    (20, "severe"),
    (15, "moderately severe"),
    (10, "moderate"),
    (5, "mild"),
    (0, "minimal"),
)
GAD_BANDS = ((15, "severe"), (10, "moderate"), (5, "mild"), (0, "minimal"))
#: the bands' names as pages show them (the names above are the keys the rules compare)
BAND_WORDS = {
    "severe": lazy_pgettext("score band", "severe"),
    "moderately severe": lazy_pgettext("score band", "moderately severe"),
    "moderate": lazy_pgettext("score band", "moderate"),
    "mild": lazy_pgettext("score band", "mild"),
    "minimal": lazy_pgettext("score band", "minimal"),
}
#: a worker row for the open cases nobody is assigned to (shown in the reader's language)
UNASSIGNED = _l("nobody (unassigned)")

# The reasons, safety words and term names below are lazy strings: they are put into words in
# the reader's language when a page shows them (``str()``), and read English elsewhere (the
# tests, the command line). Their numbers are written the language's way then too (``7,5``).


# -- who sees what -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """The regions a screen covers for ``actor``: all of theirs, or the one chosen."""

    actor: User
    #: the regions the actor may choose from, by name
    regions: tuple[Region, ...]
    #: the region chosen with ``?region=`` (``None``: all of them)
    chosen: Region | None = None

    @property
    def region_ids(self) -> frozenset[int]:
        if self.chosen is not None:
            return frozenset({self.chosen.id})
        return frozenset(r.id for r in self.regions)

    @property
    def covered(self) -> tuple[Region, ...]:
        return (self.chosen,) if self.chosen is not None else self.regions


def may_use(actor: User) -> bool:
    """Administrators and coordinators; field workers follow their cases on their phones."""
    return actor.sees_all_regions or actor.has_role(Role.COORDINATOR)


def scope_for(actor: User, region_code: str | None = None) -> Scope:
    """The actor's scope, narrowed to ``region_code`` when given.

    :raises NotFound: the actor may not use the screens, or ``region_code`` is not one of
        their regions (or does not exist).
    """
    if not may_use(actor):
        raise NotFound("Not found.", code="not_found")
    if actor.sees_all_regions:
        regions = list(db.session.scalars(select(Region)))
    else:
        regions = list(actor.regions)
    ordered = tuple(sorted(regions, key=lambda r: (r.name.lower(), r.code)))
    if not region_code:
        return Scope(actor, ordered)
    for region in ordered:
        if region.code == region_code:
            return Scope(actor, ordered, region)
    raise NotFound("No such region.", code="region.not_found")


def _check(scope: Scope) -> frozenset[int]:
    """The scope's region ids, checked against the actor again: no caller can widen it."""
    actor = scope.actor
    if not may_use(actor):
        raise NotFound("Not found.", code="not_found")
    ids = scope.region_ids
    if not actor.sees_all_regions and not ids <= actor.region_ids:
        raise NotFound("No such region.", code="region.not_found")
    return ids


# -- shared pieces -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseRef:
    """A case as a screen row shows it (linked to ``/cases/<uuid>``)."""

    id: int
    uuid: str
    code: str
    label: str
    list_name: str
    region_id: int
    assigned_to_id: int | None


_CASE_COLUMNS = (
    Case.id,
    Case.uuid,
    Case.code,
    Case.label,
    CaseList.name,
    Case.region_id,
    Case.assigned_to_id,
)


def _case_ref(row: Sequence[Any]) -> CaseRef:
    return CaseRef(row[0], row[1], row[2], row[3], row[4], row[5], row[6])


def number(value: Any) -> float | None:
    """A score read from a property (numbers arrive as numbers or as text)."""
    if isinstance(value, bool) or value is None or value == "":
        return None
    try:
        found = float(value)
    except (TypeError, ValueError):
        return None
    return found if math.isfinite(found) else None


def _number_words(value: float) -> Any:
    """``value`` written as the reader's language writes numbers, when the text is shown."""
    return LazyString(_format_number, value)


def _format_number(value: float) -> str:
    if not has_app_context():  # no locale to ask: as the English page writes it
        return f"{value:g}"
    return str(format_decimal(value))


def _band_words(name: str) -> Any:
    return BAND_WORDS.get(name, name)


def _band(total: float, bands: Sequence[tuple[int, str]]) -> tuple[int, str]:
    """``(rank, name)`` of the band ``total`` falls in; a higher rank is worse."""
    for rank, (limit, name) in enumerate(bands):
        if total >= limit:
            return len(bands) - 1 - rank, name
    return 0, bands[-1][1]


def phq_band(total: float) -> str:
    return _band(total, PHQ_BANDS)[1]


def gad_band(total: float) -> str:
    return _band(total, GAD_BANDS)[1]


def _form_pk(form_id: str) -> int | None:
    return db.session.scalar(select(Form.id).where(Form.form_id == form_id))


@dataclass(frozen=True, slots=True)
class Entry:
    """One screening or check-in of one case, from its submission's current entity block."""

    case: CaseRef
    submission_id: int
    instance_id: str
    review_state: str
    on: date
    received_at: datetime
    #: the proposed properties asked for (missing ones are ``None``)
    properties: Mapping[str, Any]

    @property
    def order(self) -> tuple[date, datetime, int]:
        return (self.on, self.received_at, self.submission_id)


def _received_day() -> Any:
    """The UTC day a submission arrived, as ``YYYY-MM-DD`` text, in the database's dialect."""
    if db.session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", Submission.received_at), "YYYY-MM-DD")
    return func.substr(Submission.received_at, 1, 10)


def _entries(
    scope: Scope,
    form_id: str,
    date_property: str,
    names: Sequence[str],
    *,
    lists: Iterable[str] | None = None,
    required: str | None = None,
    latest: int = 2,
) -> dict[int, list[Entry]]:
    """The latest ``latest`` live entries of the form for each open case in scope (per case id,
    oldest first), with the proposed properties ``names``; ``required``: only entries where
    that property is given.

    The database ranks them (one window function per case: the form's date, else the day
    received, then the time received and the id), so only the last few per case leave it.
    One list in ``lists`` lets it start from the region's cases (``ix_cases_list_region``:
    list, region, status), so a region's screen does not grow with the other regions (with
    two, SQLite starts from all the form's submissions).
    """
    ids = _check(scope)
    form_pk = _form_pk(form_id)
    if form_pk is None or not ids:
        return {}
    props = CaseWork.properties
    day = func.coalesce(props[date_property].as_string(), _received_day())
    rank = (
        func.row_number()
        .over(
            partition_by=Case.id,
            order_by=(day.desc(), Submission.received_at.desc(), Submission.id.desc()),
        )
        .label("rank")
    )
    values = [props[name].as_string().label(f"p{i}") for i, name in enumerate(names)]
    inner = (
        select(
            *_CASE_COLUMNS,
            Submission.id.label("submission_id"),
            Submission.instance_id,
            Submission.review_state,
            Submission.received_at,
            day.label("day"),
            *values,
            rank,
        )
        .select_from(CaseWork)
        .join(
            Submission,
            (Submission.id == CaseWork.submission_id)
            & (Submission.current_version_id == CaseWork.version_id),
        )
        .join(Case, Case.uuid == CaseWork.case_uuid)
        .join(CaseList, CaseList.id == Case.case_list_id)
        .where(
            Submission.form_pk == form_pk,
            Submission.deleted_at.is_(None),
            Submission.sandbox.is_(False),
            Submission.review_state != ReviewState.REJECTED.value,
            CaseWork.state.in_(_LIVE_WORK),
            Case.region_id.in_(ids),
            Case.status == CaseStatus.OPEN.value,
            Case.sandbox.is_(False),
        )
    )
    if lists is not None:
        inner = inner.where(CaseList.name.in_(list(lists)))
    if required is not None:
        given = props[required].as_string()
        inner = inner.where(given.is_not(None), given != "")
    ranked = inner.subquery()
    rows = db.session.execute(
        select(*ranked.c).where(ranked.c.rank <= latest).order_by(ranked.c.id, ranked.c.rank.desc())
    )
    out: dict[int, list[Entry]] = defaultdict(list)
    for row in rows:
        ref = _case_ref(row)
        submission_id, instance_id, state, received_at, day_text = row[7:12]
        found = dict(zip(names, row[12 : 12 + len(names)], strict=True))
        on = as_date(day_text) or received_at.date()
        out[ref.id].append(Entry(ref, submission_id, instance_id, state, on, received_at, found))
    return out


# -- 1. overdue visits -------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkerLoad:
    """One worker's open and overdue cases in one region (``user_id`` None: unassigned)."""

    region_id: int
    user_id: int | None
    username: str | None
    #: the worker's name; for the unassigned row :data:`UNASSIGNED` (a lazy string)
    name: str
    open_cases: int
    overdue: int

    @property
    def overloaded(self) -> bool:
        if self.user_id is None:
            return False
        return self.open_cases > OVERLOAD_OPEN_CASES or (
            self.overdue >= OVERLOAD_MIN_OVERDUE
            and self.overdue >= OVERLOAD_OVERDUE_SHARE * self.open_cases
        )


@dataclass(frozen=True)
class OverdueCase:
    case: CaseRef
    next_due: date
    days: int
    worker: WorkerLoad | None


@dataclass(frozen=True)
class Overdue:
    today: date
    cases: list[OverdueCase]
    workers: list[WorkerLoad]

    @property
    def count(self) -> int:
        return len(self.cases)

    @property
    def overloaded(self) -> list[WorkerLoad]:
        return [w for w in self.workers if w.overloaded]


def worker_loads(scope: Scope, today: date) -> list[WorkerLoad]:
    """Open and overdue cases per region and assigned worker (region, most overdue first)."""
    ids = _check(scope)
    if not ids:
        return []
    rows = db.session.execute(
        select(
            Case.region_id,
            Case.assigned_to_id,
            User.username,
            User.display_name,
            func.count(Case.id),
            func.sum(case((Case.next_due < today, 1), else_=0)),
        )
        .outerjoin(User, User.id == Case.assigned_to_id)
        .where(
            Case.region_id.in_(ids),
            Case.status == CaseStatus.OPEN.value,
            Case.sandbox.is_(False),
        )
        .group_by(Case.region_id, Case.assigned_to_id, User.username, User.display_name)
    ).all()
    loads = [
        WorkerLoad(
            region_id=region_id,
            user_id=user_id,
            username=username,
            name=(display or username) if username else UNASSIGNED,
            open_cases=int(count),
            overdue=int(late or 0),
        )
        for region_id, user_id, username, display, count, late in rows
    ]
    names = {r.id: r.name.lower() for r in scope.regions}
    return sorted(
        loads, key=lambda w: (names.get(w.region_id, ""), -w.overdue, -w.open_cases, w.name)
    )


def overdue_count(scope: Scope, today: date) -> int:
    ids = _check(scope)
    if not ids:
        return 0
    return int(
        db.session.scalar(
            select(func.count(Case.id)).where(
                Case.region_id.in_(ids),
                Case.status == CaseStatus.OPEN.value,
                Case.sandbox.is_(False),
                Case.next_due < today,
            )
        )
        or 0
    )


def overdue(scope: Scope, today: date) -> Overdue:
    """Open cases in scope due before ``today``, longest overdue first, and the workers."""
    ids = _check(scope)
    workers = worker_loads(scope, today)
    if not ids:
        return Overdue(today, [], workers)
    by_worker = {(w.region_id, w.user_id): w for w in workers}
    rows = db.session.execute(
        select(*_CASE_COLUMNS, Case.next_due)
        .join(CaseList, CaseList.id == Case.case_list_id)
        .where(
            Case.region_id.in_(ids),
            Case.status == CaseStatus.OPEN.value,
            Case.sandbox.is_(False),
            Case.next_due < today,
        )
        .order_by(Case.next_due, Case.code)
    ).all()
    cases = []
    for row in rows:
        ref = _case_ref(row)
        due = row[7]
        cases.append(
            OverdueCase(
                case=ref,
                next_due=due,
                days=(today - due).days,
                worker=by_worker.get((ref.region_id, ref.assigned_to_id)),
            )
        )
    return Overdue(today, cases, workers)


# -- 2. worsened screenings ----------------------------------------------------------------------


@dataclass(frozen=True)
class Scores:
    """The totals of one screening (``None``: not asked, e.g. GAD-7 and WHO-5 of a child)."""

    phq: float | None
    gad: float | None
    who5: float | None

    @classmethod
    def of(cls, props: Mapping[str, Any]) -> Scores | None:
        """The scores of a screening's proposal; ``None`` when it has none (no PHQ band:
        the results page was not reached)."""
        if not props.get("phq_band"):
            return None
        return cls(
            number(props.get("phq_total")),
            number(props.get("gad_total")),
            number(props.get("who5_percent")),
        )


@dataclass(frozen=True)
class Safety:
    """A child's safety answers in one screening (``None``: not answered)."""

    item9: float | None
    thoughts: str | None
    attempt: str | None

    @property
    def concern(self) -> bool:
        return (self.item9 or 0) > 0 or self.thoughts == "yes" or self.attempt == "yes"

    def words(self) -> list[str]:
        """The answers of concern, in words (lazy strings: the reader's language on a page)."""
        out = []
        if self.thoughts == "yes":
            out.append(_l("serious thoughts of ending their life in the past month"))
        if self.attempt == "yes":
            out.append(_l("has tried to end their life"))
        if self.item9 is not None and self.item9 > 0:
            out.append(
                _l(
                    "PHQ-A item 9 (thoughts of self-harm) = %(score)s",
                    score=_number_words(self.item9),
                )
            )
        return out


@dataclass(frozen=True)
class Worsened:
    """A person whose latest screening is worse than the previous one (or a child's safety
    answer of concern)."""

    case: CaseRef
    latest: Entry
    previous: Entry | None
    now: Scores
    before: Scores | None
    reasons: tuple[str, ...]
    safety: Safety | None = None

    @property
    def child(self) -> bool:
        return self.case.list_name == CHILDREN

    @property
    def safety_first(self) -> bool:
        return self.safety is not None and self.safety.concern


@dataclass(frozen=True)
class Screenings:
    rows: list[Worsened] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.rows)


def compare(now: Scores, before: Scores, *, child: bool) -> list[str]:
    """Why ``now`` is worse than ``before`` (empty: it is not), in words (lazy strings)."""
    phq = "PHQ-A" if child else "PHQ-9"
    reasons = []
    for name, bands, a, b in (
        (phq, PHQ_BANDS, now.phq, before.phq),
        ("GAD-7", GAD_BANDS, now.gad, before.gad),
    ):
        if a is None or b is None:
            continue
        if a - b >= SCORE_RISE:
            reasons.append(
                lazy_ngettext(
                    "%(name)s up %(points)s point (%(before)s → %(now)s)",
                    "%(name)s up %(points)s points (%(before)s → %(now)s)",
                    int(a - b),
                    name=name,
                    points=_number_words(a - b),
                    before=_number_words(b),
                    now=_number_words(a),
                )
            )
        elif _band(a, bands)[0] > _band(b, bands)[0]:
            reasons.append(
                _l(
                    "%(name)s into a worse band: %(before)s → %(now)s",
                    name=name,
                    before=_band_words(_band(b, bands)[1]),
                    now=_band_words(_band(a, bands)[1]),
                )
            )
    if (
        now.who5 is not None
        and before.who5 is not None
        and before.who5 > WHO5_POOR
        and now.who5 <= WHO5_POOR
    ):
        reasons.append(
            _l(
                "WHO-5 down to %(now)s%% (%(before)s%% before)",
                now=_number_words(now.who5),
                before=_number_words(before.who5),
            )
        )
    return reasons


def _safety(version_ids: Sequence[int]) -> dict[int, Safety]:
    """Children's safety answers of these submission versions, by version id."""
    if not version_ids:
        return {}
    data = SubmissionVersion.data
    block = "child_screening"
    rows = db.session.execute(
        select(
            SubmissionVersion.id,
            data[(block, "phqa_items", "phqa9")].as_string(),
            data[(block, "child_safety", "child_serious_thoughts")].as_string(),
            data[(block, "child_safety", "child_attempt")].as_string(),
        ).where(SubmissionVersion.id.in_(list(version_ids)))
    ).all()
    return {
        vid: Safety(number(item9), thoughts or None, attempt or None)
        for vid, item9, thoughts, attempt in rows
    }


def worsened_screenings(scope: Scope) -> Screenings:
    """People in scope whose latest screening worsened; children with a safety concern first,
    then the latest screening first."""
    per_case: dict[int, list[Entry]] = {}
    for list_name in SCREENED:  # one list a query: each starts from the region's cases
        per_case.update(
            _entries(
                scope,
                SCREENING_FORM,
                "last_screening_date",
                SCREENING_PROPERTIES,
                lists=[list_name],
                required="phq_band",
            )
        )
    latest_child: dict[int, Entry] = {}
    found: list[Worsened] = []
    for entries in per_case.values():
        scored = [(e, s) for e in entries if (s := Scores.of(e.properties)) is not None]
        if not scored:
            continue
        latest, now = scored[-1]
        child = latest.case.list_name == CHILDREN
        if child:
            latest_child[latest.submission_id] = latest
        previous, before = scored[-2] if len(scored) > 1 else (None, None)
        reasons = compare(now, before, child=child) if before is not None else []
        found.append(Worsened(latest.case, latest, previous, now, before, tuple(reasons)))
    # the safety answers are in the submission, not the case: read them for children's latest
    versions = (
        dict(
            db.session.execute(
                select(Submission.id, Submission.current_version_id).where(
                    Submission.id.in_(list(latest_child))
                )
            )
            .tuples()
            .all()
        )
        if latest_child
        else {}
    )
    safety = _safety([v for v in versions.values() if v is not None])
    rows = []
    for row in found:
        answers = None
        if row.child:
            answers = safety.get(versions.get(row.latest.submission_id) or -1)
        if row.reasons or (answers is not None and answers.concern):
            rows.append(
                Worsened(
                    row.case, row.latest, row.previous, row.now, row.before, row.reasons, answers
                )
            )
    rows.sort(key=lambda r: (not r.safety_first, _desc(r.latest.order), r.case.code))
    return Screenings(rows)


def _desc(order: tuple[date, datetime, int]) -> tuple[int, float, int]:
    day, received, sid = order
    return (-day.toordinal(), -received.timestamp(), -sid)


# -- 3. school -------------------------------------------------------------------------------


#: the terms' names as pages show them (``Term.name`` is the key)
TERM_WORDS = {
    "September-October": _l("September-October"),
    "November-December": _l("November-December"),
    "January-March": _l("January-March"),
    "April-May": _l("April-May"),
}


@dataclass(frozen=True)
class Term:
    #: ``November-December`` (a key; :attr:`words` is the name in the reader's language)
    name: str
    start: date
    end: date  # the last day

    @property
    def words(self) -> str:
        return str(TERM_WORDS.get(self.name, self.name))

    @property
    def school_year_start(self) -> date:
        return date(self.start.year if self.start.month >= 9 else self.start.year - 1, 9, 1)


def term_of(day: date) -> Term:
    """The term ``day`` falls in; from June to August the one that ended in May."""
    year = day.year
    if day.month >= 11:
        return Term("November-December", date(year, 11, 1), date(year, 12, 31))
    if day.month >= 9:
        return Term("September-October", date(year, 9, 1), date(year, 10, 31))
    if day.month >= 4:
        return Term("April-May", date(year, 4, 1), date(year, 5, 31))
    return Term("January-March", date(year, 1, 1), date(year, 3, 31))


def age_on(born: date, day: date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def school_age(born: date | None, term: Term) -> bool:
    if born is None:
        return False
    low, high = SCHOOL_AGE
    return low <= age_on(born, term.school_year_start) <= high


@dataclass(frozen=True)
class NoCheckin:
    case: CaseRef
    age: int
    last: Entry | None


@dataclass(frozen=True)
class SchoolWorse:
    case: CaseRef
    latest: Entry
    previous: Entry
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class School:
    today: date
    term: Term
    missing: list[NoCheckin]
    worse: list[SchoolWorse]

    @property
    def count(self) -> int:
        return len({r.case.id for r in self.missing} | {r.case.id for r in self.worse})


def school_compare(latest: Mapping[str, Any], previous: Mapping[str, Any]) -> list[str]:
    """Why the latest check-in's answers are worse than the previous one's, in words (lazy
    strings)."""
    reasons = []
    now, before = (
        number(latest.get("attendance_days_absent")),
        number(previous.get("attendance_days_absent")),
    )
    if now is not None and before is not None and now - before >= ABSENCE_RISE:
        reasons.append(
            _l(
                "days absent up %(rise)s (%(before)s → %(now)s in the month)",
                rise=_number_words(now - before),
                before=_number_words(before),
                now=_number_words(now),
            )
        )
    if latest.get("bullying_reported") == "yes" and previous.get("bullying_reported") == "no":
        reasons.append(_l("bullying reported (none at the previous check-in)"))
    return reasons


def school(scope: Scope, today: date) -> School:
    """School-age children without a check-in this term (longest without first), and
    children whose check-ins are getting worse (latest first)."""
    ids = _check(scope)
    term = term_of(today)
    if not ids:
        return School(today, term, [], [])
    checkins = _entries(
        scope, SCHOOL_FORM, "last_school_checkin", SCHOOL_PROPERTIES, lists=[CHILDREN]
    )
    children = db.session.execute(
        select(*_CASE_COLUMNS, Case.properties["birth_date"].as_string())
        .join(CaseList, CaseList.id == Case.case_list_id)
        .where(
            CaseList.name == CHILDREN,
            Case.region_id.in_(ids),
            Case.status == CaseStatus.OPEN.value,
            Case.sandbox.is_(False),
        )
    ).all()
    until = min(term.end, today)
    missing = []
    for row in children:
        ref = _case_ref(row)
        born = as_date(row[7])
        if born is None or not school_age(born, term):
            continue
        entries = checkins.get(ref.id, [])
        if entries and term.start <= entries[-1].on <= until:
            continue
        missing.append(
            NoCheckin(ref, age_on(born, term.school_year_start), entries[-1] if entries else None)
        )
    missing.sort(key=lambda r: (r.last.order if r.last else (date.min,), r.case.code))
    worse = []
    for entries in checkins.values():
        if len(entries) < 2:
            continue
        latest, previous = entries[-1], entries[-2]
        reasons = school_compare(latest.properties, previous.properties)
        if reasons:
            worse.append(SchoolWorse(latest.case, latest, previous, tuple(reasons)))
    worse.sort(key=lambda r: (_desc(r.latest.order), r.case.code))
    return School(today, term, missing, worse)


# -- 4. urgent, unreviewed ---------------------------------------------------------------------


@dataclass(frozen=True)
class UrgentRow:
    submission_id: int
    instance_id: str
    form_title: str
    region_id: int
    review_state: str
    received_at: datetime
    waited: timedelta
    cases: tuple[CaseRef, ...]


@dataclass(frozen=True)
class Urgent:
    now: datetime
    rows: list[UrgentRow]

    @property
    def count(self) -> int:
        return len(self.rows)


def _urgent_query(ids: frozenset[int]) -> Select[Any]:
    return (
        select(
            Submission.id,
            Submission.instance_id,
            Form.title,
            Submission.region_id,
            Submission.review_state,
            Submission.received_at,
            Submission.current_version_id,
        )
        .join(Form, Form.id == Submission.form_pk)
        .where(
            Submission.region_id.in_(ids),
            Submission.urgent.is_(True),
            Submission.review_state.in_(_WAITING),
            Submission.deleted_at.is_(None),
            Submission.sandbox.is_(False),
        )
    )


def urgent_count(scope: Scope) -> int:
    ids = _check(scope)
    if not ids:
        return 0
    inner = _urgent_query(ids).subquery()
    return int(db.session.scalar(select(func.count()).select_from(inner)) or 0)


def urgent_unreviewed(scope: Scope, now: datetime) -> Urgent:
    """Urgent submissions of the regions in scope waiting for a decision, oldest first, with the
    cases their current version concerns (those the actor may open)."""
    ids = _check(scope)
    if not ids:
        return Urgent(now, [])
    rows = db.session.execute(
        _urgent_query(ids).order_by(Submission.received_at, Submission.id)
    ).all()
    versions = [r[6] for r in rows if r[6] is not None]
    concerned: dict[int, list[CaseRef]] = defaultdict(list)
    if versions:
        found = db.session.execute(
            select(*_CASE_COLUMNS, CaseWork.version_id)
            .select_from(CaseWork)
            .join(Case, Case.uuid == CaseWork.case_uuid)
            .join(CaseList, CaseList.id == Case.case_list_id)
            .where(
                CaseWork.version_id.in_(versions),
                Case.sandbox.is_(False),
                *(() if scope.actor.sees_all_regions else (Case.region_id.in_(ids),)),
            )
            .order_by(Case.code)
        ).all()
        for row in found:
            concerned[row[7]].append(_case_ref(row))
    out = []
    for sid, instance_id, title, region_id, state, received_at, version_id in rows:
        out.append(
            UrgentRow(
                submission_id=sid,
                instance_id=instance_id,
                form_title=title,
                region_id=region_id,
                review_state=state,
                received_at=received_at,
                waited=now - received_at,
                cases=tuple(concerned.get(version_id or -1, ())),
            )
        )
    return Urgent(now, out)


def waited_words(waited: timedelta) -> str:
    """``3 days 4 h``, ``5 h 10 min``, ``12 min`` (in the page's language: call it when
    rendering)."""
    minutes = max(0, int(waited.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return str(
            ngettext("%(num)d day %(hours)d h", "%(num)d days %(hours)d h", days, hours=hours)
        )
    if hours:
        return str(gettext("%(hours)d h %(minutes)d min", hours=hours, minutes=mins))
    return str(gettext("%(minutes)d min", minutes=mins))
