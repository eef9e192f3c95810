"""Login, logout, and the administrator's pages and API for users and regions. Thin: each view
parses input, calls a service, commits, and renders."""

from __future__ import annotations

import ipaddress
import time
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import format_datetime, gettext, ngettext
from flask_login import current_user

from fieldapp.audit.services import record
from fieldapp.auth import devices, services, sessions, twofactor
from fieldapp.auth.models import ROLE_VALUES, ApiToken, Device, Role, User
from fieldapp.auth.schemas import (
    AuditArgs,
    CodeSchema,
    DeviceCreateSchema,
    LoginSchema,
    RegionRenameSchema,
    RegionSchema,
    TokenLabelSchema,
    UserCreateSchema,
    UserOutSchema,
    UserUpdateSchema,
)
from fieldapp.auth.throttle import TooManyAttempts
from fieldapp.db import db, unit_of_work, utcnow
from fieldapp.errors import Conflict, DomainError, Invalid, NotFound
from fieldapp.web import audit_names, i18n
from fieldapp.web.args import load, load_args, load_json
from fieldapp.web.i18n import translated_error
from fieldapp.web.permissions import current_actor, require
from fieldapp.web.security import (
    begin_web_session,
    client_address,
    current_web_session,
    session_policy,
    throttle_policy,
)

bp = Blueprint("auth", __name__)
admin_bp = Blueprint("admin", __name__, url_prefix="/admin")
api = Blueprint("auth_api", __name__, url_prefix="/api/v1")
account_bp = Blueprint("account", __name__, url_prefix="/account")


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths are followed after login."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("pages.home")


@bp.post("/language")
def set_language() -> Any:
    """Choose the pages' language: saved on the person's account, or (before logging in) for
    this browser's session. An empty choice follows the browser's own languages again."""
    raw = request.form.get("language", "")
    if raw not in ("", *services.INTERFACE_LANGUAGES):
        raise Invalid(
            "Choose Russian, Kazakh, English or the browser's language.",
            code="user.language_invalid",
        )
    language = raw or None
    if current_user.is_authenticated:
        with unit_of_work():
            services.set_language(current_actor(), language)
    if language is None:
        session.pop(i18n.SESSION_KEY, None)
    else:
        session[i18n.SESSION_KEY] = language
    return redirect(_safe_next(request.form.get("next")))


def _login_error(exc: DomainError) -> str:
    """A refused login's message in the reader's language (English as the service wrote it)."""
    if i18n.current_language() == "en":
        return exc.message
    if isinstance(exc, TooManyAttempts):
        minutes = max(1, (exc.retry_after + 59) // 60)
        return str(
            ngettext(
                "Too many failed logins from this address. Wait %(num)d minute and try again; "
                "nothing is checked before then.",
                "Too many failed logins from this address. Wait %(num)d minutes and try again; "
                "nothing is checked before then.",
                minutes,
            )
        )
    if isinstance(exc, services.AccountLocked):
        return str(
            ngettext(
                "This account is locked after failed logins from many places. An administrator "
                "can unlock it; otherwise try again in %(num)d minute.",
                "This account is locked after failed logins from many places. An administrator "
                "can unlock it; otherwise try again in %(num)d minutes.",
                max(1, exc.minutes),
            )
        )
    return translated_error(exc)


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """The login page (fields ``username`` and ``password``)."""
    if request.method == "GET":
        if current_user.is_authenticated:
            return redirect(_safe_next(request.args.get("next")))
        notice = (
            gettext("Your session ended after a period of inactivity.")
            if request.args.get("expired")
            else None
        )
        return render_template("auth/login.html", notice=notice, next=request.args.get("next"))
    data = load(
        LoginSchema(),
        {
            "username": request.form.get("username", ""),
            "password": request.form.get("password", ""),
        },
    )
    try:
        user = services.authenticate(
            data["username"],
            data["password"],
            address=client_address(),
            policy=throttle_policy(),
            record_login=False,  # a login is complete after its second factor, if any
        )
    except (services.LoginFailed, services.AccountLocked, TooManyAttempts) as exc:
        db.session.commit()  # keep the failure counts, any lock and their audit entries
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyAttempts) else {}
        return (
            render_template(
                "auth/login.html",
                error=_login_error(exc),
                username=data["username"],
                next=request.form.get("next"),
            ),
            exc.http_status,
            headers,
        )
    target = _safe_next(request.form.get("next"))
    if twofactor.enabled(user):
        db.session.commit()  # the password's success (failure counts cleared)
        session[PENDING_KEY] = {"uid": user.id, "at": int(time.time()), "next": target}
        return redirect(url_for("auth.second_factor"))
    services.note_login(user)
    return _complete_login(user, target)


