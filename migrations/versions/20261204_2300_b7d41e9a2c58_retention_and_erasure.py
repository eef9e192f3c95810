"""retention settings and the time a case was closed

``forms.deleted_retention_days``: days a deleted submission of the form is kept before the
purge removes it for good (30 by default; NULL keeps it). ``case_lists.closed_retention_days``:
days a closed case of the list is kept (NULL, the default: kept). ``cases.closed_at``: when the
case was last closed (existing closed cases take their last change, the closest time known).

Revision ID: b7d41e9a2c58
Revises: d3e5f7a9b1c4
Create Date: 2026-12-04 23:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fieldapp.db

revision: str = "b7d41e9a2c58"
down_revision: str | None = "d3e5f7a9b1c4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = fieldapp.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    # nullable columns are added in place on SQLite too (no table rebuild)
    with op.batch_alter_table("forms", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("deleted_retention_days", sa.Integer(), nullable=True, server_default="30")
        )
    with op.batch_alter_table("case_lists", schema=None) as batch_op:
        batch_op.add_column(sa.Column("closed_retention_days", sa.Integer(), nullable=True))
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("closed_at", UTC_DATETIME, nullable=True))
    op.execute("UPDATE cases SET closed_at = updated_at WHERE status = 'closed'")


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("closed_at")
    with op.batch_alter_table("case_lists", schema=None) as batch_op:
        batch_op.drop_column("closed_retention_days")
    with op.batch_alter_table("forms", schema=None) as batch_op:
        batch_op.drop_column("deleted_retention_days")
