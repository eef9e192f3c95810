"""The review workspace in the browser: the coordinators' queue and one submission's page.

``/review`` lists the submissions of the actor's regions (administrators: all), urgent first and
then oldest first, with keyset pagination, filters, counts per review state and bulk approval.
``/submissions/<instance_id>`` shows one submission in the language the reader picks, the case
changes it proposes with a take/leave choice per property, and the decision and comment forms.
Every view of a submission page is audited; every decision goes through
:mod:`fieldapp.review.services`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext, ngettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    Boolean,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    column,
    func,
    or_,
    select,
    true,
    tuple_,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from werkzeug.wrappers import Response

from fieldapp.audit.services import record
from fieldapp.auth.models import Region, Role, User
from fieldapp.auth.services import username_of
from fieldapp.cases import vocabulary
from fieldapp.cases.models import Case, CaseList, CaseVersion, WorkState
from fieldapp.cases.services import case_changes
from fieldapp.db import UTCDateTime, db, unit_of_work
from fieldapp.errors import BadRequest, DomainError, NotFound
from fieldapp.forms.models import Form, FormState
from fieldapp.forms.xform import Field, fields_from_json
from fieldapp.review import services as review
from fieldapp.submissions import services as submissions
from fieldapp.submissions.models import (
    COUNTED_STATES,
    ReviewState,
    Submission,
    SubmissionStateCount,
    SubmissionVersion,
)
from fieldapp.submissions.parsing import EXPECTED_TEXT, DisplayItem, describe
from fieldapp.web.i18n import current_language, translated_error
from fieldapp.web.permissions import current_actor, require

bp = Blueprint("review", __name__)

REVIEWERS = (Role.ADMIN, Role.COORDINATOR)
PAGE_SIZE = 50
#: most submissions one bulk approval handles (a page is 50)
BULK_LIMIT = 200
STATES = tuple(s.value for s in ReviewState)
#: what the queue shows without a state filter: submissions waiting for a decision
TO_REVIEW = (ReviewState.RECEIVED.value, ReviewState.EDITED.value)
#: the ``state`` argument that lifts the default
ALL_STATES = "all"
#: case work an approval applies; only its properties get a take/leave box
TAKEABLE = frozenset({"pending", "rejected"})
_LANG_CODE = re.compile(r"\(([A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*)\)\s*$")


# -- the queue -------------------------------------------------------------------------------


@dataclass
class QueueFilters:
    """The queue's query arguments, checked; ``errors`` says what was ignored and why."""

    form: str = ""
    worker: str = ""
    state: str = ""
    date_from: date | None = None
    date_to: date | None = None
    urgent: bool = False
    errors: list[str] = field(default_factory=list)
    _conditions: list[Any] | None = field(default=None, repr=False, compare=False)
    _form_ids: list[int] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> QueueFilters:
        filters = cls(
            form=(args.get("form") or "").strip()[:255],
            worker=(args.get("worker") or "").strip()[:64],
            urgent=(args.get("urgent") or "").lower() in ("1", "yes", "true", "on"),
        )
        state = (args.get("state") or "").strip()
        if state and state not in (*STATES, ALL_STATES):
            filters.errors.append(
                f"There is no review state {state!r}; showing what waits for a decision."
            )
        else:
            filters.state = state
        for arg, attr, name in (("from", "date_from", "From"), ("to", "date_to", "To")):
            raw = (args.get(arg) or "").strip()
            if not raw:
                continue
            try:
                setattr(filters, attr, date.fromisoformat(raw))
            except ValueError:
                filters.errors.append(f"{name} must be a date (YYYY-MM-DD); it was ignored.")
        return filters

    def args(self, *, state: str | None = None) -> dict[str, str]:
        """The filters as query arguments (``state`` overrides the current state)."""
        out = {
            "form": self.form,
            "worker": self.worker,
            "state": self.state if state is None else state,
            "from": self.date_from.isoformat() if self.date_from else "",
            "to": self.date_to.isoformat() if self.date_to else "",
            "urgent": "1" if self.urgent else "",
        }
        return {k: v for k, v in out.items() if v}

    def conditions(self) -> list[Any]:
        """Where-clauses of every filter but the review state.

        The form and the worker are looked up first, so that the database plans with their ids
        (and picks the index that leads with them).
        """
        if self._conditions is not None:
            return self._conditions
        conds: list[Any] = []
        if self.form:
            conds.append(Submission.form_pk.in_(self.form_ids()))
        if self.worker:
            user_ids = db.session.scalars(select(User.id).where(User.username == self.worker)).all()
            conds.append(Submission.submitted_by_id.in_(user_ids))
        if self.date_from:
            conds.append(Submission.received_at >= datetime.combine(self.date_from, time(), UTC))
        if self.date_to:
            end = datetime.combine(self.date_to + timedelta(days=1), time(), UTC)
            conds.append(Submission.received_at < end)
        if self.urgent:
            conds.append(Submission.urgent.is_(True))
        self._conditions = conds
        return conds

    def form_ids(self) -> list[int]:
        """The ids of the forms the form filter names (none without it)."""
        if self._form_ids is None:
            self._form_ids = list(
                db.session.scalars(select(Form.id).where(Form.form_id == self.form))
                if self.form
                else ()
            )
        return self._form_ids

    def states(self) -> tuple[str, ...]:
        """The review states the queue shows."""
        if not self.state:
            return TO_REVIEW
        if self.state == ALL_STATES:
            return STATES
        return (self.state,)


