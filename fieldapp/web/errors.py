"""Errors as the browser and the JSON API see them; the one place they are rendered.

Domain errors keep their status and message; HTTP errors from werkzeug (404, 405, 413) get the
same JSON shape on the API; a database out of reach (a lost connection, a lock or pool that
timed out) is a retryable 503 with ``Retry-After``; anything else unexpected is a 500 with no
internals shown (and is re-raised in tests, so that they fail loudly). Rendering an error never
needs the database, so an error page cannot itself fail on a dead connection.
"""

from __future__ import annotations

import logging
import sqlite3
import traceback
from typing import Any

from flask import Flask, Response, current_app, make_response, render_template
from flask_babel import get_locale
from markupsafe import escape
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
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

SQLITE_BUSY = 5
SQLITE_LOCKED = 6

#: seconds a client is asked to wait before retrying after a 503
RETRY_AFTER_SECONDS = 5


def N_(message: str) -> str:
    """Marks a message for the catalogue; the error page translates it when shown."""
    return message


UNAVAILABLE_MESSAGE = N_(
    "The server cannot reach its database for a moment. Nothing was changed; "
    "try again in a few seconds."
)


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means the database is briefly out of reach, so a retry may succeed.

    A connection the driver reports lost (SQLAlchemy then discards it and the pool reconnects),
    a PostgreSQL operational error (connection refused, a deadlock, a cancelled statement),
    SQLite's lock still held after the busy timeout, and a pool with no free connection in time.
    """
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, PoolTimeoutError):
        return True
    if not isinstance(exc, OperationalError):
        return False
    if isinstance(exc.orig, sqlite3.Error):
        # pysqlite also reports mistakes ("no such table") as operational errors: only a lock
        # still held after the busy timeout is worth a retry
        code = getattr(exc.orig, "sqlite_errorcode", None)
        return code is not None and code & 0xFF in (SQLITE_BUSY, SQLITE_LOCKED)
    return True


def _plain_page(status: int, message: str) -> Response:
    """A page without template or database, for when rendering the usual one failed."""
    title = "Temporarily unavailable" if status == 503 else f"Error {status}"
    body = (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{title}</title></head><body><h1>{title}</h1>"
        f"<p role='alert'>{escape(message)}</p></body></html>"
    )
    return Response(body, status=status, content_type="text/html; charset=utf-8")


def _page_message(message: str) -> str:
    """A message in the page's language when the catalogue has it (never fails: an error page
    must render whatever went wrong)."""
    try:
        from fieldapp.web.i18n import translated_error  # noqa: PLC0415

        return translated_error(message)
    except Exception:
        return message


def render_error(status: int, code: str, message: str, details: Any = None) -> Any:
    """Render an error as OpenRosa XML (phones), JSON (API) or a page."""
    if is_openrosa_request():
        return render_openrosa_error(status, message, code)
    if is_api_request():
        body: dict[str, Any] = {"code": code, "message": message}
        if details is not None:
            body["details"] = details
        return {"error": body}, status
    try:
        if status == 503:
            # straight from the Jinja environment: render_template's context processors would
            # load the signed-in user from the database that is out of reach
            page = current_app.jinja_env.get_template("unavailable.html").render(
                app_name="fieldapp", message=_page_message(message)
            )
        else:
            page = render_template(
                "error.html", status=status, code=code, message=message, details=details
            )
    except Exception as exc:  # the page's layout may read the signed-in user from the database
        log.warning("error page %s fell back to plain HTML after %s", status, type(exc).__name__)
        from fieldapp.db import db  # noqa: PLC0415

        db.rollback_quietly()
        return _plain_page(status, message)
    return page, status


def render_unavailable() -> Response:
    """The retryable 503 for a database out of reach, with ``Retry-After``."""
    response = make_response(render_error(503, "unavailable", UNAVAILABLE_MESSAGE))
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def init_app(app: Flask) -> None:
    """Register the handlers."""
    from fieldapp.db import db  # noqa: PLC0415

    @app.errorhandler(DomainError)
    def _domain_error(exc: DomainError) -> Any:
        # the page's language is read from the signed-in person before the rollback expires
        # their row (Flask-Babel keeps it for the request), so the message is in their language
        get_locale()
        db.rollback_quietly()
        response = make_response(render_error(exc.http_status, exc.code, exc.message, exc.details))
        retry_after = getattr(exc, "retry_after", None)
        if isinstance(retry_after, int):
            response.headers["Retry-After"] = str(retry_after)  # throttled (429)
        return response

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(exc: RequestEntityTooLarge) -> Any:
        return render_error(413, "too_large", N_("The upload is larger than the server accepts."))

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Any:
        status = exc.code or 500
        message = {
            404: N_("There is nothing at this address, or you may not see it."),
            405: N_("This address does not take that kind of request."),
        }.get(status, exc.description or exc.name)
        return render_error(status, _HTTP_CODES.get(status, "http_error"), message)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        db.rollback_quietly()
        if database_unavailable(exc):
            # expected in operation (a restarted database, a busy SQLite file): the client
            # retries; only the type is logged (the message may quote SQL)
            log.warning("database unavailable (%s); answered 503", type(exc).__name__)
            return render_unavailable()
        if app.testing:
            raise exc
        # Only the exception's type and where it happened: messages may quote form answers,
        # names or SQL parameters, which must never reach the logs.
        frames = traceback.extract_tb(exc.__traceback__)
        where = " <- ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno}" for f in frames[-4:])
        log.error("unhandled %s at %s", type(exc).__name__, where)
        return render_error(
            500,
            "internal",
            N_(
                "Something went wrong on the server. Nothing was changed; try again, and tell "
                "an administrator if it keeps happening."
            ),
        )
