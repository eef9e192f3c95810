"""Fixtures of the sandbox tests: the case tests' programme (real forms, people, phones)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from tests.cases.conftest import _cheap_password_hashes  # noqa: F401
from tests.openrosa import helpers


@pytest.fixture(autouse=True)
def _helpers_app(app: Flask) -> Iterator[None]:
    helpers.APP = app
    yield
    helpers.APP = None
