"""People and places: users with one role each, regions, API tokens."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Column, ForeignKey, String, Table, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fieldapp.db import Base, JSONType, utcnow


class Role(enum.StrEnum):
    """What a person does in the programme; each user has exactly one."""

    ADMIN = "admin"
    DESIGNER = "designer"
    COORDINATOR = "coordinator"
    FIELD_WORKER = "field_worker"

    @property
    def label(self) -> str:
        """A human name for the role."""
        return {
            "admin": "Administrator",
            "designer": "Programme designer",
            "coordinator": "Regional coordinator",
            "field_worker": "Field worker",
        }[self.value]


ROLE_VALUES = tuple(r.value for r in Role)

user_regions = Table(
    "user_regions",
    Base.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("region_id", ForeignKey("regions.id", ondelete="RESTRICT"), primary_key=True),
)


class Region(Base):
    """A regional support centre's area; the unit of data scoping."""

    __tablename__ = "regions"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: short stable identifier used in URLs, the CLI and the API (``almaty``)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    #: human name (``Almaty region``)
    name: Mapped[str] = mapped_column(String(200))
    #: when it was created
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class User(Base):
    """A person who logs in: administrator, designer, coordinator or field worker."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(
            "role IN ('admin', 'designer', 'coordinator', 'field_worker')", name="role_valid"
        ),
        CheckConstraint("failed_logins >= 0", name="failed_logins_nonnegative"),
        CheckConstraint(
            "language IS NULL OR language IN ('ru', 'kk', 'en')", name="language_valid"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: login name, lower case
    username: Mapped[str] = mapped_column(String(64), unique=True)
    #: how the person is shown to colleagues
    display_name: Mapped[str] = mapped_column(String(200), default="")
    #: one of :class:`Role`
    role: Mapped[str] = mapped_column(String(20))
    #: argon2id hash of the password
    password_hash: Mapped[str] = mapped_column(String(255))
    #: deactivated users cannot log in and their tokens stop working
    active: Mapped[bool] = mapped_column(default=True)
    #: failed logins since the last success
    failed_logins: Mapped[int] = mapped_column(default=0)
    #: logins are refused until then
    locked_until: Mapped[datetime | None]
    #: last successful login
    last_login_at: Mapped[datetime | None]
    #: no longer read: sessions are rows of :class:`WebSession` (the column stays for old data)
    session_nonce: Mapped[str] = mapped_column(String(32))
    #: when the account was locked after failures from many addresses and its owner has not
    #: been told yet (shown at their next login, then cleared)
    lock_notice_at: Mapped[datetime | None]
    #: the TOTP secret (base32) once two-factor sign-in is set up; never shown again or logged
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    #: when two-factor sign-in was switched on (None: off)
    totp_enabled_at: Mapped[datetime | None]
    #: the last 30-second step whose code was accepted: a code is good once
    totp_last_step: Mapped[int | None]
    #: the interface language the person chose (``ru``, ``kk``, ``en``); None: the browser's
    language: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    #: regions this user works in (coordinators: one or more; field workers: exactly one)
    regions: Mapped[list[Region]] = relationship(
        secondary=user_regions, order_by="Region.code", lazy="selectin"
    )

    # -- flask-login protocol -------------------------------------------------------------
    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        # flask-login's user id is never stored: the session cookie names a WebSession row
        return str(self.id)

    # -- helpers ----------------------------------------------------------------------------
    @property
    def role_enum(self) -> Role:
        return Role(self.role)

    @property
    def region_ids(self) -> frozenset[int]:
        return frozenset(r.id for r in self.regions)

    def has_role(self, *roles: Role) -> bool:
        """Whether the user's role is one of ``roles``."""
        return self.role in {r.value for r in roles}

    @property
    def sees_all_regions(self) -> bool:
        """Administrators see every region; everyone else only their own."""
        return self.role == Role.ADMIN.value


