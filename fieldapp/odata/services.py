"""Reads behind the OData feed: scoped, keyset-paged, audited; and the sessions of its clients.

A page of submissions is three queries whatever its size: the rows (with their current
version's data, form version and submitter), then edit counts and attachment counts for the
page's ids. Pages follow ``id`` descending (newest first, as Central); the ``$skiptoken`` carries
the last id, so every page is an index range, never an offset that grows.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select

from fieldapp.audit.services import record
from fieldapp.auth import services as auth
from fieldapp.auth.models import ApiToken, Role, User
from fieldapp.cases.models import Case, CaseList, CaseStatus
from fieldapp.db import db
from fieldapp.errors import BadRequest, Forbidden, NotFound
from fieldapp.forms.models import Form, FormState, FormVersion, VersionStatus
from fieldapp.forms.xform import fields_from_json
from fieldapp.odata import edm
from fieldapp.odata.filters import Property, as_datetime, compile_filter
from fieldapp.submissions.models import (
    ReviewState,
    Submission,
    SubmissionAttachment,
    SubmissionVersion,
)
from fieldapp.submissions.services import scope_submissions

#: rows per page when the client does not ask for fewer (``@odata.nextLink`` gives the rest)
PAGE_SIZE = 1000
#: how long a session token from ``POST /v1/sessions`` works (Central: a day)
SESSION_LIFETIME = timedelta(days=1)
SESSION_LABEL = "OData session"

#: fieldapp's review states as Central names them (``received`` is Central's null)
CENTRAL_STATE = {
    ReviewState.RECEIVED.value: None,
    ReviewState.HAS_ISSUES.value: "hasIssues",
    ReviewState.EDITED.value: "edited",
    ReviewState.APPROVED.value: "approved",
    ReviewState.REJECTED.value: "rejected",
}
_FROM_CENTRAL = {v: k for k, v in CENTRAL_STATE.items() if v is not None}
_FROM_CENTRAL["received"] = ReviewState.RECEIVED.value


class TokenInvalid(BadRequest):
    code = "odata.skiptoken_invalid"


def may_read(actor: User) -> bool:
    """Central gives data access to project managers and viewers: here coordinators (their
    regions) and administrators. Designers and field workers read no data through ``/v1``."""
    return actor.has_role(Role.ADMIN, Role.COORDINATOR)


def check_reader(actor: User) -> None:
    """:raises Forbidden: the actor may not read data through ``/v1``."""
    if not may_read(actor):
        raise Forbidden("This account may not read data through this API.", code="odata.forbidden")


# -- sessions --------------------------------------------------------------------------------


def open_session(username: str, password: str, *, address: str) -> tuple[str, ApiToken]:
    """Log in as Central's ``POST /v1/sessions`` does: a bearer token working for a day.

    The token is an API token (only its SHA-256 stored, revocable on ``/account``).

    :raises DomainError: as :func:`fieldapp.auth.services.authenticate`.
    """
    user = auth.authenticate(username, password, address=address)
    return auth.issue_api_token(user, actor=user, label=SESSION_LABEL, expires_in=SESSION_LIFETIME)


def close_session(token: str, *, actor: User) -> None:
    """End the actor's own session token (``DELETE /v1/sessions/{token}``).

    :raises NotFound: not a live token of the actor's.
    """
    row = db.session.scalars(
        select(ApiToken).where(ApiToken.token_hash == auth._token_hash(token))
    ).one_or_none()
    if row is None or row.user_id != actor.id or row.revoked_at is not None:
        raise NotFound("No such session.", code="odata.session_not_found")
    auth.revoke_api_token(row, actor=actor)


# -- forms -----------------------------------------------------------------------------------


def list_forms() -> Sequence[Form]:
    """Published forms (Central lists drafts too, but they hold no data to read)."""
    return db.session.scalars(
        select(Form).where(Form.state != FormState.DRAFT.value).order_by(Form.form_id)
    ).all()


def get_form(form_id: str) -> Form:
    """:raises NotFound: no such published form."""
    form = db.session.scalars(select(Form).where(Form.form_id == form_id)).one_or_none()
    if form is None or form.state == FormState.DRAFT.value or form.current_version_id is None:
        raise NotFound("No such form.", code="form.not_found")
    return form


def form_tree(form: Form) -> list[edm.Node]:
    """Every published version's fields merged, newest first."""
    rows = db.session.execute(
        select(FormVersion.fields)
        .where(FormVersion.form_pk == form.id, FormVersion.status == VersionStatus.PUBLISHED.value)
        .order_by(FormVersion.id.desc())
    ).scalars()
    return edm.merge_trees(fields_from_json(r or []) for r in rows)


