"""publish notes and which phones fetched which form version

``form_versions.publish_note`` keeps what the designer wrote when publishing. ``form_fetches``
notes, per form version and client (a device token's phone, a phone syncing with a password, a
worker's browser), when it last downloaded the XForm or manifest, so that designers see which
phones already have which version.

Revision ID: c8d2f4a61e93
Revises: 7a3f0c5e9d21
Create Date: 2026-12-03 17:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fieldapp.db

revision: str = "c8d2f4a61e93"
down_revision: str | None = "7a3f0c5e9d21"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = fieldapp.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    # a nullable column is added in place on SQLite too (no table rebuild)
    with op.batch_alter_table("form_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("publish_note", sa.Text(), nullable=True))
    op.create_table(
        "form_fetches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("form_pk", sa.Integer(), nullable=False),
        sa.Column("form_version_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=True),
        sa.Column("client_key", sa.String(length=40), nullable=False),
        sa.Column("user_agent", sa.String(length=200), nullable=False),
        sa.Column("last_kind", sa.String(length=16), nullable=False),
        sa.Column("first_fetched_at", UTC_DATETIME, nullable=False),
        sa.Column("last_fetched_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["form_pk"],
            ["forms.id"],
            name=op.f("fk_form_fetches_form_pk_forms"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["form_version_id"],
            ["form_versions.id"],
            name=op.f("fk_form_fetches_form_version_id_form_versions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_form_fetches_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_form_fetches_device_id_devices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_form_fetches")),
        sa.UniqueConstraint(
            "form_version_id",
            "user_id",
            "client_key",
            name=op.f("uq_form_fetches_form_version_id_user_id_client_key"),
        ),
    )
    op.create_index(
        "ix_form_fetches_form_pk", "form_fetches", ["form_pk", "last_fetched_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_form_fetches_form_pk", table_name="form_fetches")
    op.drop_table("form_fetches")
    with op.batch_alter_table("form_versions", schema=None) as batch_op:
        batch_op.drop_column("publish_note")
