"""Webhook endpoints, their outbox of deliveries, every attempt, and the worker's lease."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fieldapp.db import Base, utcnow


class DeliveryState(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class WebhookEndpoint(Base):
    """A URL an administrator registered to be told of events."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: http or https only (checked at registration and before every send)
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(255), default="")
    #: the event names it is told of (``submission.received`` ...)
    events: Mapped[list[Any]] = mapped_column(default=list)
    #: whether payloads carry the submission's answers (off unless the admin opts in)
    include_answers: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)
    #: the Standard Webhooks secret (``whsec_`` + base64); shown once, never logged
    secret: Mapped[str] = mapped_column(String(100))
    #: the secret before the last rotation, also signed with until ``previous_secret_until``
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_secret_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    deliveries: Mapped[list[WebhookDelivery]] = relationship(
        back_populates="endpoint", cascade="all, delete-orphan", passive_deletes=True
    )


class WebhookDelivery(Base):
    """One message owed to one endpoint: the outbox row, written in the event's transaction."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint("state IN ('pending', 'delivered', 'failed')", name="state_valid"),
        # what the worker looks for: due pending rows
        Index("ix_webhook_deliveries_due", "state", "next_attempt_at"),
        # order per subject: an earlier pending row of the same endpoint and subject goes first
        Index("ix_webhook_deliveries_subject", "endpoint_id", "subject", "state", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    #: the ``webhook-id`` header: the same on every attempt, so receivers can deduplicate
    msg_id: Mapped[str] = mapped_column(String(40), unique=True)
    #: the event name (``submission.reviewed`` ...)
    event: Mapped[str] = mapped_column(String(64))
    #: ``submission:<instanceID>`` or ``case:<uuid>``: deliveries of one subject go in order
    subject: Mapped[str] = mapped_column(String(120))
    #: the JSON body, built when the event happened
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: one of :class:`DeliveryState`
    state: Mapped[str] = mapped_column(String(16), default=DeliveryState.PENDING.value)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: a sender working on it until then (another sender leaves it alone)
    claimed_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    last_status: Mapped[int | None]

    endpoint: Mapped[WebhookEndpoint] = relationship(back_populates="deliveries")
    attempt_log: Mapped[list[WebhookAttempt]] = relationship(
        back_populates="delivery",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="WebhookAttempt.id",
    )


class WebhookAttempt(Base):
    """One try at sending a delivery (no secret, no request body, a short response excerpt)."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(default=utcnow)
    #: HTTP status, or NULL when no answer came (refused, timeout, blocked address)
    status_code: Mapped[int | None]
    duration_ms: Mapped[int] = mapped_column(default=0)
    #: why there was no answer, as a short class of error (never a message with the URL's secrets)
    error: Mapped[str | None] = mapped_column(String(200))
    #: the first characters of the answer's body
    response_excerpt: Mapped[str | None] = mapped_column(String(500))

    delivery: Mapped[WebhookDelivery] = relationship(back_populates="attempt_log")


class WorkerLease(Base):
    """Who may run a background job now: one row per job, held for a short time and renewed.

    With several processes or servers only the holder sends; a holder that dies loses the
    lease when it expires.
    """

    __tablename__ = "worker_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(120))
    expires_at: Mapped[datetime | None]
    #: when the holder last ran its periodic tick (the overdue scan reads from there)
    last_tick_at: Mapped[datetime | None]
