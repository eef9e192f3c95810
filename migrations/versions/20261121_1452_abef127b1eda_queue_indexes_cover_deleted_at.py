"""queue indexes cover deleted_at

Every read of submissions leaves out the deleted ones (``deleted_at IS NULL``). With the column
at the end of the queue's indexes, the per-state counts stay index-only scans and the queue's
branches check it without reading the table.

Revision ID: abef127b1eda
Revises: a3d5c0e1b7f2
Create Date: 2026-11-21 14:52:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "abef127b1eda"
down_revision: str | None = "a3d5c0e1b7f2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

QUEUE = ["review_state", "urgent", "received_at", "id"]
INDEXES = {
    "ix_submissions_queue": ["region_id"],
    "ix_submissions_form_queue": ["form_pk", "region_id"],
    "ix_submissions_submitter_queue": ["submitted_by_id", "region_id"],
}


def upgrade() -> None:
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        for name, leading in INDEXES.items():
            batch_op.drop_index(name)
            batch_op.create_index(name, [*leading, *QUEUE, "deleted_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        for name, leading in INDEXES.items():
            batch_op.drop_index(name)
            batch_op.create_index(name, [*leading, *QUEUE], unique=False)
