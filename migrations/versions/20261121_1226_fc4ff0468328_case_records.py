"""case records

Revision ID: fc4ff0468328
Revises: 2ceb0d094286
Create Date: 2026-11-21 12:26:57.720061
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import fieldapp.db

revision: str = "fc4ff0468328"
down_revision: str | None = "2ceb0d094286"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "case_lists",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("approval_required", sa.Boolean(), nullable=False),
        sa.Column("cadence_days", sa.Integer(), nullable=True),
        sa.Column("next_visit_property", sa.String(length=255), nullable=False),
        sa.Column("code_prefix", sa.String(length=8), nullable=False),
        sa.Column(
            "properties",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", fieldapp.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_lists")),
        sa.UniqueConstraint("name", name=op.f("uq_case_lists_name")),
    )
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("case_list_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=500), nullable=False),
        sa.Column(
            "properties",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("region_id", sa.Integer(), nullable=False),
        sa.Column("assigned_to_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("conflict", sa.String(length=8), nullable=True),
        sa.Column("merged_into_id", sa.Integer(), nullable=True),
        sa.Column("next_due", sa.Date(), nullable=True),
        sa.Column("created_at", fieldapp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", fieldapp.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "conflict IS NULL OR conflict IN ('soft', 'hard')", name=op.f("ck_cases_conflict_valid")
        ),
        sa.CheckConstraint(
            "status IN ('open', 'closed', 'merged')", name=op.f("ck_cases_status_valid")
        ),
        sa.ForeignKeyConstraint(
            ["assigned_to_id"],
            ["users.id"],
            name=op.f("fk_cases_assigned_to_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["case_list_id"],
            ["case_lists.id"],
            name=op.f("fk_cases_case_list_id_case_lists"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["merged_into_id"],
            ["cases.id"],
            name=op.f("fk_cases_merged_into_id_cases"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["region_id"],
            ["regions.id"],
            name=op.f("fk_cases_region_id_regions"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
        sa.UniqueConstraint("code", name=op.f("uq_cases_code")),
        sa.UniqueConstraint("uuid", name=op.f("uq_cases_uuid")),
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index("ix_cases_assigned", ["assigned_to_id", "case_list_id"], unique=False)
        batch_op.create_index(
            "ix_cases_list_region", ["case_list_id", "region_id", "status"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_cases_next_due"), ["next_due"], unique=False)

    op.create_table(
        "case_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=500), nullable=False),
        sa.Column(
            "properties",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "changes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("submission_id", sa.Integer(), nullable=True),
        sa.Column("approved_by_id", sa.Integer(), nullable=True),
        sa.Column("base_version", sa.Integer(), nullable=True),
        sa.Column("branch_id", sa.String(length=64), nullable=True),
        sa.Column("trunk_version", sa.Integer(), nullable=True),
        sa.Column("conflict", sa.String(length=8), nullable=True),
        sa.Column(
            "conflicting_properties",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_at", fieldapp.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["approved_by_id"],
            ["users.id"],
            name=op.f("fk_case_versions_approved_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_case_versions_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["submissions.id"],
            name=op.f("fk_case_versions_submission_id_submissions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_versions")),
        sa.UniqueConstraint("case_id", "version", name=op.f("uq_case_versions_case_id_version")),
    )
    with op.batch_alter_table("case_versions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_versions_case_id"), ["case_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_case_versions_submission_id"), ["submission_id"], unique=False
        )

    op.create_table(
        "case_work",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("dataset", sa.String(length=255), nullable=False),
        sa.Column("case_uuid", sa.String(length=64), nullable=True),
        sa.Column("create", sa.Boolean(), nullable=False),
        sa.Column("update", sa.Boolean(), nullable=False),
        sa.Column("label", sa.String(length=500), nullable=True),
        sa.Column(
            "properties",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("base_version", sa.Integer(), nullable=True),
        sa.Column("trunk_version", sa.Integer(), nullable=True),
        sa.Column("branch_id", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("error", sa.String(length=1000), nullable=True),
        sa.Column("case_version_id", sa.Integer(), nullable=True),
        sa.Column("created_at", fieldapp.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "state IN ('pending', 'applied', 'rejected', 'superseded', 'error')",
            name=op.f("ck_case_work_state_valid"),
        ),
        sa.ForeignKeyConstraint(
            ["case_version_id"],
            ["case_versions.id"],
            name=op.f("fk_case_work_case_version_id_case_versions"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["submissions.id"],
            name=op.f("fk_case_work_submission_id_submissions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["submission_versions.id"],
            name=op.f("fk_case_work_version_id_submission_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_work")),
    )
    with op.batch_alter_table("case_work", schema=None) as batch_op:
        batch_op.create_index("ix_case_work_case_uuid", ["case_uuid"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_case_work_submission_id"), ["submission_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_case_work_version_id"), ["version_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("case_work", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_work_version_id"))
        batch_op.drop_index(batch_op.f("ix_case_work_submission_id"))
        batch_op.drop_index("ix_case_work_case_uuid")

    op.drop_table("case_work")
    with op.batch_alter_table("case_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_versions_submission_id"))
        batch_op.drop_index(batch_op.f("ix_case_versions_case_id"))

    op.drop_table("case_versions")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cases_next_due"))
        batch_op.drop_index("ix_cases_list_region")
        batch_op.drop_index("ix_cases_assigned")

    op.drop_table("cases")
    op.drop_table("case_lists")
