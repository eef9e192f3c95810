from __future__ import annotations

import pytest

from tests.openrosa import helpers


@pytest.fixture(autouse=True)
def _helpers_app(request: pytest.FixtureRequest):
    if "app" not in request.fixturenames:
        yield
        return
    helpers.APP = request.getfixturevalue("app")
    yield
    helpers.APP = None