@dataclass(frozen=True)
class QueueRow:
    instance_id: str
    form_title: str
    instance_name: str | None
    worker: str | None
    region: str
    received_at: datetime
    state: str
    urgent: bool


def _cursor(cursor: str) -> tuple[bool, datetime, int]:
    """``(urgent, received_at, id)`` of the last row before the page ``cursor`` names."""
    urgent, at, ident = submissions.decode_cursor(cursor, 3)
    try:
        at_value, id_value = datetime.fromisoformat(at), submissions.cursor_id(ident)
    except ValueError:
        at_value = None
    if at_value is None or at_value.tzinfo is None or urgent not in ("0", "1"):
        raise BadRequest(
            "The page link is not valid; start from the first page.", code="cursor.invalid"
        )
    return urgent == "1", at_value, id_value


def _after(cursor: str) -> Any:
    """The keyset condition for rows after ``cursor`` (urgent first, then oldest first)."""
    urgent, at_value, id_value = _cursor(cursor)
    later = or_(
        Submission.received_at > at_value,
        and_(Submission.received_at == at_value, Submission.id > id_value),
    )
    if urgent:
        return or_(Submission.urgent.is_(False), and_(Submission.urgent.is_(True), later))
    return and_(Submission.urgent.is_(False), later)


#: "before every row": the lower bound of a queue branch the cursor does not limit
_START = (datetime(1, 1, 2, tzinfo=UTC), 0)


def _queue_regions(actor: User) -> list[int]:
    """The regions whose submissions the actor reviews (administrators: every region)."""
    if actor.has_role(Role.ADMIN):
        return list(db.session.scalars(select(Region.id).order_by(Region.id)))
    return sorted(actor.region_ids)


def _keys(
    actor: User,
    states: Sequence[str],
    urgent_only: bool,
    cursor: str | None = None,
    since: datetime | None = None,
) -> Any:
    """The queue's branches as a table (PostgreSQL ``unnest`` of array parameters, so that the
    statement's SQL, and SQLAlchemy's compiled form of it, is the same for every actor): one row
    per (region, review state, urgent), with the (received_at, id) after which the branch starts:
    the cursor's, or ``since`` (the "from" date: ids are positive, so after (since, 0) is from
    ``since`` on), whichever is later, or before every row. The index range of a branch starts
    there."""
    after = _cursor(cursor) if cursor else None
    floor = (since, 0) if since is not None else _START
    rows = []
    for region_id in _queue_regions(actor):
        for state in states:
            for urgent in (True,) if urgent_only else (True, False):
                start = floor
                if after is not None:
                    if urgent and not after[0]:
                        continue  # the cursor is past every urgent row
                    if urgent == after[0]:
                        start = max(floor, (after[1], after[2]))
                rows.append((region_id, state, urgent, *start))
    if not rows:
        rows.append((-1, "", False, *_START))  # no region: matches nothing
    columns = list(zip(*rows, strict=True))
    types: tuple[Any, ...] = (Integer(), String(), Boolean(), UTCDateTime(), Integer())
    return (
        func.unnest(
            *(bindparam(None, list(c), type_=ARRAY(t)) for c, t in zip(columns, types, strict=True))
        )
        .table_valued(
            column("region_id", Integer),
            column("review_state", String),
            column("urgent", Boolean),
            column("after_at", UTCDateTime()),
            column("after_id", Integer),
            name="queue_keys",
        )
        .render_derived()
    )


