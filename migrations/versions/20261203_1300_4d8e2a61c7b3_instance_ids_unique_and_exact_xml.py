"""instanceIDs unique on the server; submission XML stored as the exact bytes received

Two changes to what a submission is:

* An instanceID names one submission version on the whole server, not one per form. Before, a
  submission of one form posted with the instanceID of another form's submission shadowed it on
  every page that finds a submission by its instanceID alone (the newest won). Unique indexes on
  ``submission_versions.instance_id`` and ``submissions.instance_id`` now make a second use a
  conflict. A database that already holds such duplicates is not changed: the upgrade stops and
  lists them, so that a person decides which submission keeps each instanceID (nothing is
  dropped silently).
* ``submission_versions.xml`` becomes binary: the bytes as received. Before, the XML was decoded
  as UTF-8 with replacement characters, which altered windows-1251 and UTF-16 documents. Existing
  rows are kept as the UTF-8 bytes of their text (exactly what was received for UTF-8 documents,
  which is all but the altered ones, whose original bytes are gone).

On SQLite the column is replaced in place (add, copy, drop, rename: SQLite 3.35 or newer) rather
than by rebuilding the table, because rebuilding a table that others refer to with foreign keys
on would cascade to their rows. The new column keeps a ``DEFAULT x''`` on SQLite, which SQLite
requires to add a NOT NULL column; nothing relies on it.

Revision ID: 4d8e2a61c7b3
Revises: 9c1d2b7e4f60
Create Date: 2026-12-03 13:00:00.000000
"""

import sqlite3
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "4d8e2a61c7b3"
down_revision: str | None = "9c1d2b7e4f60"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: instanceIDs held by more than one version or submission, with the forms that hold them
DUPLICATES = """
SELECT v.instance_id, f.form_id FROM submission_versions v JOIN forms f ON f.id = v.form_pk
WHERE v.instance_id IN (
    SELECT instance_id FROM submission_versions GROUP BY instance_id HAVING count(*) > 1
    UNION
    SELECT instance_id FROM submissions GROUP BY instance_id HAVING count(*) > 1
)
ORDER BY v.instance_id, f.form_id
"""

#: how many duplicated instanceIDs the message names (the rest are counted)
SHOWN = 20


class DuplicateInstanceIds(RuntimeError):
    """The database holds instanceIDs used in more than one form; nothing was changed."""


def _refuse_duplicates() -> None:
    rows = op.get_bind().execute(sa.text(DUPLICATES)).all()
    if not rows:
        return
    forms: dict[str, list[str]] = {}
    for instance_id, form_id in rows:
        forms.setdefault(instance_id, []).append(form_id)
    listed = "; ".join(
        f"{instance_id} (forms: {', '.join(names)})"
        for instance_id, names in list(forms.items())[:SHOWN]
    )
    more = f"; and {len(forms) - SHOWN} more" if len(forms) > SHOWN else ""
    raise DuplicateInstanceIds(
        f"Cannot upgrade: instanceIDs must now be unique on the whole server, but {len(forms)} "
        f"instanceID(s) are used by more than one submission: {listed}{more}. Nothing was "
        "changed. For each, decide which submission keeps the instanceID (one of them may have "
        "been sent to hide the other), remove the others from the database, then run "
        "`fieldapp db upgrade` again."
    )


def upgrade() -> None:
    _refuse_duplicates()
    op.drop_index("ix_submissions_instance_id", table_name="submissions")
    op.create_index("uq_submissions_instance_id", "submissions", ["instance_id"], unique=True)
    op.create_index(
        "uq_submission_versions_instance_id", "submission_versions", ["instance_id"], unique=True
    )
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column(
            "submission_versions",
            "xml",
            type_=sa.LargeBinary(),
            existing_type=sa.Text(),
            existing_nullable=False,
            postgresql_using="convert_to(xml, 'UTF8')",
        )
        return
    if sqlite3.sqlite_version_info < (3, 35):
        raise RuntimeError(
            f"fieldapp needs SQLite 3.35 or newer to upgrade (this is {sqlite3.sqlite_version})."
        )
    op.execute("ALTER TABLE submission_versions ADD COLUMN xml_bytes BLOB NOT NULL DEFAULT x''")
    op.execute("UPDATE submission_versions SET xml_bytes = CAST(xml AS BLOB)")
    op.execute("ALTER TABLE submission_versions DROP COLUMN xml")
    op.execute("ALTER TABLE submission_versions RENAME COLUMN xml_bytes TO xml")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # fails on a document that is not UTF-8 rather than altering it
        op.alter_column(
            "submission_versions",
            "xml",
            type_=sa.Text(),
            existing_type=sa.LargeBinary(),
            existing_nullable=False,
            postgresql_using="convert_from(xml, 'UTF8')",
        )
    else:
        op.execute("ALTER TABLE submission_versions ADD COLUMN xml_text TEXT NOT NULL DEFAULT ''")
        op.execute("UPDATE submission_versions SET xml_text = CAST(xml AS TEXT)")
        op.execute("ALTER TABLE submission_versions DROP COLUMN xml")
        op.execute("ALTER TABLE submission_versions RENAME COLUMN xml_text TO xml")
    op.drop_index("uq_submission_versions_instance_id", table_name="submission_versions")
    op.drop_index("uq_submissions_instance_id", table_name="submissions")
    op.create_index("ix_submissions_instance_id", "submissions", ["instance_id"], unique=False)
