"""Case records: taking in case work from submissions, merging it field by field, reading cases.

How a submission reaches the cases:

1. :func:`record_case_work` (called by ``receive_submission``) turns the submission's entity
   blocks into :class:`CaseWork` rows. Lists that do not require approval apply them at once.
2. On approval, :func:`apply_submission` applies the pending work with the coordinator's
   ``take`` choices, one new case version per case, in the approving transaction, with the case
   rows locked (two coordinators approving conflicting updates at once are serialised; nothing is
   lost).
3. Work that cannot be applied (unknown case, invalid id, missing label, another region) never
   fails the phone's upload or the approval: the reason is stored on the work row, shown with the
   submission, and audited.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select

from fieldapp.audit.services import record
from fieldapp.auth.models import Role, User
from fieldapp.cases import events, phone_labels
from fieldapp.cases.mapping import as_date, entity_blocks
from fieldapp.cases.models import (
    STOPS_FOLLOW_UPS,
    Case,
    CaseList,
    CaseStatus,
    CaseVersion,
    CaseWork,
    WorkState,
)
from fieldapp.db import db, utcnow
from fieldapp.errors import NotFound
from fieldapp.events import is_sandbox, publish
from fieldapp.forms.models import FormVersion
from fieldapp.submissions.models import Submission, SubmissionVersion

_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
_DEFAULT_SETTINGS: dict[str, dict[str, Any]] = {
    "households": {
        "title": "Households",
        "code_prefix": "HH",
        "cadence_days": 30,
        "phone_label": ["settlement", "district", "household_size", "member_ages", "next_due"],
    },
    "adults": {
        "title": "Adults",
        "code_prefix": "AD",
        "cadence_days": 90,
        "phone_label": ["birth_year", "next_due"],
    },
    "children": {
        "title": "Children",
        "code_prefix": "CH",
        "cadence_days": 90,
        "phone_label": ["sex", "birth_date", "next_due"],
    },
}


class Keep:
    """An argument left out: the setting stays as it is."""


#: see :class:`Keep`
KEEP = Keep()


class CaseWorkError(Exception):
    """Why one piece of case work cannot be applied (stored on the work row)."""


class HoldWork(Exception):
    """An offline update whose predecessor in its branch has not been applied yet."""


# -- case lists ------------------------------------------------------------------------------


def get_case_list(name: str) -> CaseList | None:
    return db.session.scalars(select(CaseList).where(CaseList.name == name)).one_or_none()


def ensure_case_lists(version: FormVersion) -> None:
    """Create the case lists a form version declares, and add its properties to them."""
    for decl in version.entities or []:
        name = str(decl["dataset"])
        case_list = get_case_list(name)
        if case_list is None:
            defaults = _DEFAULT_SETTINGS.get(name, {})
            case_list = CaseList(
                name=name,
                title=defaults.get("title", name.replace("_", " ").title()),
                code_prefix=defaults.get("code_prefix", name[:2].upper()),
                cadence_days=defaults.get("cadence_days"),
                approval_required=True,
                properties=[],
                phone_label=list(defaults.get("phone_label", ["next_due"])),
                phone_label_names=False,
            )
            db.session.add(case_list)
        props = list(case_list.properties or [])
        for prop, _path in decl.get("properties", []):
            if prop not in props:
                props.append(str(prop))
        case_list.properties = props
    db.session.flush()


def list_case_lists() -> Sequence[CaseList]:
    return db.session.scalars(select(CaseList).order_by(CaseList.name)).all()


def update_case_list(
    case_list: CaseList,
    *,
    actor: User,
    cadence_days: int | None = None,
    approval_required: bool | None = None,
    next_visit_property: str | None = None,
    phone_label: Sequence[str] | None = None,
    phone_label_names: bool | None = None,
    closed_retention_days: int | Keep | None = KEEP,
) -> None:
    """Change how a list is followed up, shown on phones and how long its closed cases are kept
    (designers and administrators). ``closed_retention_days`` None keeps closed cases; left
    out, unchanged.

    :raises Invalid: a phone label part that is not the list's, or identifies a person while
        names are off (see :mod:`fieldapp.cases.phone_labels`).
    """
    changes: dict[str, Any] = {}
    if not isinstance(closed_retention_days, Keep) and (
        closed_retention_days != case_list.closed_retention_days
    ):
        changes["closed_retention_days"] = [
            case_list.closed_retention_days,
            closed_retention_days,
        ]
        case_list.closed_retention_days = closed_retention_days
    names = case_list.phone_label_names if phone_label_names is None else phone_label_names
    if phone_label is not None or phone_label_names is not None:
        parts = phone_labels.check(
            case_list,
            list(case_list.phone_label or ()) if phone_label is None else phone_label,
            names=names,
        )
        if parts != list(case_list.phone_label or ()):
            changes["phone_label"] = [list(case_list.phone_label or ()), parts]
            case_list.phone_label = parts
        if names != case_list.phone_label_names:
            changes["phone_label_names"] = [case_list.phone_label_names, names]
            case_list.phone_label_names = names
    if cadence_days is not None and cadence_days != case_list.cadence_days:
        changes["cadence_days"] = [case_list.cadence_days, cadence_days or None]
        case_list.cadence_days = cadence_days or None
    if approval_required is not None and approval_required != case_list.approval_required:
        changes["approval_required"] = [case_list.approval_required, approval_required]
        case_list.approval_required = approval_required
    if next_visit_property and next_visit_property != case_list.next_visit_property:
        changes["next_visit_property"] = [case_list.next_visit_property, next_visit_property]
        case_list.next_visit_property = next_visit_property
    db.session.flush()
    if changes:
        record(
            "case_list.updated",
            actor=actor,
            subject_type="case_list",
            subject_id=case_list.name,
            **changes,
        )


# -- recording work at receipt ---------------------------------------------------------------


def record_case_work(
    submission: Submission,
    version: SubmissionVersion,
    entities: Sequence[Mapping[str, Any]],
    *,
    actor: User | None,
    new: bool = False,
) -> list[CaseWork]:
    """Turn a new submission version's entity blocks into case work.

    Pending work of an earlier version of the same submission is superseded (an edit replaces
    the whole submission). Lists without approval apply their work at once.
    """
    if not new:  # an edit: the earlier version's pending work is replaced
        for old in db.session.scalars(
            select(CaseWork).where(
                CaseWork.submission_id == submission.id, CaseWork.state == WorkState.PENDING
            )
        ):
            old.state = WorkState.SUPERSEDED.value
    if version.encrypted or not entities:
        db.session.flush()
        return []
    works: list[CaseWork] = []
    lists: dict[str, CaseList | None] = {}

    def _case_list_of(name: str) -> CaseList | None:
        if name not in lists:
            lists[name] = get_case_list(name)
        return lists[name]

    # answers flagged as not of their type are never proposed (see cases.mapping)
    flagged = {str(f.get("path")) for f in version.invalid_answers or () if isinstance(f, dict)}
    for block in entity_blocks(version.data, entities, invalid=flagged):
        if not block.create and not block.update:
            continue  # e.g. a registration without consent: create="0"
        work = CaseWork(
            submission_id=submission.id,
            version_id=version.id,
            dataset=block.dataset,
            case_uuid=block.case_uuid or (block.raw_id[:64] or None),
            create=block.create,
            update=block.update,
            label=block.label[:500] if block.label else None,
            properties=block.properties,
            base_version=block.base_version,
            trunk_version=block.trunk_version,
            branch_id=block.branch_id[:64] if block.branch_id else None,
        )
        if block.case_uuid is None:
            work.state = WorkState.ERROR.value
            # no value in the message: it goes to the audit log too (the row keeps the id)
            work.error = "The case id is not a valid UUID."
        elif _case_list_of(block.dataset) is None:
            work.state = WorkState.ERROR.value
            work.error = f"There is no case list {block.dataset!r}."
        db.session.add(work)
        works.append(work)
    db.session.flush()
    for work in works:
        case_list = _case_list_of(work.dataset)
        if work.state == WorkState.PENDING and case_list and not case_list.approval_required:
            apply_work(work, submission, approved_by=None, take=None)
    if any(w.state == WorkState.ERROR for w in works):
        record(
            "case_work.error",
            actor=actor,
            subject_type="submission",
            subject_id=submission.instance_id,
            region_id=submission.region_id,
            errors=[w.error for w in works if w.error],
        )
    return works


# -- applying work ---------------------------------------------------------------------------


#: where case codes are drawn from: ``secrets`` (unguessable), or the simulated year's own
#: random source (the demo's codes are the same on every machine for the same seed)
_code_source: ContextVar[random.Random | None] = ContextVar("case_code_source", default=None)


@contextmanager
def seeded_case_codes(rng: random.Random) -> Iterator[None]:
    """Draw case codes from ``rng`` inside the block (the simulation; never a real request)."""
    token = _code_source.set(rng)
    try:
        yield
    finally:
        _code_source.reset(token)


def _new_code(prefix: str) -> str:
    source = _code_source.get()
    choice = source.choice if source is not None else secrets.choice
    while True:
        code = f"{prefix}-" + "".join(choice(_CODE_ALPHABET) for _ in range(5))
        if db.session.scalars(select(Case.id).where(Case.code == code)).first() is None:
            return code


def _locked_case(case_uuid: str) -> Case | None:
    """The case row, locked until commit and read afresh (not from the identity map).

    ``OF cases``: the case list is joined eagerly (an outer join), and PostgreSQL refuses to lock
    the nullable side of one.
    """
    return db.session.scalars(
        select(Case)
        .where(Case.uuid == case_uuid)
        .with_for_update(of=Case)
        .execution_options(populate_existing=True)
    ).one_or_none()


def _id_taken(case_uuid: str) -> bool:
    """Whether any case, real or test, has this id. Inside a try the case logic sees test cases
    only; a test registration that reuses a real case's id must be refused like any other
    reused id, not fail on the unique index."""
    return (
        db.session.scalars(
            select(Case.id).where(Case.uuid == case_uuid).execution_options(include_sandbox=True)
        ).first()
        is not None
    )


def _next_due(case: Case, changed: Mapping[str, Any], when: datetime) -> date | None:
    """A form's next-visit date wins; otherwise the list's cadence from this follow-up."""
    case_list = case.case_list
    if case_list.next_visit_property in changed:
        given = as_date(changed[case_list.next_visit_property])
        if given is not None:
            return given
    if case_list.cadence_days:
        return when.date() + timedelta(days=case_list.cadence_days)
    return case.next_due


def _taken(properties: Mapping[str, Any], take: Mapping[str, bool] | None) -> dict[str, Any]:
    if not take:
        return dict(properties)
    return {k: v for k, v in properties.items() if take.get(k, True)}


def initial_changes(label: str, properties: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The ``changes`` of a case's first version: everything, from nothing."""
    return [{"property": "label", "old": None, "new": label}] + [
        {"property": k, "old": None, "new": v} for k, v in properties.items()
    ]


