"""Two-factor sign-in (TOTP): setting it up needs a code from the app, no session begins
before the code, a code is good once, recovery codes work once, wrong codes are throttled like
wrong passwords, administrators can require it for administrators and coordinators and reset
a person's, and none of it is asked of devices or API tokens."""

from __future__ import annotations

import re
import time

import pyotp
from flask import Flask
from sqlalchemy import select, update

from fieldapp.audit.models import AuditEvent
from fieldapp.auth import services as auth
from fieldapp.auth.models import RecoveryCode, User, WebSession
from fieldapp.db import db
from tests.conftest import Browser


def signed_in(app: Flask, username: str) -> Browser:
    browser = Browser(app.test_client())
    assert browser.login(username).status_code == 302
    return browser


def enrol(app: Flask, username: str) -> tuple[str, list[str]]:
    """Set two-factor up through the account page, as a person with the app would."""
    browser = signed_in(app, username)
    page = browser.get("/account/two-factor").get_data(as_text=True)
    secret = re.search(r'id="totp-secret" class="token">([A-Z2-7 ]+)<', page).group(1)
    secret = secret.replace(" ", "")
    assert 'src="data:image/svg+xml;base64,' in page  # the QR code
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    done = browser.client.post(
        "/account/two-factor",
        data={"action": "enable", "code": pyotp.TOTP(secret).now(), "csrf_token": csrf},
    )
    assert done.status_code == 200, done.data[:300]
    codes = re.findall(
        r"<li><code>([a-z0-9]{5}-[a-z0-9]{5})</code></li>", done.get_data(as_text=True)
    )
    assert len(codes) == 10
    return secret, codes


def next_code(secret: str) -> str:
    """The code of the next 30-second step (accepted: clocks drift by one step)."""
    return pyotp.TOTP(secret).at(time.time() + 30)


def password_step(app: Flask, username: str) -> Browser:
    browser = Browser(app.test_client())
    response = browser.login(username)
    assert response.status_code == 302
    assert response.headers["Location"] == "/login/code"
    return browser


def audit(action: str) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        )
    )


def user_row(username: str) -> User:
    return db.session.scalars(
        select(User).where(User.username == username).execution_options(populate_existing=True)
    ).one()


def test_setting_up_needs_a_code_from_the_app_and_shows_recovery_codes_once(app, make_user):
    user = make_user("coordinator", regions=["north"])
    browser = signed_in(app, user.username)
    page = browser.get("/account/two-factor").get_data(as_text=True)
    secret = re.search(r'id="totp-secret" class="token">([A-Z2-7 ]+)<', page).group(1)
    wrong = browser.post("/account/two-factor", {"action": "enable", "code": "000000"})
    assert wrong.status_code == 302
    assert user_row(user.username).totp_enabled_at is None
    assert "does not match" in browser.get("/account/two-factor").get_data(as_text=True)
    # the same secret is offered until it is confirmed
    again = browser.get("/account/two-factor").get_data(as_text=True)
    assert secret in again
    code = pyotp.TOTP(secret.replace(" ", "")).now()
    done = browser.post("/account/two-factor", {"action": "enable", "code": code})
    shown = re.findall(r"<code>([a-z0-9]{5}-[a-z0-9]{5})</code>", done.get_data(as_text=True))
    assert len(set(shown)) == 10
    row = user_row(user.username)
    assert row.totp_enabled_at is not None and row.totp_secret == secret.replace(" ", "")
    hashes = db.session.scalars(
        select(RecoveryCode.code_hash).where(RecoveryCode.user_id == row.id)
    ).all()
    assert len(hashes) == 10 and not set(hashes) & {c.replace("-", "") for c in shown}
    assert len(audit("auth.2fa_enabled")) == 1
    assert secret.replace(" ", "") not in str(
        [e.details for e in db.session.scalars(select(AuditEvent))]
    )
    later = browser.get("/account/two-factor").get_data(as_text=True)
    assert "totp-secret" not in later
    assert not re.search(r"<code>[a-z0-9]{5}-[a-z0-9]{5}</code>", later)


def test_no_session_begins_before_the_code_and_a_code_is_good_once(app, make_user):
    user = make_user("admin")
    secret, _ = enrol(app, user.username)
    browser = password_step(app, user.username)
    assert browser.get("/admin/users").headers["Location"].startswith("/login")
    sessions_before = db.session.scalars(
        select(WebSession).where(WebSession.user_id == user.id)
    ).all()
    wrong = browser.post("/login/code", {"code": "123456"})
    assert wrong.status_code == 401 and b"not right" in wrong.data
    assert user_row(user.username).failed_logins == 1
    assert audit("auth.login_failed")[-1].details["reason"] == "bad_code"
    code = next_code(secret)
    ok = browser.post("/login/code", {"code": code})
    assert ok.status_code == 302 and ok.headers["Location"] == "/"
    assert browser.get("/admin/users").status_code == 200
    after = db.session.scalars(select(WebSession).where(WebSession.user_id == user.id)).all()
    assert len(after) == len(sessions_before) + 1
    assert audit("auth.login")[-1].details["factor"] == "app"
    # the same code, seen over a shoulder, does not let anyone else in
    thief = password_step(app, user.username)
    assert thief.post("/login/code", {"code": code}).status_code == 401