def _in_branch(keys: Any) -> list[Any]:
    """The conditions that put a submission in the branch of ``keys``' row."""
    return [
        Submission.region_id == keys.c.region_id,
        Submission.review_state == keys.c.review_state,
        Submission.urgent == keys.c.urgent,
    ]


def _branches(actor: User, filters: QueueFilters, cursor: str | None, limit: int) -> Select[Any]:
    """The ids of the page's rows, found branch by branch (PostgreSQL).

    The queue is the union of one branch per (region, review state, urgent): within a branch,
    rows are in the order of the index ``ix_submissions_queue`` (and of the form and submitter
    indexes, whose next columns are the same), so each branch reads at most ``limit`` rows after
    the cursor from one index range instead of sorting every row the filters let through. The
    branches (:func:`_keys`) are joined laterally to one parameterised query and merged in the
    queue's order. The rows are exactly those of the plain query (:func:`queue_page`'s other
    path, which SQLite takes).
    """
    since = datetime.combine(filters.date_from, time(), UTC) if filters.date_from else None
    keys = _keys(actor, filters.states(), filters.urgent, cursor, since)
    branch = (
        submissions.scope_submissions(
            select(Submission.id, Submission.urgent, Submission.received_at), actor
        )
        .where(
            *_in_branch(keys),
            tuple_(Submission.received_at, Submission.id)
            > tuple_(keys.c.after_at, keys.c.after_id),
            *filters.conditions(),
        )
        .order_by(Submission.received_at, Submission.id)
        .limit(limit)
        .lateral("queue_branch")
    )
    return (
        select(branch.c.id)
        .select_from(keys)
        .join(branch, true())
        .order_by(branch.c.urgent.desc(), branch.c.received_at, branch.c.id)
        .limit(limit)
    )


def queue_page(
    actor: User, filters: QueueFilters, cursor: str | None, limit: int = PAGE_SIZE
) -> tuple[list[QueueRow], str | None]:
    """One page of the queue and the cursor of the next page (None on the last)."""
    query: Select[Any] = (
        select(
            Submission.id,
            Submission.instance_id,
            Submission.received_at,
            Submission.review_state,
            Submission.urgent,
            Form.title,
            SubmissionVersion.instance_name,
            User.username,
            Region.name,
        )
        .join(Form, Form.id == Submission.form_pk)
        .join(Region, Region.id == Submission.region_id)
        .outerjoin(SubmissionVersion, SubmissionVersion.id == Submission.current_version_id)
        .outerjoin(User, User.id == Submission.submitted_by_id)
    )
    if db.session.get_bind().dialect.name == "postgresql":
        ids = _branches(actor, filters, cursor, limit + 1).subquery("queue_page")
        query = query.join(ids, ids.c.id == Submission.id)
    else:
        query = submissions.scope_submissions(query.where(*filters.conditions()), actor)
        query = query.where(Submission.review_state.in_(filters.states()))
        if cursor:
            query = query.where(_after(cursor))
    rows = db.session.execute(
        query.order_by(
            Submission.urgent.desc(), Submission.received_at.asc(), Submission.id.asc()
        ).limit(limit + 1)
    ).all()
    page = [
        QueueRow(
            instance_id=r.instance_id,
            form_title=r.title,
            instance_name=r.instance_name,
            worker=r.username,
            region=r.name,
            received_at=r.received_at,
            state=r.review_state,
            urgent=r.urgent,
        )
        for r in rows[:limit]
    ]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = submissions.encode_cursor(
            "1" if last.urgent else "0", last.received_at.isoformat(), last.id
        )
    return page, next_cursor


