"""Web sessions kept on the server, so that they can be ended whatever copies of a cookie exist.

The signed cookie holds only a random id; the database keeps its SHA-256 (:class:`WebSession`).
Every request looks the row up, so ending it (logout, password change, deactivation, an
administrator, "log out everywhere") takes effect at once on every app server. The last-seen time
moves at most once a minute (``touch_every``): most reads do not write.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm.attributes import set_committed_value

from fieldapp.audit.services import record
from fieldapp.auth.models import User, WebSession
from fieldapp.db import db, utcnow


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    """How long a session lives without requests, and at most."""

    idle: timedelta = timedelta(minutes=30)
    lifetime: timedelta = timedelta(hours=12)
    #: the last-seen time is written at most this often (the idle timeout is that much coarser)
    touch_every: timedelta = timedelta(minutes=1)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SessionPolicy:
        """The policy of ``SESSION_IDLE_MINUTES`` and ``SESSION_MAX_HOURS``."""
        return cls(
            idle=timedelta(minutes=int(config["SESSION_IDLE_MINUTES"])),
            lifetime=timedelta(hours=float(config["SESSION_MAX_HOURS"])),
        )


@dataclass(frozen=True, slots=True)
class Lookup:
    """What a cookie's session id leads to: a live session, or why not."""

    session: WebSession | None
    #: ``None`` when live; ``idle``, ``expired`` (absolute lifetime) or ``ended`` (or unknown)
    dead_because: str | None = None
    #: whether the last-seen time was written (the caller commits)
    touched: bool = False


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def start_session(
    user: User,
    *,
    policy: SessionPolicy,
    user_agent: str = "",
    ip: str | None = None,
    now: datetime | None = None,
) -> tuple[str, WebSession]:
    """Open a session for ``user`` (and forget their dead ones).

    :return: the random id for the cookie (never stored) and the row.
    """
    now = now or utcnow()
    db.session.execute(
        delete(WebSession).where(
            WebSession.user_id == user.id,
            or_(
                WebSession.ended_at.is_not(None),
                WebSession.created_at < now - policy.lifetime,
                WebSession.last_seen_at < now - policy.idle,
            ),
        )
    )
    raw = secrets.token_urlsafe(32)
    row = WebSession(
        user_id=user.id,
        token_hash=_hash(raw),
        created_at=now,
        last_seen_at=now,
        user_agent=user_agent[:200],
        ip=ip,
    )
    db.session.add(row)
    db.session.flush()
    return raw, row


def _dead_because(row: WebSession, policy: SessionPolicy, now: datetime) -> str | None:
    if row.ended_at is not None or not row.user.active:
        return "ended"
    if now - row.created_at > policy.lifetime:
        return "expired"
    if now - row.last_seen_at > policy.idle:
        return "idle"
    return None


def look_up(raw: str, *, policy: SessionPolicy, now: datetime | None = None) -> Lookup:
    """The live session with this cookie id, noting the time of use (at most once a minute)."""
    now = now or utcnow()
    row = db.session.scalars(
        select(WebSession).where(WebSession.token_hash == _hash(raw))
    ).one_or_none()
    if row is None:
        return Lookup(None, "ended")
    dead = _dead_because(row, policy, now)
    if dead is not None:
        return Lookup(None, dead)
    if now - row.last_seen_at < policy.touch_every:
        return Lookup(row)
    # a conditional UPDATE: of several app servers serving the same minute, one writes
    db.session.execute(
        update(WebSession)
        .where(WebSession.id == row.id, WebSession.last_seen_at < now - policy.touch_every)
        .values(last_seen_at=now)
        .execution_options(synchronize_session=False)
    )
    set_committed_value(row, "last_seen_at", now)  # written above; not again at flush
    return Lookup(row, touched=True)


def end_session(row: WebSession, *, reason: str, now: datetime | None = None) -> None:
    """End one session (logout)."""
    db.session.execute(
        update(WebSession)
        .where(WebSession.id == row.id, WebSession.ended_at.is_(None))
        .values(ended_at=now or utcnow(), end_reason=reason)
        .execution_options(synchronize_session=False)
    )


def end_user_sessions(
    user: User,
    *,
    reason: str,
    actor: User | None,
    keep: WebSession | None = None,
    now: datetime | None = None,
) -> int:
    """End every session of ``user`` (but ``keep``), audited.

    :param reason: ``password``, ``deactivated``, ``admin`` or ``everywhere``.
    :return: how many were live.
    """
    query = (
        update(WebSession)
        .where(WebSession.user_id == user.id, WebSession.ended_at.is_(None))
        .values(ended_at=now or utcnow(), end_reason=reason)
        .execution_options(synchronize_session=False)
    )
    if keep is not None:
        query = query.where(WebSession.id != keep.id)
    count = int(db.session.execute(query).rowcount or 0)  # type: ignore[attr-defined]
    record(
        "auth.sessions_ended",
        actor=actor,
        subject_type="user",
        subject_id=user.id,
        reason=reason,
        count=count,
        kept_current=keep is not None,
    )
    return count


def live_sessions(
    user: User, *, policy: SessionPolicy, now: datetime | None = None
) -> Sequence[WebSession]:
    """The user's live sessions, most recently used first."""
    now = now or utcnow()
    return db.session.scalars(
        select(WebSession)
        .where(
            WebSession.user_id == user.id,
            WebSession.ended_at.is_(None),
            WebSession.created_at >= now - policy.lifetime,
            WebSession.last_seen_at >= now - policy.idle,
        )
        .order_by(WebSession.last_seen_at.desc(), WebSession.id.desc())
    ).all()


def live_session_counts(*, policy: SessionPolicy, now: datetime | None = None) -> dict[int, int]:
    """How many live sessions each user has (for the administrators' list)."""
    now = now or utcnow()
    rows = db.session.execute(
        select(WebSession.user_id, func.count())
        .where(
            WebSession.ended_at.is_(None),
            WebSession.created_at >= now - policy.lifetime,
            WebSession.last_seen_at >= now - policy.idle,
        )
        .group_by(WebSession.user_id)
    ).all()
    return {int(user_id): int(count) for user_id, count in rows}
