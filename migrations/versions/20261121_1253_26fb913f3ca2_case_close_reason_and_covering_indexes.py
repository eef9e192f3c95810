"""case close reason and covering indexes

Revision ID: 26fb913f3ca2
Revises: 2b07d3ee7ec0
Create Date: 2026-11-21 12:53:16.763481
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "26fb913f3ca2"
down_revision: str | None = "2b07d3ee7ec0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("status_reason", sa.String(length=1000), nullable=True))
        batch_op.drop_index(batch_op.f("ix_cases_assigned"))
        batch_op.create_index(
            "ix_cases_assigned",
            ["assigned_to_id", "case_list_id", "status", "region_id", "updated_at", "version"],
            unique=False,
        )
        batch_op.drop_index(batch_op.f("ix_cases_list_region"))
        batch_op.create_index(
            "ix_cases_list_region",
            ["case_list_id", "region_id", "status", "updated_at", "version"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_list_region")
        batch_op.create_index(
            batch_op.f("ix_cases_list_region"),
            ["case_list_id", "region_id", "status"],
            unique=False,
        )
        batch_op.drop_index("ix_cases_assigned")
        batch_op.create_index(
            batch_op.f("ix_cases_assigned"), ["assigned_to_id", "case_list_id"], unique=False
        )
        batch_op.drop_column("status_reason")