def _kept_counts(actor: User, filters: QueueFilters) -> Select[Any] | None:
    """Counts of the settled states from :class:`SubmissionStateCount`, when it can answer: for
    an administrator or a coordinator, filtered at most by form and urgency."""
    if filters.worker or filters.date_from or filters.date_to:
        return None
    query = select(SubmissionStateCount.review_state, func.sum(SubmissionStateCount.n)).group_by(
        SubmissionStateCount.review_state
    )
    if not actor.has_role(Role.ADMIN):
        if not actor.has_role(Role.COORDINATOR):
            return None
        query = query.where(SubmissionStateCount.region_id.in_(actor.region_ids or {-1}))
    if filters.form:
        query = query.where(SubmissionStateCount.form_pk.in_(filters.form_ids()))
    if filters.urgent:
        query = query.where(SubmissionStateCount.urgent.is_(True))
    return query


def state_counts(actor: User, filters: QueueFilters) -> dict[str, int]:
    """How many submissions are in each review state, under every filter but the state.

    Approved and rejected submissions (most of them, growing with the years) come from
    :class:`SubmissionStateCount` when the filters allow (no worker, no dates); the rest are
    counted from the rows. On PostgreSQL, that is one count per branch (region, state, urgent)
    of the queue: each an index-only range scan (the filters' columns follow the branch's in the
    indexes), with no grouping of the rows themselves.
    """
    found: dict[str, int] = dict.fromkeys(STATES, 0)
    kept = _kept_counts(actor, filters)
    counted = [s for s in STATES if kept is None or s not in COUNTED_STATES]
    if db.session.get_bind().dialect.name == "postgresql":
        keys = _keys(actor, counted, filters.urgent)
        branch = (
            submissions.scope_submissions(select(func.count().label("n")), actor)
            .where(*_in_branch(keys), *filters.conditions())
            .lateral("queue_count")
        )
        query = select(keys.c.review_state, branch.c.n).select_from(keys).join(branch, true())
    else:
        query = submissions.scope_submissions(
            select(Submission.review_state, func.count(Submission.id))
            .where(Submission.review_state.in_(counted), *filters.conditions())
            .group_by(Submission.review_state),
            actor,
        )
    rows = list(db.session.execute(query).all())
    if kept is not None:
        rows += db.session.execute(kept).all()
    for state, count in rows:
        if state in found:
            found[str(state)] += int(count or 0)
    return found


@bp.get("/review")
@require(*REVIEWERS)
def queue() -> Any:
    """The coordinator's queue: their regions' submissions, urgent first, then oldest first."""
    actor = current_actor()
    filters = QueueFilters.from_args(request.args)
    cursor = request.args.get("cursor") or None
    rows, next_cursor = queue_page(actor, filters, cursor, limit=PAGE_SIZE)
    forms = db.session.execute(
        select(Form.form_id, Form.title)
        .where(Form.state != FormState.DRAFT.value)
        .order_by(Form.title, Form.form_id)
    ).all()
    return render_template(
        "review/queue.html",
        rows=rows,
        next_cursor=next_cursor,
        cursor=cursor,
        filters=filters,
        counts=state_counts(actor, filters),
        states=STATES,
        forms=forms,
    )


@dataclass(frozen=True)
class Skipped:
    instance_id: str
    reason: str
    #: not found (or not the reader's to see): listed without a link
    missing: bool = False


def _bulk_skip_reason(submission: Submission) -> str | None:
    """Why bulk approval leaves this submission for a one-by-one look, if it does."""
    if submission.review_state == ReviewState.APPROVED:
        return str(gettext("already approved"))
    changes = case_changes(submission)
    conflicts = sorted({str(c["property"]) for c in changes if c["conflict"]})
    if conflicts:
        return str(
            gettext("conflicts with later case changes: %(names)s", names=", ".join(conflicts))
        )
    if any(c["error"] for c in changes):
        return str(gettext("a case change could not be applied; open it to see why"))
    return None


