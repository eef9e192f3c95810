"""soft-deleted submissions

A coordinator may delete a submission (ODK-INTEROP §7 case 29): it leaves every read path, a
phone resending it gets 409, and it can be restored.

Revision ID: a3d5c0e1b7f2
Revises: f7188c763099
Create Date: 2026-11-21 14:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fieldapp.db

revision: str = "a3d5c0e1b7f2"
down_revision: str | None = "f7188c763099"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


#: the queue indexes' columns after their leading ones; deleted_at last, so that the counts per
#: state, which leave deleted submissions out, stay index-only
OLD_QUEUE = ["review_state", "urgent", "received_at", "id"]
NEW_QUEUE = [*OLD_QUEUE, "deleted_at"]
LEADS = {
    "ix_submissions_queue": ["region_id"],
    "ix_submissions_form_queue": ["form_pk", "region_id"],
    "ix_submissions_submitter_queue": ["submitted_by_id", "region_id"],
}


def _queue_indexes(columns: list[str]) -> None:
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        for name in LEADS:
            batch_op.drop_index(name)
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        for name, lead in LEADS.items():
            batch_op.create_index(name, [*lead, *columns], unique=False)


def upgrade() -> None:
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("deleted_at", fieldapp.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("deleted_by_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_submissions_deleted_by_id_users"),
            "users",
            ["deleted_by_id"],
            ["id"],
            ondelete="SET NULL",
        )
    _queue_indexes(NEW_QUEUE)


def downgrade() -> None:
    _queue_indexes(OLD_QUEUE)
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_submissions_deleted_by_id_users"), type_="foreignkey"
        )
        batch_op.drop_column("deleted_by_id")
        batch_op.drop_column("deleted_at")
