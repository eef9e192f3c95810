"""Which database errors are a retryable 503 (the live tests in tests/concurrency see them over
HTTP while PostgreSQL backends are terminated) and which stay a 500, because they are bugs."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from fieldapp.db import make_engine
from fieldapp.web.errors import database_unavailable


def _error_of(engine_url: str, statement: str, prepare: str | None = None) -> BaseException:
    engine = make_engine(engine_url)
    holder = engine.connect()
    try:
        if prepare:
            holder.exec_driver_sql(prepare)  # takes the write lock and keeps it
        with engine.connect() as conn:
            conn.connection.driver_connection.execute("PRAGMA busy_timeout=20")
            with pytest.raises(OperationalError) as caught:
                conn.execute(text(statement))
        return caught.value
    finally:
        holder.close()
        engine.dispose()


def test_a_sqlite_lock_held_past_the_busy_timeout_is_unavailable(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'x.sqlite3'}"
    with make_engine(url).begin() as conn:
        conn.execute(text("CREATE TABLE t (v TEXT)"))
    exc = _error_of(url, "INSERT INTO t VALUES ('x')", prepare="INSERT INTO t VALUES ('held')")
    assert isinstance(exc.orig, sqlite3.OperationalError)
    assert database_unavailable(exc)


def test_a_mistake_that_sqlite_calls_operational_stays_an_internal_error(tmp_path: Path):
    exc = _error_of(f"sqlite:///{tmp_path / 'y.sqlite3'}", "SELECT * FROM no_such_table")
    assert not database_unavailable(exc)
    assert not database_unavailable(ValueError("not a database error"))


def test_signed_in_answers_stay_uncached_without_the_header_hook_loading_the_user(
    login_as, api_token, client
):
    # the hook decides from the session and from a user the request already loaded, so that it
    # cannot fail on a database that just failed the request
    coordinator = login_as("coordinator")
    assert coordinator.get("/review").headers["Cache-Control"] == "no-store"
    token = api_token("coordinator")
    answer = client.get("/api/v1/cases", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-store"
    assert "Cache-Control" not in client.get("/login").headers
