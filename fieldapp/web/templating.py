"""Template helpers shared by every page."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from fieldapp.auth.models import Role


def problem_rows(details: Any) -> list[Mapping[str, Any]]:
    """The problems an error's details list (sheet, row, column, message), or none."""
    if isinstance(details, (list, tuple)):
        return [p for p in details if isinstance(p, Mapping)]
    return []


def init_app(app: Flask) -> None:
    """Register filters and globals."""
    app.jinja_env.globals["Role"] = Role
    app.jinja_env.globals["problem_rows"] = problem_rows
    app.jinja_env.autoescape = True

    @app.context_processor
    def _globals() -> dict[str, Any]:
        return {"app_name": "fieldapp"}
