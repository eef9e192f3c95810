"""Fixtures of the review workspace tests: the real programme forms (as in ``tests/cases``),
people in two regions, and browsers logged in as them."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask

from fieldapp.auth.models import User

# the same autouse fixtures as the case tests (the helpers' app, cheap password hashes)
from tests.cases.conftest import _cheap_password_hashes, _helpers_app  # noqa: F401
from tests.cases.support import Programme, publish
from tests.conftest import Browser


@pytest.fixture
def programme(app: Flask, make_user: Callable[..., User]) -> Programme:
    """Region ``north`` (coord, worker) and region ``south`` (coord_s, worker_s)."""
    publish("family_registration", "home_visit")
    world = Programme(app, make_user)
    world.person("coord", "coordinator", ["north"])
    world.person("worker", "field_worker", ["north"])
    world.person("coord_s", "coordinator", ["south"])
    world.person("worker_s", "field_worker", ["south"])
    return world


@pytest.fixture
def desk(app: Flask, programme: Programme) -> Callable[[str], Browser]:
    """A browser logged in as one of the programme's people (or a new admin, ``"admin"``)."""

    def _desk(username: str) -> Browser:
        if username == "admin" and "admin" not in programme.people:
            programme.person("admin", "admin", [])
        browser = Browser(app.test_client())
        response = browser.login(username)
        assert response.status_code == 302, response.data
        return browser

    return _desk
