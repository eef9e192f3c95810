"""Test harness.

The suite runs on SQLite by default and on PostgreSQL when ``FIELDAPP_TEST_DATABASE_URL`` is
set (CI does both). The schema is made by the real Alembic migrations once per session; each test
then runs inside a transaction that is rolled back at the end, with the code under test free to
call ``commit()`` (SQLAlchemy's "join into an external transaction" recipe with savepoints).

Tests that need Java, PostgreSQL or Chromium skip with a stated reason when those are missing,
except when ``FIELDAPP_REQUIRE_ALL=1`` (set by ``.ci/run``), where a missing one is a failure.
"""

from __future__ import annotations

import io
import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from fieldapp import create_app
from fieldapp.auth import services as auth
from fieldapp.auth.models import Region, User
from fieldapp.db import db, make_engine
from fieldapp.migrate import upgrade

REQUIRE_ALL = os.environ.get("FIELDAPP_REQUIRE_ALL") == "1"
TEST_PASSWORD = "correct horse battery"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def need(condition: bool, reason: str) -> None:
    """Skip the test with ``reason`` unless ``condition``; in CI (REQUIRE_ALL) fail instead."""
    if condition:
        return
    if REQUIRE_ALL:
        pytest.fail(f"required in CI but missing: {reason}")
    pytest.skip(reason)


def java_available() -> bool:
    return shutil.which("java") is not None


