"""case_consent_changes.from_change_id: a member's consent withdrawn with its household's

When a household's consent is withdrawn, each member case whose consent came from it is
withdrawn too, each with its own change row; that row points at the household's change.

Revision ID: a8c2e4f6b1d3
Revises: f7b9d1e3a5c8
Create Date: 2026-12-08 01:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a8c2e4f6b1d3"
down_revision: str | None = "f7b9d1e3a5c8"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("case_consent_changes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("from_change_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_case_consent_changes_from_change_id"),
            ["from_change_id"],
            unique=False,
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_case_consent_changes_from_change_id_case_consent_changes"),
            "case_consent_changes",
            ["from_change_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("case_consent_changes", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_case_consent_changes_from_change_id_case_consent_changes"),
            type_="foreignkey",
        )
        batch_op.drop_index(batch_op.f("ix_case_consent_changes_from_change_id"))
        batch_op.drop_column("from_change_id")
