"""submission state counts

The review queue shows how many submissions are in each review state. Approved and rejected ones
grow with the years (about nine in ten of a million); counting them per page read every one of a
coordinator's rows. ``submission_state_counts`` keeps them per (region, form, state, urgent),
maintained by triggers on ``submissions`` in the same transaction as any change, whatever code
(or SQL) makes it. Deleted submissions (``deleted_at``) are not counted.

Revision ID: 9c1d2b7e4f60
Revises: a3d5c0e1b7f2
Create Date: 2026-11-21 15:08:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9c1d2b7e4f60"
down_revision: str | None = "a3d5c0e1b7f2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: every count again from the rows (also after a load with triggers off)
RECOUNT = """
INSERT INTO submission_state_counts (region_id, form_pk, review_state, urgent, n)
SELECT region_id, form_pk, review_state, urgent, count(*) FROM submissions
WHERE deleted_at IS NULL AND review_state IN ('approved', 'rejected')
GROUP BY region_id, form_pk, review_state, urgent
"""

POSTGRESQL = [
    """
CREATE FUNCTION submission_state_counts_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.deleted_at IS NULL
            AND OLD.review_state IN ('approved', 'rejected') THEN
        UPDATE submission_state_counts SET n = n - 1
        WHERE region_id = OLD.region_id AND form_pk = OLD.form_pk
            AND review_state = OLD.review_state AND urgent = OLD.urgent;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.deleted_at IS NULL
            AND NEW.review_state IN ('approved', 'rejected') THEN
        INSERT INTO submission_state_counts (region_id, form_pk, review_state, urgent, n)
        VALUES (NEW.region_id, NEW.form_pk, NEW.review_state, NEW.urgent, 1)
        ON CONFLICT (region_id, form_pk, review_state, urgent) DO UPDATE SET n = submission_state_counts.n + 1;
    END IF;
    RETURN NULL;
END
$$
""",
    """
CREATE TRIGGER submission_state_counts_insert AFTER INSERT ON submissions
FOR EACH ROW EXECUTE FUNCTION submission_state_counts_apply()
""",
    """
CREATE TRIGGER submission_state_counts_update
AFTER UPDATE OF region_id, form_pk, review_state, urgent, deleted_at ON submissions
FOR EACH ROW WHEN (
    (OLD.region_id, OLD.form_pk, OLD.review_state, OLD.urgent, OLD.deleted_at IS NULL)
    IS DISTINCT FROM
    (NEW.region_id, NEW.form_pk, NEW.review_state, NEW.urgent, NEW.deleted_at IS NULL)
)
EXECUTE FUNCTION submission_state_counts_apply()
""",
    """
CREATE TRIGGER submission_state_counts_delete AFTER DELETE ON submissions
FOR EACH ROW EXECUTE FUNCTION submission_state_counts_apply()
""",
]

_SQLITE_ADD = """
    INSERT INTO submission_state_counts (region_id, form_pk, review_state, urgent, n)
    VALUES (NEW.region_id, NEW.form_pk, NEW.review_state, NEW.urgent, 1)
    ON CONFLICT (region_id, form_pk, review_state, urgent) DO UPDATE SET n = n + 1;
"""
_SQLITE_REMOVE = """
    UPDATE submission_state_counts SET n = n - 1
    WHERE region_id = OLD.region_id AND form_pk = OLD.form_pk
        AND review_state = OLD.review_state AND urgent = OLD.urgent;
"""
_NEW_COUNTED = "NEW.deleted_at IS NULL AND NEW.review_state IN ('approved', 'rejected')"
_OLD_COUNTED = "OLD.deleted_at IS NULL AND OLD.review_state IN ('approved', 'rejected')"
_UPDATE_OF = "UPDATE OF region_id, form_pk, review_state, urgent, deleted_at ON submissions"

SQLITE = [
    f"""CREATE TRIGGER submission_state_counts_insert AFTER INSERT ON submissions
WHEN {_NEW_COUNTED} BEGIN {_SQLITE_ADD} END""",
    # an update is a removal from the old key, then an addition to the new one
    f"""CREATE TRIGGER submission_state_counts_update_old BEFORE {_UPDATE_OF}
WHEN {_OLD_COUNTED} BEGIN {_SQLITE_REMOVE} END""",
    f"""CREATE TRIGGER submission_state_counts_update_new AFTER {_UPDATE_OF}
WHEN {_NEW_COUNTED} BEGIN {_SQLITE_ADD} END""",
    f"""CREATE TRIGGER submission_state_counts_delete AFTER DELETE ON submissions
WHEN {_OLD_COUNTED} BEGIN {_SQLITE_REMOVE} END""",
]

TRIGGERS = (
    "submission_state_counts_insert",
    "submission_state_counts_update",
    "submission_state_counts_update_old",
    "submission_state_counts_update_new",
    "submission_state_counts_delete",
)


def upgrade() -> None:
    op.create_table(
        "submission_state_counts",
        sa.Column("region_id", sa.Integer(), nullable=False),
        sa.Column("form_pk", sa.Integer(), nullable=False),
        sa.Column("review_state", sa.String(length=16), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["form_pk"],
            ["forms.id"],
            name=op.f("fk_submission_state_counts_form_pk_forms"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["region_id"],
            ["regions.id"],
            name=op.f("fk_submission_state_counts_region_id_regions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "region_id",
            "form_pk",
            "review_state",
            "urgent",
            name=op.f("pk_submission_state_counts"),
        ),
    )
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        # no submission may change between the count and the triggers
        op.execute("LOCK TABLE submissions IN SHARE ROW EXCLUSIVE MODE")
    for statement in POSTGRESQL if dialect == "postgresql" else SQLITE:
        op.execute(statement)
    op.execute(RECOUNT)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for name in TRIGGERS:
        if dialect == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON submissions")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS submission_state_counts_apply()")
    op.drop_table("submission_state_counts")
