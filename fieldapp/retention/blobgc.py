"""Blob garbage collection: files no row refers to leave the store and the ``blobs`` table.

What refers to a blob is read from the models themselves: every column with a foreign key to
``blobs.sha256`` (form sources, form media, submission attachments — and whatever a later table
adds), so a new reference cannot be forgotten here.

Safety against a concurrent write of the same bytes. A writer (``blobs.store_blob``) writes the
file (or finds it there), inserts the ``blobs`` row if missing, then inserts the row that refers
to it, and commits. The collector takes one candidate at a time, in its own short transaction:

* only rows older than a grace period are candidates (``BLOB_GC_GRACE_SECONDS``; erasure asks
  for the blobs it just freed with no grace);
* the row is locked first — ``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL, the write lock
  (``BEGIN IMMEDIATE``) on SQLite — and only then are references checked again;
* the file is removed, then the row, then the transaction commits.

On SQLite a writer holds the write lock from the start of its transaction (before it writes the
file), so the two never overlap. On PostgreSQL a writer whose referring row is being inserted
holds a key-share lock on the blob row: the collector waits for it, then sees the reference and
keeps the blob; a writer that arrives while the collector holds the row fails its foreign-key
check when the collector commits (its request is refused, nothing acknowledged is lost, and the
phone sends again). What remains is a writer that found the file present a moment before the
collector removed it and inserts a brand-new ``blobs`` row in the instant between the
collector's DELETE and its COMMIT: it would commit a row without its file. The window is the
collector's last two statements, for bytes unreferenced for the whole grace period.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import Column, ColumnElement, and_, delete, exists, not_, select

from fieldapp.blobs import Blob, BlobStorage
from fieldapp.db import Base, db, utcnow, write_intent

log = logging.getLogger(__name__)

#: candidates looked at in one pass
BATCH = 1000


def referencing_columns() -> list[Column[str]]:
    """Every column of every table with a foreign key to ``blobs.sha256``."""
    return [
        column
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if any(fk.column.table.name == Blob.__tablename__ for fk in column.foreign_keys)
    ]


def _unreferenced() -> list[ColumnElement[bool]]:
    return [not_(exists().where(and_(column == Blob.sha256))) for column in referencing_columns()]


def referenced(sha256: str) -> bool:
    """Whether any row refers to this blob (read in the current transaction)."""
    for column in referencing_columns():
        hit = db.session.execute(select(column).where(column == sha256).limit(1)).first()
        if hit is not None:
            return True
    return False


def candidates(
    *, grace: timedelta, only: Iterable[str] | None = None, now: datetime | None = None
) -> list[str]:
    """Unreferenced blobs older than ``grace`` (among ``only`` when given)."""
    cutoff = (now or utcnow()) - grace
    query = select(Blob.sha256).where(Blob.created_at <= cutoff, *_unreferenced())
    if only is not None:
        wanted = sorted(set(only))
        if not wanted:
            return []
        query = query.where(Blob.sha256.in_(wanted))
    return list(db.session.scalars(query.order_by(Blob.sha256).limit(BATCH)))


def collect(
    store: BlobStorage,
    *,
    grace: timedelta,
    only: Iterable[str] | None = None,
    now: datetime | None = None,
) -> int:
    """Remove unreferenced blobs (files and rows), each in its own transaction (commits).

    :param only: look at these hashes only (an erasure's freed files), else at every blob.
    :return: how many were removed.
    """
    now = now or utcnow()
    found = candidates(grace=grace, only=only, now=now)
    db.session.commit()
    removed = 0
    for sha in found:
        if _collect_one(store, sha, now - grace):
            removed += 1
    if removed:
        log.info("removed %d unreferenced blobs", removed)
    return removed


def _collect_one(store: BlobStorage, sha: str, cutoff: datetime) -> bool:
    token = write_intent.set(True)  # SQLite: the write lock from the first statement on
    try:
        query = select(Blob).where(Blob.sha256 == sha, Blob.created_at <= cutoff)
        if db.session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        blob = db.session.scalars(query).one_or_none()
        if blob is None or referenced(sha):
            db.session.rollback()
            return False
        store.delete(sha)
        db.session.execute(
            delete(Blob).where(Blob.sha256 == sha).execution_options(synchronize_session=False)
        )
        db.session.expunge(blob)
        db.session.commit()
    except BaseException:
        db.rollback_quietly()
        raise
    finally:
        write_intent.reset(token)
    return True
