"""Who is asking, and may they: sessions, API tokens, CSRF, idle timeout, security headers.

* Web pages use a flask-login session cookie. The session ends after ``SESSION_IDLE_MINUTES``
  without a request, and whenever the user's password changes or the user is deactivated.
* The JSON API accepts the same session (then unsafe methods need the ``X-CSRF-Token`` header) or
  ``Authorization: Bearer <token>`` (no CSRF check: browsers never send it by themselves).
* Every state-changing request authenticated by the session cookie must carry the CSRF token,
  as the ``csrf_token`` form field or the ``X-CSRF-Token`` header.
"""

from __future__ import annotations

import hmac
import os
import secrets
import time
from typing import Any

from flask import Flask, Response, g, redirect, request, session, url_for
from flask_login import LoginManager, current_user, logout_user
from werkzeug.middleware.proxy_fix import ProxyFix

from fieldapp.audit.services import client_ip
from fieldapp.auth.models import User
from fieldapp.auth.services import load_session_user, user_for_api_token
from fieldapp.db import db
from fieldapp.errors import BadRequest, Unauthorized

login_manager = LoginManager()
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_SESSION_KEY = "_csrf"
#: blueprints that authenticate by other means than the session cookie (OpenRosa)
CSRF_EXEMPT_BLUEPRINTS: set[str] = set()


def is_api_request() -> bool:
    """Whether the request is for the JSON API (errors are then JSON)."""
    return request.path.startswith("/api/")


def csrf_token() -> str:
    """The session's CSRF token, made on first use."""
    token = session.get(CSRF_SESSION_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[CSRF_SESSION_KEY] = token
    return token


def _check_csrf() -> None:
    if request.method in SAFE_METHODS or g.get("auth_by_token"):
        return
    if request.blueprint in CSRF_EXEMPT_BLUEPRINTS:
        return
    if not current_user.is_authenticated and request.endpoint != "auth.login":
        # nobody's session to forge: the view's own gate answers (401 JSON, or the login page);
        # the login form itself keeps its token (login CSRF)
        return
    expected = session.get(CSRF_SESSION_KEY)
    given = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token")
    if not expected or not given or not hmac.compare_digest(str(expected), str(given)):
        raise BadRequest(
            "This page was open too long or came from elsewhere, so the action was not done. "
            "Reload the page and try again.",
            code="csrf.invalid",
        )


def _check_idle() -> Any:
    if not current_user.is_authenticated or g.get("auth_by_token"):
        return None
    now = int(time.time())
    last = session.get("_seen")
    limit = 60 * int(session_idle_minutes())
    if isinstance(last, int) and now - last > limit:
        logout_user()
        session.clear()
        if is_api_request():
            raise Unauthorized(
                "Your session ended after a period of inactivity. Log in again.",
                code="auth.session_expired",
            )
        return redirect(url_for("auth.login", next=request.full_path, expired=1))
    session["_seen"] = now
    session.permanent = True
    return None


def session_idle_minutes() -> int:
    from flask import current_app  # noqa: PLC0415

    return int(current_app.config["SESSION_IDLE_MINUTES"])


def _load_bearer(req: Any) -> User | None:
    header = req.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    if not req.path.startswith("/api/"):
        return None
    user = user_for_api_token(token.strip())
    if user is None:
        g.bad_token = True  # answered by _unauthorized if the view needs a user
        return None
    if db.session.dirty:
        db.session.commit()  # remember when the token was last used
    g.auth_by_token = True
    return user


def _unauthorized() -> Any:
    if is_api_request():
        if g.get("bad_token"):
            raise Unauthorized(
                "The API token is not valid (unknown, revoked, or its user is deactivated).",
                code="auth.token_invalid",
            )
        raise Unauthorized("Log in, or send 'Authorization: Bearer <token>'.")
    return redirect(url_for("auth.login", next=request.full_path))


CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
#: the web form pages (``/fill``) run ODK Web Forms: its XPath engine is WebAssembly
#: ('wasm-unsafe-eval', compiled from a data: URL), and it adds its stylesheet and fonts at run
#: time ('unsafe-inline' styles, data: fonts); it shrinks photos in blob: workers. Still no
#: inline or eval'd script.
FILL_PREFIX = "/fill"
FILL_CSP = (
    "default-src 'self'; img-src 'self' data: blob:; media-src 'self' data: blob:; "
    "style-src 'self' 'unsafe-inline'; font-src 'self' data:; "
    "script-src 'self' 'wasm-unsafe-eval'; connect-src 'self' data: blob:; "
    "worker-src 'self' blob:; "
    "object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)


def _security_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    fill = request.path == FILL_PREFIX or request.path.startswith(FILL_PREFIX + "/")
    headers.setdefault("Content-Security-Policy", FILL_CSP if fill else CSP)
    # Decided without loading the user: this runs after error responses too, and loading would
    # query a database that may just have failed (the error would escape every handler).
    user = g.get("_login_user")  # flask-login's cache: set when this request needed the user
    signed_in = "_user_id" in session or (user is not None and user.is_authenticated)
    if signed_in or response.status_code >= 400:
        headers.setdefault("Cache-Control", "no-store")
    return response


def init_app(app: Flask) -> None:
    """Wire login, CSRF, idle timeout and headers into ``app``."""
    if os.environ.get("FIELDAPP_PROXY_FIX") == "1":
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore[method-assign]
    login_manager.init_app(app)
    login_manager.session_protection = "basic"
    login_manager.user_loader(load_session_user)
    login_manager.request_loader(_load_bearer)
    login_manager.unauthorized_handler(_unauthorized)

    @app.before_request
    def _before() -> Any:
        client_ip.set(request.remote_addr)
        response = _check_idle()
        if response is not None:
            return response
        _check_csrf()
        return None

    app.after_request(_security_headers)
    app.jinja_env.globals["csrf_token"] = csrf_token
