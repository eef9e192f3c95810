"""The home page: where each role starts."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

from fieldapp.web.permissions import current_actor, require

bp = Blueprint("pages", __name__)


@bp.get("/")
@require()
def home() -> Any:
    """What the logged-in person can do from here."""
    return render_template("home.html", user=current_actor())
