"""Errors as ODK Collect sees them: an OpenRosaResponse body with the problem's status.

Requests without valid credentials on the password address (``/collect``) get a Basic challenge,
so that Collect asks the worker for their username and password (ODK-INTEROP §10).
"""

from __future__ import annotations

from flask import Response, request

from fieldapp.openrosa.responses import message_xml

PREFIX = "/collect"
REALM = "fieldapp"


def is_openrosa_request() -> bool:
    """Whether the request is for the OpenRosa endpoints."""
    return request.path == PREFIX or request.path.startswith(PREFIX + "/")


def render_openrosa_error(status: int, message: str) -> Response:
    """An OpenRosa error response."""
    response = Response(
        message_xml(message, nature="error"), status=status, content_type="text/xml; charset=utf-8"
    )
    if status == 401 and not request.path.startswith(PREFIX + "/key/"):
        response.headers["WWW-Authenticate"] = f'Basic realm="{REALM}", charset="UTF-8"'
    return response
