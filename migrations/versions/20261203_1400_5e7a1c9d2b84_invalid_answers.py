"""invalid answers flagged per submission version

Answers that do not parse as their field's type (a date answered with text, a choice the form
does not list) are kept as sent but flagged, shown as flagged and never copied to a case.
Versions received before this check keep NULL: they were never checked.

Revision ID: 5e7a1c9d2b84
Revises: b4e7a91c2d35
Create Date: 2026-12-03 13:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "5e7a1c9d2b84"
down_revision: str | None = "b4e7a91c2d35"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # a nullable column is added in place on SQLite too (no table rebuild)
    with op.batch_alter_table("submission_versions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "invalid_answers",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("submission_versions", schema=None) as batch_op:
        batch_op.drop_column("invalid_answers")
