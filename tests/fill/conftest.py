"""Fixtures of the web form tests: the programme of tests/cases (real forms, people, phones)."""

from __future__ import annotations

from tests.cases.conftest import _cheap_password_hashes, _helpers_app, programme  # noqa: F401