#: the signed-session key of a login whose password was right and whose code is awaited
PENDING_KEY = "_2fa_pending"
#: seconds a person has to type the code after the password
PENDING_SECONDS = 300


def _complete_login(user: User, target: str) -> Any:
    locked_at = services.take_lock_notice(user)
    previous = current_web_session()
    if previous is not None:  # logging in again in the same browser: the old session ends
        sessions.end_session(previous, reason="logout")
    begin_web_session(user)
    db.session.commit()
    if locked_at is not None:
        flash(
            gettext(
                "Your account was locked on %(when)s UTC after failed logins from many places. "
                "If they were not you, change your password on your account page and tell an "
                "administrator.",
                when=format_datetime(locked_at, i18n.DATETIME_PATTERN),
            ),
            "error",
        )
    return redirect(target)


def _pending_login() -> dict[str, Any] | None:
    pending = session.get(PENDING_KEY)
    if not isinstance(pending, dict) or not isinstance(pending.get("uid"), int):
        return None
    if not isinstance(pending.get("at"), int) or time.time() - pending["at"] > PENDING_SECONDS:
        session.pop(PENDING_KEY, None)
        return None
    return pending


@bp.route("/login/code", methods=["GET", "POST"])
def second_factor() -> Any:
    """The second step of a login: the code of the person's authenticator app (field
    ``code``), or one of their recovery codes. Five minutes after the password at most."""
    pending = _pending_login()
    if pending is None:
        flash(gettext("Log in again: the code was not given within five minutes."), "error")
        return redirect(url_for("auth.login"))
    if request.method == "GET":
        return render_template("auth/code.html")
    code = load(CodeSchema(), {"code": request.form.get("code", "")})["code"]
    try:
        user = services.second_factor(
            pending["uid"], code, address=client_address(), policy=throttle_policy()
        )
    except (
        twofactor.WrongCode,
        services.LoginFailed,
        services.AccountLocked,
        TooManyAttempts,
    ) as exc:
        db.session.commit()  # a wrong code counts as a failed login
        if not isinstance(exc, twofactor.WrongCode | TooManyAttempts):
            session.pop(PENDING_KEY, None)
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyAttempts) else {}
        status = 401 if isinstance(exc, twofactor.WrongCode) else exc.http_status
        return render_template("auth/code.html", error=_login_error(exc)), status, headers
    session.pop(PENDING_KEY, None)
    if twofactor.remaining_recovery_codes(user) <= 2:
        flash(
            gettext("You have few recovery codes left. Make new ones on your account page."),
            "error",
        )
    return _complete_login(user, str(pending.get("next") or url_for("pages.home")))


@bp.route("/logout", methods=["GET", "POST"])
def logout() -> Any:
    """End the session (POST); GET only shows a button, as a link must not log anyone out."""
    if request.method == "GET":
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login"))
        return render_template("auth/logout.html")
    row = current_web_session()
    if row is not None:
        with unit_of_work():
            sessions.end_session(row, reason="logout")
            record("auth.logout", actor=row.user, subject_type="user", subject_id=row.user_id)
    session.clear()
    flash(gettext("You are logged out."))
    return redirect(url_for("auth.login"))


# -- the user's own page ---------------------------------------------------------------------


@account_bp.get("")
@require()
def account() -> Any:
    """The user's sessions, API tokens and password."""
    actor = current_actor()
    return render_template(
        "auth/account.html",
        user=actor,
        sessions=sessions.live_sessions(actor, policy=session_policy()),
        current=current_web_session(),
        tokens=services.list_api_tokens(actor, owner=actor),
        now=utcnow(),
    )


