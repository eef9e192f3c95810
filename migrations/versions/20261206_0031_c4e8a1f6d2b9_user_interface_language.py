"""the interface language a person chose

``users.language``: ``ru``, ``kk`` or ``en``, or NULL for "follow the browser". The CHECK that
keeps it to those is added on PostgreSQL; SQLite cannot add a constraint to a table in place, and
rebuilding ``users`` (which every other table refers to) is not worth it for a column the
profile page validates too (the models' metadata carries the CHECK for new SQLite databases).

Revision ID: c4e8a1f6d2b9
Revises: 6807992e9466
Create Date: 2026-12-06 00:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c4e8a1f6d2b9"
down_revision: str | None = "6807992e9466"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHECK = "language IS NULL OR language IN ('ru', 'kk', 'en')"


def upgrade() -> None:
    # a nullable column is added in place on SQLite too (no table rebuild)
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("language", sa.String(length=8), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.create_check_constraint(op.f("ck_users_language_valid"), "users", CHECK)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(op.f("ck_users_language_valid"), "users", type_="check")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("language")
