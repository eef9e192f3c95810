"""Blob garbage collection: unreferenced blobs older than the grace period leave the store and
the table; referenced, young or newly referenced ones stay."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import delete, select, text, update

from fieldapp.blobs import Blob, store_blob
from fieldapp.db import db, utcnow
from fieldapp.forms.models import FormVersion
from fieldapp.retention import blobgc
from tests.cases.support import publish
from tests.retention.conftest import store_of


def _age(sha: str, seconds: float) -> None:
    db.session.execute(
        update(Blob)
        .where(Blob.sha256 == sha)
        .values(created_at=utcnow() - timedelta(seconds=seconds))
    )
    db.session.commit()


def test_unreferenced_blobs_go_after_the_grace_period_and_referenced_ones_stay(app: Flask):
    publish("home_visit")
    store = store_of(app)
    old = store_blob(store, b"an orphan left by an erased submission " + str(utcnow()).encode())
    young = store_blob(store, b"an orphan stored a moment ago " + str(utcnow()).encode())
    used = db.session.scalars(select(FormVersion.source_sha256)).first()
    assert used is not None
    db.session.commit()
    _age(old, 7200)
    _age(used, 7200)

    assert blobgc.collect(store, grace=timedelta(hours=1)) == 1
    db.session.expire_all()
    assert db.session.get(Blob, old) is None
    assert not store.path_for(old).exists()
    assert db.session.get(Blob, young) is not None
    assert store.path_for(young).exists()
    assert db.session.get(Blob, used) is not None  # the form's source file
    assert store.path_for(used).exists()


def test_a_blob_referenced_after_it_was_found_is_kept(app: Flask):
    publish("home_visit")
    store = store_of(app)
    sha = store_blob(store, b"bytes someone is about to use again " + str(utcnow()).encode())
    db.session.commit()
    assert sha in blobgc.candidates(grace=timedelta(0))
    # meanwhile a form version refers to the same bytes: the check under the lock sees it
    version = db.session.scalars(select(FormVersion)).first()
    assert version is not None
    version.source_sha256 = sha
    db.session.commit()
    assert not blobgc._collect_one(store, sha, utcnow())
    assert db.session.get(Blob, sha) is not None
    assert store.path_for(sha).exists()


def test_delete_is_idempotent(app: Flask):
    store = store_of(app)
    sha = store.write(b"written, then deleted twice " + str(utcnow()).encode())
    store.delete(sha)
    assert not store.path_for(sha).exists()
    store.delete(sha)  # nothing there: nothing happens


def test_every_table_that_refers_to_blobs_is_checked():
    names = {f"{c.table.name}.{c.name}" for c in blobgc.referencing_columns()}
    assert {
        "form_versions.source_sha256",
        "form_attachments.blob_sha256",
        "submission_attachments.blob_sha256",
    } <= names


@pytest.mark.committed
def test_on_postgresql_a_writer_holding_the_blob_row_keeps_it(app: Flask):
    """A writer whose referring row is being inserted holds a key-share lock on the blob row
    (the foreign-key check): the collector skips the row instead of removing the file under it,
    and collects it once the writer is gone without a reference."""
    assert db.engine is not None
    if db.engine.dialect.name != "postgresql":
        pytest.skip("row locks: PostgreSQL (SQLite's writer holds the database's write lock)")
    store = store_of(app)
    data = b"bytes a phone is sending again right now " + str(utcnow()).encode()
    sha = store_blob(store, data)
    db.session.commit()
    _age(sha, 7200)
    writer = db.engine.connect()
    try:
        transaction = writer.begin()
        writer.execute(text("SELECT sha256 FROM blobs WHERE sha256 = :s FOR KEY SHARE"), {"s": sha})
        assert blobgc.collect(store, grace=timedelta(hours=1), only=[sha]) == 0
        assert store.path_for(sha).exists()
        transaction.rollback()  # the writer gave up: nothing refers to the bytes
        assert blobgc.collect(store, grace=timedelta(hours=1), only=[sha]) == 1
        assert not store.path_for(sha).exists()
    finally:
        writer.close()
        db.session.rollback()
        db.session.execute(delete(Blob).where(Blob.sha256 == sha))
        db.session.commit()
        db.remove_session()