def new_version(
    case: Case,
    *,
    properties: Mapping[str, Any],
    label: str | None = None,
    source: str,
    approved_by: User | None,
    **fields: Any,
) -> CaseVersion:
    """Overlay ``properties`` (and a new label) on the case as its next version.

    The version records exactly the properties whose value changed; ``fields`` are further
    :class:`CaseVersion` columns (submission, base version, conflict...).
    """
    changes = [
        {"property": k, "old": case.properties.get(k), "new": v}
        for k, v in properties.items()
        if case.properties.get(k) != v
    ]
    new_label = label or case.label
    if new_label != case.label:
        changes.insert(0, {"property": "label", "old": case.label, "new": new_label})
    case.properties = {**case.properties, **properties}
    case.label = new_label
    case.version += 1
    case.updated_at = utcnow()
    # linking through ``case=`` appends to ``case.versions``, which loads every earlier version
    # first (a year of visits is dozens of rows per update); by id when they are not loaded
    # anyway, so the collection still reads right whenever it is loaded later
    link: dict[str, Any] = (
        {"case_id": case.id}
        if case.id is not None and "versions" in sa_inspect(case).unloaded
        else {"case": case}
    )
    version = CaseVersion(
        **link,
        version=case.version,
        label=case.label,
        properties=dict(case.properties),
        changes=changes,
        approved_by_id=approved_by.id if approved_by else None,
        source=source,
        **fields,
    )
    db.session.add(version)
    return version


