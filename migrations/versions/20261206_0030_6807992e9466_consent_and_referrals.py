"""consent as a case state, referrals as tracked items

``cases.consent`` (the person's, or for a child the guardian's) and ``cases.assent`` (a child's
own): NULL (none on record), given, refused or withdrawn; existing cases have none on record.
Both join the two covering indexes of the caseload state key, since a refusal or withdrawal
takes a case off phones. ``case_consent_changes`` is their history (with the reason, which
stays out of the audit log); ``case_referrals`` the referrals with each step's who and when.

Revision ID: 6807992e9466
Revises: b7d41e9a2c58
Create Date: 2026-12-06 00:30:48.867630
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fieldapp.db

revision: str = "6807992e9466"
down_revision: str | None = "b7d41e9a2c58"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "case_consent_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("old_state", sa.String(length=16), nullable=True),
        sa.Column("new_state", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("submission_id", sa.Integer(), nullable=True),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=1000), nullable=True),
        sa.Column("at", fieldapp.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('consent', 'assent')", name=op.f("ck_case_consent_changes_kind_valid")
        ),
        sa.CheckConstraint(
            "new_state IN ('given', 'refused', 'withdrawn')",
            name=op.f("ck_case_consent_changes_new_state_valid"),
        ),
        sa.CheckConstraint(
            "source IN ('submission', 'staff')", name=op.f("ck_case_consent_changes_source_valid")
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            name=op.f("fk_case_consent_changes_actor_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_case_consent_changes_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["submissions.id"],
            name=op.f("fk_case_consent_changes_submission_id_submissions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_consent_changes")),
    )
    with op.batch_alter_table("case_consent_changes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_case_consent_changes_case_id"), ["case_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_case_consent_changes_submission_id"), ["submission_id"], unique=False
        )

    op.create_table(
        "case_referrals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("service", sa.String(length=32), nullable=False),
        sa.Column("urgency", sa.String(length=16), nullable=False),
        sa.Column("due", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("submission_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.String(length=1000), nullable=True),
        sa.Column("made_by_id", sa.Integer(), nullable=True),
        sa.Column("made_at", fieldapp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("accepted_by_id", sa.Integer(), nullable=True),
        sa.Column("accepted_at", fieldapp.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("seen_by_id", sa.Integer(), nullable=True),
        sa.Column("seen_at", fieldapp.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_by_id", sa.Integer(), nullable=True),
        sa.Column("closed_at", fieldapp.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(status = 'closed') = (closed_at IS NOT NULL)",
            name=op.f("ck_case_referrals_closed_iff_closed_at"),
        ),
        sa.CheckConstraint(
            "status IN ('made', 'accepted', 'seen', 'closed')",
            name=op.f("ck_case_referrals_status_valid"),
        ),
        sa.CheckConstraint(
            "urgency IN ('today', 'week', 'month')", name=op.f("ck_case_referrals_urgency_valid")
        ),
        sa.ForeignKeyConstraint(
            ["accepted_by_id"],
            ["users.id"],
            name=op.f("fk_case_referrals_accepted_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_case_referrals_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["closed_by_id"],
            ["users.id"],
            name=op.f("fk_case_referrals_closed_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["made_by_id"],
            ["users.id"],
            name=op.f("fk_case_referrals_made_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["seen_by_id"],
            ["users.id"],
            name=op.f("fk_case_referrals_seen_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["submissions.id"],
            name=op.f("fk_case_referrals_submission_id_submissions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_referrals")),
        sa.UniqueConstraint(
            "case_id", "submission_id", name=op.f("uq_case_referrals_case_id_submission_id")
        ),
    )
    with op.batch_alter_table("case_referrals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_referrals_case_id"), ["case_id"], unique=False)
        batch_op.create_index("ix_case_referrals_status_due", ["status", "due"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_case_referrals_submission_id"), ["submission_id"], unique=False
        )

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("consent", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("assent", sa.String(length=16), nullable=True))
        batch_op.drop_index(batch_op.f("ix_cases_assigned"))
        batch_op.create_index(
            "ix_cases_assigned",
            [
                "assigned_to_id",
                "case_list_id",
                "status",
                "region_id",
                "updated_at",
                "version",
                "consent",
                "assent",
            ],
            unique=False,
        )
        batch_op.drop_index(batch_op.f("ix_cases_list_region"))
        batch_op.create_index(
            "ix_cases_list_region",
            ["case_list_id", "region_id", "status", "updated_at", "version", "consent", "assent"],
            unique=False,
        )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_check_constraint(
            "consent_valid", "consent IS NULL OR consent IN ('given', 'refused', 'withdrawn')"
        )
        batch_op.create_check_constraint(
            "assent_valid", "assent IS NULL OR assent IN ('given', 'refused', 'withdrawn')"
        )


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_cases_assent_valid"), type_="check")
        batch_op.drop_constraint(batch_op.f("ck_cases_consent_valid"), type_="check")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_list_region")
        batch_op.create_index(
            batch_op.f("ix_cases_list_region"),
            ["case_list_id", "region_id", "status", "updated_at", "version"],
            unique=False,
        )
        batch_op.drop_index("ix_cases_assigned")
        batch_op.create_index(
            batch_op.f("ix_cases_assigned"),
            ["assigned_to_id", "case_list_id", "status", "region_id", "updated_at", "version"],
            unique=False,
        )
        batch_op.drop_column("assent")
        batch_op.drop_column("consent")

    with op.batch_alter_table("case_referrals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_referrals_submission_id"))
        batch_op.drop_index("ix_case_referrals_status_due")
        batch_op.drop_index(batch_op.f("ix_case_referrals_case_id"))

    op.drop_table("case_referrals")
    with op.batch_alter_table("case_consent_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_consent_changes_submission_id"))
        batch_op.drop_index(batch_op.f("ix_case_consent_changes_case_id"))

    op.drop_table("case_consent_changes")
