"""A simulated year for the Monday screens' tests, made once per module in a database of its
own (a SQLite file beside the test one, or a PostgreSQL schema), through the real ingest and
review (``fieldapp.simulation``). The recomputations the screens are checked against are in
``support.py``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from flask import Flask
from sqlalchemy import text

from fieldapp.auth import services as auth_services
from fieldapp.db import db
from fieldapp.simulation import Simulation
from tests.conftest import Browser
from tests.simulation.test_simulated_year import _fresh_database, _programme

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
PASSWORD = "demo password 1"
SCALE = 0.1
SEED = 3


@dataclass
class Year:
    now: datetime
    region_ids: dict[str, int]

    @property
    def today(self) -> date:
        return self.now.date()


@pytest.fixture(scope="module")
def year(app: Flask, database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Year]:
    """The simulated year, bound to ``db.session`` for the module (tests here are
    ``committed``: they read it and must not bind the session to the shared test database)."""
    assert db.engine is not None
    tmp: Path = tmp_path_factory.mktemp("care")
    engine, drop = _fresh_database(database_url, tmp, "care")
    db.session.remove()
    db.session.configure(bind=engine)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(
                auth_services, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
            )
            _programme(app)
            Simulation(
                seed=SEED,
                scale=SCALE,
                now=NOW,
                password=PASSWORD,
                store=app.extensions["fieldapp.blobs"],
                batch_size=200,
            ).run()
        regions = dict(db.session.execute(text("SELECT code, id FROM regions")).tuples().all())
        db.session.commit()
        yield Year(NOW, regions)
    finally:
        db.session.remove()
        db.session.configure(bind=db.engine)
        engine.dispose()
        drop()


def sign_in(app: Flask, username: str) -> Browser:
    browser = Browser(app.test_client())
    response = browser.login(username, PASSWORD)
    assert response.status_code == 302, response.data
    return browser