def _create(
    work: CaseWork,
    submission: Submission,
    approved_by: User | None,
    take: Mapping[str, bool] | None,
) -> CaseVersion:
    assert work.case_uuid is not None
    if not work.label:
        raise CaseWorkError("A new case needs a label, and this submission has none.")
    case_list = get_case_list(work.dataset)
    assert case_list is not None
    properties = _taken(work.properties, take)
    submitter = (
        db.session.get(User, submission.submitted_by_id) if submission.submitted_by_id else None
    )
    now = utcnow()
    case = Case(
        uuid=work.case_uuid,
        code=_new_code(case_list.code_prefix),
        case_list=case_list,
        label=work.label,
        properties=properties,
        region_id=submission.region_id,
        assigned_to_id=submitter.id
        if submitter and submitter.has_role(Role.FIELD_WORKER)
        else None,
        status=CaseStatus.OPEN.value,
        version=1,
        created_at=now,
        updated_at=now,
    )
    db.session.add(case)
    case.next_due = _next_due(case, properties, now)
    version = CaseVersion(
        case=case,
        version=1,
        label=case.label,
        properties=dict(properties),
        changes=initial_changes(case.label, properties),
        submission_id=submission.id,
        approved_by_id=approved_by.id if approved_by else None,
        source="submission",
    )
    db.session.add(version)
    db.session.flush()
    record(
        "case.created",
        actor=approved_by,
        subject_type="case",
        subject_id=case.uuid,
        region_id=case.region_id,
        dataset=work.dataset,
        code=case.code,
        submission=submission.instance_id,
    )
    publish(
        events.CaseCreated(
            case=case, submission_instance_id=submission.instance_id, sandbox=is_sandbox(case)
        )
    )
    return version


