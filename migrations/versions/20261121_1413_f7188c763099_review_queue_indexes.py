"""review queue indexes

The queue reads one index range per (region, review state, urgent) in its order; filtered by form
or by worker, the same order follows the filter's column; the submission page finds a submission
by its instanceID alone. ``ix_submissions_form_queue`` leads with ``form_pk``, so it replaces
``ix_submissions_form_pk`` (the foreign key's index).

Revision ID: f7188c763099
Revises: e54efb525ddb
Create Date: 2026-11-21 14:13:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "f7188c763099"
down_revision: str | None = "e54efb525ddb"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

QUEUE = ["review_state", "urgent", "received_at", "id"]


def upgrade() -> None:
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.create_index("ix_submissions_queue", ["region_id", *QUEUE], unique=False)
        batch_op.create_index(
            "ix_submissions_form_queue", ["form_pk", "region_id", *QUEUE], unique=False
        )
        batch_op.create_index(
            "ix_submissions_submitter_queue",
            ["submitted_by_id", "region_id", *QUEUE],
            unique=False,
        )
        batch_op.create_index("ix_submissions_instance_id", ["instance_id"], unique=False)
        batch_op.drop_index(batch_op.f("ix_submissions_form_pk"))


def downgrade() -> None:
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_submissions_form_pk"), ["form_pk"], unique=False)
        batch_op.drop_index("ix_submissions_instance_id")
        batch_op.drop_index("ix_submissions_submitter_queue")
        batch_op.drop_index("ix_submissions_form_queue")
        batch_op.drop_index("ix_submissions_queue")
