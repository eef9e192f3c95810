"""test data of tried drafts: sandbox submissions and cases, draft tries

``submissions.sandbox`` and ``cases.sandbox`` mark test data made while a designer tries a draft
(``fieldapp.sandbox``). The columns are added in place (plain ``ALTER TABLE ... ADD COLUMN``, no
batch rebuild), so the count triggers of ``submissions`` survive on SQLite; the triggers are then
made again to leave test submissions out of ``submission_state_counts``.

Revision ID: 7a3f0c5e9d21
Revises: 5e7a1c9d2b84
Create Date: 2026-12-03 16:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fieldapp.db

revision: str = "7a3f0c5e9d21"
down_revision: str | None = "5e7a1c9d2b84"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = fieldapp.db.UTCDateTime(timezone=True)


#: the count function; ``COUNTED_OLD``/``COUNTED_NEW`` are replaced by constants of this module
_FUNCTION = """
CREATE OR REPLACE FUNCTION submission_state_counts_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.deleted_at IS NULL COUNTED_OLD
            AND OLD.review_state IN ('approved', 'rejected') THEN
        UPDATE submission_state_counts SET n = n - 1
        WHERE region_id = OLD.region_id AND form_pk = OLD.form_pk
            AND review_state = OLD.review_state AND urgent = OLD.urgent;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.deleted_at IS NULL COUNTED_NEW
            AND NEW.review_state IN ('approved', 'rejected') THEN
        INSERT INTO submission_state_counts (region_id, form_pk, review_state, urgent, n)
        VALUES (NEW.region_id, NEW.form_pk, NEW.review_state, NEW.urgent, 1)
        ON CONFLICT (region_id, form_pk, review_state, urgent) DO UPDATE SET n = submission_state_counts.n + 1;
    END IF;
    RETURN NULL;
END
$$
"""


def _function(counted: str) -> str:
    return _FUNCTION.replace("COUNTED_OLD", counted.format(row="OLD")).replace(
        "COUNTED_NEW", counted.format(row="NEW")
    )


def _pg_update_trigger(columns: str, compared: str) -> str:
    return f"""
CREATE TRIGGER submission_state_counts_update
AFTER UPDATE OF {columns} ON submissions
FOR EACH ROW WHEN (
    (OLD.region_id, OLD.form_pk, OLD.review_state, OLD.urgent, OLD.deleted_at IS NULL{compared.format(row="OLD")})
    IS DISTINCT FROM
    (NEW.region_id, NEW.form_pk, NEW.review_state, NEW.urgent, NEW.deleted_at IS NULL{compared.format(row="NEW")})
)
EXECUTE FUNCTION submission_state_counts_apply()
"""


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
_SQLITE_NAMES = (
    "submission_state_counts_insert",
    "submission_state_counts_update_old",
    "submission_state_counts_update_new",
    "submission_state_counts_delete",
)


def _sqlite_triggers(counted: str, columns: str) -> list[str]:
    new = f"NEW.deleted_at IS NULL {counted.format(row='NEW')}AND NEW.review_state IN ('approved', 'rejected')"
    old = f"OLD.deleted_at IS NULL {counted.format(row='OLD')}AND OLD.review_state IN ('approved', 'rejected')"
    update_of = f"UPDATE OF {columns} ON submissions"
    return [
        f"""CREATE TRIGGER submission_state_counts_insert AFTER INSERT ON submissions
WHEN {new} BEGIN {_SQLITE_ADD} END""",
        f"""CREATE TRIGGER submission_state_counts_update_old BEFORE {update_of}
WHEN {old} BEGIN {_SQLITE_REMOVE} END""",
        f"""CREATE TRIGGER submission_state_counts_update_new AFTER {update_of}
WHEN {new} BEGIN {_SQLITE_ADD} END""",
        f"""CREATE TRIGGER submission_state_counts_delete AFTER DELETE ON submissions
WHEN {old} BEGIN {_SQLITE_REMOVE} END""",
    ]


_COLUMNS = "region_id, form_pk, review_state, urgent, deleted_at"


def _triggers(*, sandbox: bool) -> None:
    """Make the count triggers again, leaving test rows out (``sandbox``) or as before."""
    dialect = op.get_bind().dialect.name
    counted = "AND NOT {row}.sandbox " if sandbox else ""
    columns = _COLUMNS + (", sandbox" if sandbox else "")
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS submission_state_counts_update ON submissions")
        op.execute(_function(counted))
        op.execute(_pg_update_trigger(columns, ", {row}.sandbox" if sandbox else ""))
    else:
        for name in _SQLITE_NAMES:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        for statement in _sqlite_triggers(counted, columns):
            op.execute(statement)


def upgrade() -> None:
    # plain ADD COLUMN on both databases (no batch rebuild: the triggers stay)
    op.add_column(
        "submissions",
        sa.Column("sandbox", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.add_column(
        "cases", sa.Column("sandbox", sa.Boolean(), server_default=sa.false(), nullable=False)
    )
    _triggers(sandbox=True)
    op.create_table(
        "draft_tries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("region_id", sa.Integer(), nullable=False),
        sa.Column("skip_review", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("revoked_at", UTC_DATETIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_draft_tries_created_by_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["region_id"],
            ["regions.id"],
            name=op.f("fk_draft_tries_region_id_regions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_draft_tries")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_draft_tries_token_sha256")),
    )
    op.create_index(
        op.f("ix_draft_tries_created_by_id"), "draft_tries", ["created_by_id"], unique=False
    )
    op.create_table(
        "draft_try_forms",
        sa.Column("try_id", sa.Integer(), nullable=False),
        sa.Column("form_pk", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["form_pk"],
            ["forms.id"],
            name=op.f("fk_draft_try_forms_form_pk_forms"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["try_id"],
            ["draft_tries.id"],
            name=op.f("fk_draft_try_forms_try_id_draft_tries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("try_id", "form_pk", name=op.f("pk_draft_try_forms")),
    )
    op.create_index(
        op.f("ix_draft_try_forms_form_pk"), "draft_try_forms", ["form_pk"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_draft_try_forms_form_pk"), table_name="draft_try_forms")
    op.drop_table("draft_try_forms")
    op.drop_index(op.f("ix_draft_tries_created_by_id"), table_name="draft_tries")
    op.drop_table("draft_tries")
    # test rows go with the columns that set them apart (they would be counted otherwise)
    op.execute("DELETE FROM submissions WHERE sandbox")
    _triggers(sandbox=False)
    op.drop_column("cases", "sandbox")
    op.drop_column("submissions", "sandbox")