@account_bp.post("/sessions/end")
@require()
def end_my_sessions() -> Any:
    """Log out everywhere, this browser too."""
    actor = current_actor()
    with unit_of_work():
        count = services.end_sessions(actor, actor=actor)
    session.clear()
    flash(
        ngettext(
            "You are logged out everywhere (%(num)d session).",
            "You are logged out everywhere (%(num)d sessions).",
            count,
        )
    )
    return redirect(url_for("auth.login"))


@account_bp.post("/password")
@require()
def change_password() -> Any:
    """Change one's own password; other sessions end, this one stays."""
    actor = current_actor()
    row = current_web_session()
    if row is None:  # a bearer token cannot change a password
        raise NotFound("Not found.")
    try:
        services.change_own_password(
            actor,
            request.form.get("current", ""),
            request.form.get("password", ""),
            session=row,
            address=client_address(),
            policy=throttle_policy(),
        )
    except DomainError as exc:
        db.session.commit()  # a wrong current password counts as a failed login
        flash(translated_error(exc), "error")
        return redirect(url_for("account.account"))
    db.session.commit()
    flash(gettext("Password changed. Your other sessions have ended."))
    return redirect(url_for("account.account"))


@account_bp.post("/tokens/<int:token_id>/revoke")
@require()
def revoke_my_token(token_id: int) -> Any:
    """Revoke one of one's own API tokens."""
    actor = current_actor()
    with unit_of_work():
        row = services.get_api_token(token_id, actor=actor)
        if row.user_id != actor.id:
            raise NotFound("No such token.", code="token.not_found")
        services.revoke_api_token(row, actor=actor)
    flash(gettext("The token %(prefix)s… no longer works.", prefix=row.prefix))
    return redirect(url_for("account.account"))


#: the signed-session key of a secret being set up (not in the database until confirmed)
SETUP_KEY = "_2fa_setup"


@account_bp.route("/two-factor", methods=["GET", "POST"])
@require()
def two_factor() -> Any:
    """Two-factor sign-in for one's own account: set it up (a QR code and the secret as text,
    then a code from the app), make new recovery codes, or switch it off."""
    actor = current_actor()
    if current_web_session() is None:  # a bearer token cannot change how its owner logs in
        raise NotFound("Not found.")
    codes: list[str] | None = None
    if request.method == "POST":
        action = request.form.get("action", "")
        code = load(CodeSchema(), {"code": request.form.get("code", "")})["code"]
        try:
            with unit_of_work():
                if action == "enable":
                    secret = session.get(SETUP_KEY)
                    if not isinstance(secret, str):
                        raise Conflict(
                            "The setup expired; scan the new QR code.", code="auth.2fa_setup_gone"
                        )
                    codes = twofactor.enable(actor, secret, code)
                    session.pop(SETUP_KEY, None)
                elif action == "renew":
                    codes = twofactor.regenerate_recovery_codes(actor, code)
                elif action == "disable":
                    twofactor.disable(actor, code)
                    flash(gettext("Two-factor sign-in is off."))
                else:
                    raise NotFound("Unknown action.")
        except DomainError as exc:
            flash(translated_error(exc), "error")
        if codes is None:
            return redirect(url_for("account.two_factor"))
        flash(gettext("Two-factor sign-in is on. Keep the recovery codes below somewhere safe."))
    setup: dict[str, str] | None = None
    if not twofactor.enabled(actor):
        secret = session.get(SETUP_KEY)
        if not isinstance(secret, str):
            secret = twofactor.new_secret()
            session[SETUP_KEY] = secret
        uri = twofactor.provisioning_uri(actor, secret)
        setup = {
            "secret": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
            "qr": devices.qr_svg_data_url(uri),
        }
    return render_template(
        "auth/two_factor.html",
        user=actor,
        enabled=twofactor.enabled(actor),
        required=twofactor.required(actor),
        remaining=twofactor.remaining_recovery_codes(actor),
        setup=setup,
        codes=codes,
    )


# -- admin pages -----------------------------------------------------------------------------


@admin_bp.get("/users")
@require(Role.ADMIN)
def users() -> Any:
    """Every user, with a form to add one; locked accounts first, to unlock."""
    return render_template(
        "admin/users.html",
        users=services.list_users(),
        locked=services.locked_users(),
        session_counts=sessions.live_session_counts(policy=session_policy()),
        regions=services.list_regions(),
        roles=[Role(r) for r in ROLE_VALUES],
        now=utcnow(),
    )