# -- query options ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Options:
    """The OData query options of a request, checked."""

    top: int | None = None
    skip: int = 0
    count: bool = False
    filter: str | None = None
    expand: bool = False
    select: tuple[str, ...] | None = None
    wkt: bool = False
    skiptoken: str | None = None

    def audit(self) -> dict[str, Any]:
        return {
            k: v
            for k, v in {
                "top": self.top,
                "skip": self.skip or None,
                "filter": self.filter,
                "expand": "*" if self.expand else None,
                "select": ",".join(self.select) if self.select else None,
                "paged": bool(self.skiptoken) or None,
            }.items()
            if v is not None
        }


def encode_token(**parts: int) -> str:
    """A ``$skiptoken`` (``01`` then base64 JSON, as Central's)."""
    return "01" + base64.urlsafe_b64encode(json.dumps(parts).encode()).decode()


def decode_token(token: str, *keys: str) -> dict[str, int]:
    """:raises TokenInvalid: not a token this server made."""
    from fieldapp.db import DB_INT_MAX  # noqa: PLC0415

    bad = TokenInvalid("The $skiptoken is not valid; start from the first page.")
    if not token.startswith("01") or len(token) > 200:
        raise bad
    try:
        parts = json.loads(base64.urlsafe_b64decode(token[2:].encode("ascii")))
        out = {k: parts[k] for k in keys}
    except (ValueError, KeyError, TypeError, UnicodeError):
        raise bad from None
    if not all(type(v) is int and 0 <= v <= DB_INT_MAX for v in out.values()):
        raise bad
    return out


def _submission_properties() -> dict[str, Property]:
    def state(value: Any) -> Any:
        if not isinstance(value, str) or value not in _FROM_CENTRAL:
            from fieldapp.odata.filters import FilterInvalid  # noqa: PLC0415

            raise FilterInvalid(
                "__system/reviewState is null, hasIssues, edited, approved or rejected."
            )
        return _FROM_CENTRAL[value]

    def submitter(value: Any) -> Any:
        from fieldapp.db import DB_INT_MAX  # noqa: PLC0415
        from fieldapp.odata.filters import FilterInvalid  # noqa: PLC0415

        try:
            number = int(value)
        except (TypeError, ValueError):
            raise FilterInvalid("__system/submitterId is a number.") from None
        if not 0 <= number <= DB_INT_MAX:
            raise FilterInvalid("__system/submitterId is out of range.")
        return number

    return {
        "__system/submissionDate": Property(Submission.received_at, as_datetime),
        "__system/updatedAt": Property(Submission.updated_at, as_datetime),
        "__system/reviewState": Property(Submission.review_state, state, "received"),
        "__system/submitterId": Property(Submission.submitted_by_id, submitter),
    }


def _state_filter(text: str) -> ColumnElement[bool]:
    return compile_filter(text, _submission_properties())


# -- submissions -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Page:
    """One page of an entity set: its rows, the total when asked, the next page's token."""

    rows: list[dict[str, Any]]
    count: int | None
    next_token: str | None


def _scoped(form: Form, actor: User, options: Options) -> Select[Any]:
    # test data is left out by the ORM's sandbox filter too; said here as well
    query = scope_submissions(select(Submission.id), actor).where(
        Submission.form_pk == form.id, Submission.sandbox.is_(False)
    )
    if options.filter:
        text = options.filter
        condition = _state_filter(text)
        query = query.where(condition)
    return query


def read_submissions(form: Form, actor: User, options: Options, *, tree: list[edm.Node]) -> Page:
    """One page of the ``Submissions`` entity set, audited as an export.

    :raises FilterInvalid, TokenInvalid: bad query options (400).
    """
    check_reader(actor)
    scoped = _scoped(form, actor, options)
    limit = min(options.top, PAGE_SIZE) if options.top is not None else PAGE_SIZE
    ids_query = scoped
    if options.skiptoken:
        after = decode_token(options.skiptoken, "id")["id"]
        ids_query = ids_query.where(Submission.id < after)
    ids_query = ids_query.order_by(Submission.id.desc())
    if options.skip and not options.skiptoken:
        ids_query = ids_query.offset(options.skip)
    ids = list(db.session.scalars(ids_query.limit(limit + 1)))
    more = len(ids) > limit
    ids = ids[:limit]
    rows = _submission_rows(ids, tree, options)
    count = _count(scoped) if options.count else None
    record(
        "odata.submissions_read",
        actor=actor,
        subject_type="form",
        subject_id=form.form_id,
        table="Submissions",
        rows=len(rows),
        **options.audit(),
    )
    return Page(rows, count, encode_token(id=ids[-1]) if more and ids else None)