def changed_since(case: Case, base_version: int) -> set[str]:
    """Properties (and ``label``) whose value changed between ``base_version`` and now."""
    base = next((v for v in case.versions if v.version == base_version), None)
    if base is None:
        return set()
    changed = {
        k
        for k in set(base.properties) | set(case.properties)
        if base.properties.get(k) != case.properties.get(k)
    }
    if base.label != case.label:
        changed.add("label")
    return changed


def conflicts_of(
    case: Case, proposed: Mapping[str, Any], label: str | None, base_version: int | None
) -> tuple[str | None, list[str]]:
    """Whether applying ``proposed`` (based on ``base_version``) conflicts, and on what.

    Based on an older version than the case's current one: ``soft``; and if it would overwrite a
    property changed since then with a different value: ``hard``.
    """
    if base_version is None or base_version >= case.version:
        return None, []
    changed = changed_since(case, base_version)
    conflicting = sorted(
        p for p, v in proposed.items() if p in changed and case.properties.get(p) != v
    )
    if label and "label" in changed and label != case.label:
        conflicting.append("label")
    return ("hard" if conflicting else "soft"), conflicting


def _update(
    case: Case,
    work: CaseWork,
    submission: Submission,
    approved_by: User | None,
    take: Mapping[str, bool] | None,
) -> CaseVersion:
    if case.region_id != submission.region_id:
        raise CaseWorkError("The case belongs to another region; the update was not applied.")
    proposed = _taken(work.properties, take)
    take_label = take.get("label", True) if take else True
    base = effective_base(case, work)
    conflict, conflicting = conflicts_of(case, proposed, work.label, base)
    if conflict is None and interrupted_branch(case, work):
        conflict = "soft"
    version = new_version(
        case,
        properties=proposed,
        label=work.label if take_label else None,
        source="submission",
        approved_by=approved_by,
        submission_id=submission.id,
        base_version=work.base_version,
        branch_id=work.branch_id,
        trunk_version=work.trunk_version,
        conflict=conflict,
        conflicting_properties=conflicting,
    )
    case.next_due = _next_due(case, proposed, case.updated_at)
    if case.consent in STOPS_FOLLOW_UPS or case.assent in STOPS_FOLLOW_UPS:
        case.next_due = None  # a visit made offline before a withdrawal schedules nothing
    if conflict == "hard" or (conflict == "soft" and case.conflict != "hard"):
        case.conflict = conflict
    db.session.flush()
    record(
        "case.updated",
        actor=approved_by,
        subject_type="case",
        subject_id=case.uuid,
        region_id=case.region_id,
        version=case.version,
        submission=submission.instance_id,
        changed=[c["property"] for c in version.changes],
        conflict=conflict,
    )
    publish(
        events.CaseUpdated(
            case=case,
            changed=[str(c["property"]) for c in version.changes],
            submission_instance_id=submission.instance_id,
            sandbox=is_sandbox(case),
        )
    )
    return version