@admin_bp.post("/users")
@require(Role.ADMIN)
def create_user() -> Any:
    """Add a user from the form on the users page."""
    form = request.form
    data = load(
        UserCreateSchema(),
        {
            "username": form.get("username", ""),
            "display_name": form.get("display_name", ""),
            "role": form.get("role", ""),
            "regions": form.getlist("regions"),
            "password": form.get("password", ""),
        },
    )
    try:
        with unit_of_work():
            user = services.create_user(
                data["username"],
                role=data["role"],
                password=data["password"],
                display_name=data["display_name"],
                actor=current_actor(),
                regions=services.regions_by_codes(data["regions"]),
            )
    except DomainError as exc:
        flash(translated_error(exc), "error")
        return redirect(url_for("admin.users"))
    flash(gettext("User %(username)s created.", username=user.username))
    return redirect(url_for("admin.user", user_id=user.id))


@admin_bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@require(Role.ADMIN)
def user(user_id: int) -> Any:
    """One user: role, regions, name, active; password; unlock; sessions; API tokens."""
    target = services.get_user(user_id)
    new_token = None
    back = url_for("admin.users") if request.form.get("back") == "users" else None
    if request.method == "POST":
        action = request.form.get("action", "update")
        try:
            with unit_of_work():
                if action == "update":
                    data = load(
                        UserUpdateSchema(),
                        {
                            "regions": request.form.getlist("regions"),
                            "display_name": request.form.get("display_name", target.display_name),
                        },
                    )
                    services.update_user(
                        target,
                        actor=current_actor(),
                        role=request.form.get("role") or None,
                        regions=services.regions_by_codes(data["regions"]),
                        display_name=data["display_name"],
                        active=request.form.get("active") == "on",
                    )
                    flash(gettext("Saved."))
                elif action == "password":
                    services.set_password(
                        target, request.form.get("password", ""), actor=current_actor()
                    )
                    flash(gettext("Password set. The user's sessions have ended."))
                elif action == "unlock":
                    services.unlock_user(target, actor=current_actor())
                    flash(gettext("%(username)s is unlocked.", username=target.username))
                elif action == "end_sessions":
                    count = services.end_sessions(target, actor=current_actor())
                    flash(
                        gettext(
                            "%(username)s is logged out everywhere (%(num)d ended).",
                            username=target.username,
                            num=count,
                        )
                    )
                elif action == "reset_2fa":
                    twofactor.reset(target, actor=current_actor())
                    flash(
                        gettext(
                            "Two-factor sign-in of %(username)s is off and their sessions have "
                            "ended; they set it up again at their next login if it is required.",
                            username=target.username,
                        )
                    )
                elif action == "token":
                    label = load(TokenLabelSchema(), {"label": request.form.get("label", "")})
                    new_token, _ = services.issue_api_token(
                        target,
                        actor=current_actor(),
                        label=label["label"],
                        expires_in=_token_days(request.form.get("expires_in_days")),
                    )
                elif action == "revoke_token":
                    row = _token_of(target, request.form.get("token_id", ""))
                    services.revoke_api_token(row, actor=current_actor())
                    flash(gettext("The token %(prefix)s… no longer works.", prefix=row.prefix))
                else:
                    raise NotFound("Unknown action.")
        except DomainError as exc:
            flash(translated_error(exc), "error")
        if new_token is None:
            return redirect(back or url_for("admin.user", user_id=target.id))
    return render_template(
        "admin/user.html",
        target=target,
        regions=services.list_regions(),
        roles=[Role(r) for r in ROLE_VALUES],
        new_token=new_token,
        tokens=services.list_api_tokens(current_actor(), owner=target),
        sessions=sessions.live_sessions(target, policy=session_policy()),
        syncs=devices.password_syncs(target),
        two_factor=twofactor.enabled(target),
        now=utcnow(),
    )


@admin_bp.route("/security", methods=["GET", "POST"])
@require(Role.ADMIN)
def security() -> Any:
    """Site-wide sign-in rules: two-factor required for administrators and coordinators."""
    if request.method == "POST":
        with unit_of_work():
            twofactor.set_required(
                request.form.get("two_factor_required") == "on", actor=current_actor()
            )
        flash(gettext("Saved."))
        return redirect(url_for("admin.security"))
    people = [u for u in services.list_users() if u.has_role(*twofactor.REQUIRED_ROLES)]
    return render_template(
        "admin/security.html",
        required=twofactor.required_setting(),
        people=people,
        enabled={u.id for u in people if twofactor.enabled(u)},
    )