def _lock_for_bulk(chosen: Sequence[Submission]) -> None:
    """Lock the submissions, then the kept counts their approval changes, each in key order
    (PostgreSQL; SQLite locks the whole database).

    A decision locks its submission, then (by trigger) one kept count. Taking every lock a bulk
    approval needs before deciding, in one order, means that it never holds a count while
    waiting for a submission, and two bulk approvals never take counts in opposite orders: no
    deadlock with each other or with single decisions.
    """
    if not chosen or db.session.get_bind().dialect.name != "postgresql":
        return
    db.session.execute(
        select(Submission.id)
        .where(Submission.id.in_(sorted(s.id for s in chosen)))
        .order_by(Submission.id)
        .with_for_update()
    )
    keys = sorted(
        {(s.region_id, s.form_pk, state, s.urgent) for s in chosen for state in COUNTED_STATES}
    )
    db.session.execute(
        pg_insert(SubmissionStateCount)
        .values(
            [
                {"region_id": r, "form_pk": f, "review_state": state, "urgent": u, "n": 0}
                for r, f, state, u in keys
            ]
        )
        .on_conflict_do_nothing()
    )
    count = SubmissionStateCount
    db.session.execute(
        select(count.n)
        .where(tuple_(count.region_id, count.form_pk, count.review_state, count.urgent).in_(keys))
        .order_by(count.region_id, count.form_pk, count.review_state, count.urgent)
        .with_for_update()
    )


@bp.post("/review/bulk-approve")
@require(*REVIEWERS)
def bulk_approve() -> Any:
    """Approve the selected submissions that have no conflicts and no case-change errors."""
    actor = current_actor()
    wanted = list(dict.fromkeys(i for i in request.form.getlist("instance_id") if i))
    if not wanted:
        flash(gettext("Select the submissions to approve first."), "error")
        return redirect(url_for("review.queue"))
    if len(wanted) > BULK_LIMIT:
        raise BadRequest(
            "Approve at most %(max)s submissions at once.",
            code="review.bulk_too_many",
            params={"max": BULK_LIMIT},
        )
    approved: list[str] = []
    skipped: list[Skipped] = []
    with unit_of_work():
        found: list[tuple[str, Submission]] = []
        for instance_id in wanted:
            try:
                found.append(
                    (instance_id, submissions.visible_submission(instance_id, actor=actor))
                )
            except NotFound:
                skipped.append(Skipped(instance_id, gettext("not found"), missing=True))
        _lock_for_bulk([submission for _, submission in found])
        for instance_id, submission in found:
            reason = _bulk_skip_reason(submission)
            if reason is not None:
                skipped.append(Skipped(instance_id, reason))
                continue
            try:
                with db.session.begin_nested():
                    review.review_submission(submission, state="approved", actor=actor)
            except DomainError as exc:
                skipped.append(Skipped(instance_id, translated_error(exc)))
                continue
            approved.append(instance_id)
    position = {instance_id: i for i, instance_id in enumerate(wanted)}
    skipped.sort(key=lambda s: position[s.instance_id])
    return render_template("review/bulk.html", approved=approved, skipped=skipped)


# -- one submission --------------------------------------------------------------------------


@dataclass(frozen=True)
class Language:
    """One of the form's languages: ``key`` goes in ``?lang=``, ``name`` to :func:`describe`."""

    key: str
    name: str
    code: str | None


def _languages(names: Iterable[str]) -> list[Language]:
    out = []
    for name in names:
        match = _LANG_CODE.search(name)
        code = match.group(1).lower() if match else None
        out.append(Language(key=code or name, name=name, code=code))
    return out


def _pick_language(
    languages: Sequence[Language], wanted: str | None, default: str | None
) -> Language | None:
    for choice in (wanted, default):
        if choice:
            for lang in languages:
                if choice in (lang.key, lang.name):
                    return lang
    return languages[0] if languages else None


def _field_index(fields: Iterable[Field]) -> dict[str, Field]:
    index: dict[str, Field] = {}
    for f in fields:
        index[f.path] = f
        index.update(_field_index(f.children))
    return index


