"""Fixtures of the case tests (the building blocks are in ``support.py``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from argon2 import PasswordHasher
from flask import Flask

from fieldapp.auth import services as auth_services
from fieldapp.auth.models import User
from tests.cases.support import Programme, publish
from tests.openrosa import helpers


@pytest.fixture(autouse=True)
def _helpers_app(app: Flask) -> Iterator[None]:
    helpers.APP = app
    yield
    helpers.APP = None


@pytest.fixture(autouse=True)
def _cheap_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """People here sign in with API and device tokens only: cheap argon2 keeps the suite fast."""
    monkeypatch.setattr(
        auth_services, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    )


@pytest.fixture
def programme(app: Flask, make_user: Callable[..., User]) -> Programme:
    publish("family_registration", "home_visit")
    world = Programme(app, make_user)
    world.person("coord", "coordinator", ["north"])
    world.person("worker", "field_worker", ["north"])
    return world
