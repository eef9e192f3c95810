"""Database plumbing: the declarative base, the engine, the request-scoped session.

Services use :data:`db.session` and only ever ``flush()``; each entry point (a web request, a CLI
command, a job) owns one unit of work and commits it once (:func:`unit_of_work`).

SQLite is the embedded default. It runs in WAL mode with foreign keys on and ``synchronous=FULL``
(an acknowledged write survives a power cut), and pysqlite's own transaction handling is switched
off so that SQLAlchemy's BEGIN/SAVEPOINT work as on PostgreSQL.

Writers on SQLite must hold the write lock from the start of their transaction: a deferred
transaction that has read cannot be upgraded once another connection committed (SQLITE_BUSY,
returned at once, without waiting on the busy timeout). Requests that declare a write (any method
but GET/HEAD/OPTIONS) begin with ``BEGIN IMMEDIATE``; every other transaction begins deferred and,
at its first write, is restarted as ``BEGIN IMMEDIATE`` (see :func:`_upgrade_before_first_write`),
so a GET that writes an audit row waits its turn like any other writer.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from flask import Flask, request
from sqlalchemy import JSON, DateTime, Engine, MetaData, create_engine, event, make_url
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.engine.interfaces import DBAPICursor, ExecutionContext
from sqlalchemy.orm import DeclarativeBase, Session, scoped_session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware.

    SQLite has no timezone type; without this, values would come back naive there and aware on
    PostgreSQL, and comparisons would differ between the two.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


#: JSON everywhere, JSONB on PostgreSQL
JSONType = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    """Base of every model; constraint names are deterministic for Alembic."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSONType,
        list[Any]: JSONType,
    }


#: set for requests that write: SQLite then takes the write lock at BEGIN (BEGIN IMMEDIATE), so
#: concurrent writers queue on the busy timeout instead of failing on a stale read snapshot
write_intent: ContextVar[bool] = ContextVar("write_intent", default=False)

log = logging.getLogger(__name__)

#: the largest value of an SQL ``INTEGER`` (our primary keys) on every database we run on
DB_INT_MAX = 2**31 - 1


def column_length(attribute: Any) -> int:
    """The length of the ``String(n)`` column behind a mapped attribute: the one source of the
    length limits that services and the boundary check before the database would refuse."""
    length = attribute.property.columns[0].type.length
    assert isinstance(length, int), attribute
    return length


#: a simulated "now" (``fieldapp.simulation`` replays a year of the programme through the real
#: services, each act at its own time); unset everywhere else
_simulated_now: ContextVar[datetime | None] = ContextVar("fieldapp.simulated_now", default=None)


def utcnow() -> datetime:
    """Now, in UTC, timezone-aware (the simulated time while :func:`simulated_clock` holds)."""
    fixed = _simulated_now.get()
    return fixed if fixed is not None else datetime.now(UTC)


@contextmanager
def simulated_clock() -> Iterator[Callable[[datetime], None]]:
    """Within the block, :func:`utcnow` returns what the yielded setter was last given.

    Only the simulation sets it (in its own context); requests never do.
    """
    token = _simulated_now.set(datetime.now(UTC))

    def set_now(when: datetime) -> None:
        _simulated_now.set(when.astimezone(UTC))

    try:
        yield set_now
    finally:
        _simulated_now.reset(token)


#: how long a SQLite writer waits for the write lock before giving up, in seconds
SQLITE_BUSY_TIMEOUT = 30

#: key in a SQLite connection's ``info``: "deferred" while its transaction has not written,
#: "writing" once it holds (or, inside a savepoint, competes for) the write lock
_TX_STATE = "fieldapp.sqlite_transaction"

