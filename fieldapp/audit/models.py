"""The audit log: who did what to which record, when and from where."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from fieldapp.db import Base, utcnow


class AuditEvent(Base):
    """One audited act. Never updated, never deleted by the application."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_subject", "subject_type", "subject_id"),
        Index("ix_audit_events_at", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: when it happened (UTC)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    #: the account that acted; NULL for anonymous acts such as a failed login
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    #: dotted verb, e.g. ``auth.login_failed``, ``form.published``, ``case.viewed``
    action: Mapped[str] = mapped_column(String(64), index=True)
    #: kind of record acted on (``user``, ``form``, ``submission``, ``case``...)
    subject_type: Mapped[str | None] = mapped_column(String(32))
    #: its identifier, as text
    subject_id: Mapped[str | None] = mapped_column(String(128))
    #: the region the record belongs to, for region-scoped browsing
    region_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id", ondelete="SET NULL"))
    #: the client address the request came from
    ip: Mapped[str | None] = mapped_column(String(64))
    #: structured facts about the act; never passwords, tokens or form answers
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