class ApiToken(Base):
    """A bearer token for the JSON API; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"
    __table_args__ = (UniqueConstraint("token_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    #: hex SHA-256 of the token (tokens are random, so a fast hash is enough)
    token_hash: Mapped[str] = mapped_column(String(64))
    #: first characters of the token, to recognise it in lists
    prefix: Mapped[str] = mapped_column(String(16))
    #: what it is for
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: the token stops working then (401 ``auth.token_expired``)
    expires_at: Mapped[datetime]
    #: last request made with it (updated at most every few minutes)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(lazy="joined")


class WebSession(Base):
    """A logged-in browser. The signed cookie holds a random id; only its SHA-256 is stored.

    A session is live while it is not ended, its user is active, it was seen within the idle
    timeout and it is younger than the absolute lifetime. Ending it here (logout, password
    change, deactivation, an administrator, "log out everywhere") ends it on every app server,
    whatever copies of the cookie exist.
    """

    __tablename__ = "web_sessions"
    __table_args__ = (UniqueConstraint("token_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    #: hex SHA-256 of the random id in the cookie
    token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: last request (updated at most once a minute, so reads rarely write)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: the browser, as it named itself at login (shown in the list of sessions)
    user_agent: Mapped[str] = mapped_column(String(200), default="")
    #: the client address at login
    ip: Mapped[str | None] = mapped_column(String(64))
    ended_at: Mapped[datetime | None]
    #: logout, password, deactivated, admin, everywhere, idle, expired
    end_reason: Mapped[str | None] = mapped_column(String(20))

    user: Mapped[User] = relationship(lazy="joined")


class AuthThrottle(Base):
    """Failed credentials counted per client address, per account and address, per account.

    Keys are SHA-256 hashes (a mistyped username may be a password typed in the wrong field, so
    names are not stored). Counters are changed by single UPDATE/upsert statements, so several
    app servers share them through the database.
    """

    __tablename__ = "auth_throttles"
    __table_args__ = (
        CheckConstraint(
            "scope IN ('address', 'account_address', 'account', 'token_address')",
            name="scope_valid",
        ),
        CheckConstraint("failures >= 0", name="failures_nonnegative"),
    )

    #: hex SHA-256 of scope, account name and address
    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    scope: Mapped[str] = mapped_column(String(16))
    #: hex SHA-256 of the account name (account and account_address rows), to count addresses
    account_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    #: failures since ``first_failure_at`` (reset when the last one is old enough)
    failures: Mapped[int] = mapped_column(default=0)
    first_failure_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_failure_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    #: no attempt is checked before then (429 with Retry-After)
    blocked_until: Mapped[datetime | None]


class CollectSync(Base):
    """A phone that syncs with a username and password: one row per user and user agent.

    Replaces a login audit row per request; ``last_seen_at`` moves at most every few minutes.
    """

    __tablename__ = "collect_syncs"
    __table_args__ = (UniqueConstraint("user_id", "agent_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    #: hex SHA-256 of the User-Agent header
    agent_hash: Mapped[str] = mapped_column(String(64))
    #: the User-Agent header, shortened
    user_agent: Mapped[str] = mapped_column(String(200), default="")
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: the client address last seen
    ip: Mapped[str | None] = mapped_column(String(64))


class Device(Base):
    """A phone set up for a field worker: its token in the Collect server URL is the credential.

    Only the SHA-256 of the token is stored. Revoking the device, or deactivating its user,
    stops the token.
    """

    __tablename__ = "devices"
    __table_args__ = (UniqueConstraint("token_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: the worker the phone belongs to
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    #: hex SHA-256 of the token
    token_hash: Mapped[str] = mapped_column(String(64))
    #: what the coordinator called it ("Aigerim's Samsung")
    label: Mapped[str] = mapped_column(String(200), default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(foreign_keys=[user_id], lazy="joined")


class RecoveryCode(Base):
    """A one-time code that stands in for the authenticator app; only its SHA-256 is kept."""

    __tablename__ = "recovery_codes"
    __table_args__ = (UniqueConstraint("user_id", "code_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None]


class SiteSetting(Base):
    """A setting administrators change on a page (for example: two-factor sign-in required)."""

    __tablename__ = "site_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSONType)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