# leading blanks, comments and parentheses before a statement's first keyword
_LEADING = re.compile(r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/|\()*", re.S)
_KEYWORD = re.compile(r"[A-Za-z]+")
_DML = re.compile(r"\b(?:INSERT|UPDATE|DELETE|REPLACE)\b", re.I)
_READS = frozenset({"SELECT", "VALUES", "EXPLAIN", "PRAGMA"})
_CONTROL = frozenset({"BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE"})


def statement_writes(sql: str) -> bool:
    """Whether a SQLite statement may write (anything not known to be a read or transaction
    control counts as a write, so an unusual statement errs on the side of the write lock)."""
    body = sql[_LEADING.match(sql).end() :]  # type: ignore[union-attr]
    match = _KEYWORD.match(body)
    keyword = match.group(0).upper() if match else ""
    if keyword in _READS or keyword in _CONTROL:
        return False
    if keyword == "WITH":
        return _DML.search(body) is not None
    return True


def _upgrade_before_first_write(cursor: DBAPICursor, statement: str, context: Any) -> None:
    """Restart a deferred SQLite transaction as ``BEGIN IMMEDIATE`` before its first write.

    The transaction has only read, so ending it loses nothing; the new one waits for the write
    lock on the busy timeout and reads the newest data, as a PostgreSQL (read committed)
    transaction would from its next statement on. Inside a savepoint the transaction cannot be
    restarted (the savepoint would be lost): it writes as it is, as before.
    """
    if context is None:
        return
    connection: Connection = context.root_connection
    info = connection.info
    if info.get(_TX_STATE) != "deferred" or not statement_writes(statement):
        return
    info[_TX_STATE] = "writing"
    if connection.in_nested_transaction():
        return
    cursor.execute("COMMIT")
    try:
        cursor.execute("BEGIN IMMEDIATE")
    except BaseException:
        # SQLAlchemy believes a transaction is open: keep one open, so that nothing that
        # follows runs in autocommit; the caller sees the error and rolls back
        cursor.execute("BEGIN")
        info[_TX_STATE] = "deferred"
        raise


def _is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine, tuned for SQLite when the URL is SQLite.

    Plain ``postgresql://`` URLs use psycopg 3 (the driver fieldapp installs), as
    ``FIELDAPP_DATABASE_URL`` does.

    :param url: a SQLAlchemy URL.
    :return: the engine.
    """
    from fieldapp.config import normalise_database_url  # noqa: PLC0415

    url = normalise_database_url(url)
    if _is_sqlite(url):
        engine = create_engine(
            url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT}, hide_parameters=True, **kwargs
        )

        @event.listens_for(engine, "connect")
        def _sqlite_on_connect(dbapi_conn: Any, record: ConnectionPoolEntry) -> None:
            # Parameters are hidden from error messages: they hold names and answers.
            # Let SQLAlchemy emit BEGIN itself (pysqlite's implicit transactions break
            # SAVEPOINT), and set the pragmas every connection needs.
            dbapi_conn.isolation_level = None
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT * 1000}")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            immediate = write_intent.get()
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
            conn.info[_TX_STATE] = "writing" if immediate else "deferred"

        @event.listens_for(engine, "do_execute")
        def _sqlite_execute(
            cursor: DBAPICursor, statement: str, parameters: Any, context: ExecutionContext
        ) -> None:
            _upgrade_before_first_write(cursor, statement, context)

        @event.listens_for(engine, "do_executemany")
        def _sqlite_executemany(
            cursor: DBAPICursor, statement: str, parameters: Any, context: ExecutionContext
        ) -> None:
            _upgrade_before_first_write(cursor, statement, context)

        @event.listens_for(engine, "do_execute_no_params")
        def _sqlite_execute_no_params(
            cursor: DBAPICursor, statement: str, context: ExecutionContext
        ) -> None:
            _upgrade_before_first_write(cursor, statement, context)

        return engine
    if url.startswith("postgresql") and "application_name" not in make_url(url).query:
        # names the app's backends in pg_stat_activity (and for pg_terminate_backend)
        connect_args = {"application_name": "fieldapp", **kwargs.pop("connect_args", {})}
        kwargs["connect_args"] = connect_args
    return create_engine(url, pool_pre_ping=True, hide_parameters=True, **kwargs)


class Database:
    """The engine of the current app and a thread-scoped session bound to it."""

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self.session: scoped_session[Session] = scoped_session(sessionmaker(expire_on_commit=False))

    def init_app(self, app: Flask) -> None:
        """Create the engine from ``DATABASE_URL`` and close the session after each request."""
        self.engine = make_engine(app.config["DATABASE_URL"])
        self.session.remove()
        self.session.configure(bind=self.engine)
        app.extensions["fieldapp.db"] = self

        @app.before_request
        def _declare_write_intent() -> None:
            write_intent.set(request.method not in ("GET", "HEAD", "OPTIONS"))

        @app.teardown_appcontext
        def _remove_session(exc: BaseException | None) -> None:
            self.remove_session()
            # the flag lives in the thread's context, which outlives the request (a server
            # thread's next job, a test's next statement): it must not declare their writes
            write_intent.set(False)

    def remove_session(self) -> None:
        """End this thread's session and return its connection; never raises.

        Runs after the response is made, outside Flask's error handlers: an exception here would
        become the server's own bare 500 (and a log line naming the request's path). When the
        connection died under the session (a restarted or terminated database backend), the
        rollback on it fails; the connection is then discarded and the next request gets a fresh
        one from the pool.
        """
        try:
            self.session.remove()
        except Exception as exc:  # teardown must not raise, whatever happened
            log.warning(
                "database session ended with %s; its connection is discarded", type(exc).__name__
            )
            self._discard()

    def rollback_quietly(self) -> None:
        """Roll this thread's session back for an error response; never raises."""
        try:
            self.session.rollback()
        except Exception as exc:  # an error page must not fail on a dead connection
            log.warning("rollback failed with %s; the connection is discarded", type(exc).__name__)
            self._discard()

    def _discard(self) -> None:
        # invalidate() drops the connections without talking to the database; clear() forgets
        # the session even when closing it failed half-way
        try:
            if self.session.registry.has():
                self.session.registry().invalidate()
        except Exception as exc:
            log.warning("discarding the session failed with %s", type(exc).__name__)
        finally:
            self.session.registry.clear()


db = Database()


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """Commit what the block did, or roll it back if it raised.

    The single commit point of a web request, CLI command or job.
    """
    session = db.session()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
