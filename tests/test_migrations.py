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
