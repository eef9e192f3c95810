""" "My visits" on /fill: the worker's own caseload, overdue first, each case with the follow-up
forms that can be opened with it already chosen.

The caseload is exactly what the worker's phone gets (``cases.caselists.caseload``: open,
their region, assigned to them, consent and assent not refused or withdrawn), named by the same
phone label (code and the non-identifying words the list's designer chose; never a name unless
the programme switched names on); a case with no follow-up form to open (below) is left out.
Order: overdue (the longest overdue first), then due within
:data:`SOON_DAYS` days, then the rest (later or not scheduled), each group by due date and code.

A follow-up form is offered for a case when it is open for the worker and updates the case's
list, and when it has a question choosing a case from that list's CSV (``choices_from``). For
children, forms with an age range in :data:`AGE_RANGES` are offered only in that range (by
``birth_date``; without one, always). :func:`case_fields` tells the page which question to set
to the case — and which questions above it must first have the value that makes it relevant
(the screening's ``subject_type`` = ``adult`` before its ``adult`` picker).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select

from fieldapp.auth.models import User
from fieldapp.cases import caselists, phone_labels
from fieldapp.cases.models import Case, CaseList
from fieldapp.db import db
from fieldapp.fill.services import open_forms
from fieldapp.forms.models import Form, FormVersion

#: "due this week": within this many days from today
SOON_DAYS = 7
#: forms offered to children only at these ages (inclusive), when the case has a birth date
AGE_RANGES = {"school_checkin": (6, 18), "wellbeing_screening": (11, 17)}
#: a relevance a page can satisfy by setting one question: ``/data/x = 'value'``
_SIMPLE_RELEVANCE = re.compile(r"^\s*(/[\w/.-]+)\s*=\s*'([^']*)'\s*$")


@dataclass(frozen=True)
class FollowUp:
    """A form to open for a case."""

    form_id: str
    title: str
    dataset: str


@dataclass(frozen=True)
class Visit:
    """One case of the worker's caseload as "My visits" shows it."""

    case_uuid: str
    code: str
    label: str
    list_title: str
    dataset: str
    next_due: date | None
    group: str  # ``overdue``, ``soon`` or ``later``
    forms: tuple[FollowUp, ...]


def _walk(
    fields: Iterable[Mapping[str, Any]], ancestors: tuple[Mapping[str, Any], ...] = ()
) -> Any:
    for item in fields:
        yield item, ancestors
        yield from _walk(item.get("children") or (), (*ancestors, item))


def case_fields(version: FormVersion) -> dict[str, list[tuple[str, str | None]]]:
    """For each list the version updates: the questions to set, in order, as ``(path, value)``
    — ``None`` standing for the case's id. Lists without a picker question are left out."""
    updated = [str(d["dataset"]) for d in version.entities or () if d.get("update")]
    out: dict[str, list[tuple[str, str | None]]] = {}
    for dataset in updated:
        for item, ancestors in _walk(version.fields or ()):
            if item.get("kind") != "select_one" or item.get("choices_from") != dataset:
                continue
            steps: list[tuple[str, str | None]] = []
            for node in (*ancestors, item):
                match = _SIMPLE_RELEVANCE.match(str(node.get("relevant") or ""))
                if match:
                    steps.append((match.group(1), match.group(2)))
            steps.append((str(item["path"]), None))
            out[dataset] = steps
            break
    return out


def _age(case: Case, today: date) -> int | None:
    born = str(case.properties.get("birth_date") or "")[:10]
    try:
        day = date.fromisoformat(born)
    except ValueError:
        return None
    return today.year - day.year - ((today.month, today.day) < (day.month, day.day))


def _offered(form_id: str, case: Case, today: date) -> bool:
    bounds = AGE_RANGES.get(form_id)
    if bounds is None or case.case_list.name != "children":
        return True
    age = _age(case, today)
    return age is None or bounds[0] <= age <= bounds[1]


def follow_up_forms(actor: User) -> dict[str, list[FollowUp]]:
    """dataset → the open forms that follow its cases up (with a picker), by title."""
    wanted = {f.form_id: f for f in open_forms(actor)}
    if not wanted:
        return {}
    rows = db.session.execute(
        select(Form.form_id, FormVersion)
        .join(FormVersion, FormVersion.id == Form.current_version_id)
        .where(Form.form_id.in_(list(wanted)))
    ).all()
    found: dict[str, list[FollowUp]] = {}
    for form_id, version in rows:
        for dataset in case_fields(version):
            found.setdefault(dataset, []).append(FollowUp(form_id, wanted[form_id].title, dataset))
    return {k: sorted(v, key=lambda f: f.title.lower()) for k, v in found.items()}


def my_visits(actor: User, today: date) -> list[Visit]:
    """The worker's caseload in visiting order (see the module docstring)."""
    forms = follow_up_forms(actor)
    visits: list[Visit] = []
    lists: Sequence[CaseList] = db.session.scalars(select(CaseList).order_by(CaseList.name)).all()
    soon = today + timedelta(days=SOON_DAYS)
    for case_list in lists:
        cases = caselists.caseload(case_list, actor=actor)
        if not cases:
            continue
        shown = phone_labels.labels(case_list, cases, today)
        for case in cases:
            offered = tuple(
                f for f in forms.get(case_list.name, ()) if _offered(f.form_id, case, today)
            )
            if not offered:
                continue  # no follow-up form to open for it here (a toddler, a list without)
            due = case.next_due
            group = (
                "overdue"
                if case.overdue(today)
                else "soon"
                if due is not None and due <= soon
                else "later"
            )
            visits.append(
                Visit(
                    case_uuid=case.uuid,
                    code=case.code,
                    label=shown[case.id],
                    list_title=case_list.title,
                    dataset=case_list.name,
                    next_due=due,
                    group=group,
                    forms=offered,
                )
            )
    rank = {"overdue": 0, "soon": 1, "later": 2}
    visits.sort(key=lambda v: (rank[v.group], v.next_due or date.max, v.code))
    return visits