def effective_base(case: Case, work: CaseWork) -> int | None:
    """The server version an update is based on (ODK-INTEROP §3.5).

    Without an offline branch, or for the first update of a branch, it is ``baseVersion``.
    A later update of a branch was made on the phone's own previous change: its base is the
    server version that change became (same ``branchId``, based on ``baseVersion - 1``).

    :raises HoldWork: that previous change has not been applied yet.
    """
    base = work.base_version
    if (
        not work.branch_id
        or work.trunk_version is None
        or base is None
        or base in (work.trunk_version, 1)
        or base < work.trunk_version
    ):
        return base
    previous = next(
        (v for v in case.versions if v.branch_id == work.branch_id and v.base_version == base - 1),
        None,
    )
    if previous is None:
        raise HoldWork
    return previous.version


def interrupted_branch(case: Case, work: CaseWork) -> bool:
    """A branch is interrupted when someone else changed the case after its trunk version."""
    if not work.branch_id or work.trunk_version is None:
        return False
    return any(
        v.version > work.trunk_version and v.branch_id != work.branch_id
        for v in case.versions
        if v.version > 1
    )


def _created_by(case: Case, submission: Submission) -> bool:
    first = next((v for v in case.versions if v.version == 1), None)
    return first is not None and first.submission_id == submission.id


def _apply_one(
    work: CaseWork,
    submission: Submission,
    approved_by: User | None,
    take: Mapping[str, bool] | None,
) -> CaseVersion:
    """Create or update the case; :raises CaseWorkError: when that is impossible."""
    assert work.case_uuid is not None
    case = _locked_case(work.case_uuid)
    while case is not None and case.merged_into_id is not None:
        target = db.session.get(Case, case.merged_into_id)
        case = _locked_case(target.uuid) if target else None
    if work.update and case is not None:
        return _update(case, work, submission, approved_by, take)
    if work.create and case is None and not _id_taken(work.case_uuid):
        return _create(work, submission, approved_by, take)
    if work.create and case is not None and _created_by(case, submission):
        # an edit of an approved registration: its corrections update the case it created
        return _update(case, work, submission, approved_by, take)
    if work.create:
        raise CaseWorkError("A case with this id already exists; it was not created again.")
    raise CaseWorkError(f"There is no case {work.case_uuid} in {work.dataset!r}.")


