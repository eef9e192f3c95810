"""Sessions live on the server: a captured cookie dies with logout, password changes,
deactivation and "log out everywhere"; GET /logout does not log out (issue 10, item 8)."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from sqlalchemy import select, update

from fieldapp.auth.models import User, WebSession
from fieldapp.db import db, utcnow
from tests.conftest import TEST_PASSWORD, Browser


def _cookie(browser: Browser, app: Flask) -> str:
    cookie = browser.client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert cookie is not None
    return cookie.value


def _replay(app: Flask, cookie: str, url: str, **kwargs):
    """A request from another client that carries a copied session cookie."""
    thief = app.test_client()
    thief.set_cookie(app.config["SESSION_COOKIE_NAME"], cookie)
    return thief.get(url, **kwargs)


def _logged_in(app: Flask, username: str) -> Browser:
    browser = Browser(app.test_client())
    assert browser.login(username).status_code == 302
    return browser


def test_a_cookie_captured_before_logout_no_longer_works(app, make_user):
    user = make_user("admin")
    browser = _logged_in(app, user.username)
    captured = _cookie(browser, app)
    assert _replay(app, captured, "/admin/users").status_code == 200
    assert browser.post("/logout").status_code == 302
    page = _replay(app, captured, "/admin/users")
    assert page.status_code == 302
    assert "/login" in page.headers["Location"]
    api = _replay(app, captured, "/api/v1/users")
    assert api.status_code == 401
    assert api.json["error"]["code"] == "auth.required"
    row = db.session.scalars(select(WebSession).where(WebSession.user_id == user.id)).one()
    assert row.end_reason == "logout"


def test_the_cookie_holds_no_user_id_and_the_server_only_a_hash(app, make_user):
    user = make_user("designer")
    browser = _logged_in(app, user.username)
    with browser.client.session_transaction() as session:
        raw = session["_sid"]
        assert "_user_id" not in session
    rows = db.session.scalars(select(WebSession).where(WebSession.user_id == user.id)).all()
    assert len(rows) == 1
    assert raw not in rows[0].token_hash


def test_get_logout_shows_a_button_and_does_not_log_out(app, make_user):
    user = make_user("designer")
    browser = _logged_in(app, user.username)
    page = browser.get("/logout")
    assert page.status_code == 200
    assert b'method="post"' in page.data
    assert b"Log out" in page.data
    assert browser.get("/forms").status_code == 200  # still logged in
    # a cross-site image or link to /logout does nothing either
    assert browser.get("/logout", headers={"Referer": "https://evil.example/"}).status_code == 200
    assert browser.get("/forms").status_code == 200


def test_post_logout_needs_the_csrf_token(app, make_user):
    user = make_user("designer")
    browser = _logged_in(app, user.username)
    assert browser.client.post("/logout").status_code == 400
    assert browser.get("/forms").status_code == 200


def test_a_password_change_ends_the_other_sessions_but_not_this_one(app, make_user):
    user = make_user("designer")
    laptop = _logged_in(app, user.username)
    phone = _logged_in(app, user.username)
    response = laptop.post(
        "/account/password", {"current": TEST_PASSWORD, "password": "a brand new passphrase"}
    )
    assert response.status_code == 302
    assert laptop.get("/forms").status_code == 200
    assert phone.get("/forms").status_code == 302
    assert (
        Browser(app.test_client()).login(user.username, "a brand new passphrase").status_code == 302
    )


def test_a_wrong_current_password_changes_nothing(app, make_user):
    user = make_user("designer")
    laptop = _logged_in(app, user.username)
    phone = _logged_in(app, user.username)
    page = laptop.post(
        "/account/password",
        {"current": "not it at all", "password": "a brand new passphrase"},
        follow_redirects=True,
    )
    assert b"current password is not right" in page.data
    assert phone.get("/forms").status_code == 200
    assert Browser(app.test_client()).login(user.username).status_code == 302


def test_an_admin_setting_a_password_ends_every_session(app, login_as, make_user):
    admin = login_as("admin")
    user = make_user("designer")
    victim = _logged_in(app, user.username)
    admin.post(f"/admin/users/{user.id}", {"action": "password", "password": "set by the admin"})
    assert victim.get("/forms").status_code == 302


def test_log_out_everywhere_from_ones_own_page(app, make_user):
    user = make_user("designer")
    laptop = _logged_in(app, user.username)
    phone = _logged_in(app, user.username)
    captured = _cookie(phone, app)
    page = laptop.get("/account")
    assert page.status_code == 200
    assert b"Log out everywhere" in page.data
    assert page.data.count(b"<tr>") >= 3  # header + two sessions
    response = laptop.post("/account/sessions/end")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]
    for browser in (laptop, phone):
        assert browser.get("/forms").status_code == 302
    assert _replay(app, captured, "/forms").status_code == 302


def test_an_admin_logs_a_user_out_everywhere_from_the_users_page(app, login_as, make_user):
    admin = login_as("admin")
    user = make_user("designer")
    victim = _logged_in(app, user.username)
    listing = admin.get("/admin/users")
    assert b'value="end_sessions"' in listing.data
    response = admin.post(f"/admin/users/{user.id}", {"action": "end_sessions", "back": "users"})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/admin/users")
    assert victim.get("/forms").status_code == 302
    assert admin.get("/admin/users").status_code == 200  # the admin's own session is untouched


def test_deactivation_ends_sessions_through_the_admin_page(app, login_as, make_user):
    admin = login_as("admin")
    user = make_user("designer")
    victim = _logged_in(app, user.username)
    admin.post(f"/admin/users/{user.id}", {"action": "update", "role": "designer"})  # unticked
    assert db.session.get(User, user.id).active is False
    assert victim.get("/forms").status_code == 302
    row = db.session.scalars(select(WebSession).where(WebSession.user_id == user.id)).one()
    assert row.end_reason == "deactivated"


def test_sessions_have_an_absolute_lifetime(app, make_user):
    user = make_user("designer")
    browser = _logged_in(app, user.username)
    hours = app.config["SESSION_MAX_HOURS"]
    # busy all along (seen a moment ago), but opened longer ago than the lifetime
    db.session.execute(
        update(WebSession)
        .where(WebSession.user_id == user.id)
        .values(created_at=utcnow() - timedelta(hours=hours, minutes=1), last_seen_at=utcnow())
    )
    db.session.commit()
    response = browser.get("/forms")
    assert response.status_code == 302
    assert "expired=1" in response.headers["Location"]
    api = browser.get("/api/v1/forms")
    assert api.status_code == 401


def test_last_seen_is_written_at_most_once_a_minute(app, make_user):
    user = make_user("designer")
    browser = _logged_in(app, user.username)
    row = db.session.scalars(select(WebSession).where(WebSession.user_id == user.id)).one()
    first = row.last_seen_at
    for _ in range(3):
        assert browser.get("/forms").status_code == 200
    db.session.expire_all()
    assert db.session.get(WebSession, row.id).last_seen_at == first
    db.session.execute(
        update(WebSession)
        .where(WebSession.id == row.id)
        .values(last_seen_at=utcnow() - timedelta(minutes=2))
    )
    db.session.commit()
    assert browser.get("/forms").status_code == 200
    db.session.expire_all()
    assert utcnow() - db.session.get(WebSession, row.id).last_seen_at < timedelta(seconds=30)
