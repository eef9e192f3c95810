"""Alembic environment: fieldapp's models are the target; the connection comes from fieldapp."""

from __future__ import annotations

from alembic import context

from fieldapp.config import load_config
from fieldapp.db import make_engine
from fieldapp.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(load_config()["DATABASE_URL"])
    with engine.begin() as conn:
        _run(conn)


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; use `fieldapp db upgrade`")
run_migrations_online()
