"""Case records: the families and children followed over years.

A *case list* is an ODK entity list (``households``, ``adults``, ``children``). A *case* is one
entity: a UUID (as phones know it), a short pseudonymous code (for lists and phones; no name in
it), a label, typed properties, a region, an assigned worker, and a history of versions. Each
submission's entity blocks become *case work* rows when it arrives; they are applied at once, or
on approval when the list requires it.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fieldapp.db import Base, utcnow


class CaseStatus(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    MERGED = "merged"


class WorkState(enum.StrEnum):
    """Where a submission's case work stands."""

    PENDING = "pending"  # waiting for approval
    APPLIED = "applied"
    REJECTED = "rejected"  # the submission was rejected
    SUPERSEDED = "superseded"  # an edit of the submission replaced it
    ERROR = "error"  # could not be applied; ``error`` says why
    HELD = "held"  # approved, but an earlier update of its offline branch has not arrived yet


class ConsentState(enum.StrEnum):
    """What is on record about a person's (or a child's guardian's) consent, or a child's
    assent. No value on record is ``None`` ("unknown")."""

    GIVEN = "given"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"


#: consent or assent in these states stops new follow-ups on phones (``caselists._visible``)
STOPS_FOLLOW_UPS = (ConsentState.REFUSED.value, ConsentState.WITHDRAWN.value)


class ReferralStatus(enum.StrEnum):
    """Where a referral stands: made → accepted → seen → closed (closed may come early)."""

    MADE = "made"
    ACCEPTED = "accepted"
    SEEN = "seen"
    CLOSED = "closed"


class CaseList(Base):
    """An entity list (dataset) and how the programme follows its cases up."""

    __tablename__ = "case_lists"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: the entity list name forms use (``households``)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    #: a human title (``Households``)
    title: Mapped[str] = mapped_column(String(255))
    #: nothing from a submission reaches a case until a coordinator approves it
    approval_required: Mapped[bool] = mapped_column(default=True)
    #: days between expected follow-ups (None: no cadence)
    cadence_days: Mapped[int | None]
    #: the property holding a form's "next visit" date, which wins over the cadence
    next_visit_property: Mapped[str] = mapped_column(String(255), default="next_visit")
    #: prefix of the pseudonymous case codes (``HH`` → ``HH-7K3Q9``)
    code_prefix: Mapped[str] = mapped_column(String(8), default="C")
    #: properties in the order phones receive them
    properties: Mapped[list[Any]] = mapped_column(default=list)
    #: what a phone's case picker shows after the code (``fieldapp.cases.phone_labels``):
    #: non-identifying properties, ``next_due`` or ``member_ages``, in order
    phone_label: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    #: the case's label (which may hold a name) leads the phone label: off unless the programme
    #: switches it on for this list (a phone can be lost or seized)
    phone_label_names: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: days a closed case of this list is kept before the purge erases it with everything
    #: derived from it (``fieldapp.retention``); NULL (the default) keeps closed cases
    closed_retention_days: Mapped[int | None] = mapped_column(default=None)