def _token_days(raw: str | None) -> timedelta | None:
    """The lifetime typed into a token form (empty: the configured default)."""
    if raw is None or not raw.strip():
        return timedelta(days=int(current_app.config["API_TOKEN_DAYS"]))
    if not raw.strip().isdigit() or len(raw.strip()) > 4:
        raise Invalid(
            "A token works for 1 to 366 days; give a whole number.",
            code="token.lifetime_invalid",
        )
    return timedelta(days=int(raw.strip()))


def _token_of(owner: User, raw_id: str) -> ApiToken:
    row = db.session.get(ApiToken, int(raw_id)) if raw_id.isdigit() and len(raw_id) < 12 else None
    if row is None or row.user_id != owner.id:
        raise NotFound("No such token.", code="token.not_found")
    return row


@admin_bp.route("/regions", methods=["GET", "POST"])
@require(Role.ADMIN)
def regions() -> Any:
    """Regions, with a form to add one or rename one."""
    if request.method == "POST":
        try:
            with unit_of_work():
                if request.form.get("action") == "rename":
                    data = load(
                        RegionRenameSchema(),
                        {
                            "code": request.form.get("code", ""),
                            "name": request.form.get("name", ""),
                        },
                    )
                    region = services.get_region(data["code"])
                    if region is None:
                        raise NotFound("No such region.")
                    services.rename_region(region, data["name"], actor=current_actor())
                else:
                    data = load(
                        RegionSchema(),
                        {
                            "code": request.form.get("code", ""),
                            "name": request.form.get("name", ""),
                        },
                    )
                    services.create_region(data["code"], data["name"], actor=current_actor())
            flash(gettext("Saved."))
        except DomainError as exc:
            flash(translated_error(exc), "error")
        return redirect(url_for("admin.regions"))
    return render_template(
        "admin/regions.html", regions=services.list_regions(), counts=services.region_user_counts()
    )


# -- JSON API --------------------------------------------------------------------------------

_user_out = UserOutSchema()


@api.get("/users")
@require(Role.ADMIN)
def api_users() -> Any:
    """Every user."""
    return {"items": _user_out.dump(services.list_users(), many=True)}


@api.post("/users")
@require(Role.ADMIN)
def api_create_user() -> Any:
    """Create a user: ``{"username", "role", "password", "regions": [...], "display_name"}``."""
    data = load_json(UserCreateSchema())
    with unit_of_work():
        created = services.create_user(
            data["username"],
            role=data["role"],
            password=data["password"],
            display_name=data["display_name"],
            actor=current_actor(),
            regions=services.regions_by_codes(data["regions"]),
        )
    return _user_out.dump(created), 201


@api.patch("/users/<username>")
@require(Role.ADMIN)
def api_update_user(username: str) -> Any:
    """Change a user's role, regions, display name or active flag."""
    target: User | None = services.get_user_by_username(username)
    if target is None:
        raise NotFound("No such user.", code="user.not_found")
    data = load_json(UserUpdateSchema())
    with unit_of_work():
        services.update_user(
            target,
            actor=current_actor(),
            role=data.get("role"),
            regions=services.regions_by_codes(data["regions"]) if "regions" in data else None,
            display_name=data.get("display_name"),
            active=data.get("active"),
        )
    return _user_out.dump(target)


@api.get("/regions")
@require(Role.ADMIN, Role.COORDINATOR, Role.DESIGNER)
def api_regions() -> Any:
    """Regions the caller may see: all for administrators and designers, their own otherwise."""
    actor = current_actor()
    visible = [
        r
        for r in services.list_regions()
        if actor.role != Role.COORDINATOR or r.id in actor.region_ids
    ]
    return {"items": [{"code": r.code, "name": r.name} for r in visible]}


@api.post("/regions")
@require(Role.ADMIN)
def api_create_region() -> Any:
    """Create a region: ``{"code", "name"}``."""
    data = load_json(RegionSchema())
    with unit_of_work():
        region = services.create_region(data["code"], data["name"], actor=current_actor())
    return {"code": region.code, "name": region.name}, 201


