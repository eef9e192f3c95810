"""What a phone's case picker shows: the case code and words that tell families apart.

``HH-8W6ZS`` and ``HH-KGFGB`` alone let a worker record a visit against the wrong family. Names
would tell them apart but must stay off a phone that can be lost or seized. Each case list's
designer therefore picks the non-identifying properties its label shows after the code
(``CaseList.phone_label``): settlement, district, household size, and two the server computes:

* ``next_due`` — "due 2026-12-10" or "overdue since 2026-12-01";
* ``member_ages`` — the ages of the cases whose ``household_id`` is this case (a household's
  children and mother): "ages 3, 7, 34".

Only when the programme switches it on for a list (``phone_label_names``) does the case's own
label, which may hold a name, lead. A property whose name says it identifies a person (names,
phone numbers, documents, addresses) cannot be chosen without that switch.

The same label goes into Collect's CSV and the ``/fill`` web forms (both read the one CSV).
Choice values are shown by their labels in the form's default language.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import func, select

from fieldapp.cases import vocabulary
from fieldapp.cases.models import Case, CaseList, CaseStatus
from fieldapp.db import db
from fieldapp.errors import Invalid

#: computed parts of a label
NEXT_DUE = "next_due"
MEMBER_AGES = "member_ages"
COMPUTED = (NEXT_DUE, MEMBER_AGES)
#: the property linking a member to their household
HOUSEHOLD_LINK = "household_id"
#: a label is cut to this many characters (a picker row)
MAX_LENGTH = 120
#: at most this many parts after the code
MAX_PARTS = 6
#: property names that identify a person
_IDENTIFYING = re.compile(
    r"name|surname|phone|mobile|passport|document|iin|inn|snils|address|street|email|gps|geo"
    r"|location|photo|signature",
    re.I,
)


def identifying(prop: str) -> bool:
    """Whether ``prop``'s name says it identifies a person."""
    return bool(_IDENTIFYING.search(prop))


def choosable(case_list: CaseList) -> list[str]:
    """What the designer may pick for ``case_list``'s label: its properties and the computed."""
    return [*COMPUTED, *(p for p in case_list.properties or () if p != HOUSEHOLD_LINK)]


def check(case_list: CaseList, parts: Sequence[str], *, names: bool) -> list[str]:
    """``parts`` checked against ``case_list``.

    :raises Invalid: an unknown part, too many, or an identifying one without ``names``.
    """
    allowed = choosable(case_list)
    out: list[str] = []
    for entered in parts:
        part = str(entered).strip()
        if not part or part in out:
            continue
        if part not in allowed:
            raise Invalid(
                "'%(part)s' is not a property of %(title)s.",
                code="case_list.unknown_label_part",
                params={"part": part[:60], "title": case_list.title},
            )
        if identifying(part) and not names:
            raise Invalid(
                "'%(part)s' identifies a person: it can be on phones only if names are "
                "switched on for this list.",
                code="case_list.identifying_label_part",
                params={"part": part},
            )
        out.append(part)
    if len(out) > MAX_PARTS:
        raise Invalid(
            "A phone label shows at most %(max)s parts.",
            code="case_list.label_too_long",
            params={"max": MAX_PARTS},
        )
    return out


def _age(born: Any, today: date) -> int | None:
    text = str(born or "").strip()
    try:
        if len(text) == 4 and text.isdigit():
            return today.year - int(text)
        day = date.fromisoformat(text[:10])
    except ValueError:
        return None
    years = today.year - day.year - ((today.month, today.day) < (day.month, day.day))
    return years if 0 <= years < 130 else None


def member_ages(uuids: Sequence[str], today: date) -> dict[str, list[int]]:
    """``household uuid -> ages`` of the open cases that name it as their household."""
    if not uuids:
        return {}
    link = Case.properties[HOUSEHOLD_LINK].as_string()
    rows = db.session.execute(
        select(link, Case.properties["birth_date"].as_string(), Case.properties["birth_year"])
        .where(link.in_(list(uuids)), Case.status == CaseStatus.OPEN.value)
        .order_by(Case.id)
    ).all()
    ages: dict[str, list[int]] = defaultdict(list)
    for household, birth_date, birth_year in rows:
        age = _age(birth_date or birth_year, today)
        if age is not None:
            ages[household].append(age)
    return {k: sorted(v) for k, v in ages.items()}


def members_state(case_list: CaseList) -> str:
    """A short key of what ``member_ages`` depends on (for the CSV's change key)."""
    if MEMBER_AGES not in (case_list.phone_label or ()):
        return ""
    count, newest = db.session.execute(
        select(func.count(), func.max(Case.updated_at)).where(
            Case.properties[HOUSEHOLD_LINK].as_string().is_not(None)
        )
    ).one()
    return f"{count}/{newest}"


def _due(case: Case, today: date) -> str:
    if case.next_due is None:
        return ""
    if case.next_due < today:
        return f"overdue since {case.next_due.isoformat()}"
    return f"due {case.next_due.isoformat()}"


def labels(case_list: CaseList, cases: Sequence[Case], today: date) -> dict[int, str]:
    """The phone label of each case (by id)."""
    parts = list(case_list.phone_label or ())
    words = vocabulary.for_case_list(case_list.name)
    ages = member_ages([c.uuid for c in cases], today) if MEMBER_AGES in parts else {}
    out: dict[int, str] = {}
    for case in cases:
        shown: list[str] = []
        if case_list.phone_label_names and case.label:
            shown.append(case.label)
        shown.append(case.code)
        for part in parts:
            if part == NEXT_DUE:
                text = _due(case, today)
            elif part == MEMBER_AGES:
                found = ages.get(case.uuid)
                text = f"ages {', '.join(map(str, found))}" if found else ""
            elif identifying(part) and not case_list.phone_label_names:
                text = ""  # switched off after it was chosen: never on a phone
            else:
                value = case.properties.get(part)
                text = "" if value in (None, "", []) else words.value(part, value, None)
            if text:
                shown.append(text)
        label = " · ".join(shown)
        out[case.id] = label if len(label) <= MAX_LENGTH else label[: MAX_LENGTH - 1] + "…"
    return out
