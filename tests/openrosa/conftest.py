from __future__ import annotations

import pytest

from tests.openrosa import helpers


@pytest.fixture(autouse=True)
def _helpers_app(app):
    helpers.APP = app
    yield
    helpers.APP = None