def _token_json(row: ApiToken) -> dict[str, Any]:
    now = utcnow()
    state = (
        "revoked"
        if row.revoked_at is not None
        else "expired"
        if row.expires_at <= now
        else "active"
    )
    return {
        "id": row.id,
        "user": row.user.username,
        "prefix": row.prefix,
        "label": row.label,
        "created_at": row.created_at.isoformat(),
        "expires_at": row.expires_at.isoformat(),
        "last_used_at": row.last_used_at.isoformat() if row.last_used_at else None,
        "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None,
        "state": state,
    }


@api.get("/tokens")
@require()
def api_tokens() -> Any:
    """The caller's API tokens; administrators see everyone's (``?user=`` for one person's)."""
    actor = current_actor()
    owner = None
    if request.args.get("user") and actor.has_role(Role.ADMIN):
        owner = services.get_user_by_username(request.args["user"][:64])
        if owner is None:
            raise NotFound("No such user.", code="user.not_found")
    return {"items": [_token_json(t) for t in services.list_api_tokens(actor, owner=owner)]}


@api.delete("/tokens/<int:token_id>")
@require()
def api_revoke_token(token_id: int) -> Any:
    """Revoke a token: its owner or an administrator (others get 404)."""
    with unit_of_work():
        services.revoke_api_token(
            services.get_api_token(token_id, actor=current_actor()), actor=current_actor()
        )
    return "", 204


# -- devices (phones) ------------------------------------------------------------------------


def site_url() -> str:
    """The public address of this server (``FIELDAPP_SITE_URL``, else the request's host)."""
    configured = current_app.config.get("SITE_URL")
    return str(configured).rstrip("/") if configured else request.host_url.rstrip("/")


def loopback_site(url: str) -> bool:
    """Whether ``url`` names this computer's loopback address, which no phone can reach."""
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _device_setup(worker: User, token: str) -> dict[str, Any]:
    region = ", ".join(r.name for r in worker.regions) or "fieldapp"
    settings = devices.collect_settings(site_url(), token, project_name=f"fieldapp · {region}")
    return {
        "token": token,
        "collect_url": devices.collect_url(site_url(), token),
        "qr_url": devices.qr_svg_data_url(devices.settings_qr_text(settings)),
    }


def _device_json(device: Device) -> dict[str, Any]:
    return {
        "id": device.id,
        "user": device.user.username,
        "label": device.label,
        "created_at": device.created_at.isoformat(),
        "last_seen_at": device.last_seen_at.isoformat() if device.last_seen_at else None,
        "revoked": device.revoked_at is not None,
    }


def _manageable_workers(actor: User) -> list[User]:
    return [
        u
        for u in services.list_users()
        if u.active
        and u.has_role(Role.FIELD_WORKER, Role.COORDINATOR)
        and devices.may_manage(actor, u)
    ]


@admin_bp.route("/devices", methods=["GET", "POST"])
@require(Role.ADMIN, Role.COORDINATOR)
def devices_page() -> Any:
    """Phones of the actor's workers; set up a new one (QR code shown once); revoke."""
    actor = current_actor()
    setup = None
    if request.method == "POST":
        try:
            data = load(
                DeviceCreateSchema(),
                {"user": request.form.get("user", ""), "label": request.form.get("label", "")},
            )
            worker = services.get_user_by_username(data["user"])
            if worker is None:
                raise NotFound("Choose a worker.", code="user.not_found")
            with unit_of_work():
                token, device = devices.create_device(worker, actor=actor, label=data["label"])
            setup = _device_setup(worker, token) | {"worker": worker, "device": device}
        except DomainError as exc:
            flash(translated_error(exc), "error")
            return redirect(url_for("admin.devices_page"))
    return render_template(
        "admin/devices.html",
        devices=devices.list_devices(actor),
        workers=_manageable_workers(actor),
        setup=setup,
        site=site_url(),
        site_unreachable=loopback_site(site_url()),
    )


@admin_bp.post("/devices/<int:device_id>/revoke")
@require(Role.ADMIN, Role.COORDINATOR)
def revoke_device(device_id: int) -> Any:
    """Stop a phone's token."""
    with unit_of_work():
        devices.revoke_device(
            devices.get_device(device_id, actor=current_actor()), actor=current_actor()
        )
    flash(gettext("The device can no longer send or download forms."))
    return redirect(url_for("admin.devices_page"))


