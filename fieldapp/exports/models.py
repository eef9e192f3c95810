"""Exports prepared in the background: what was asked, how far it got, and its file."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from fieldapp.db import Base, utcnow


class JobState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    READY = "ready"
    FAILED = "failed"
    #: the person deleted it (a running one stops at its next batch)
    DELETED = "deleted"
    #: its file was removed when the keeping time ran out
    EXPIRED = "expired"


#: states whose job still has work to do
ACTIVE_STATES = (JobState.QUEUED.value, JobState.RUNNING.value)


class ExportJob(Base):
    """One export of a form's submissions, written to a file on the server for its requester.

    Only the person who asked sees it or downloads it: the rows are those they could see when
    it ran, read with their region scope. The file is removed when it expires or is deleted.
    """

    __tablename__ = "export_jobs"
    __table_args__ = (
        CheckConstraint(
            "state IN ('queued', 'running', 'ready', 'failed', 'deleted', 'expired')",
            name="state_valid",
        ),
        CheckConstraint("format IN ('csv.zip', 'xlsx')", name="format_valid"),
        # a person's list of jobs, newest first
        Index("ix_export_jobs_user", "user_id", "id"),
        # the runner's search for work and for files to remove
        Index("ix_export_jobs_state", "state", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: the job's name in URLs: random, so that a job's address tells nothing of another's
    token: Mapped[str] = mapped_column(String(32), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    #: the form's id (``form_id``), as the export routes take it
    form_id: Mapped[str] = mapped_column(String(255))
    format: Mapped[str] = mapped_column(String(16))
    #: the export's query arguments, checked when queued and again when run
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(16), default=JobState.QUEUED.value)
    #: top-level rows written so far (the submissions), and how many the filters matched
    rows_done: Mapped[int] = mapped_column(default=0)
    rows_expected: Mapped[int | None]
    #: bytes of the finished file
    size: Mapped[int | None]
    #: why it failed, in words for the person (never an answer or a name)
    error: Mapped[str | None] = mapped_column(String(500))
    #: the process running it, and when it last said so (a silent one is taken over)
    claimed_by: Mapped[str | None] = mapped_column(String(120))
    heartbeat_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    #: when the file is removed
    expires_at: Mapped[datetime | None]
    #: the requester's address, for the audit events the run writes
    ip: Mapped[str | None] = mapped_column(String(64))
