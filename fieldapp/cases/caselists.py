"""Case lists as phones download them: ``<list>.csv`` attachments of follow-up forms.

The CSV has ODK's entity-list shape — ``name,label,__version`` and properties — plus
``next_due`` and ``overdue``, so that a follow-up form can offer due cases first (rows come
overdue first, then by due date). What a phone receives is decided here and nowhere else:

* only open cases of the worker's region **and** assigned to that worker (a coordinator's own
  phone gets every open case of their regions), and none whose consent or assent was refused or
  withdrawn (``fieldapp.cases.consent``): follow-ups stop;
* ``label`` is the pseudonymous case code and the non-identifying words its list's designer
  chose (``fieldapp.cases.phone_labels``), never a name unless the programme switched names on
  for that list;
* only the properties some published form actually reads from the list (a form that never
  reads a property has no reason to carry it to the field).

The manifest hash and the ETag are the MD5 of the CSV bytes (as for any media file, so a phone
can check what it downloaded). Building a large list to learn its MD5 would make every manifest
and every 304 expensive, so the MD5 is remembered per process under a cheap *state key* — an
aggregate over the rows the actor may see (count, newest change, sum of versions), the day
(overdue flags change at midnight) and the columns. Any change to a visible case changes the key.
"""

from __future__ import annotations

import csv
import hashlib
import io
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select

from fieldapp.auth.models import Role, User
from fieldapp.cases import phone_labels
from fieldapp.cases.mapping import referenced_properties
from fieldapp.cases.models import STOPS_FOLLOW_UPS, Case, CaseList, CaseStatus
from fieldapp.db import db, utcnow
from fieldapp.forms.models import FormVersion
from fieldapp.forms.services import current_version_keys


@dataclass(frozen=True, slots=True)
class CaseListFile:
    """A built case-list CSV and its change token (an MD5 hex digest)."""

    content: bytes
    token: str


#: the properties the current XForms read of a list, by (list, current versions' ids and MD5s):
#: a key names the XForms' exact texts, so an entry never goes stale (publishing changes the key)
_used_by_versions: OrderedDict[tuple[str, tuple[tuple[int, str], ...]], frozenset[str]] = (
    OrderedDict()
)
_USED_CACHE_SIZE = 256
_used_lock = threading.Lock()


def _columns(case_list: CaseList) -> list[str]:
    versions = current_version_keys()
    key = (case_list.name, versions)
    with _used_lock:
        used = _used_by_versions.get(key)
        if used is not None:
            _used_by_versions.move_to_end(key)
    if used is None:  # read and scan the XForms once per set of published versions
        xforms = db.session.scalars(
            select(FormVersion.xform).where(FormVersion.id.in_([v for v, _md5 in versions]))
        ).all()
        used = frozenset(referenced_properties(xforms, case_list.name))
        with _used_lock:
            _used_by_versions[key] = used
            while len(_used_by_versions) > _USED_CACHE_SIZE:
                _used_by_versions.popitem(last=False)
    return [p for p in case_list.properties if p in used]


def on_phones() -> Any:
    """The condition on a case to be offered for follow-ups: neither its consent nor its assent
    refused or withdrawn (``fieldapp.cases.consent``; none on record stays on phones)."""
    return or_(Case.consent.is_(None), Case.consent.not_in(STOPS_FOLLOW_UPS)) & or_(
        Case.assent.is_(None), Case.assent.not_in(STOPS_FOLLOW_UPS)
    )


def carried_by(actor: User) -> list[ColumnElement[bool]]:
    """The conditions on a case, of any list, to be on ``actor``'s phone: open, in their
    regions, offered for follow-ups, and (but for a coordinator) assigned to them."""
    conditions = [
        Case.status == CaseStatus.OPEN.value,
        Case.region_id.in_(actor.region_ids or {-1}),
        on_phones(),
    ]
    if not actor.has_role(Role.COORDINATOR):
        conditions.append(Case.assigned_to_id == actor.id)
    return conditions


def _visible(case_list: CaseList, actor: User) -> Select[Any]:
    return select(Case).where(Case.case_list_id == case_list.id, *carried_by(actor))


def caseload(case_list: CaseList, *, actor: User) -> list[Case]:
    """The cases of ``case_list`` that ``actor``'s phone carries (the CSV's rows, unordered)."""
    return list(db.session.scalars(_visible(case_list, actor)))


_md5_by_state: OrderedDict[str, str] = OrderedDict()
_md5_lock = threading.Lock()
_MD5_CACHE_SIZE = 4096