def _text(value: Any) -> str:
    """A case property value as text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value)
    return str(value)


def _change_rows(submission: Submission, language: str | None = None) -> list[dict[str, Any]]:
    """Case changes with display text and the key of their take/leave box (if they have one).

    Properties and values are shown in the form's words (question and choice labels, in
    ``language``); an applied change shows the value it replaced (``before``), kept in the case
    version the approval made, since the case's current value is then the proposed one.
    """
    version = submission.current_version
    words = vocabulary.for_form_version(version.form_version) if version is not None else {}
    before = _replaced_values(submission)
    rows = []
    for change in case_changes(submission):
        prop = change["property"]
        takeable = (
            prop is not None
            and change["state"] in TAKEABLE
            and not (change["action"] == "create" and prop == "label")
        )
        vocab = words.get(change["dataset"]) or vocabulary.Vocabulary()
        applied = change["state"] == WorkState.APPLIED.value
        key = (change["case_id"], prop)
        if applied and key in before:
            old = before[key]
        elif applied:
            old = None  # the approval changed nothing here (the same value, or left)
        else:
            old = change["current"]
        rows.append(
            change
            | {
                "applied": applied,
                "unchanged": applied and key not in before,
                "property_label": (
                    gettext("label")
                    if prop == "label"
                    else vocab.label(prop, language)
                    if prop
                    else "—"
                ),
                "current_text": "" if old is None else vocab.value(str(prop), old, language),
                "proposed_text": (
                    ""
                    if change["proposed"] is None
                    else vocab.value(str(prop), change["proposed"], language)
                ),
                "take_key": f"{change['case_id']}:{prop}" if takeable else None,
            }
        )
    return rows


def _replaced_values(submission: Submission) -> dict[tuple[str, str], Any]:
    """``(case uuid, property) -> value before`` for the changes this submission's approval made."""
    rows = db.session.execute(
        select(Case.uuid, CaseVersion.changes)
        .join(Case, Case.id == CaseVersion.case_id)
        .where(CaseVersion.submission_id == submission.id)
        .order_by(CaseVersion.version)
    ).all()
    out: dict[tuple[str, str], Any] = {}
    for uuid, changes in rows:
        for change in changes or ():
            if isinstance(change, dict) and change.get("property") is not None:
                out.setdefault((uuid, str(change["property"])), change.get("old"))
    return out


def _take_choices(submission: Submission, ticked: set[str]) -> dict[str, bool]:
    """``take`` for the review service: a property is left when any of its boxes is unticked."""
    take: dict[str, bool] = {}
    for row in _change_rows(submission):
        key = row["take_key"]
        if key is not None:
            prop = str(row["property"])
            take[prop] = take.get(prop, True) and key in ticked
    return take


def _files(submission: Submission, version: SubmissionVersion) -> dict[str, dict[str, Any]]:
    """Attachments of the current version by file name, with their URL and whether an image."""
    out = {}
    for a in version.attachments:
        out[a.name] = {
            "received": a.blob_sha256 is not None,
            "url": url_for(
                "submissions_api.api_attachment", instance_id=submission.instance_id, name=a.name
            ),
            "image": (a.content_type or "").startswith("image/"),
        }
    return out


def _answers(
    version: SubmissionVersion, language: Language | None
) -> tuple[tuple[DisplayItem, ...], dict[str, str]]:
    """The answers laid out for reading, and the media type of each upload question."""
    form_version = version.form_version
    fields = fields_from_json(form_version.fields or [])
    items = describe(
        version.data or {},
        fields,
        language.name if language else None,
        default_language=form_version.default_language,
        invalid=version.invalid_answers,
    )
    media = {
        path: f.mediatype or ""
        for path, f in _field_index(fields).items()
        if f.kind == "upload" or f.data_type == "binary"
    }
    return items, media


#: kinds of item that are not questions a worker answered (calculations, start/end, device ids)
SYSTEM_KINDS = frozenset({"calculate", "hidden", "unknown"})


def split_system(
    items: Sequence[DisplayItem],
) -> tuple[tuple[DisplayItem, ...], list[DisplayItem]]:
    """The answers a worker gave, and apart from them the values the form or phone computed.

    Groups keep their questions; a group left with no question is dropped. Repeats are kept
    whole (their entries are read together).
    """
    kept: list[DisplayItem] = []
    system: list[DisplayItem] = []
    for item in items:
        if item.kind == "repeat":
            kept.append(item)
        elif item.children:
            children, inner = split_system(item.children)
            system.extend(inner)
            if children:
                kept.append(dataclasses.replace(item, children=children))
        elif item.kind in SYSTEM_KINDS:
            system.append(item)
        else:
            kept.append(item)
    return tuple(kept), system