def test_a_recovery_code_works_once(app, make_user):
    user = make_user("coordinator", regions=["north"])
    _, codes = enrol(app, user.username)
    first = password_step(app, user.username)
    assert (
        first.post("/login/code", {"code": codes[0].upper().replace("-", " ")}).status_code == 302
    )
    assert audit("auth.login")[-1].details["factor"] == "recovery"
    assert audit("auth.recovery_code_used")[-1].details["left"] == 9
    second = password_step(app, user.username)
    assert second.post("/login/code", {"code": codes[0]}).status_code == 401


def test_the_code_must_follow_the_password_within_five_minutes(app, make_user):
    user = make_user("admin")
    secret, _ = enrol(app, user.username)
    browser = password_step(app, user.username)
    with browser.client.session_transaction() as session:
        pending = dict(session["_2fa_pending"])
        pending["at"] -= 301
        session["_2fa_pending"] = pending
    late = browser.post("/login/code", {"code": next_code(secret)})
    assert late.status_code == 302 and late.headers["Location"] == "/login"
    assert browser.get("/admin/users").headers["Location"].startswith("/login")
    # and nobody reaches the code page without the password
    assert Browser(app.test_client()).get("/login/code").headers["Location"] == "/login"


def test_wrong_codes_are_throttled_like_wrong_passwords(app, make_user):
    user = make_user("admin")
    secret, _ = enrol(app, user.username)
    browser = password_step(app, user.username)
    for _ in range(5):
        assert browser.post("/login/code", {"code": "000000"}).status_code == 401
    throttled = browser.post("/login/code", {"code": next_code(secret)})
    assert throttled.status_code == 429
    assert int(throttled.headers["Retry-After"]) > 0
    assert browser.get("/admin/users").headers["Location"].startswith("/login")


def test_oversized_and_empty_codes_are_refused_at_the_boundary(app, make_user):
    user = make_user("admin")
    enrol(app, user.username)
    browser = password_step(app, user.username)
    for bad in ("", "9" * 33):
        response = browser.post("/login/code", {"code": bad})
        assert response.status_code == 422, bad


def test_administrators_require_it_for_coordinators_and_reset_it(app, make_user):
    admin = make_user("admin")
    coordinator = make_user("coordinator", regions=["north"])
    worker = make_user("field_worker", regions=["north"])
    token, _ = auth.issue_api_token(coordinator, actor=None)
    db.session.commit()
    boss = signed_in(app, admin.username)
    assert boss.post("/admin/security", {"two_factor_required": "on"}).status_code == 302
    assert audit("settings.changed")[-1].details == {
        "setting": "two_factor_required",
        "value": True,
    }
    # the administrator has not set it up either: only the setup page is open to them now
    assert boss.get("/admin/users").headers["Location"] == "/account/two-factor"
    secret, _ = enrol(app, admin.username)
    boss = password_step(app, admin.username)
    assert boss.post("/login/code", {"code": next_code(secret)}).status_code == 302

    coord = signed_in(app, coordinator.username)
    assert coord.get("/review").headers["Location"] == "/account/two-factor"
    blocked = coord.client.get("/api/v1/cases")
    assert blocked.status_code == 403
    assert blocked.json["error"]["code"] == "auth.2fa_setup_required"
    assert b"required for your role" in coord.get("/account/two-factor").data
    # a bearer token is a credential of its own; a field worker is not asked
    api = app.test_client().get("/api/v1/cases", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 200
    assert signed_in(app, worker.username).get("/fill").status_code == 200

    coord_secret, _ = enrol(app, coordinator.username)
    coord = password_step(app, coordinator.username)
    assert coord.post("/login/code", {"code": next_code(coord_secret)}).status_code == 302
    assert coord.get("/review").status_code == 200
    # required: it cannot be switched off by its owner
    off = coord.post("/account/two-factor", {"action": "disable", "code": "000000"})
    assert off.status_code == 302
    assert user_row(coordinator.username).totp_enabled_at is not None

    # a lost phone: the administrator resets it; the coordinator's sessions end
    target = user_row(coordinator.username)
    assert boss.post(f"/admin/users/{target.id}", {"action": "reset_2fa"}).status_code == 302
    assert user_row(coordinator.username).totp_secret is None
    reset = audit("auth.2fa_reset")[-1]
    assert reset.subject_id == str(target.id)
    assert coord.get("/review").headers["Location"].startswith("/login")
    # at the next login, the password alone, then straight to setting it up again
    again = Browser(app.test_client())
    assert again.login(coordinator.username).headers["Location"] == "/"
    assert again.get("/review").headers["Location"] == "/account/two-factor"


def test_switching_it_off_needs_a_current_code(app, make_user):
    user = make_user("designer")
    secret, _ = enrol(app, user.username)
    browser = password_step(app, user.username)
    assert browser.post("/login/code", {"code": next_code(secret)}).status_code == 302
    db.session.execute(update(User).where(User.id == user.id).values(totp_last_step=None))
    db.session.commit()
    assert (
        browser.post("/account/two-factor", {"action": "disable", "code": "000000"}).status_code
        == 302
    )
    assert user_row(user.username).totp_enabled_at is not None
    code = pyotp.TOTP(secret).now()
    assert (
        browser.post("/account/two-factor", {"action": "disable", "code": code}).status_code == 302
    )
    assert user_row(user.username).totp_enabled_at is None
    assert (
        db.session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user.id)).all() == []
    )
    assert Browser(app.test_client()).login(user.username).headers["Location"] == "/"
