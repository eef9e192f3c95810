"""Who is asking, and may they: sessions, API tokens, throttling, CSRF, security headers.

* Web pages use a session kept on the server (``fieldapp.auth.sessions``): the signed cookie
  holds a random id, every request looks its row up. It ends on logout, password change,
  deactivation, an administrator's or the user's "log out everywhere", after
  ``SESSION_IDLE_MINUTES`` without a request and after ``SESSION_MAX_HOURS`` in any case.
* The JSON API accepts the same session (then unsafe methods need the ``X-CSRF-Token`` header) or
  ``Authorization: Bearer <token>`` (no CSRF check: browsers never send it by themselves).
  Wrong tokens are throttled per client address (``fieldapp.auth.throttle``).
* Every state-changing request authenticated by the session cookie must carry the CSRF token,
  as the ``csrf_token`` form field or the ``X-CSRF-Token`` header.
"""

from __future__ import annotations

import hmac
import os
import secrets
from typing import Any

from flask import Flask, Response, current_app, g, redirect, request, session, url_for
from flask_login import LoginManager, current_user
from werkzeug.middleware.proxy_fix import ProxyFix

from fieldapp.audit.services import client_ip, record
from fieldapp.auth import services, sessions, throttle, twofactor
from fieldapp.auth.models import User, WebSession
from fieldapp.db import db, utcnow
from fieldapp.errors import BadRequest, Forbidden, Unauthorized

login_manager = LoginManager()
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_SESSION_KEY = "_csrf"
#: the cookie's session id (the server keeps only its hash)
SESSION_ID_KEY = "_sid"
#: blueprints that authenticate by other means than the session cookie (OpenRosa)
CSRF_EXEMPT_BLUEPRINTS: set[str] = set()


def is_api_request() -> bool:
    """Whether the request is for the JSON API (errors are then JSON)."""
    return request.path.startswith("/api/")


def client_address() -> str:
    """The client's address as the app sees it (behind ``FIELDAPP_PROXY_FIX``: the proxy's)."""
    return request.remote_addr or "unknown"


def session_policy() -> sessions.SessionPolicy:
    """The app's session lifetimes."""
    return sessions.SessionPolicy.from_config(current_app.config)


def throttle_policy() -> throttle.ThrottlePolicy:
    """The app's throttling and lockout rules."""
    return throttle.ThrottlePolicy.from_config(current_app.config)


def begin_web_session(user: User) -> WebSession:
    """Log ``user`` in in this browser: a new server-side session, a fresh cookie (no fixation).

    The caller commits.
    """
    raw, row = sessions.start_session(
        user,
        policy=session_policy(),
        user_agent=request.headers.get("User-Agent", ""),
        ip=request.remote_addr,
    )
    session.clear()
    session[SESSION_ID_KEY] = raw
    session.permanent = True
    return row


def current_web_session() -> WebSession | None:
    """The server-side session of this request, if it came with a live one."""
    row: WebSession | None = g.get("web_session")
    return row


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


def _load_request(req: Any) -> User | None:
    """flask-login's loader: the cookie's server-side session, else a bearer token."""
    raw = session.get(SESSION_ID_KEY)
    if isinstance(raw, str):
        found = sessions.look_up(raw, policy=session_policy())
        if found.session is not None:
            g.web_session = found.session
            if found.touched:
                db.session.commit()  # the last-seen time, at most once a minute
            user = found.session.user
            # the page's language even after a failed unit of work expired the row (an upload
            # refused: its page is rendered after the rollback); see fieldapp.web.i18n
            g.user_language = user.language
            return user
        g.session_dead = found.dead_because
        session.pop(SESSION_ID_KEY, None)
    return _load_bearer(req)


def _check_session() -> Any:
    """A cookie whose session timed out leads to the login page with a notice (or a 401)."""
    if current_user.is_authenticated:
        return None
    dead = g.get("session_dead")
    if dead not in ("idle", "expired"):
        return None  # ended or unknown: simply logged out
    from fieldapp.openrosa.errors import is_openrosa_request  # noqa: PLC0415

    message = (
        "Your session ended after a period of inactivity. Log in again."
        if dead == "idle"
        else "Your session reached its longest allowed time. Log in again."
    )
    if is_api_request():
        raise Unauthorized(message, code="auth.session_expired")
    if is_openrosa_request() or request.endpoint in ("auth.login", "auth.logout", "static"):
        return None
    return redirect(url_for("auth.login", next=request.full_path, expired=1))


def _load_bearer(req: Any) -> User | None:
    header = req.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    if not req.path.startswith("/api/"):
        return None
    address, now, policy = client_address(), utcnow(), throttle_policy()
    try:
        throttle.raise_if_throttled(throttle.load(None, address, token=True), now=now, token=True)
        user = services.api_token_user(token.strip(), now=now)
    except throttle.TooManyAttempts as exc:
        g.bad_token = exc  # answered by _unauthorized if the view needs a user
        return None
    except services.TokenRejected as exc:
        g.bad_token = exc
        failure = throttle.record_failure(None, address, policy=policy, now=now, token=True)
        for scope, delay in failure.blocked.items():
            record("auth.throttled", actor=None, scope=scope, seconds=int(delay.total_seconds()))
        db.session.commit()  # the failure counts even though the request is refused
        return None
    if db.session.dirty:
        db.session.commit()  # remember when the token was last used
    g.auth_by_token = True
    return user


def _unauthorized() -> Any:
    if is_api_request():
        bad = g.get("bad_token")
        if bad is not None:
            raise bad
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


#: pages a person who must set up two-factor sign-in may still reach
_SETUP_ENDPOINTS = frozenset(
    {"account.two_factor", "auth.logout", "auth.login", "auth.second_factor", "static"}
)


def _require_two_factor() -> Any:
    """A browser session of someone for whom two-factor is required but not set up reaches
    only the page that sets it up (and logout). Bearer tokens and devices are not asked."""
    user = current_user._get_current_object()  # loads the session (sets g.web_session)
    if not getattr(user, "is_authenticated", False) or g.get("web_session") is None:
        return None
    if request.endpoint in _SETUP_ENDPOINTS:
        return None
    if twofactor.enabled(user) or not twofactor.required(user):
        return None
    if is_api_request():
        raise Forbidden(
            "Set up two-factor sign-in on your account page first.",
            code="auth.2fa_setup_required",
        )
    return redirect(url_for("account.two_factor"))


def init_app(app: Flask) -> None:
    """Wire login, CSRF, idle timeout and headers into ``app``."""
    if os.environ.get("FIELDAPP_PROXY_FIX") == "1":
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore[method-assign]
    login_manager.init_app(app)
    # flask-login's own session id is never stored: the cookie names a server-side session,
    # which is checked on every request (no "remember me" cookie, no session protection needed)
    login_manager.session_protection = None
    login_manager.request_loader(_load_request)
    login_manager.unauthorized_handler(_unauthorized)

    @app.before_request
    def _before() -> Any:
        client_ip.set(request.remote_addr)
        if request.endpoint == "static":
            return None  # public files: no session looked up (nor touched, nor sent back)
        response = _check_session()
        if response is not None:
            return response
        _check_csrf()
        return _require_two_factor()

    app.after_request(_security_headers)
    app.jinja_env.globals["csrf_token"] = csrf_token