def state_key(
    dataset: str, *, actor: User, today: date | None = None, case_list: CaseList | None = None
) -> str:
    """A key that changes whenever ``dataset``'s CSV for ``actor`` would (one cheap query).

    :param case_list: the list itself, when the caller has already read it.
    """
    if case_list is None or case_list.name != dataset:
        case_list = db.session.scalars(
            select(CaseList).where(CaseList.name == dataset)
        ).one_or_none()
    today = today or utcnow().date()
    if case_list is None:
        return hashlib.md5(f"{dataset}|none".encode(), usedforsecurity=False).hexdigest()
    count, newest, versions = db.session.execute(
        _visible(case_list, actor).with_only_columns(
            func.count(Case.id), func.max(Case.updated_at), func.sum(Case.version)
        )
    ).one()
    basis = "|".join(
        map(
            str,
            (
                dataset,
                actor.id,
                sorted(actor.region_ids),
                count,
                newest,
                versions,
                today,
                _columns(case_list),
                case_list.phone_label,
                case_list.phone_label_names,
                phone_labels.members_state(case_list),
            ),
        )
    )
    return hashlib.md5(basis.encode(), usedforsecurity=False).hexdigest()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def known_token(key: str) -> str | None:
    """The MD5 of the CSV this process built for this state key, if any."""
    with _md5_lock:
        return _md5_by_state.get(key)


def list_token(
    dataset: str, *, actor: User, today: date | None = None, case_list: CaseList | None = None
) -> str:
    """The MD5 of ``dataset``'s CSV for ``actor``, built only when its state key is new."""
    key = state_key(dataset, actor=actor, today=today, case_list=case_list)
    known = known_token(key)
    if known is not None:
        return known
    return build_case_list(dataset, actor=actor, today=today, key=key).token


def build_case_list(
    dataset: str, *, actor: User, today: date | None = None, key: str | None = None
) -> CaseListFile:
    """The CSV of ``dataset`` for ``actor``'s phone.

    :param key: its state key, when the caller has just computed it.
    """
    today = today or utcnow().date()
    key = key or state_key(dataset, actor=actor, today=today)
    case_list = db.session.scalars(select(CaseList).where(CaseList.name == dataset)).one_or_none()
    buffer = io.StringIO()
    # Not neutralised against spreadsheet formulas (fieldapp.spreadsheet), on purpose: this file
    # is read by ODK Collect and ODK Web Forms, which take every cell literally and evaluate
    # nothing, and forms compute with its values. A leading apostrophe would become part of the
    # value on every phone: a negative score "-2" would no longer be a number, a phone number
    # "+7 701 ..." would no longer dial, a choice value would match no choice. The danger it
    # guards against is gone at the source instead: answers that do not parse as their field's
    # type are never copied to a case (submissions.parsing.invalid_answers), so numbers, dates,
    # locations and listed choices here are what their type says; only free-text properties can
    # start with "=", and Collect shows those as text. Any export meant for people must use
    # fieldapp.spreadsheet (tests/test_spreadsheet.py checks every CSV/XLSX writer).
    writer = csv.writer(buffer, lineterminator="\n")
    columns = _columns(case_list) if case_list else []
    writer.writerow(["name", "label", "__version", *columns, "next_due", "overdue"])
    if case_list is not None:
        cases = db.session.scalars(_visible(case_list, actor)).all()
        cases = sorted(cases, key=lambda c: (not c.overdue(today), c.next_due or date.max, c.code))
        shown = phone_labels.labels(case_list, cases, today)
        for case in cases:
            writer.writerow(
                [
                    case.uuid,
                    shown[case.id],
                    case.version,
                    *(_cell(case.properties.get(c)) for c in columns),
                    case.next_due.isoformat() if case.next_due else "",
                    "yes" if case.overdue(today) else "no",
                ]
            )
    content = buffer.getvalue().encode()
    token = hashlib.md5(content, usedforsecurity=False).hexdigest()
    with _md5_lock:
        _md5_by_state[key] = token
        while len(_md5_by_state) > _MD5_CACHE_SIZE:
            _md5_by_state.popitem(last=False)
    return CaseListFile(content, token)


def deleted_states(dataset: str, ids: list[str], *, actor: User) -> list[tuple[str, bool]]:
    """For each id a phone holds: whether it must drop it (the case is gone from its caseload:
    closed, merged, transferred, reassigned, or unknown)."""
    case_list = db.session.scalars(select(CaseList).where(CaseList.name == dataset)).one_or_none()
    visible: set[str] = set()
    if case_list is not None and ids:
        visible = set(
            db.session.scalars(
                _visible(case_list, actor).with_only_columns(Case.uuid).where(Case.uuid.in_(ids))
            )
        )
    return [(case_id, case_id not in visible) for case_id in ids]
