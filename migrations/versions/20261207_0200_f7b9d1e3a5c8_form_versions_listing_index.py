"""a covering index for the form list: form_versions (id, title, version, xform_md5)

Every phone's sync asks for the form list, which reads four short columns of each open form's
current version. On SQLite a row's columns that come after the XForm text are read by walking
that text's overflow pages; with 100 forms that was 2 ms of the request. The index holds the
four columns, so the list never touches the rows.

Revision ID: f7b9d1e3a5c8
Revises: e1f3a5c7d9b2
Create Date: 2026-12-07 02:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "f7b9d1e3a5c8"
down_revision: str | None = "e1f3a5c7d9b2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_form_versions_listing",
        "form_versions",
        ["id", "title", "version", "xform_md5"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_form_versions_listing", table_name="form_versions")