class Case(Base):
    """One family, adult or child."""

    __tablename__ = "cases"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'closed', 'merged')", name="status_valid"),
        CheckConstraint("conflict IS NULL OR conflict IN ('soft', 'hard')", name="conflict_valid"),
        CheckConstraint(
            "consent IS NULL OR consent IN ('given', 'refused', 'withdrawn')", name="consent_valid"
        ),
        CheckConstraint(
            "assent IS NULL OR assent IN ('given', 'refused', 'withdrawn')", name="assent_valid"
        ),
        # covering indexes for the caseload state key (count, newest change, sum of versions)
        # of a worker and of a coordinator's region: the 304 path reads only the index (consent
        # and assent are in them because a refusal or withdrawal takes the case off phones)
        Index(
            "ix_cases_list_region",
            "case_list_id",
            "region_id",
            "status",
            "updated_at",
            "version",
            "consent",
            "assent",
        ),
        Index(
            "ix_cases_assigned",
            "assigned_to_id",
            "case_list_id",
            "status",
            "region_id",
            "updated_at",
            "version",
            "consent",
            "assent",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: the entity UUID phones and submissions use (lower case, no ``uuid:`` prefix)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    #: short pseudonymous code for lists and phones; never contains a name
    code: Mapped[str] = mapped_column(String(16), unique=True)
    case_list_id: Mapped[int] = mapped_column(ForeignKey("case_lists.id", ondelete="RESTRICT"))
    #: the entity label (may hold a name: shown to coordinators only, never sent to phones)
    label: Mapped[str] = mapped_column(String(500))
    #: current property values, typed from the form's binds
    properties: Mapped[dict[str, Any]] = mapped_column(default=dict)
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id", ondelete="RESTRICT"))
    #: the worker whose phone carries this case
    assigned_to_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    #: one of :class:`CaseStatus`
    status: Mapped[str] = mapped_column(String(16), default=CaseStatus.OPEN.value)
    #: current version number (1 on creation)
    version: Mapped[int] = mapped_column(default=1)
    #: an unresolved conflict: ``soft`` or ``hard``
    conflict: Mapped[str | None] = mapped_column(String(8))
    #: the case this one was merged into
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"))
    #: why it was closed (kept with the case, not in the audit log: it is free text)
    status_reason: Mapped[str | None] = mapped_column(String(1000))
    #: when it was last closed (the retention of closed cases counts from here)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    #: when the next follow-up is due
    next_due: Mapped[date | None] = mapped_column(Date, index=True)
    #: consent on record (:class:`ConsentState`; NULL: none on record). For a child it is the
    #: guardian's consent; the child's own assent is ``assent``. History: ``case_consent_changes``
    consent: Mapped[str | None] = mapped_column(String(16), default=None)
    #: a child's own assent (:class:`ConsentState`; NULL: none on record)
    assent: Mapped[str | None] = mapped_column(String(16), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: a test case, made by a test submission of a draft (``fieldapp.sandbox``): never in a
    #: case list, on a phone or in any read path for people (``fieldapp.sandbox.scope``)
    sandbox: Mapped[bool] = mapped_column(default=False, server_default=false())

    #: loaded once per session (identity map), not joined into every case row
    case_list: Mapped[CaseList] = relationship(lazy="select")
    versions: Mapped[list[CaseVersion]] = relationship(
        back_populates="case", order_by="CaseVersion.version", cascade="all, delete-orphan"
    )

    def overdue(self, today: date) -> bool:
        """Whether the next follow-up date has passed (open cases only)."""
        return (
            self.status == CaseStatus.OPEN and self.next_due is not None and self.next_due < today
        )


class CaseVersion(Base):
    """One state of a case, and what made it: the submission, who approved, what changed."""

    __tablename__ = "case_versions"
    __table_args__ = (UniqueConstraint("case_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    version: Mapped[int]
    label: Mapped[str] = mapped_column(String(500))
    #: all properties after this version
    properties: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: ``[{"property", "old", "new"}]``; ``label`` appears as a property
    changes: Mapped[list[Any]] = mapped_column(default=list)
    #: the submission it came from (None for changes made by staff)
    submission_id: Mapped[int | None] = mapped_column(
        ForeignKey("submissions.id", ondelete="SET NULL"), index=True
    )
    #: the coordinator whose approval made it (None when applied on receipt)
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    #: the version the phone's copy had (``baseVersion``)
    base_version: Mapped[int | None]
    branch_id: Mapped[str | None] = mapped_column(String(64))
    trunk_version: Mapped[int | None]
    #: ``soft`` (based on an older version) or ``hard`` (and overwrote changed properties)
    conflict: Mapped[str | None] = mapped_column(String(8))
    conflicting_properties: Mapped[list[Any]] = mapped_column(default=list)
    #: ``submission``, ``staff``, ``merge``
    source: Mapped[str] = mapped_column(String(16), default="submission")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    case: Mapped[Case] = relationship(back_populates="versions")


class CaseWork(Base):
    """One entity block of one submission version: what it asks of which case."""

    __tablename__ = "case_work"
    __table_args__ = (
        CheckConstraint(
            "state IN ('pending', 'applied', 'rejected', 'superseded', 'error', 'held')",
            name="state_valid",
        ),
        Index("ix_case_work_case_uuid", "case_uuid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE"), index=True
    )
    version_id: Mapped[int] = mapped_column(
        ForeignKey("submission_versions.id", ondelete="CASCADE"), index=True
    )
    #: the entity list named in the block
    dataset: Mapped[str] = mapped_column(String(255))
    #: the entity id as received (normalised when valid)
    case_uuid: Mapped[str | None] = mapped_column(String(64))
    create: Mapped[bool] = mapped_column(default=False)
    update: Mapped[bool] = mapped_column(default=False)
    label: Mapped[str | None] = mapped_column(String(500))
    #: proposed property values (typed)
    properties: Mapped[dict[str, Any]] = mapped_column(default=dict)
    base_version: Mapped[int | None]
    trunk_version: Mapped[int | None]
    branch_id: Mapped[str | None] = mapped_column(String(64))
    #: one of :class:`WorkState`
    state: Mapped[str] = mapped_column(String(16), default=WorkState.PENDING.value)
    #: why it could not be applied, for the coordinator
    error: Mapped[str | None] = mapped_column(String(1000))
    #: for held work: who approved it and what they took, to apply it when it can be
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    take: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: the case version it produced
    case_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("case_versions.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CaseLink(Base):
    """A recorded relation between two cases: ``other`` is ``case``'s ``relation``."""

    __tablename__ = "case_links"
    __table_args__ = (UniqueConstraint("case_id", "other_id", "relation"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    other_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    #: ``household``, ``mother``, ``child``, ``sibling``, ``guardian`` or ``other``
    relation: Mapped[str] = mapped_column(String(32))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OverdueNotice(Base):
    """That a case's follow-up due on ``due`` was told overdue (once per case and due date)."""

    __tablename__ = "case_overdue_notices"

    case_id: Mapped[int] = mapped_column(
        ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True
    )
    #: the due date that passed
    due: Mapped[date] = mapped_column(Date, primary_key=True)
    noticed_at: Mapped[datetime] = mapped_column(default=utcnow)


class TransferState(enum.StrEnum):
    """Where a request to move a case to another region stands."""

    PENDING = "pending"  # waiting for a coordinator of the receiving region
    ACCEPTED = "accepted"  # the case moved (``care.transfer``), to the worker chosen
    DECLINED = "declined"  # the receiving region said no, with a reason; the case stayed
    CANCELLED = "cancelled"  # withdrawn by the source region (or an administrator's move)


class TransferRequest(Base):
    """A request to move a case to another region, which that region's coordinator accepts
    (choosing a worker) or declines. Until then the case stays where it was."""

    __tablename__ = "case_transfer_requests"
    __table_args__ = (
        CheckConstraint(
            "state IN ('pending', 'accepted', 'declined', 'cancelled')", name="state_valid"
        ),
        CheckConstraint("from_region_id <> to_region_id", name="regions_differ"),
        CheckConstraint(
            "(state = 'pending' AND decided_at IS NULL)"
            " OR (state <> 'pending' AND decided_at IS NOT NULL)",
            name="decided_iff_not_pending",
        ),
        # at most one pending request per case (a partial unique index on both databases)
        Index(
            "uq_case_transfer_requests_pending_case",
            "case_id",
            unique=True,
            sqlite_where=text("state = 'pending'"),
            postgresql_where=text("state = 'pending'"),
        ),
        Index("ix_case_transfer_requests_to", "to_region_id", "state", "requested_at"),
        Index("ix_case_transfer_requests_from", "from_region_id", "state", "requested_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    #: the region the case was in when the request was made
    from_region_id: Mapped[int] = mapped_column(ForeignKey("regions.id", ondelete="RESTRICT"))
    #: the region asked to take it
    to_region_id: Mapped[int] = mapped_column(ForeignKey("regions.id", ondelete="RESTRICT"))
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: the requester's note for the receiving region (free text: kept here, not in the audit log)
    note: Mapped[str | None] = mapped_column(String(1000))
    #: one of :class:`TransferState`
    state: Mapped[str] = mapped_column(String(16), default=TransferState.PENDING.value)
    #: who accepted, declined or cancelled it, and when
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None]
    #: why it was declined (free text: kept here, not in the audit log)
    decision_note: Mapped[str | None] = mapped_column(String(1000))
    #: the worker of the receiving region the case was given to on acceptance
    assigned_to_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class ConsentChange(Base):
    """One change of a case's consent or assent: from a registration's answers or by a
    coordinator, with the reason (free text: kept here, never in the audit log)."""

    __tablename__ = "case_consent_changes"
    __table_args__ = (
        CheckConstraint("kind IN ('consent', 'assent')", name="kind_valid"),
        CheckConstraint("new_state IN ('given', 'refused', 'withdrawn')", name="new_state_valid"),
        CheckConstraint("source IN ('submission', 'staff')", name="source_valid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    #: ``consent`` (the person's, or a child's guardian's) or ``assent`` (the child's own)
    kind: Mapped[str] = mapped_column(String(16))
    #: the state before (NULL: none on record) and after
    old_state: Mapped[str | None] = mapped_column(String(16))
    new_state: Mapped[str] = mapped_column(String(16))
    #: ``submission`` (a registration's consent answers, on approval) or ``staff``
    source: Mapped[str] = mapped_column(String(16))
    submission_id: Mapped[int | None] = mapped_column(
        ForeignKey("submissions.id", ondelete="SET NULL"), index=True
    )
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    #: why (required from staff; may hold personal detail, so never copied to the audit log)
    reason: Mapped[str | None] = mapped_column(String(1000))
    #: the household's change this one follows (a member's consent withdrawn with its
    #: household's, ``cases.consent``); NULL: a change of its own
    from_change_id: Mapped[int | None] = mapped_column(
        ForeignKey("case_consent_changes.id", ondelete="SET NULL"), index=True
    )
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Referral(Base):
    """A referral of a case to a service (a psychologist...), tracked until it is closed.

    Made from an approved wellbeing screening's referral answer, or by hand by a coordinator.
    Each step keeps who and when; ``due`` follows from the urgency (``cases.referrals``).
    """

    __tablename__ = "case_referrals"
    __table_args__ = (
        CheckConstraint("status IN ('made', 'accepted', 'seen', 'closed')", name="status_valid"),
        CheckConstraint("urgency IN ('today', 'week', 'month')", name="urgency_valid"),
        CheckConstraint(
            "(status = 'closed') = (closed_at IS NOT NULL)", name="closed_iff_closed_at"
        ),
        # one referral per case and submission (an approval after an edit makes no second one)
        UniqueConstraint("case_id", "submission_id"),
        # the late referrals screen: open ones by due date
        Index("ix_case_referrals_status_due", "status", "due"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    #: to whom: one of ``cases.referrals.SERVICES``
    service: Mapped[str] = mapped_column(String(32))
    #: ``today``, ``week`` or ``month``
    urgency: Mapped[str] = mapped_column(String(16))
    #: when the person should have been seen by (from the urgency and the day it was made)
    due: Mapped[date] = mapped_column(Date)
    #: one of :class:`ReferralStatus`
    status: Mapped[str] = mapped_column(String(16), default=ReferralStatus.MADE.value)
    #: the screening it came from (NULL: added by hand)
    submission_id: Mapped[int | None] = mapped_column(
        ForeignKey("submissions.id", ondelete="SET NULL"), index=True
    )
    #: a note by staff (free text: kept here, never in the audit log)
    note: Mapped[str | None] = mapped_column(String(1000))
    made_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    made_at: Mapped[datetime] = mapped_column(default=utcnow)
    accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    accepted_at: Mapped[datetime | None]
    seen_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    seen_at: Mapped[datetime | None]
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    closed_at: Mapped[datetime | None]


# every session keeps test data out of its queries (registered wherever these models are used)
import fieldapp.sandbox.scope  # noqa: E402, F401
