"""case lists: what a phone's case picker shows

``case_lists.phone_label``: the properties (and ``next_due``, ``member_ages``) a phone's label
shows after the case code; ``case_lists.phone_label_names``: whether the case's own label (which
may hold a name) leads it. Existing lists get the defaults of their kind (households: settlement,
district, household size, children's ages, next due date; adults and children: birth year or
date, next due date), without names.

Revision ID: d3e5f7a9b1c4
Revises: b7d4e2c9a615
Create Date: 2026-12-05 00:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "d3e5f7a9b1c4"
down_revision: str | None = "b7d4e2c9a615"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

DEFAULTS = {
    "households": ["settlement", "district", "household_size", "member_ages", "next_due"],
    "adults": ["birth_year", "next_due"],
    "children": ["sex", "birth_date", "next_due"],
}


def upgrade() -> None:
    with op.batch_alter_table("case_lists", schema=None) as batch_op:
        batch_op.add_column(sa.Column("phone_label", JSON, server_default="[]", nullable=False))
        batch_op.add_column(
            sa.Column("phone_label_names", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    lists = sa.table("case_lists", sa.column("name", sa.String), sa.column("phone_label", JSON))
    for name, label in DEFAULTS.items():
        op.execute(lists.update().where(lists.c.name == name).values(phone_label=label))


def downgrade() -> None:
    with op.batch_alter_table("case_lists", schema=None) as batch_op:
        batch_op.drop_column("phone_label_names")
        batch_op.drop_column("phone_label")
