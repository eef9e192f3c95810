"""Plain ``postgresql://`` URLs work wherever a database URL is given (the app's, the tests',
the README's): they use psycopg 3, the driver fieldapp installs (psycopg2 is not installed)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import text

from fieldapp.db import make_engine
from tests.conftest import postgres_url
from tests.live import ROOT


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://postgres@127.0.0.1:5432/test",
        "postgres://postgres@127.0.0.1:5432/test",
        "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    ],
)
def test_postgresql_urls_use_psycopg_3(url: str):
    engine = make_engine(url)
    assert engine.dialect.driver == "psycopg"
    engine.dispose()


def test_the_readmes_postgresql_test_command_names_a_url_that_works():
    readme = (ROOT / "README.md").read_text()
    urls = re.findall(r"FIELDAPP_TEST_DATABASE_URL=(\S+?)[`\s]", readme)
    assert urls
    for url in urls:
        engine = make_engine(url)
        assert engine.dialect.driver == "psycopg", url
        engine.dispose()


def test_a_plain_postgresql_url_connects():
    url = postgres_url()
    if url is None:
        pytest.skip("PostgreSQL not reachable")
    plain = re.sub(r"^postgresql\+psycopg://", "postgresql://", url)
    engine = make_engine(plain)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar() == 1
    finally:
        engine.dispose()