def apply_work(
    work: CaseWork,
    submission: Submission,
    *,
    approved_by: User | None,
    take: Mapping[str, bool] | None,
) -> CaseVersion | None:
    """Apply one piece of case work; on failure store the reason and return None.

    Runs in a savepoint, so a failure leaves nothing half-applied.
    """
    try:
        with db.session.begin_nested():
            version = _apply_one(work, submission, approved_by, take)
    except HoldWork:
        work.state = WorkState.HELD.value
        work.approved_by_id = approved_by.id if approved_by else None
        work.take = dict(take or {})
        db.session.flush()
        record(
            "case_work.held",
            actor=approved_by,
            subject_type="submission",
            subject_id=submission.instance_id,
            region_id=submission.region_id,
            case=work.case_uuid,
            branch=work.branch_id,
            base_version=work.base_version,
        )
        return None
    except CaseWorkError as exc:
        work.state = WorkState.ERROR.value
        work.error = str(exc)
        db.session.flush()
        record(
            "case_work.error",
            actor=approved_by,
            subject_type="submission",
            subject_id=submission.instance_id,
            region_id=submission.region_id,
            errors=[work.error],
        )
        return None
    work.state = WorkState.APPLIED.value
    work.case_version_id = version.id
    work.error = None
    db.session.flush()
    if work.branch_id:
        _release_held(work)
    return version


def _release_held(applied: CaseWork) -> None:
    """Apply the held successor of an offline update that has just been applied."""
    assert applied.base_version is not None
    successor = db.session.scalars(
        select(CaseWork).where(
            CaseWork.state == WorkState.HELD.value,
            CaseWork.case_uuid == applied.case_uuid,
            CaseWork.branch_id == applied.branch_id,
            CaseWork.base_version == applied.base_version + 1,
        )
    ).first()
    if successor is None:
        return
    submission = db.session.get(Submission, successor.submission_id)
    approver = db.session.get(User, successor.approved_by_id) if successor.approved_by_id else None
    assert submission is not None
    successor.state = WorkState.PENDING.value
    record(
        "case_work.released",
        actor=approver,
        subject_type="submission",
        subject_id=submission.instance_id,
        region_id=submission.region_id,
        case=successor.case_uuid,
        branch=successor.branch_id,
    )
    apply_work(successor, submission, approved_by=approver, take=successor.take or None)


def apply_submission(
    submission: Submission, *, approved_by: User, take: Mapping[str, bool] | None
) -> list[CaseVersion]:
    """Apply a submission's pending case work on approval, with the coordinator's choices.

    Work of the current version that an earlier rejection set aside applies too: a coordinator
    who approves after rejecting means the approval.
    """
    works = db.session.scalars(
        select(CaseWork)
        .where(
            CaseWork.submission_id == submission.id,
            CaseWork.version_id == submission.current_version_id,
            CaseWork.state.in_((WorkState.PENDING.value, WorkState.REJECTED.value)),
        )
        .order_by(CaseWork.id)
    ).all()
    applied = []
    for work in works:
        version = apply_work(work, submission, approved_by=approved_by, take=take)
        if version is not None:
            applied.append(version)
    return applied


def reject_submission_work(submission: Submission) -> None:
    """A rejected submission's pending work will never apply."""
    for work in db.session.scalars(
        select(CaseWork).where(
            CaseWork.submission_id == submission.id, CaseWork.state == WorkState.PENDING
        )
    ):
        work.state = WorkState.REJECTED.value
    db.session.flush()


