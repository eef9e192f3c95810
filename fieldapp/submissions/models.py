"""Submissions as received from phones: each a chain of versions (edits), with attachments."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fieldapp.db import Base, utcnow


class ReviewState(enum.StrEnum):
    """Where a submission stands in review (the names of the API contract)."""

    RECEIVED = "received"
    HAS_ISSUES = "has_issues"
    EDITED = "edited"
    APPROVED = "approved"
    REJECTED = "rejected"


#: the columns after a queue index's leading ones: the queue's order, then what every read checks
_QUEUE_ORDER = ("review_state", "urgent", "received_at", "id", "deleted_at")


class Submission(Base):
    """One filled form, identified by the instanceID of its first version."""

    __tablename__ = "submissions"
    __table_args__ = (
        UniqueConstraint("form_pk", "instance_id"),
        CheckConstraint(
            "review_state IN ('received', 'has_issues', 'edited', 'approved', 'rejected')",
            name="review_state_valid",
        ),
        Index("ix_submissions_region_received", "region_id", "received_at"),
        # the review queue: one index range per (region, state, urgent), in the queue's order
        # (oldest first, then id); also the per-state counts of a region, read from the index
        # alone (deleted_at too: every read leaves deleted submissions out)
        Index("ix_submissions_queue", "region_id", *_QUEUE_ORDER),
        # the queue filtered by form or by worker: the same order after the filter's column
        Index("ix_submissions_form_queue", "form_pk", "region_id", *_QUEUE_ORDER),
        Index("ix_submissions_submitter_queue", "submitted_by_id", "region_id", *_QUEUE_ORDER),
        # an instanceID names one submission on the whole server (not per form): the submission
        # page, the API, review, deletion and /fill find a submission by its instanceID alone
        # (the older per-form constraint above is implied by it; it stays because dropping it
        # on SQLite would rebuild this table and its count triggers)
        Index("uq_submissions_instance_id", "instance_id", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    form_pk: Mapped[int] = mapped_column(ForeignKey("forms.id", ondelete="RESTRICT"))
    #: instanceID of the first version; the submission's name in URLs and the API
    instance_id: Mapped[str] = mapped_column(String(255))
    #: the region whose coordinators see it (the submitter's region)
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id", ondelete="RESTRICT"))
    #: who sent the first version
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    #: one of :class:`ReviewState`
    review_state: Mapped[str] = mapped_column(String(16), default=ReviewState.RECEIVED.value)
    #: the form computed ``urgent`` = "yes" in the current version
    urgent: Mapped[bool] = mapped_column(default=False)
    #: the latest version (edits replace the data entirely); indexed because deleting a version
    #: (purge, erasure) makes the database look for the submissions that point at it
    current_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("submission_versions.id", use_alter=True, ondelete="SET NULL"), index=True
    )
    #: when the first version arrived
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: when the latest version arrived
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: set when a coordinator deleted it (softly: out of every read path, restorable; a phone
    #: resending it gets 409)
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)
    deleted_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    #: test data: sent while a designer tried a draft (``fieldapp.sandbox``); no read path for
    #: people sees it (a global ORM filter, ``fieldapp.sandbox.scope``), nor do the counts
    sandbox: Mapped[bool] = mapped_column(default=False, server_default=false())

    form: Mapped[Any] = relationship("Form")
    versions: Mapped[list[SubmissionVersion]] = relationship(
        back_populates="submission",
        foreign_keys="SubmissionVersion.submission_id",
        order_by="SubmissionVersion.id",
    )
    current_version: Mapped[SubmissionVersion | None] = relationship(
        foreign_keys=[current_version_id], post_update=True
    )


#: the review states whose counts :class:`SubmissionStateCount` keeps: the settled ones, which
#: grow with the years; the states that wait for a decision are few and counted from the index
COUNTED_STATES = (ReviewState.APPROVED.value, ReviewState.REJECTED.value)


class SubmissionStateCount(Base):
    """How many submissions (not deleted) of a region and form are in a settled review state,
    urgent or not: the queue's counts per state without reading the years of approved rows.

    Kept by database triggers on ``submissions`` (migration ``9c1d2b7e4f60``; test submissions,
    ``sandbox``, are never counted since ``7a3f0c5e9d21``), in the same
    transaction as the change, so that every path that inserts, changes, deletes (softly or not)
    or restores a submission keeps it exact, services and raw SQL alike. A load that turns
    triggers off (``session_replication_role = replica``) must count again (see the migration).
    On SQLite, a migration that rebuilds ``submissions`` (Alembic's batch "move and copy") drops
    its triggers: such a migration must make them again.
    """

    __tablename__ = "submission_state_counts"

    region_id: Mapped[int] = mapped_column(
        ForeignKey("regions.id", ondelete="CASCADE"), primary_key=True
    )
    form_pk: Mapped[int] = mapped_column(
        ForeignKey("forms.id", ondelete="CASCADE"), primary_key=True
    )
    #: one of :data:`COUNTED_STATES`
    review_state: Mapped[str] = mapped_column(String(16), primary_key=True)
    urgent: Mapped[bool] = mapped_column(primary_key=True)
    n: Mapped[int] = mapped_column(default=0)


class SubmissionVersion(Base):
    """One XML document a phone sent for a submission: the first, or an edit of the last."""

    __tablename__ = "submission_versions"
    __table_args__ = (
        # every version's instanceID is unique on the server, whatever the form, so that no
        # lookup by instanceID is ambiguous and one form cannot shadow another's submission; the
        # database settles concurrent identical POSTs (the per-form constraint is implied by it
        # and stays because dropping it on SQLite would rebuild the table)
        UniqueConstraint("form_pk", "instance_id"),
        Index("uq_submission_versions_instance_id", "instance_id", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE"), index=True
    )
    #: copy of the submission's form
    form_pk: Mapped[int] = mapped_column(ForeignKey("forms.id", ondelete="RESTRICT"))
    #: the form version the phone filled
    form_version_id: Mapped[int] = mapped_column(
        ForeignKey("form_versions.id", ondelete="RESTRICT")
    )
    #: this version's own instanceID
    instance_id: Mapped[str] = mapped_column(String(255))
    #: the instanceID this version replaces (edits only)
    deprecated_id: Mapped[str | None] = mapped_column(String(255))
    #: ``meta/instanceName``
    instance_name: Mapped[str | None] = mapped_column(String(500))
    #: the XML exactly as received, byte for byte (whatever its encoding: windows-1251 and
    #: UTF-16 documents are decoded only to be parsed, never to be stored)
    xml: Mapped[bytes] = mapped_column(LargeBinary)
    #: SHA-256 of the received XML bytes (identical resubmissions are recognised by it)
    xml_sha256: Mapped[str] = mapped_column(String(64))
    #: sent encrypted (the XML is the envelope; the data is in ``submission.xml.enc``)
    encrypted: Mapped[bool] = mapped_column(default=False)
    #: the answers as structured data following the form's field tree
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: answers that do not parse as their field's type (``submissions.parsing.invalid_answers``:
    #: path, field, expected type), kept as sent in ``data`` but never copied to a case; NULL
    #: for versions received before answers were checked
    invalid_answers: Mapped[list[Any] | None] = mapped_column(default=list)
    #: ``?deviceID=`` of the upload
    device_id: Mapped[str | None] = mapped_column(String(255))
    #: the client's User-Agent (prefixed by ODK-Client when given)
    user_agent: Mapped[str | None] = mapped_column(String(500))
    #: the device token used, if any
    device_pk: Mapped[int | None] = mapped_column(ForeignKey("devices.id", ondelete="SET NULL"))
    submitter_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)

    submission: Mapped[Submission] = relationship(
        back_populates="versions", foreign_keys=[submission_id]
    )
    form_version: Mapped[Any] = relationship("FormVersion")
    attachments: Mapped[list[SubmissionAttachment]] = relationship(
        back_populates="version",
        order_by="SubmissionAttachment.id",
        cascade="all, delete-orphan",
    )


class SubmissionAttachment(Base):
    """A file a submission version references; ``blob_sha256`` is NULL until it arrives."""

    __tablename__ = "submission_attachments"
    __table_args__ = (UniqueConstraint("version_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(
        ForeignKey("submission_versions.id", ondelete="CASCADE"), index=True
    )
    #: the file name the XML references (and the multipart part name)
    name: Mapped[str] = mapped_column(String(255))
    #: the received bytes; NULL while expected but not received
    blob_sha256: Mapped[str | None] = mapped_column(ForeignKey("blobs.sha256"))
    content_type: Mapped[str | None] = mapped_column(String(100))
    received_at: Mapped[datetime | None]

    version: Mapped[SubmissionVersion] = relationship(back_populates="attachments")


# every session keeps test data out of its queries (registered wherever these models are used)
import fieldapp.sandbox.scope  # noqa: E402, F401
