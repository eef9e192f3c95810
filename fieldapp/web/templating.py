"""Template helpers shared by every page."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Flask

from fieldapp.auth.models import Role


def _datetime(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.strftime("%Y-%m-%d %H:%M UTC")


def init_app(app: Flask) -> None:
    """Register filters and globals."""
    app.jinja_env.filters["dt"] = _datetime
    app.jinja_env.globals["Role"] = Role
    app.jinja_env.autoescape = True

    @app.context_processor
    def _globals() -> dict[str, Any]:
        return {"app_name": "fieldapp"}
