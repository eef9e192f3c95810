"""The Alembic migrations produce exactly the models' schema, on SQLite and on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from fieldapp.db import make_engine
from fieldapp.migrate import upgrade
from fieldapp.models import Base
from tests.conftest import need, postgres_url


def _diff(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'migrations.sqlite3'}")
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_engine() -> Iterator[Engine]:
    url = postgres_url()
    need(
        url is not None,
        "PostgreSQL not reachable at 127.0.0.1:5432 (set FIELDAPP_TEST_POSTGRES_URL)",
    )
    assert url is not None
    schema = f"migtest_{uuid.uuid4().hex[:8]}"
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    yield engine
    engine.dispose()
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def test_migrations_match_models_on_sqlite(sqlite_engine):
    upgrade(sqlite_engine)
    assert _diff(sqlite_engine) == []
    assert "alembic_version" in inspect(sqlite_engine).get_table_names()


def test_migrations_match_models_on_postgresql(postgres_engine):
    upgrade(postgres_engine)
    assert _diff(postgres_engine) == []


def test_sqlite_runs_in_wal_mode_with_foreign_keys(sqlite_engine):
    with sqlite_engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_upgrade_twice_changes_nothing(sqlite_engine):
    upgrade(sqlite_engine)
    before = sorted(inspect(sqlite_engine).get_table_names())
    upgrade(sqlite_engine)
    assert sorted(inspect(sqlite_engine).get_table_names()) == before


# -- 4d8e2a61c7b3: instanceIDs unique on the server, XML as received --------------------------

BEFORE_UNIQUE = "9c1d2b7e4f60"
NOW = "2026-12-01 10:00:00+00:00"


def _seed_submissions(engine: Engine, instance_ids: tuple[str, str]) -> None:
    """Two forms with one submission each (instanceIDs as given), as the schema before the
    unique instanceIDs held them: XML as text, one attachment."""
    statements = [
        "INSERT INTO regions (id, code, name, created_at) VALUES (1, 'north', 'North', :now)",
        "INSERT INTO users (id, username, display_name, role, password_hash, active, "
        "failed_logins, session_nonce, created_at) VALUES (1, 'w', 'W', 'field_worker', 'x', "
        "true, 0, 'n', :now)",
        "INSERT INTO blobs (sha256, md5, size, created_at) VALUES ('b', 'm', 1, :now)",
        "INSERT INTO forms (id, form_id, title, state, created_at, updated_at) VALUES "
        "(1, 'family_registration', 'R', 'open', :now, :now), "
        "(2, 'school_checkin', 'S', 'open', :now, :now)",
        "INSERT INTO form_versions (id, form_pk, version, status, title, source_filename, "
        "source_type, source_sha256, xform, xform_md5, languages, fields, entities, warnings, "
        "encrypted, created_at, published_at) SELECT f.id, f.id, '1', 'published', 'T', 'f.xlsx', "
        "'xlsx', 'b', '<x/>', 'm', '[]', '[]', '[]', '[]', false, :now, :now FROM forms f",
    ]
    for n, instance_id in enumerate(instance_ids, start=1):
        statements += [
            f"INSERT INTO submissions (id, form_pk, instance_id, region_id, submitted_by_id, "
            f"review_state, urgent, received_at, updated_at) VALUES ({n}, {n}, '{instance_id}', "
            "1, 1, 'received', false, :now, :now)",
            f"INSERT INTO submission_versions (id, submission_id, form_pk, form_version_id, "
            f"instance_id, xml, xml_sha256, encrypted, data, received_at) VALUES ({n}, {n}, {n}, "
            f"{n}, '{instance_id}', :xml, 'sha', false, '{{}}', :now)",
            f"UPDATE submissions SET current_version_id = {n} WHERE id = {n}",
            f"INSERT INTO submission_attachments (version_id, name, blob_sha256) VALUES "
            f"({n}, 'photo.jpg', 'b')",
        ]
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement), {"now": NOW, "xml": XML_TEXT})


XML_TEXT = '<data id="x"><name>Семья</name><meta><instanceID>i</instanceID></meta></data>'


def _counts(engine: Engine) -> tuple[int, int, int]:
    with engine.connect() as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()
            for table in ("submissions", "submission_versions", "submission_attachments")
        )


def _check_upgrade_refuses_duplicates(engine: Engine) -> None:
    upgrade(engine, BEFORE_UNIQUE)
    _seed_submissions(engine, ("uuid:same", "uuid:same"))
    with pytest.raises(RuntimeError) as refused:
        upgrade(engine)
    message = str(refused.value)
    assert "uuid:same (forms: family_registration, school_checkin)" in message
    assert "Nothing was changed" in message
    assert _counts(engine) == (2, 2, 2)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == (
            BEFORE_UNIQUE
        )


def _check_upgrade_keeps_rows_and_xml(engine: Engine) -> None:
    upgrade(engine, BEFORE_UNIQUE)
    _seed_submissions(engine, ("uuid:one", "uuid:two"))
    upgrade(engine)
    assert _diff(engine) == []
    assert _counts(engine) == (2, 2, 2)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT s.current_version_id, v.xml FROM submissions s "
                "JOIN submission_versions v ON v.id = s.current_version_id ORDER BY s.id"
            )
        ).all()
    assert [(current, bytes(xml)) for current, xml in rows] == [
        (1, XML_TEXT.encode()),
        (2, XML_TEXT.encode()),
    ]


def test_sqlite_upgrade_refuses_instance_ids_used_in_two_forms(sqlite_engine):
    _check_upgrade_refuses_duplicates(sqlite_engine)


def test_postgresql_upgrade_refuses_instance_ids_used_in_two_forms(postgres_engine):
    _check_upgrade_refuses_duplicates(postgres_engine)


def test_sqlite_upgrade_keeps_every_row_and_the_xml_as_utf8_bytes(sqlite_engine):
    # the column is replaced in place: no table rebuild, so no cascade to attachments
    _check_upgrade_keeps_rows_and_xml(sqlite_engine)


def test_postgresql_upgrade_keeps_every_row_and_the_xml_as_utf8_bytes(postgres_engine):
    _check_upgrade_keeps_rows_and_xml(postgres_engine)