@api.get("/devices")
@require(Role.ADMIN, Role.COORDINATOR)
def api_devices() -> Any:
    """Devices the caller manages."""
    return {"items": [_device_json(d) for d in devices.list_devices(current_actor())]}


@api.post("/devices")
@require(Role.ADMIN, Role.COORDINATOR)
def api_create_device() -> Any:
    """``{"user": "worker1", "label": "..."}`` → ``201 {"token", "collect_url", "qr_url"}``."""
    body = load_json(DeviceCreateSchema())
    worker = services.get_user_by_username(body["user"])
    if worker is None or not devices.may_manage(current_actor(), worker):
        raise NotFound("No such user.", code="user.not_found")
    with unit_of_work():
        token, device = devices.create_device(worker, actor=current_actor(), label=body["label"])
    return _device_setup(worker, token) | {"id": device.id, "user": worker.username}, 201


@api.delete("/devices/<int:device_id>")
@require(Role.ADMIN, Role.COORDINATOR)
def api_revoke_device(device_id: int) -> Any:
    """Revoke a device."""
    with unit_of_work():
        devices.revoke_device(
            devices.get_device(device_id, actor=current_actor()), actor=current_actor()
        )
    return "", 204


# -- audit log -------------------------------------------------------------------------------

AUDIT_PAGE = 100


@admin_bp.get("/audit")
@require(Role.ADMIN)
def audit() -> Any:
    """The audit log, newest first: filter by action, person, record, region and dates."""
    from datetime import date  # noqa: PLC0415

    from sqlalchemy import select  # noqa: PLC0415

    from fieldapp.audit.models import AuditEvent  # noqa: PLC0415
    from fieldapp.auth.models import Region  # noqa: PLC0415

    args = request.args
    query = select(AuditEvent)
    problems = []
    if args.get("action"):
        query = query.where(AuditEvent.action.startswith(args["action"].strip()))
    if args.get("user"):
        person = services.get_user_by_username(args["user"])
        query = query.where(AuditEvent.actor_id == (person.id if person else -1))
    if args.get("subject"):
        query = query.where(AuditEvent.subject_id.in_(_subject_ids(args["subject"].strip())))
    if args.get("region"):
        region = services.get_region(args["region"])
        query = query.where(AuditEvent.region_id == (region.id if region else -1))
    for key, op in (("from", "ge"), ("to", "le")):
        if args.get(key):
            try:
                day = date.fromisoformat(args[key])
            except ValueError:
                problems.append(f"'{args[key]}' is not a date (YYYY-MM-DD).")
                continue
            from datetime import UTC, datetime, time, timedelta  # noqa: PLC0415

            start = datetime.combine(day, time.min, tzinfo=UTC)
            query = query.where(
                AuditEvent.at >= start if op == "ge" else AuditEvent.at < start + timedelta(days=1)
            )
    before = load_args(AuditArgs())["before"]
    if before is not None:
        query = query.where(AuditEvent.id < before)
    rows = db.session.scalars(query.order_by(AuditEvent.id.desc()).limit(AUDIT_PAGE + 1)).all()
    page = list(rows[:AUDIT_PAGE])
    actors, records = audit_names.resolve(page)
    regions = {r.id: r for r in db.session.scalars(select(Region))}
    next_before = page[-1].id if len(rows) > AUDIT_PAGE else None
    active = [k for k in ("action", "user", "subject", "region", "from", "to") if args.get(k)]
    return render_template(
        "admin/audit.html",
        events=page,
        actors=actors,
        records=records,
        fallback=audit_names.fallback,
        regions=regions,
        args=args,
        active_filters=active,
        problems=problems,
        next_before=next_before,
    )


def _subject_ids(entered: str) -> list[str]:
    """The audit subject ids ``entered`` may mean: itself, and a case's UUID for its code."""
    from sqlalchemy import select  # noqa: PLC0415

    from fieldapp.cases.models import Case  # noqa: PLC0415

    ids = [entered]
    uuid = db.session.scalar(select(Case.uuid).where(Case.code == entered.upper()[:16]))
    if uuid is not None:
        ids.append(uuid)
    return ids
