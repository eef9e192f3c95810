"""What the OpenRosa blueprint does differently for a try (``fieldapp.openrosa.views``).

Two more ways in to the same views:

* ``/collect/test/<token>`` — ODK Collect, like Central's draft testing: the token (only its
  SHA-256 stored) names a try; malformed → 401, unknown or ended → 403.
* ``/forms/tries/<try_id>/collect`` — the designer's browser (ODK Web Forms on the try page):
  the web session of the try's designer, CSRF-checked.

Either way the form list holds only the try's drafts, downloads and manifests are the drafts',
case lists are the test cases, and submissions become test data. The whole request runs in
:func:`~fieldapp.sandbox.scope.sandbox_mode`.
"""

from __future__ import annotations

import re

from flask import Flask, g, request

from fieldapp.auth.models import User
from fieldapp.errors import Forbidden, Unauthorized
from fieldapp.sandbox import services
from fieldapp.sandbox.models import DraftTry
from fieldapp.sandbox.scope import enter_sandbox, leave_sandbox

#: the Collect URL's token: what ``secrets.token_urlsafe(48)`` makes
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{64}$")
COLLECT = "openrosa_test"
BROWSER = "openrosa_try"


def register(app: Flask, blueprint: object) -> None:
    """Mount the OpenRosa blueprint for tries (called by ``openrosa.views.register``)."""
    from flask import Blueprint  # noqa: PLC0415

    assert isinstance(blueprint, Blueprint)
    app.register_blueprint(blueprint, url_prefix="/collect/test/<token>", name=COLLECT)
    app.register_blueprint(blueprint, url_prefix="/forms/tries/<int:try_id>/collect", name=BROWSER)

    @app.teardown_request
    def _leave_sandbox(exc: BaseException | None) -> None:
        token = g.pop("sandbox_token", None)
        if token is not None:
            leave_sandbox(token)


def is_try_request() -> bool:
    return request.blueprint in (COLLECT, BROWSER)


def authenticate() -> User:
    """The try's designer, with ``g.draft_try`` set and the request in sandbox mode.

    :raises Unauthorized: malformed token, or no session (browser).
    :raises Forbidden: unknown or ended token.
    :raises NotFound: the browser's try is not the user's.
    """
    if request.blueprint == COLLECT:
        token = g.get("device_token") or ""
        if not TOKEN_RE.match(token):
            raise Unauthorized(
                "This test address is not complete. Scan the draft's QR code again.",
                code="try.token_malformed",
            )
        found = services.try_for_token(token)
        if found is None:
            raise Forbidden(
                "This test of a draft has ended, or the address is wrong. Start a new try "
                "from the draft's page.",
                code="try.token_invalid",
            )
        actor = found.created_by
    else:
        from flask_login import current_user  # noqa: PLC0415

        from fieldapp.web.permissions import current_actor  # noqa: PLC0415

        if not current_user.is_authenticated:
            raise Unauthorized(
                "Your session has ended. Log in again.", code="auth.session_required"
            )
        actor = current_actor()
        found = services.get_try(int(g.get("try_id") or 0), actor=actor)
    assert isinstance(actor, User)
    g.draft_try = found
    if g.get("sandbox_token") is None:
        g.sandbox_token = enter_sandbox()
    return actor


def current_try() -> DraftTry | None:
    found = g.get("draft_try")
    return found if isinstance(found, DraftTry) else None