def _count(scoped: Select[Any]) -> int:
    return int(db.session.scalar(select(func.count()).select_from(scoped.subquery())) or 0)


def _submission_rows(
    ids: list[int], tree: list[edm.Node], options: Options
) -> list[dict[str, Any]]:
    if not ids:
        return []
    found = db.session.execute(
        select(
            Submission.id,
            Submission.instance_id,
            Submission.received_at,
            Submission.updated_at,
            Submission.submitted_by_id,
            Submission.review_state,
            Submission.current_version_id,
            SubmissionVersion.data,
            SubmissionVersion.device_id,
            FormVersion.version,
            User.username,
            User.display_name,
        )
        .join(SubmissionVersion, SubmissionVersion.id == Submission.current_version_id)
        .join(FormVersion, FormVersion.id == SubmissionVersion.form_version_id)
        .outerjoin(User, User.id == Submission.submitted_by_id)
        .where(Submission.id.in_(ids))
    ).all()
    edits: dict[int, int] = {
        sid: int(n)
        for sid, n in db.session.execute(
            select(SubmissionVersion.submission_id, func.count())
            .where(SubmissionVersion.submission_id.in_(ids))
            .group_by(SubmissionVersion.submission_id)
        ).all()
    }
    version_ids = [r.current_version_id for r in found]
    attachments: dict[int, tuple[int, int]] = {
        vid: (int(expected), int(present or 0))
        for vid, expected, present in db.session.execute(
            select(
                SubmissionAttachment.version_id,
                func.count(),
                func.count(SubmissionAttachment.blob_sha256),
            )
            .where(SubmissionAttachment.version_id.in_(version_ids))
            .group_by(SubmissionAttachment.version_id)
        ).all()
    }
    by_id = {r.id: r for r in found}
    out = []
    for ident in ids:
        r = by_id.get(ident)
        if r is None:
            continue
        link = edm.submission_link(r.instance_id)
        row = edm.shape(
            tree,
            r.data,
            table="Submissions",
            row=r.instance_id,
            expand=options.expand,
            wkt=options.wkt,
            link=link,
        )
        expected, present = attachments.get(r.current_version_id, (0, 0))
        row["__id"] = r.instance_id
        row["__system"] = {
            "submissionDate": _iso(r.received_at),
            "updatedAt": _iso(r.updated_at) if r.updated_at != r.received_at else None,
            "submitterId": None if r.submitted_by_id is None else str(r.submitted_by_id),
            "submitterName": r.display_name or r.username,
            "attachmentsPresent": present,
            "attachmentsExpected": expected,
            "status": None,
            "reviewState": CENTRAL_STATE.get(r.review_state),
            "deviceId": r.device_id,
            "edits": max(0, int(edits.get(ident, 1)) - 1),
            "formVersion": r.version,
        }
        out.append(_select(row, options.select))
    return out


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def check_select(options: Options, allowed: Sequence[str]) -> None:
    """:raises BadRequest: ``$select`` names a property the entity set does not have."""
    for name in options.select or ():
        head = name.split("/", 1)[0]
        if head not in allowed:
            raise BadRequest(
                "$select: no property %(name)s.",
                code="odata.select_invalid",
                params={"name": repr(name)},
            )


def _select(row: dict[str, Any], names: tuple[str, ...] | None) -> dict[str, Any]:
    if not names:
        return row
    out: dict[str, Any] = {}
    for name in names:
        head, _, rest = name.partition("/")
        if head not in row:
            continue
        if rest and isinstance(row[head], dict):
            out.setdefault(head, {})[rest] = row[head].get(rest)
        else:
            out[head] = row[head]
            nav = f"{head}@odata.navigationLink"
            if nav in row:
                out[nav] = row[nav]
    return out