def case_changes(submission: Submission) -> list[dict[str, Any]]:
    """What the submission's current case work proposes, field by field, against each case."""
    if submission.current_version_id is None:
        return []
    rows: list[dict[str, Any]] = []
    works = db.session.scalars(
        select(CaseWork)
        .where(CaseWork.version_id == submission.current_version_id)
        .order_by(CaseWork.id)
    ).all()
    for work in works:
        case = (
            db.session.scalars(select(Case).where(Case.uuid == work.case_uuid)).one_or_none()
            if work.case_uuid
            else None
        )
        visible = case is not None and case.region_id == submission.region_id
        changed = (
            changed_since(case, work.base_version)
            if (visible and case and work.base_version and work.base_version < case.version)
            else set()
        )
        proposed: dict[str, Any] = dict(work.properties)
        if work.label:
            proposed = {"label": work.label, **proposed}
        for prop, value in proposed.items():
            current = None
            if visible and case is not None:
                current = case.label if prop == "label" else case.properties.get(prop)
            rows.append(
                {
                    "case_id": work.case_uuid,
                    "case_code": case.code if visible and case else None,
                    "dataset": work.dataset,
                    "action": "update"
                    if (work.update and (case is not None or not work.create))
                    else "create",
                    "property": prop,
                    "current": current,
                    "proposed": value,
                    "conflict": prop in changed and current != value,
                    "state": work.state,
                    "error": work.error,
                }
            )
        if not proposed:
            rows.append(
                {
                    "case_id": work.case_uuid,
                    "case_code": case.code if visible and case else None,
                    "dataset": work.dataset,
                    "action": "update",
                    "property": None,
                    "current": None,
                    "proposed": None,
                    "conflict": False,
                    "state": work.state,
                    "error": work.error,
                }
            )
    return rows


# -- reading ---------------------------------------------------------------------------------


def visible_case(case_id: str, *, actor: User) -> Case:
    """A case by UUID or code, if the actor may see it.

    :raises NotFound: no such case, or in a region the actor does not cover.
    """
    key = case_id.strip()
    case = db.session.scalars(
        select(Case).where((Case.uuid == key.lower()) | (Case.code == key.upper()))
    ).one_or_none()
    if case is None or not may_see(actor, case):
        raise NotFound("No such case.", code="case.not_found")
    return case


def may_see(actor: User, case: Case) -> bool:
    """Administrators see every case; coordinators their regions'; workers their own."""
    if actor.has_role(Role.ADMIN):
        return True
    if actor.has_role(Role.COORDINATOR):
        return case.region_id in actor.region_ids
    if actor.has_role(Role.FIELD_WORKER):
        return case.assigned_to_id == actor.id and case.region_id in actor.region_ids
    return False


def create_case(
    case_list: CaseList,
    *,
    label: str,
    properties: Mapping[str, Any],
    region_id: int,
    assigned_to: User | None,
    actor: User | None,
    case_uuid: str | None = None,
    next_due: date | None = None,
) -> Case:
    """Open a case directly (staff intake, imports, demo data); version 1, audited."""
    import uuid as uuidlib  # noqa: PLC0415

    now = utcnow()
    case = Case(
        uuid=case_uuid or str(uuidlib.uuid4()),
        code=_new_code(case_list.code_prefix),
        case_list=case_list,
        label=label,
        properties=dict(properties),
        region_id=region_id,
        assigned_to_id=assigned_to.id if assigned_to else None,
        status=CaseStatus.OPEN.value,
        version=1,
        created_at=now,
        updated_at=now,
    )
    db.session.add(case)
    case.next_due = next_due or _next_due(case, properties, now)
    db.session.add(
        CaseVersion(
            case=case,
            version=1,
            label=label,
            properties=dict(properties),
            changes=initial_changes(label, properties),
            approved_by_id=actor.id if actor else None,
            source="staff",
        )
    )
    db.session.flush()
    record(
        "case.created",
        actor=actor,
        subject_type="case",
        subject_id=case.uuid,
        region_id=region_id,
        dataset=case_list.name,
        code=case.code,
    )
    publish(events.CaseCreated(case=case, sandbox=is_sandbox(case)))
    return case
