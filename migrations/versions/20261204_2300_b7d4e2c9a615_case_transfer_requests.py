"""case transfer requests

``case_transfer_requests``: a coordinator asks another region to take a case; that region's
coordinator accepts (choosing a worker; the case moves) or declines. At most one pending request
per case (a partial unique index, on SQLite and PostgreSQL).

Revision ID: b7d4e2c9a615
Revises: f2a8c4e6b1d3
Create Date: 2026-12-04 23:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fieldapp.db

revision: str = "b7d4e2c9a615"
down_revision: str | None = "f2a8c4e6b1d3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = fieldapp.db.UTCDateTime(timezone=True)
TABLE = "case_transfer_requests"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("from_region_id", sa.Integer(), nullable=False),
        sa.Column("to_region_id", sa.Integer(), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=True),
        sa.Column("requested_at", UTC_DATETIME, nullable=False),
        sa.Column("note", sa.String(length=1000), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", UTC_DATETIME, nullable=True),
        sa.Column("decision_note", sa.String(length=1000), nullable=True),
        sa.Column("assigned_to_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "state IN ('pending', 'accepted', 'declined', 'cancelled')",
            name=op.f("ck_case_transfer_requests_state_valid"),
        ),
        sa.CheckConstraint(
            "from_region_id <> to_region_id",
            name=op.f("ck_case_transfer_requests_regions_differ"),
        ),
        sa.CheckConstraint(
            "(state = 'pending' AND decided_at IS NULL)"
            " OR (state <> 'pending' AND decided_at IS NOT NULL)",
            name=op.f("ck_case_transfer_requests_decided_iff_not_pending"),
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_case_transfer_requests_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["from_region_id"],
            ["regions.id"],
            name=op.f("fk_case_transfer_requests_from_region_id_regions"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["to_region_id"],
            ["regions.id"],
            name=op.f("fk_case_transfer_requests_to_region_id_regions"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["users.id"],
            name=op.f("fk_case_transfer_requests_requested_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["users.id"],
            name=op.f("fk_case_transfer_requests_decided_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["assigned_to_id"],
            ["users.id"],
            name=op.f("fk_case_transfer_requests_assigned_to_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_transfer_requests")),
    )
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_case_transfer_requests_case_id"), ["case_id"], unique=False
        )
        batch_op.create_index(
            "ix_case_transfer_requests_to",
            ["to_region_id", "state", "requested_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_case_transfer_requests_from",
            ["from_region_id", "state", "requested_at"],
            unique=False,
        )
        batch_op.create_index(
            "uq_case_transfer_requests_pending_case",
            ["case_id"],
            unique=True,
            sqlite_where=sa.text("state = 'pending'"),
            postgresql_where=sa.text("state = 'pending'"),
        )


def downgrade() -> None:
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.drop_index("uq_case_transfer_requests_pending_case")
        batch_op.drop_index("ix_case_transfer_requests_from")
        batch_op.drop_index("ix_case_transfer_requests_to")
        batch_op.drop_index(batch_op.f("ix_case_transfer_requests_case_id"))
    op.drop_table(TABLE)
