"""Errors as ODK Collect sees them: an OpenRosaResponse body with the problem's status.

Requests without valid credentials on the password address (``/collect``) get a Basic challenge,
so that Collect asks the worker for their username and password (ODK-INTEROP §10). The web form
page's copy (``/fill/collect``) never gets one: the browser must not pop up a password dialog.
"""

from __future__ import annotations

from flask import Response, request

from fieldapp.openrosa.responses import message_xml

PREFIX = "/collect"
#: the same endpoints for the web form page (``/fill``), authenticated by the web session
WEB_PREFIX = "/fill/collect"
REALM = "fieldapp"


def is_openrosa_request() -> bool:
    """Whether the request is for the OpenRosa endpoints."""
    return any(request.path == p or request.path.startswith(p + "/") for p in (PREFIX, WEB_PREFIX))


def render_openrosa_error(status: int, message: str, code: str | None = None) -> Response:
    """An OpenRosa error response (the error's ``code`` as an attribute of its message)."""
    response = Response(
        message_xml(message, nature="error", code=code),
        status=status,
        content_type="text/xml; charset=utf-8",
    )
    if (
        status == 401
        and request.path.startswith(PREFIX + "/")
        and not request.path.startswith(PREFIX + "/key/")
    ):
        response.headers["WWW-Authenticate"] = f'Basic realm="{REALM}", charset="UTF-8"'
    return response
