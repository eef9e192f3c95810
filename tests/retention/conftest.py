"""Fixtures of the retention and erasure tests: the case tests' programme, and what checks the
database and the blob store afterwards."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from fieldapp.db import db
from fieldapp.models import Base
from tests.cases.conftest import _cheap_password_hashes, _helpers_app, programme  # noqa: F401
from tests.conftest import Browser


def rows_naming(needles: Iterable[str]) -> list[str]:
    """``table: row`` for every row of every table that contains one of ``needles`` (text of
    any column, JSON and XML bytes included)."""
    wanted = [n for n in needles if n]
    found = []
    db.session.flush()
    for table in Base.metadata.sorted_tables:
        for row in db.session.execute(select(table)).all():
            text = repr(tuple(row))
            if any(n in text for n in wanted):
                found.append(f"{table.name}: {text[:300]}")
    return found


@pytest.fixture
def desk(app: Flask, programme) -> Callable[[str], Browser]:  # type: ignore[no-untyped-def]  # noqa: F811
    """A browser logged in as one of the programme's people (a new admin for ``"admin"``)."""

    def _desk(username: str) -> Browser:
        if username not in programme.people:
            role = {"admin": "admin", "designer": "designer"}[username]
            programme.person(username, role, [])
        browser = Browser(app.test_client())
        assert browser.login(username).status_code == 302
        return browser

    return _desk


def store_of(app: Flask) -> Any:
    return app.extensions["fieldapp.blobs"]
