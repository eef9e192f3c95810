"""The independent recomputations the Monday screens are checked against: plain SQL and plain
Python over the cases and the submissions' own answers, not the case work the screens read.
Each takes anything with ``execute`` (the session, or a connection to a live server's
database)."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import text

from fieldapp.db import db


def open_cases(region_ids: set[int], source: Any = None) -> dict[str, dict[str, Any]]:
    """uuid -> the open (real) case's id, code, list, region, worker, next due, birth date."""
    rows = (
        (source or db.session)
        .execute(
            text(
                "SELECT c.uuid, c.id, c.code, l.name, c.region_id, c.assigned_to_id, c.next_due,"
                " c.properties FROM cases c JOIN case_lists l ON l.id = c.case_list_id"
                " WHERE c.status = 'open' AND c.sandbox = false"
            )
        )
        .all()
    )
    out = {}
    for uuid, cid, code, list_name, region_id, worker, due_value, raw in rows:
        if region_id not in region_ids:
            continue
        props = json.loads(raw) if isinstance(raw, str) else raw
        due = date.fromisoformat(due_value) if isinstance(due_value, str) else due_value
        out[uuid] = {
            "id": cid,
            "code": code,
            "list": list_name,
            "region_id": region_id,
            "worker": worker,
            "next_due": due,
            "birth_date": props.get("birth_date"),
        }
    return out


def form_data(form_id: str, source: Any = None) -> list[tuple[int, datetime, dict[str, Any]]]:
    """(submission id, received at, current version's data) of the form's live submissions."""
    rows = (
        (source or db.session)
        .execute(
            text(
                "SELECT s.id, s.received_at, v.data FROM submissions s"
                " JOIN submission_versions v ON v.id = s.current_version_id"
                " JOIN forms f ON f.id = s.form_pk"
                " WHERE f.form_id = :form AND s.deleted_at IS NULL AND s.sandbox = false"
                " AND s.review_state <> 'rejected'"
            ),
            {"form": form_id},
        )
        .all()
    )
    out = []
    for sid, received_value, raw in rows:
        data = json.loads(raw) if isinstance(raw, str) else raw
        received = (
            datetime.fromisoformat(received_value)
            if isinstance(received_value, str)
            else received_value
        )
        if received.tzinfo is None:
            received = received.replace(tzinfo=UTC)
        out.append((sid, received, data))
    return out


def _num(value: Any) -> float | None:
    if value in (None, ""):
        return None
    return float(value)


def _bands(total: float, limits: tuple[int, ...]) -> int:
    return sum(1 for limit in limits if total >= limit)


def expected_screenings(region_ids: set[int], source: Any = None) -> dict[str, bool]:
    """uuid -> whether a child's safety answer puts them first, for every person the worsened
    screenings screen should list, recomputed from the screening submissions' answers."""
    cases = open_cases(region_ids, source)
    per_person: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for sid, received, data in form_data("wellbeing_screening", source):
        if data.get("subject_type") == "adult":
            block = data.get("adult_screening") or {}
            uuid = block.get("adult")
            band = (block.get("adult_results") or {}).get("adult_phq_band")
            scores = (
                _num(block.get("adult_phq_total")),
                _num(block.get("adult_gad_total")),
                _num(block.get("adult_who5_percent")),
            )
            day = block.get("adult_last_screening")
            safety = False
        else:
            block = data.get("child_screening") or {}
            uuid = block.get("child")
            band = (block.get("child_results") or {}).get("child_phq_band")
            scores = (_num(block.get("child_phq_total")), None, None)
            day = block.get("child_last_screening")
            answers = block.get("child_safety") or {}
            item9 = _num((block.get("phqa_items") or {}).get("phqa9")) or 0
            safety = (
                answers.get("child_serious_thoughts") == "yes"
                or answers.get("child_attempt") == "yes"
                or item9 > 0
            )
        if uuid not in cases or not band:
            continue
        on = date.fromisoformat(day) if day else received.date()
        per_person[uuid].append((on, received, sid, scores, safety))
    expected = {}
    for uuid, screenings in per_person.items():
        screenings.sort(key=lambda s: s[:3])
        *_, now, safety = screenings[-1]
        worse = False
        if len(screenings) > 1:
            before = screenings[-2][3]
            for a, b, limits in (
                (now[0], before[0], (5, 10, 15, 20)),
                (now[1], before[1], (5, 10, 15)),
            ):
                if a is not None and b is not None:
                    worse |= a - b >= 5 or _bands(a, limits) > _bands(b, limits)
            if now[2] is not None and before[2] is not None:
                worse |= before[2] > 50 >= now[2]
        if worse or safety:
            expected[uuid] = safety and cases[uuid]["list"] == "children"
    return expected


def _age(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def expected_school(
    region_ids: set[int], today: date, source: Any = None
) -> tuple[set[str], set[str]]:
    """(children without a check-in this term, children whose check-ins got worse), by uuid,
    recomputed from the check-in submissions' answers."""
    cases = open_cases(region_ids, source)
    per_child: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for sid, received, data in form_data("school_checkin", source):
        uuid = data.get("child")
        if uuid not in cases or cases[uuid]["list"] != "children":
            continue
        day = data.get("checkin_date")
        on = date.fromisoformat(day) if day else received.date()
        absent = _num((data.get("attendance") or {}).get("days_absent"))
        bullying = (data.get("bullying") or {}).get("bullying_reported")
        per_child[uuid].append((on, received, sid, absent, bullying))
    # the term by hand: Sep-Oct, Nov-Dec, Jan-Mar, Apr-May; summer looks back at Apr-May
    month, year = today.month, today.year
    start = {9: 9, 10: 9, 11: 11, 12: 11, 1: 1, 2: 1, 3: 1}.get(month, 4)
    term_start = date(year, start, 1)
    school_year = date(year if month >= 9 else year - 1, 9, 1)
    missing, worse = set(), set()
    for uuid, case in cases.items():
        if case["list"] != "children":
            continue
        checkins = sorted(per_child.get(uuid, []), key=lambda c: c[:3])
        if len(checkins) > 1:
            (_, _, _, a_now, b_now), (_, _, _, a_before, b_before) = checkins[-1], checkins[-2]
            if a_now is not None and a_before is not None and a_now - a_before >= 3:
                worse.add(uuid)
            if b_now == "yes" and b_before == "no":
                worse.add(uuid)
        if not case["birth_date"]:
            continue
        born = date.fromisoformat(str(case["birth_date"])[:10])
        if not 6 <= _age(born, school_year) <= 17:
            continue
        if not checkins or not term_start <= checkins[-1][0] <= today:
            missing.add(uuid)
    return missing, worse


def expected_overdue(
    region_ids: set[int], today: date, source: Any = None
) -> list[tuple[str, int]]:
    """(uuid, days overdue) of open cases due before today, longest overdue first."""
    cases = open_cases(region_ids, source)
    rows = [
        (c["next_due"], c["code"], uuid)
        for uuid, c in cases.items()
        if c["next_due"] is not None and c["next_due"] < today
    ]
    return [(uuid, (today - due).days) for due, _code, uuid in sorted(rows)]


def expected_urgent(region_ids: set[int], source: Any = None) -> list[str]:
    """instanceIDs of urgent submissions waiting for a decision, oldest first."""
    rows = (
        (source or db.session)
        .execute(
            text(
                "SELECT instance_id, region_id FROM submissions WHERE urgent = true"
                " AND review_state IN ('received', 'edited') AND deleted_at IS NULL"
                " AND sandbox = false ORDER BY received_at, id"
            )
        )
        .all()
    )
    return [instance for instance, region in rows if region in region_ids]
