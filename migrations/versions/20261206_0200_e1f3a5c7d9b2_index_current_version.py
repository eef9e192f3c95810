"""an index on submissions.current_version_id

Deleting a submission version (the retention purge, erasure on request) makes the database find
the submissions whose ``current_version_id`` points at it (the foreign key is ON DELETE SET
NULL); without an index that is a scan of ``submissions`` per deleted version, which at 150,000
versions did not finish in five minutes on PostgreSQL.

Revision ID: e1f3a5c7d9b2
Revises: c4e8a1f6d2b9
Create Date: 2026-12-06 02:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "e1f3a5c7d9b2"
down_revision: str | None = "c4e8a1f6d2b9"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_submissions_current_version_id", "submissions", ["current_version_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_submissions_current_version_id", table_name="submissions")
