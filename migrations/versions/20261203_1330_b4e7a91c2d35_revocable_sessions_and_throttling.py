"""revocable sessions, login throttling, token expiry, password syncs

Web sessions become rows (``web_sessions``; only a hash of the cookie's id), so that logout,
password changes, deactivation and "log out everywhere" end them on every app server.
``auth_throttles`` counts failed credentials per address, per account and address and per
account (growing delays; a lock only after failures from many addresses). API tokens get an
expiry (existing ones: 90 days from this migration). ``collect_syncs`` notes phones that sync with
a password instead of a login audit row per request. ``users.lock_notice_at`` remembers to tell
an account's owner about a lock.

Revision ID: b4e7a91c2d35
Revises: 4d8e2a61c7b3
Create Date: 2026-12-03 13:30:00.000000
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

import fieldapp.db

revision: str = "b4e7a91c2d35"
down_revision: str | None = "4d8e2a61c7b3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = fieldapp.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("last_seen_at", UTC_DATETIME, nullable=False),
        sa.Column("user_agent", sa.String(length=200), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("ended_at", UTC_DATETIME, nullable=True),
        sa.Column("end_reason", sa.String(length=20), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_web_sessions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_web_sessions_token_hash")),
    )
    op.create_index(op.f("ix_web_sessions_user_id"), "web_sessions", ["user_id"], unique=False)
    op.create_table(
        "auth_throttles",
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("account_hash", sa.String(length=64), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("first_failure_at", UTC_DATETIME, nullable=False),
        sa.Column("last_failure_at", UTC_DATETIME, nullable=False),
        sa.Column("blocked_until", UTC_DATETIME, nullable=True),
        sa.CheckConstraint(
            "scope IN ('address', 'account_address', 'account', 'token_address')",
            name=op.f("ck_auth_throttles_scope_valid"),
        ),
        sa.CheckConstraint("failures >= 0", name=op.f("ck_auth_throttles_failures_nonnegative")),
        sa.PrimaryKeyConstraint("key_hash", name=op.f("pk_auth_throttles")),
    )
    op.create_index(
        op.f("ix_auth_throttles_account_hash"), "auth_throttles", ["account_hash"], unique=False
    )
    op.create_index(
        op.f("ix_auth_throttles_last_failure_at"),
        "auth_throttles",
        ["last_failure_at"],
        unique=False,
    )
    op.create_table(
        "collect_syncs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("agent_hash", sa.String(length=64), nullable=False),
        sa.Column("user_agent", sa.String(length=200), nullable=False),
        sa.Column("first_seen_at", UTC_DATETIME, nullable=False),
        sa.Column("last_seen_at", UTC_DATETIME, nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_collect_syncs_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collect_syncs")),
        sa.UniqueConstraint(
            "user_id", "agent_hash", name=op.f("uq_collect_syncs_user_id_agent_hash")
        ),
    )
    # users: a plain ADD COLUMN (no table rebuild, which would cascade to its children on SQLite)
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lock_notice_at", UTC_DATETIME, nullable=True))
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_at", UTC_DATETIME, nullable=True))
    tokens = sa.table("api_tokens", sa.column("expires_at", UTC_DATETIME))
    op.execute(tokens.update().values(expires_at=datetime.now(UTC) + timedelta(days=90)))
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.alter_column("expires_at", existing_type=UTC_DATETIME, nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("expires_at")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("lock_notice_at")
    op.drop_table("collect_syncs")
    op.drop_index(op.f("ix_auth_throttles_last_failure_at"), table_name="auth_throttles")
    op.drop_index(op.f("ix_auth_throttles_account_hash"), table_name="auth_throttles")
    op.drop_table("auth_throttles")
    op.drop_index(op.f("ix_web_sessions_user_id"), table_name="web_sessions")
    op.drop_table("web_sessions")
