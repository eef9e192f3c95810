"""Caring for case records: assign, transfer, close and reopen, link, find duplicates, merge.

Every act is audited, and every act that changes what a phone should carry touches
``updated_at``, which changes the caseload CSV's state key (phones then download it again).
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select

from fieldapp.audit.services import record
from fieldapp.auth.models import Region, Role, User
from fieldapp.cases import events
from fieldapp.cases.models import (
    Case,
    CaseLink,
    CaseList,
    CaseStatus,
    CaseVersion,
    CaseWork,
    TransferRequest,
    TransferState,
)
from fieldapp.cases.services import new_version
from fieldapp.db import db, utcnow
from fieldapp.errors import Conflict, Forbidden, Invalid, NotFound
from fieldapp.events import is_sandbox, publish

#: relations a link may name, and the properties that imply them
RELATIONS = ("household", "mother", "child", "sibling", "guardian", "other")
_IMPLIED = {"household_id": "household", "mother_id": "mother"}


def _require_manager(actor: User, case: Case) -> None:
    if actor.has_role(Role.ADMIN):
        return
    if actor.has_role(Role.COORDINATOR) and case.region_id in actor.region_ids:
        return
    raise Forbidden("Only the region's coordinators may change this case.", code="case.forbidden")


def _touch(case: Case) -> None:
    case.updated_at = utcnow()


def assign(case: Case, worker: User | None, *, actor: User) -> None:
    """Give the case to a field worker of its region (``None``: nobody).

    :raises Invalid: the worker is not a field worker of the case's region.
    """
    _require_manager(actor, case)
    if worker is not None and (
        not worker.has_role(Role.FIELD_WORKER)
        or not worker.active
        or case.region_id not in worker.region_ids
    ):
        raise Invalid(
            "%(worker)s is not an active field worker of this case's region.",
            code="case.assignee_invalid",
            params={"worker": worker.username},
        )
    old = case.assigned_to_id
    case.assigned_to_id = worker.id if worker else None
    _touch(case)
    db.session.flush()
    record(
        "case.assigned",
        actor=actor,
        subject_type="case",
        subject_id=case.uuid,
        region_id=case.region_id,
        old=old,
        new=case.assigned_to_id,
    )
    publish(events.CaseUpdated(case=case, changed=["assigned_to"], sandbox=is_sandbox(case)))


def transfer(case: Case, region: Region, *, actor: User, assign_to: User | None = None) -> None:
    """Move the case to another region at once (the family moved); it leaves its worker's
    phone. People move cases through a request the receiving region accepts
    (:mod:`fieldapp.cases.transfers`); this direct move is the administrators' page action, the
    API's and the acceptance's last step. A pending request of the case is cancelled.

    :raises Invalid: the new worker is not in the new region.
    """
    _require_manager(actor, case)
    move(case, region, actor=actor, assign_to=assign_to)


def move(case: Case, region: Region, *, actor: User, assign_to: User | None = None) -> None:
    """The move itself, for callers that checked the actor already (an accepted request: its
    coordinator belongs to the receiving region, not the case's)."""
    if region.id == case.region_id:
        raise Invalid("The case is already in that region.", code="case.same_region")
    if assign_to is not None and (
        region.id not in assign_to.region_ids or not assign_to.has_role(Role.FIELD_WORKER)
    ):
        raise Invalid(
            "%(worker)s is not a field worker of %(region)s.",
            code="case.assignee_invalid",
            params={"worker": assign_to.username, "region": region.name},
        )
    old_region = case.region_id
    case.region_id = region.id
    case.assigned_to_id = assign_to.id if assign_to else None
    _touch(case)
    now = utcnow()
    for pending in db.session.scalars(
        select(TransferRequest).where(
            TransferRequest.case_id == case.id,
            TransferRequest.state == TransferState.PENDING.value,
        )
    ):  # a direct move settles any request still waiting
        pending.state = TransferState.CANCELLED.value
        pending.decided_by_id = actor.id
        pending.decided_at = now
    db.session.flush()
    for region_id in (old_region, region.id):  # both regions' logs show the move
        record(
            "case.transferred",
            actor=actor,
            subject_type="case",
            subject_id=case.uuid,
            region_id=region_id,
            old_region=old_region,
            new_region=region.id,
        )
    publish(events.CaseTransferred(case=case, from_region_id=old_region, sandbox=is_sandbox(case)))


def close(case: Case, *, actor: User, reason: str) -> None:
    """Close a case (follow-up ended); it leaves phones. A reason is required."""
    _require_manager(actor, case)
    if not reason.strip():
        raise Invalid("Say why the case is closed.", code="case.reason_missing")
    if case.status != CaseStatus.OPEN:
        raise Conflict(
            "The case is %(status)s.", code="case.not_open", params={"status": case.status}
        )
    case.status = CaseStatus.CLOSED.value
    case.status_reason = reason.strip()[:1000]  # kept with the case, not in the audit log
    _touch(case)
    case.closed_at = case.updated_at  # the retention of closed cases counts from here
    db.session.flush()
    record(
        "case.closed",
        actor=actor,
        subject_type="case",
        subject_id=case.uuid,
        region_id=case.region_id,
    )
    publish(events.CaseClosed(case=case, sandbox=is_sandbox(case)))


def reopen(case: Case, *, actor: User) -> None:
    """Reopen a closed case."""
    _require_manager(actor, case)
    if case.status != CaseStatus.CLOSED:
        raise Conflict(
            "The case is %(status)s, not closed.",
            code="case.not_closed",
            params={"status": case.status},
        )
    case.status = CaseStatus.OPEN.value
    case.status_reason = None
    case.closed_at = None
    _touch(case)
    db.session.flush()
    record(
        "case.reopened",
        actor=actor,
        subject_type="case",
        subject_id=case.uuid,
        region_id=case.region_id,
    )
    publish(events.CaseUpdated(case=case, changed=["status"], sandbox=is_sandbox(case)))


def resolve_conflict(
    case: Case, *, actor: User, properties: Mapping[str, Any] | None = None, note: str = ""
) -> CaseVersion | None:
    """Record the coordinator's decision on a conflicted case and clear the flag.

    With ``properties``, the chosen values become a new version (e.g. restoring a value an
    offline update overwrote).
    """
    _require_manager(actor, case)
    if case.conflict is None:
        raise Conflict("The case has no conflict to resolve.", code="case.no_conflict")
    previous = case.conflict
    version = None
    if properties:
        version = new_version(case, properties=properties, source="staff", approved_by=actor)
    case.conflict = None
    _touch(case)
    db.session.flush()
    record(
        "case.conflict_resolved",
        actor=actor,
        subject_type="case",
        subject_id=case.uuid,
        region_id=case.region_id,
        conflict=previous,
        version=case.version,
        changed=sorted(properties or {}),
        with_note=bool(note.strip()),  # free text stays out of the audit log
    )
    changed = [str(c["property"]) for c in version.changes] if version else []
    publish(events.CaseUpdated(case=case, changed=changed, sandbox=is_sandbox(case)))
    return version


def link(case: Case, other: Case, relation: str, *, actor: User) -> CaseLink:
    """Record that ``other`` is ``case``'s ``relation`` (e.g. a child's household or mother)."""
    _require_manager(actor, case)
    _require_manager(actor, other)
    if relation not in RELATIONS:
        raise Invalid(
            "relation is one of %(relations)s.",
            code="case.relation_invalid",
            params={"relations": ", ".join(RELATIONS)},
        )
    if case.id == other.id:
        raise Invalid("A case cannot be linked to itself.", code="case.link_self")
    existing = db.session.scalars(
        select(CaseLink).where(
            CaseLink.case_id == case.id,
            CaseLink.other_id == other.id,
            CaseLink.relation == relation,
        )
    ).one_or_none()
    if existing is not None:
        return existing
    row = CaseLink(case_id=case.id, other_id=other.id, relation=relation, created_by_id=actor.id)
    db.session.add(row)
    db.session.flush()
    record(
        "case.linked",
        actor=actor,
        subject_type="case",
        subject_id=case.uuid,
        region_id=case.region_id,
        other=other.uuid,
        relation=relation,
    )
    return row


def links_of(case: Case, *, actor: User) -> list[dict[str, Any]]:
    """The case's links: recorded ones, those its properties imply (``household_id``,
    ``mother_id``), and the reverse of both (a household's children). Only cases the actor may
    see are listed."""
    from fieldapp.cases.services import may_see  # noqa: PLC0415

    found: list[tuple[str, Case]] = []
    for prop, relation in _IMPLIED.items():
        target_uuid = case.properties.get(prop)
        if target_uuid:
            target = db.session.scalars(select(Case).where(Case.uuid == str(target_uuid))).first()
            if target is not None:
                found.append((relation, target))
    for row in db.session.scalars(select(CaseLink).where(CaseLink.case_id == case.id)):
        target = db.session.get(Case, row.other_id)
        if target is not None:
            found.append((row.relation, target))
    for row in db.session.scalars(select(CaseLink).where(CaseLink.other_id == case.id)):
        source = db.session.get(Case, row.case_id)
        if source is not None:
            found.append((f"{row.relation}_of", source))
    for prop, relation in _IMPLIED.items():
        sources = db.session.scalars(
            select(Case).where(Case.properties[prop].as_string() == case.uuid, Case.id != case.id)
        )
        found.extend((f"{relation}_of", source) for source in sources)
    seen: set[tuple[str, int]] = set()
    result = []
    for relation, target in found:
        if (relation, target.id) in seen or not may_see(actor, target):
            continue
        seen.add((relation, target.id))
        result.append(
            {
                "relation": relation,
                "id": target.uuid,
                "code": target.code,
                "dataset": target.case_list.name,
                "label": target.label,
                "status": target.status,
            }
        )
    return result


# -- duplicates and merging ------------------------------------------------------------------


def normalise_name(value: Any) -> str:
    """Lower case, accents and punctuation removed, Cyrillic/Latin letters kept, spaces folded."""
    text = unicodedata.normalize("NFKD", str(value or "")).casefold()
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = re.sub(r"[^\w\s]", " ", text)
    return " ".join(sorted(text.split()))  # word order does not matter (surname first or last)


def _birth_year(properties: Mapping[str, Any]) -> str:
    for key in ("birth_year", "birth_date"):
        value = str(properties.get(key) or "")
        if re.match(r"^\d{4}", value):
            return value[:4]
    return ""


def duplicate_key(case: Case, keys: Sequence[str] = ("full_name", "birth_year")) -> str | None:
    """The comparison key of a case, or None when it lacks the properties to compare."""
    parts = []
    for key in keys:
        if key == "birth_year":
            parts.append(_birth_year(case.properties))
        else:
            parts.append(normalise_name(case.properties.get(key)))
    return "|".join(parts) if all(parts) else None


def find_duplicates(
    case_list: CaseList,
    *,
    actor: User,
    region: Region | None = None,
    keys: Sequence[str] = ("full_name", "birth_year"),
) -> list[list[Case]]:
    """Groups of open cases of one region that share the same normalised name and birth year."""
    query = select(Case).where(
        Case.case_list_id == case_list.id, Case.status == CaseStatus.OPEN.value
    )
    if region is not None:
        query = query.where(Case.region_id == region.id)
    if not actor.has_role(Role.ADMIN):
        query = query.where(Case.region_id.in_(actor.region_ids or {-1}))
    groups: dict[tuple[int, str], list[Case]] = defaultdict(list)
    for case in db.session.scalars(query.order_by(Case.id)):
        key = duplicate_key(case, keys)
        if key is not None:
            groups[(case.region_id, key)].append(case)
    return [group for group in groups.values() if len(group) > 1]


def merge(
    keep: Case, drop: Case, *, actor: User, choose: Mapping[str, str] | None = None
) -> CaseVersion:
    """Merge ``drop`` into ``keep``: each property from ``choose[prop]`` (``"keep"`` or
    ``"drop"``; default: keep's value, else drop's), one new version of ``keep``; ``drop`` becomes
    a pointer (status ``merged``); its submissions' case work now names ``keep``.

    :raises Invalid: different lists, or the same case.
    :raises Conflict: one of them is already merged.
    """
    _require_manager(actor, keep)
    _require_manager(actor, drop)
    if keep.id == drop.id or keep.case_list_id != drop.case_list_id:
        raise Invalid(
            "Only two different cases of the same list can be merged.", code="case.merge_invalid"
        )
    if CaseStatus.MERGED in (keep.status, drop.status):
        raise Conflict("One of the cases is already merged.", code="case.already_merged")
    choose = dict(choose or {})
    props = set(keep.properties) | set(drop.properties)
    merged: dict[str, Any] = {}
    for prop in sorted(props):
        side = choose.get(prop)
        if side not in (None, "keep", "drop"):
            raise Invalid(
                "choose['%(prop)s'] is 'keep' or 'drop'.",
                code="case.merge_invalid",
                params={"prop": prop},
            )
        if side == "drop" or (side is None and keep.properties.get(prop) in (None, "")):
            merged[prop] = drop.properties.get(prop)
        else:
            merged[prop] = keep.properties.get(prop)
    label = drop.label if choose.get("label") == "drop" else keep.label
    version = new_version(keep, properties=merged, label=label, source="merge", approved_by=actor)
    drop.status = CaseStatus.MERGED.value
    drop.merged_into_id = keep.id
    _touch(drop)
    for work in db.session.scalars(select(CaseWork).where(CaseWork.case_uuid == drop.uuid)):
        work.case_uuid = keep.uuid
    db.session.flush()
    record(
        "case.merged",
        actor=actor,
        subject_type="case",
        subject_id=keep.uuid,
        region_id=keep.region_id,
        merged=drop.uuid,
        version=keep.version,
        chosen_from_drop=sorted(p for p, s in choose.items() if s == "drop"),
    )
    publish(
        events.CaseUpdated(
            case=keep,
            changed=[str(c["property"]) for c in version.changes],
            sandbox=is_sandbox(keep),
        )
    )
    publish(events.CaseUpdated(case=drop, changed=["status"], sandbox=is_sandbox(drop)))
    return version


def get_region_or_404(code: str) -> Region:
    region = db.session.scalars(select(Region).where(Region.code == code)).one_or_none()
    if region is None:
        raise NotFound("No such region.", code="region.not_found")
    return region
