"""held case work

Revision ID: e54efb525ddb
Revises: 26fb913f3ca2
Create Date: 2026-11-21 12:55:25.700960
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "e54efb525ddb"
down_revision: str | None = "26fb913f3ca2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("case_work", schema=None) as batch_op:
        batch_op.add_column(sa.Column("approved_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "take",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=False,
                server_default=sa.text("'{}'"),  # existing rows: no choices recorded
            )
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_case_work_approved_by_id_users"),
            "users",
            ["approved_by_id"],
            ["id"],
            ondelete="SET NULL",
        )

    # offline updates waiting for their predecessor: a new work state
    with op.batch_alter_table("case_work", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_case_work_state_valid"), type_="check")
        batch_op.create_check_constraint(
            "state_valid",
            "state IN ('pending', 'applied', 'rejected', 'superseded', 'error', 'held')",
        )


def downgrade() -> None:
    with op.batch_alter_table("case_work", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_case_work_state_valid"), type_="check")
        batch_op.create_check_constraint(
            "state_valid", "state IN ('pending', 'applied', 'rejected', 'superseded', 'error')"
        )
    with op.batch_alter_table("case_work", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_case_work_approved_by_id_users"), type_="foreignkey"
        )
        batch_op.drop_column("take")
        batch_op.drop_column("approved_by_id")
