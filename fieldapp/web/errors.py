"""Errors as the browser and the JSON API see them; the one place they are rendered.

Domain errors keep their status and message; HTTP errors from werkzeug (404, 405, 413) get the
same JSON shape on the API; anything unexpected is a 500 with no internals shown (and is
re-raised in tests, so that they fail loudly).
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

from flask import Flask, render_template
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from fieldapp.errors import DomainError
from fieldapp.openrosa.errors import is_openrosa_request, render_openrosa_error
from fieldapp.web.security import is_api_request

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    401: "auth.required",
    403: "auth.forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_type",
}


def render_error(status: int, code: str, message: str, details: Any = None) -> Any:
    """Render an error as OpenRosa XML (phones), JSON (API) or a page."""
    if is_openrosa_request():
        return render_openrosa_error(status, message, code)
    if is_api_request():
        body: dict[str, Any] = {"code": code, "message": message}
        if details is not None:
            body["details"] = details
        return {"error": body}, status
    return render_template(
        "error.html", status=status, code=code, message=message, details=details
    ), status


def init_app(app: Flask) -> None:
    """Register the handlers."""

    @app.errorhandler(DomainError)
    def _domain_error(exc: DomainError) -> Any:
        from fieldapp.db import db  # noqa: PLC0415

        db.session.rollback()
        return render_error(exc.http_status, exc.code, exc.message, exc.details)

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(exc: RequestEntityTooLarge) -> Any:
        return render_error(413, "too_large", "The upload is larger than the server accepts.")

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Any:
        status = exc.code or 500
        message = {
            404: "There is nothing at this address, or you may not see it.",
            405: "This address does not take that kind of request.",
        }.get(status, exc.description or exc.name)
        return render_error(status, _HTTP_CODES.get(status, "http_error"), message)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        if app.testing:
            raise exc
        from fieldapp.db import db  # noqa: PLC0415

        db.session.rollback()
        # Only the exception's type and where it happened: messages may quote form answers,
        # names or SQL parameters, which must never reach the logs.
        frames = traceback.extract_tb(exc.__traceback__)
        where = " <- ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno}" for f in frames[-4:])
        log.error("unhandled %s at %s", type(exc).__name__, where)
        return render_error(
            500,
            "internal",
            "Something went wrong on the server. Nothing was "
            "changed; try again, and tell an administrator if it "
            "keeps happening.",
        )
