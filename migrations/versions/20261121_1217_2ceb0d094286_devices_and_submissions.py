"""devices and submissions

Revision ID: 2ceb0d094286
Revises: f5249a4b9764
Create Date: 2026-11-21 12:17:11.304595
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import fieldapp.db

revision: str = "2ceb0d094286"
down_revision: str | None = "f5249a4b9764"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "devices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", fieldapp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", fieldapp.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", fieldapp.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_devices_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_devices_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_devices")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_devices_token_hash")),
    )
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_devices_user_id"), ["user_id"], unique=False)

    op.create_table(
        "submissions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("form_pk", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.String(length=255), nullable=False),
        sa.Column("region_id", sa.Integer(), nullable=False),
        sa.Column("submitted_by_id", sa.Integer(), nullable=True),
        sa.Column("review_state", sa.String(length=16), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("current_version_id", sa.Integer(), nullable=True),
        sa.Column("received_at", fieldapp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", fieldapp.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "review_state IN ('received', 'has_issues', 'edited', 'approved', 'rejected')",
            name=op.f("ck_submissions_review_state_valid"),
        ),
        sa.ForeignKeyConstraint(
            ["form_pk"],
            ["forms.id"],
            name=op.f("fk_submissions_form_pk_forms"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["region_id"],
            ["regions.id"],
            name=op.f("fk_submissions_region_id_regions"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["submitted_by_id"],
            ["users.id"],
            name=op.f("fk_submissions_submitted_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_submissions")),
        sa.UniqueConstraint(
            "form_pk", "instance_id", name=op.f("uq_submissions_form_pk_instance_id")
        ),
    )
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_submissions_form_pk"), ["form_pk"], unique=False)
        batch_op.create_index(
            "ix_submissions_region_received", ["region_id", "received_at"], unique=False
        )

    op.create_table(
        "submission_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("form_pk", sa.Integer(), nullable=False),
        sa.Column("form_version_id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.String(length=255), nullable=False),
        sa.Column("deprecated_id", sa.String(length=255), nullable=True),
        sa.Column("instance_name", sa.String(length=500), nullable=True),
        sa.Column("xml", sa.Text(), nullable=False),
        sa.Column("xml_sha256", sa.String(length=64), nullable=False),
        sa.Column("encrypted", sa.Boolean(), nullable=False),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("device_id", sa.String(length=255), nullable=True),
        sa.Column("user_agent", sa.String(length=500), nullable=True),
        sa.Column("device_pk", sa.Integer(), nullable=True),
        sa.Column("submitter_id", sa.Integer(), nullable=True),
        sa.Column("received_at", fieldapp.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_pk"],
            ["devices.id"],
            name=op.f("fk_submission_versions_device_pk_devices"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["form_pk"],
            ["forms.id"],
            name=op.f("fk_submission_versions_form_pk_forms"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["form_version_id"],
            ["form_versions.id"],
            name=op.f("fk_submission_versions_form_version_id_form_versions"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["submissions.id"],
            name=op.f("fk_submission_versions_submission_id_submissions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["submitter_id"],
            ["users.id"],
            name=op.f("fk_submission_versions_submitter_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_submission_versions")),
        sa.UniqueConstraint(
            "form_pk", "instance_id", name=op.f("uq_submission_versions_form_pk_instance_id")
        ),
    )
    with op.batch_alter_table("submission_versions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_submission_versions_submission_id"), ["submission_id"], unique=False
        )

    # submissions.current_version_id and submission_versions.submission_id refer to each other
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.create_foreign_key(
            batch_op.f("fk_submissions_current_version_id_submission_versions"),
            "submission_versions",
            ["current_version_id"],
            ["id"],
            ondelete="SET NULL",
        )

    op.create_table(
        "submission_attachments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("blob_sha256", sa.String(length=64), nullable=True),
        sa.Column("content_type", sa.String(length=100), nullable=True),
        sa.Column("received_at", fieldapp.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["blob_sha256"],
            ["blobs.sha256"],
            name=op.f("fk_submission_attachments_blob_sha256_blobs"),
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["submission_versions.id"],
            name=op.f("fk_submission_attachments_version_id_submission_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_submission_attachments")),
        sa.UniqueConstraint(
            "version_id", "name", name=op.f("uq_submission_attachments_version_id_name")
        ),
    )
    with op.batch_alter_table("submission_attachments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_submission_attachments_version_id"), ["version_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_submissions_current_version_id_submission_versions"), type_="foreignkey"
        )
    with op.batch_alter_table("submission_attachments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_submission_attachments_version_id"))

    op.drop_table("submission_attachments")
    with op.batch_alter_table("submission_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_submission_versions_submission_id"))

    op.drop_table("submission_versions")
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.drop_index("ix_submissions_region_received")
        batch_op.drop_index(batch_op.f("ix_submissions_form_pk"))

    op.drop_table("submissions")
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_devices_user_id"))

    op.drop_table("devices")
