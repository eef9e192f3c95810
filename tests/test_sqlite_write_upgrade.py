"""SQLite: a transaction that began reading (every GET) can still write after another connection
committed, because its first write restarts it as BEGIN IMMEDIATE; and that restart never splits
or loses a transaction's writes. (The live office load in tests/concurrency checks it over HTTP.)

Before, the write failed at once with "database is locked" (SQLITE_BUSY_SNAPSHOT: a deferred
transaction cannot be upgraded once its snapshot is stale, and SQLite does not wait for it).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from fieldapp.db import make_engine


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'upgrade.sqlite3'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)"))
    yield engine
    engine.dispose()


def _values(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT v FROM t ORDER BY id")).scalars())


def _commit_elsewhere(engine: Engine, value: str) -> None:
    with engine.begin() as other:
        other.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": value})


def test_a_reading_transaction_writes_after_another_connection_committed(engine: Engine):
    with engine.connect() as conn:
        tx = conn.begin()
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 0  # a read snapshot
        _commit_elsewhere(engine, "other")
        conn.execute(text("INSERT INTO t (v) VALUES ('audit row')"))
        # the restarted transaction reads the newest data, as PostgreSQL would
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 2
        tx.commit()
    assert _values(engine) == ["other", "audit row"]


def test_the_writes_after_the_restart_stay_one_transaction(engine: Engine):
    with engine.connect() as conn:
        tx = conn.begin()
        conn.execute(text("SELECT count(*) FROM t"))
        _commit_elsewhere(engine, "other")
        conn.execute(text("INSERT INTO t (v) VALUES ('first')"))
        conn.execute(text("UPDATE t SET v = 'changed' WHERE v = 'other'"))
        conn.execute(text("INSERT INTO t (v) VALUES ('second')"))
        tx.rollback()
    assert _values(engine) == ["other"]  # nothing of the rolled-back transaction was committed


def test_a_transaction_that_wrote_inside_a_savepoint_is_not_restarted(engine: Engine):
    with engine.connect() as conn:
        tx = conn.begin()
        conn.execute(text("SELECT count(*) FROM t"))
        nested = conn.begin_nested()
        conn.execute(text("INSERT INTO t (v) VALUES ('in savepoint')"))
        nested.commit()
        conn.execute(text("INSERT INTO t (v) VALUES ('after it')"))
        tx.rollback()
    assert _values(engine) == []


def test_a_failed_wait_for_the_write_lock_leaves_a_transaction_to_roll_back(engine: Engine):
    holder = engine.connect()
    with engine.connect() as conn:
        # wait 50 ms instead of the 30 s busy timeout (straight on the driver: no transaction)
        conn.connection.driver_connection.execute("PRAGMA busy_timeout=50")
        tx = conn.begin()
        conn.execute(text("SELECT count(*) FROM t"))
        holder_tx = holder.begin()
        holder.execute(text("INSERT INTO t (v) VALUES ('holds the lock')"))
        with pytest.raises(Exception, match="database is locked"):
            conn.execute(text("INSERT INTO t (v) VALUES ('waits')"))
        tx.rollback()
        holder_tx.commit()
        # the connection is usable again and upgrades on its next write
        with conn.begin():
            conn.execute(text("SELECT 1"))
            conn.execute(text("INSERT INTO t (v) VALUES ('later')"))
    holder.close()
    assert _values(engine) == ["holds the lock", "later"]


def test_a_writing_request_does_not_leave_its_write_intent_to_the_thread(client):
    from fieldapp.db import write_intent

    client.post("/logout")  # any write request declares its write intent for its transaction
    assert write_intent.get() is False  # ... and only for it: later work begins deferred again
