"""People and places: users with one role each, regions, API tokens."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, Column, ForeignKey, String, Table, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fieldapp.db import Base, utcnow


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
    #: changes whenever the password changes or the user is deactivated, ending every session
    session_nonce: Mapped[str] = mapped_column(String(32))
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
        return f"{self.id}:{self.session_nonce}"

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
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(lazy="joined")


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
