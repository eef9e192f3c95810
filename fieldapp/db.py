"""Database plumbing: the declarative base, the engine, the request-scoped session.

Services use :data:`db.session` and only ever ``flush()``; each entry point (a web request, a CLI
command, a job) owns one unit of work and commits it once (:func:`unit_of_work`).

SQLite is the embedded default. It runs in WAL mode with foreign keys on and ``synchronous=FULL``
(an acknowledged write survives a power cut), and pysqlite's own transaction handling is switched
off so that SQLAlchemy's BEGIN/SAVEPOINT work as on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from flask import Flask, request
from sqlalchemy import JSON, DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
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


def utcnow() -> datetime:
    """Now, in UTC, timezone-aware."""
    return datetime.now(UTC)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine, tuned for SQLite when the URL is SQLite.

    :param url: a SQLAlchemy URL.
    :return: the engine.
    """
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, hide_parameters=True, **kwargs)

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
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write_intent.get() else "BEGIN")

        return engine
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
            self.session.remove()


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