def submission_title(version: SubmissionVersion, form_title: str, received: datetime) -> str:
    """A submission's name on a page: its instance name, else its form and the day received."""
    return version.instance_name or f"{form_title} · {received:%Y-%m-%d}"


@bp.get("/submissions/<path:instance_id>")
@require(*REVIEWERS)
def submission_page(instance_id: str) -> Any:
    """One submission, read in the chosen language, with its case changes and decisions."""
    actor = current_actor()
    submission = submissions.visible_submission(instance_id, actor=actor)
    version = submission.current_version
    assert version is not None
    form_version = version.form_version
    languages = _languages(form_version.languages or [])
    # ?lang=, else the form's translation in the page's language, else the form's default
    language = _pick_language(
        languages, request.args.get("lang") or current_language(), form_version.default_language
    )
    items, media = _answers(version, language)
    items, system_items = split_system(items)
    history = [
        {
            "at": a.at,
            "by": username_of(a.actor_id),
            "from": a.from_state,
            "to": a.to_state,
            "note": a.note,
            "comment": a.from_state == a.to_state and not a.take,
            "left": sorted(k for k, v in (a.take or {}).items() if not v),
        }
        for a in review.history(submission)
    ]
    html = render_template(
        "submissions/detail.html",
        submission=submission,
        version=version,
        form_version=form_version,
        worker=username_of(submission.submitted_by_id),
        sender=username_of(version.submitter_id),
        languages=languages,
        language=language,
        items=items,
        system_items=system_items,
        title=submission_title(version, form_version.title, submission.received_at),
        media=media,
        files=_files(submission, version),
        changes=_change_rows(submission, language.name if language else None),
        list_titles={cl.name: cl.title for cl in db.session.scalars(select(CaseList))},
        history=history,
        earlier=[v for v in submission.versions if v.id != version.id],
        may_decide=submission.review_state != ReviewState.APPROVED,
        states=ReviewState,
        expected_text=EXPECTED_TEXT,
    )
    with unit_of_work():
        record(
            "submission.viewed",
            actor=actor,
            subject_type="submission",
            subject_id=submission.instance_id,
            region_id=submission.region_id,
            page="web",
        )
    return html


def _back(submission: Submission) -> Response:
    lang = (request.form.get("lang") or "").strip()[:100] or None
    return redirect(
        url_for("review.submission_page", instance_id=submission.instance_id, lang=lang)
    )


_DONE = {
    "approved": _l("Approved."),
    "has_issues": _l("Sent back to the worker with your note."),
    "rejected": _l("Rejected."),
}


@bp.post("/submissions/<path:instance_id>/review")
@require(*REVIEWERS)
def decide(instance_id: str) -> Any:
    """Approve (with the take/leave choices), send back (has issues) or reject."""
    actor = current_actor()
    submission = submissions.visible_submission(instance_id, actor=actor)
    state = request.form.get("state", "")
    note = request.form.get("note", "")
    seen = request.form.get("seen_version")
    version = submission.current_version
    if seen and version is not None and seen != version.instance_id:
        flash(
            gettext(
                "The worker sent a corrected version after you opened this page; nothing was "
                "decided. Read the new version below and decide again."
            ),
            "error",
        )
        return _back(submission)
    take = (
        _take_choices(submission, set(request.form.getlist("take")))
        if state == ReviewState.APPROVED
        else None
    )
    try:
        with unit_of_work():
            applied = review.review_submission(
                submission, state=state, actor=actor, note=note, take=take
            )
    except DomainError as exc:
        flash(translated_error(exc), "error")
        return _back(submission)
    message = str(_DONE.get(state, _l("Done.")))
    if applied:
        message += " " + ngettext(
            "%(num)d case version written.", "%(num)d case versions written.", len(applied)
        )
    flash(message)
    return _back(submission)


@bp.post("/submissions/<path:instance_id>/comment")
@require(*REVIEWERS)
def add_comment(instance_id: str) -> Any:
    """A comment on the submission; its state does not change."""
    actor = current_actor()
    submission = submissions.visible_submission(instance_id, actor=actor)
    try:
        with unit_of_work():
            review.comment(submission, actor=actor, note=request.form.get("note", ""))
    except DomainError as exc:
        flash(translated_error(exc), "error")
        return _back(submission)
    flash(gettext("Comment added."))
    return _back(submission)
