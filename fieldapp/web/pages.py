"""The home page, where each role starts, and the health check a load balancer asks."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, render_template
from sqlalchemy import text

from fieldapp.db import db
from fieldapp.web.permissions import current_actor, require

bp = Blueprint("pages", __name__)


@bp.get("/")
@require()
def home() -> Any:
    """What the logged-in person can do from here."""
    return render_template("home.html", user=current_actor())


@bp.get("/healthz")
def health() -> Any:
    """For a load balancer or monitor: 200 when this server can query its database.

    Anonymous and cheap (one ``SELECT 1``; the blob store is checked once at start, not here). A
    database out of reach gives the app's retryable 503 with ``Retry-After``, so a proxy takes this
    server out of rotation until it can reach the database again. Says nothing about the data.
    """
    db.session.execute(text("SELECT 1"))
    response = jsonify(status="ok")
    response.headers["Cache-Control"] = "no-store"
    return response