def postgres_url() -> str | None:
    """A reachable PostgreSQL URL for tests that need one, or ``None``."""
    url = os.environ.get("FIELDAPP_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    engine = make_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception:
        return None
    finally:
        engine.dispose()
    return url


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("java"):
        need(java_available(), "Java not found (ODK Validate / JavaRosa need Java 17)")


def _reset_database(url: str) -> None:
    engine = make_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


def _worker_schema_url(url: str, worker: str) -> str:
    """Under pytest-xdist each worker gets its own PostgreSQL schema in the test database."""
    schema = f"xdist_{worker}"
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture(scope="session")
def database_url(data_dir: Path) -> str:
    url = os.environ.get("FIELDAPP_TEST_DATABASE_URL")
    if not url:
        return f"sqlite:///{data_dir / 'test.sqlite3'}"
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker and "postgresql" in url:
        return _worker_schema_url(url, worker)
    _reset_database(url)
    return url


@pytest.fixture(scope="session")
def app(data_dir: Path, database_url: str) -> Iterator[Flask]:
    application = create_app(
        {
            "TESTING": True,
            "DATA_DIR": str(data_dir),
            "DATABASE_URL": database_url,
            "SECRET_KEY": "test-secret",
            "ODK_VALIDATE": "auto",
            # tests run the webhook sender by hand (WebhookWorker.run_once) against a receiver
            # on loopback
            "WEBHOOKS_WORKER": False,
            # tests run prepared exports by hand too (fieldapp.exports.jobs.run_pending)
            "EXPORT_JOBS_THREAD": False,
            # and the retention purge (fieldapp.retention.worker.run_pass)
            "RETENTION_WORKER": False,
            "WEBHOOKS_ALLOW_PRIVATE_URLS": True,
        }
    )
    assert db.engine is not None
    upgrade(db.engine)
    yield application
    db.session.remove()
    db.engine.dispose()


@pytest.fixture(autouse=True)
def _transaction(request: pytest.FixtureRequest) -> Iterator[None]:
    """Run each test that uses the app inside a transaction rolled back afterwards."""
    if "app" not in request.fixturenames or request.node.get_closest_marker("committed"):
        yield
        return
    request.getfixturevalue("app")
    assert db.engine is not None
    engine = db.engine
    connection = engine.connect()
    outer = connection.begin()
    db.session.remove()
    db.session.configure(bind=connection, join_transaction_mode="create_savepoint")
    # No app context is held here: each test-client request pushes its own (so flask.g and
    # the login state do not leak between requests), and services need none.
    yield
    db.session.remove()
    outer.rollback()
    connection.close()
    db.session.configure(bind=engine)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def post_file(
    client: FlaskClient,
    url: str,
    content: bytes,
    filename: str,
    headers: dict[str, str] | None = None,
    field: str = "file",
) -> Any:
    """POST one file as multipart, encoding the body in memory.

    (Werkzeug's test client spools large bodies to temporary files it never closes.)
    """
    from werkzeug.datastructures import FileStorage
    from werkzeug.test import stream_encode_multipart

    stream, length, boundary = stream_encode_multipart(
        {field: FileStorage(io.BytesIO(content), filename=filename)}, use_tempfile=False
    )
    return client.post(
        url,
        input_stream=stream,
        headers=headers,
        content_type=f'multipart/form-data; boundary="{boundary}"',
        content_length=length,
    )


# -- factories -------------------------------------------------------------------------------


@pytest.fixture
def make_region(app: Flask) -> Callable[..., Region]:
    counter = {"n": 0}

    def _make(code: str | None = None, name: str | None = None) -> Region:
        counter["n"] += 1
        code = code or f"region{counter['n']}"
        existing = auth.get_region(code)
        if existing is not None:
            return existing
        region = auth.create_region(code, name or code.title(), actor=None)
        db.session.commit()
        return region

    return _make


@pytest.fixture
def make_user(app: Flask, make_region: Callable[..., Region]) -> Callable[..., User]:
    counter = {"n": 0}

    def _make(
        role: str = "coordinator",
        *,
        username: str | None = None,
        regions: list[str] | None = None,
        password: str = TEST_PASSWORD,
    ) -> User:
        counter["n"] += 1
        username = username or f"{role.replace('_', '')}{counter['n']}"
        if regions is None:
            regions = ["north"] if role in ("coordinator", "field_worker") else []
        region_rows = [make_region(code) for code in regions]
        user = auth.create_user(
            username, role=role, password=password, actor=None, regions=region_rows
        )
        db.session.commit()
        return user

    return _make


class Browser:
    """A logged-in (or not) test client that knows the CSRF token of its session."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def csrf(self) -> str:
        page = self.client.get("/login")
        match = re.search(rb'name="csrf_token" value="([^"]+)"', page.data)
        if match is None:  # already logged in: /login redirects; use any page with a form
            page = self.client.get("/")
            match = re.search(rb'name="csrf_token" value="([^"]+)"', page.data)
        assert match is not None
        return match.group(1).decode()

    def login(self, username: str, password: str = TEST_PASSWORD) -> Any:
        return self.client.post(
            "/login", data={"username": username, "password": password, "csrf_token": self.csrf()}
        )

    def post(self, url: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        data = dict(data or {})
        data.setdefault("csrf_token", self.csrf())
        return self.client.post(url, data=data, **kwargs)

    def get(self, url: str, **kwargs: Any) -> Any:
        return self.client.get(url, **kwargs)


@pytest.fixture
def browser(client: FlaskClient) -> Browser:
    return Browser(client)


@pytest.fixture
def login_as(app: Flask, make_user: Callable[..., User]) -> Callable[..., Browser]:
    """A fresh client logged in as a new user of ``role``."""

    def _login(role: str, **kwargs: Any) -> Browser:
        user = make_user(role, **kwargs)
        browser = Browser(app.test_client())
        response = browser.login(user.username)
        assert response.status_code == 302, response.data
        browser.user = user  # type: ignore[attr-defined]
        return browser

    return _login


@pytest.fixture
def api_token(app: Flask, make_user: Callable[..., User]) -> Callable[..., str]:
    """A bearer token for a new user of ``role``."""

    def _token(role: str, **kwargs: Any) -> str:
        user = make_user(role, **kwargs)
        token, _ = auth.issue_api_token(user, actor=None)
        db.session.commit()
        return token

    return _token