def read_repeat(
    form: Form, actor: User, options: Options, *, tree: list[edm.Node], table: edm.Table
) -> Page:
    """One page of a repeat's entity set (rows of the submissions in scope, newest first).

    The ``$skiptoken`` carries the submission and the number of its rows already sent, so
    a page boundary may fall inside a submission's repeat.
    """
    check_reader(actor)
    scoped = _scoped(form, actor, options)
    limit = min(options.top, PAGE_SIZE) if options.top is not None else PAGE_SIZE
    after_id, sent = None, 0
    if options.skiptoken:
        parts = decode_token(options.skiptoken, "id", "n")
        after_id, sent = parts["id"], parts["n"]
    to_skip = options.skip if not options.skiptoken else 0
    rows: list[dict[str, Any]] = []
    next_token: str | None = None
    batch = 200
    while next_token is None:
        query = (
            select(Submission.id, Submission.instance_id, SubmissionVersion.data)
            .join(SubmissionVersion, SubmissionVersion.id == Submission.current_version_id)
            .where(Submission.id.in_(scoped))
        )
        if after_id is not None:
            query = query.where(Submission.id <= after_id)
        found = db.session.execute(query.order_by(Submission.id.desc()).limit(batch)).all()
        for r in found:
            items = list(edm.repeat_rows(tree, r.data, r.instance_id, table.path, wkt=options.wkt))
            start = sent if r.id == after_id else 0
            for index in range(start, len(items)):
                if to_skip:
                    to_skip -= 1
                    continue
                if len(rows) == limit:
                    next_token = encode_token(id=r.id, n=index)
                    break
                rows.append(_select(items[index], options.select))
            if next_token is not None:
                break
        if len(found) < batch or next_token is not None:
            break
        after_id, sent = found[-1].id - 1, 0
    count = None
    if options.count:
        count = sum(
            len(list(edm.repeat_rows(tree, data, iid, table.path, wkt=False)))
            for iid, data in db.session.execute(
                select(Submission.instance_id, SubmissionVersion.data)
                .join(SubmissionVersion, SubmissionVersion.id == Submission.current_version_id)
                .where(Submission.id.in_(scoped))
            ).all()
        )
    record(
        "odata.submissions_read",
        actor=actor,
        subject_type="form",
        subject_id=form.form_id,
        table=table.name,
        rows=len(rows),
        **options.audit(),
    )
    return Page(rows, count, next_token)


# -- case lists ------------------------------------------------------------------------------


def list_case_lists() -> Sequence[CaseList]:
    return db.session.scalars(select(CaseList).order_by(CaseList.name)).all()


def get_case_list(name: str) -> CaseList:
    """:raises NotFound: no such case list."""
    found = db.session.scalars(select(CaseList).where(CaseList.name == name)).one_or_none()
    if found is None:
        raise NotFound("No such entity list.", code="dataset.not_found")
    return found


def property_names(case_list: CaseList) -> list[str]:
    return [p if isinstance(p, str) else str(p.get("name")) for p in case_list.properties or []]


def _entity_properties() -> dict[str, Property]:
    return {
        "__system/createdAt": Property(Case.created_at, as_datetime),
        "__system/updatedAt": Property(Case.updated_at, as_datetime),
    }


def read_entities(case_list: CaseList, actor: User, options: Options) -> Page:
    """One page of a case list's ``Entities``: a view of case records, audited.

    Merged cases are left out (their data lives on in the case they were merged into).
    """
    check_reader(actor)
    query = select(Case.id).where(
        Case.case_list_id == case_list.id,
        Case.status != CaseStatus.MERGED.value,
        Case.sandbox.is_(False),
    )
    if not actor.has_role(Role.ADMIN):
        query = query.where(Case.region_id.in_(actor.region_ids or {-1}))
    if options.filter:
        query = query.where(compile_filter(options.filter, _entity_properties()))
    limit = min(options.top, PAGE_SIZE) if options.top is not None else PAGE_SIZE
    page_query = query
    if options.skiptoken:
        page_query = page_query.where(Case.id < decode_token(options.skiptoken, "id")["id"])
    page_query = page_query.order_by(Case.id.desc())
    if options.skip and not options.skiptoken:
        page_query = page_query.offset(options.skip)
    ids = list(db.session.scalars(page_query.limit(limit + 1)))
    more = len(ids) > limit
    ids = ids[:limit]
    props = property_names(case_list)
    cases = (
        {c.id: c for c in db.session.scalars(select(Case).where(Case.id.in_(ids))).all()}
        if ids
        else {}
    )
    rows = []
    for ident in ids:
        case = cases[ident]
        values: Mapping[str, Any] = case.properties or {}
        row: dict[str, Any] = {
            "__id": case.uuid,
            "label": case.label,
            **{p: None if values.get(p) is None else str(values.get(p)) for p in props},
            "__system": {
                "createdAt": _iso(case.created_at),
                "creatorId": None,
                "creatorName": None,
                "updates": case.version - 1,
                "updatedAt": _iso(case.updated_at) if case.version > 1 else None,
                "version": case.version,
                "conflict": case.conflict,
            },
        }
        rows.append(_select(row, options.select))
    count = _count(query) if options.count else None
    record(
        "odata.entities_read",
        actor=actor,
        subject_type="case_list",
        subject_id=case_list.name,
        rows=len(rows),
        **options.audit(),
    )
    return Page(rows, count, encode_token(id=ids[-1]) if more and ids else None)
