"""People: login, lockout, idle timeout, CSRF, roles, API tokens, user administration."""

from __future__ import annotations

from sqlalchemy import select

from fieldapp.audit.models import AuditEvent
from fieldapp.auth import services as auth
from fieldapp.auth.models import User
from fieldapp.db import db
from tests.conftest import TEST_PASSWORD, Browser


def _audit(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


# -- passwords -------------------------------------------------------------------------------


def test_passwords_are_stored_as_argon2id_hashes(make_user):
    user = make_user("designer", password="a long passphrase")
    assert user.password_hash.startswith("$argon2id$")
    assert "a long passphrase" not in user.password_hash


def test_short_password_is_refused_with_a_clear_message(app):
    try:
        auth.create_user("shorty", role="designer", password="abc", actor=None)
    except auth.Invalid as exc:
        assert "at least 8 characters" in exc.message
    else:
        raise AssertionError("a 3-character password was accepted")


# -- login -----------------------------------------------------------------------------------


def test_login_page_has_username_and_password_fields(client):
    page = client.get("/login")
    assert page.status_code == 200
    assert b'name="username"' in page.data
    assert b'name="password"' in page.data


def test_login_with_right_password_opens_home(browser: Browser, make_user):
    user = make_user("designer")
    response = browser.login(user.username)
    assert response.status_code == 302
    home = browser.get("/")
    assert home.status_code == 200
    assert user.display_name.encode() in home.data
    assert _audit("auth.login")


def test_login_is_case_insensitive_on_username(browser: Browser, make_user):
    user = make_user("designer")
    assert browser.login(user.username.upper()).status_code == 302


def test_wrong_password_says_nothing_about_which_part_was_wrong(browser: Browser, make_user):
    user = make_user("designer")
    wrong = browser.login(user.username, "not the password")
    unknown = browser.login("nobody-here", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert b"Wrong username or password." in wrong.data
    assert b"Wrong username or password." in unknown.data


def test_pages_redirect_to_login_when_logged_out(client):
    response = client.get("/forms")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_login_does_not_follow_offsite_next(browser: Browser, make_user):
    user = make_user("designer")
    csrf = browser.csrf()
    response = browser.client.post(
        "/login",
        data={
            "username": user.username,
            "password": TEST_PASSWORD,
            "csrf_token": csrf,
            "next": "//evil.example/steal",
        },
    )
    assert response.headers["Location"] == "/"


def test_logout_ends_the_session(browser: Browser, make_user):
    user = make_user("designer")
    browser.login(user.username)
    assert browser.get("/forms").status_code == 200
    browser.post("/logout")
    assert browser.get("/forms").status_code == 302


def test_deactivated_user_cannot_log_in_and_loses_open_sessions(app, browser, make_user):
    admin = make_user("admin")
    user = make_user("designer")
    browser.login(user.username)
    assert browser.get("/forms").status_code == 200
    auth.update_user(db.session.get(User, user.id), actor=admin, active=False)
    db.session.commit()
    assert browser.get("/forms").status_code == 302
    assert Browser(app.test_client()).login(user.username).status_code == 401


def test_password_change_ends_other_sessions(app, browser, make_user):
    user = make_user("designer")
    browser.login(user.username)
    auth.set_password(db.session.get(User, user.id), "another long one", actor=None)
    db.session.commit()
    assert browser.get("/forms").status_code == 302


# -- throttling and lockout (more in tests/auth/test_throttling.py) -------------------------


def test_repeated_failures_are_throttled_and_audited(browser: Browser, make_user):
    user = make_user("designer")
    for _ in range(5):
        assert browser.login(user.username, "wrong password").status_code == 401
    throttled = browser.login(user.username)  # even the right password is not checked now
    assert throttled.status_code == 429
    assert int(throttled.headers["Retry-After"]) > 0
    assert b"Too many failed logins" in throttled.data
    events = _audit("auth.throttled")
    assert [e.details["scope"] for e in events] == ["account_address"]
    assert events[0].subject_id == str(user.id)
    assert all("wrong password" not in str(e.details) for e in _audit("auth.login_failed"))


def test_admin_unlock_lets_the_user_in_again(app, browser: Browser, make_user, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_LOCK_ADDRESSES", 1)
    monkeypatch.setitem(app.config, "LOGIN_LOCK_FAILURES", 3)
    admin = make_user("admin")
    user = make_user("designer")
    for _ in range(3):
        browser.login(user.username, "wrong password")
    assert browser.login(user.username).status_code == 403
    auth.unlock_user(db.session.get(User, user.id), actor=admin)
    db.session.commit()
    assert browser.login(user.username).status_code == 302


def test_success_resets_the_failure_count(browser: Browser, make_user):
    user = make_user("designer")
    for _ in range(4):
        browser.login(user.username, "wrong password")
    assert browser.login(user.username).status_code == 302
    browser.post("/logout")
    for _ in range(4):
        browser.login(user.username, "wrong password")
    assert browser.login(user.username).status_code == 302


# -- idle timeout ----------------------------------------------------------------------------


def _age_sessions(user_id: int, minutes: int) -> None:
    """Pretend the user's sessions were last seen ``minutes`` ago."""
    from datetime import timedelta

    from sqlalchemy import update

    from fieldapp.auth.models import WebSession
    from fieldapp.db import utcnow

    db.session.execute(
        update(WebSession)
        .where(WebSession.user_id == user_id)
        .values(last_seen_at=utcnow() - timedelta(minutes=minutes))
    )
    db.session.commit()


def test_idle_session_expires(app, browser: Browser, make_user):
    user = make_user("designer")
    browser.login(user.username)
    assert browser.get("/forms").status_code == 200
    _age_sessions(user.id, app.config["SESSION_IDLE_MINUTES"] + 1)
    response = browser.get("/forms")
    assert response.status_code == 302
    assert "expired=1" in response.headers["Location"]
    assert browser.get("/forms").status_code == 302


def test_active_session_does_not_expire(app, browser: Browser, make_user):
    user = make_user("designer")
    browser.login(user.username)
    _age_sessions(user.id, app.config["SESSION_IDLE_MINUTES"] - 2)
    assert browser.get("/forms").status_code == 200
    # that request moved the last-seen time: the session is good for another full period
    _age_sessions(user.id, 0)
    assert browser.get("/forms").status_code == 200


# -- CSRF ------------------------------------------------------------------------------------


def test_login_without_csrf_token_is_refused(client, make_user):
    user = make_user("designer")
    response = client.post("/login", data={"username": user.username, "password": TEST_PASSWORD})
    assert response.status_code == 400
    assert b"Reload the page" in response.data


def test_state_changing_form_without_csrf_is_refused(login_as):
    admin = login_as("admin")
    response = admin.client.post("/admin/regions", data={"code": "east", "name": "East"})
    assert response.status_code == 400
    assert auth.get_region("east") is None
    ok = admin.post("/admin/regions", {"code": "east", "name": "East"})
    assert ok.status_code == 302
    assert auth.get_region("east") is not None


def test_csrf_token_of_another_session_is_refused(app, login_as):
    admin = login_as("admin")
    other = login_as("admin")
    response = admin.client.post(
        "/admin/regions", data={"code": "west", "name": "West", "csrf_token": other.csrf()}
    )
    assert response.status_code == 400


def test_session_api_writes_need_the_csrf_header(login_as):
    admin = login_as("admin")
    refused = admin.client.post("/api/v1/regions", json={"code": "south", "name": "South"})
    assert refused.status_code == 400
    assert refused.json["error"]["code"] == "csrf.invalid"
    ok = admin.client.post(
        "/api/v1/regions",
        json={"code": "south", "name": "South"},
        headers={"X-CSRF-Token": admin.csrf()},
    )
    assert ok.status_code == 201


# -- roles -----------------------------------------------------------------------------------


def test_admin_pages_are_hidden_from_other_roles(login_as):
    for role in ("designer", "coordinator", "field_worker"):
        browser = login_as(role)
        assert browser.get("/admin/users").status_code == 404, role
    assert login_as("admin").get("/admin/users").status_code == 200


def test_form_catalogue_is_for_designers_and_admins(login_as):
    assert login_as("designer").get("/forms").status_code == 200
    assert login_as("admin").get("/forms").status_code == 200
    assert login_as("coordinator").get("/forms").status_code == 404
    assert login_as("field_worker").get("/forms").status_code == 404


def test_field_worker_needs_exactly_one_region(app, make_region):
    make_region("r1")
    make_region("r2")
    for regions in ([], ["r1", "r2"]):
        try:
            auth.create_user(
                "fw",
                role="field_worker",
                password=TEST_PASSWORD,
                actor=None,
                regions=auth.regions_by_codes(regions),
            )
        except auth.Invalid as exc:
            assert "exactly one region" in exc.message
        else:
            raise AssertionError(f"field worker with regions {regions} was accepted")


def test_coordinator_may_hold_several_regions(make_user):
    user = make_user("coordinator", regions=["north", "south"])
    assert [r.code for r in user.regions] == ["north", "south"]


# -- API tokens ------------------------------------------------------------------------------


def test_api_token_authenticates_and_is_stored_hashed(client, api_token):
    token = api_token("admin")
    response = client.get("/api/v1/users", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    stored = db.session.scalars(select(auth.ApiToken)).all()
    assert all(token not in row.token_hash for row in stored)


def test_api_without_credentials_is_401_json(client):
    response = client.get("/api/v1/forms")
    assert response.status_code == 401
    assert response.json["error"]["code"] == "auth.required"


def test_bad_api_token_is_401(client):
    response = client.get("/api/v1/forms", headers={"Authorization": "Bearer fa_nonsense"})
    assert response.status_code == 401
    assert response.json["error"]["code"] == "auth.token_invalid"


def test_bearer_writes_need_no_csrf(client, api_token):
    token = api_token("admin")
    response = client.post(
        "/api/v1/regions",
        json={"code": "east", "name": "East"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201


def test_token_of_deactivated_user_stops_working(client, make_user):
    admin = make_user("admin")
    user = make_user("designer")
    token, _ = auth.issue_api_token(user, actor=None)
    db.session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/forms", headers=headers).status_code == 200
    auth.update_user(db.session.get(User, user.id), actor=admin, active=False)
    db.session.commit()
    assert client.get("/api/v1/forms", headers=headers).status_code == 401


def test_api_role_check_answers_404_not_403(client, api_token):
    token = api_token("field_worker")
    response = client.get("/api/v1/users", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 404


# -- user administration ---------------------------------------------------------------------


def test_admin_creates_a_user_in_the_browser(login_as, make_region):
    make_region("north")
    admin = login_as("admin")
    response = admin.post(
        "/admin/users",
        {
            "username": "newcoord",
            "display_name": "New Coordinator",
            "role": "coordinator",
            "regions": ["north"],
            "password": "a fine password",
        },
    )
    assert response.status_code == 302
    created = auth.get_user_by_username("newcoord")
    assert created is not None
    assert created.role == "coordinator"
    assert [r.code for r in created.regions] == ["north"]
    assert _audit("user.created")


def test_admin_user_form_shows_errors_without_losing_the_page(login_as):
    admin = login_as("admin")
    response = admin.post(
        "/admin/users",
        {"username": "x y", "role": "designer", "password": "a fine password"},
        follow_redirects=True,
    )
    assert response.status_code == 200
    assert b"username has 2-64 characters" in response.data


def test_admin_cannot_deactivate_themselves(login_as):
    admin = login_as("admin")
    user_id = admin.user.id
    response = admin.post(
        f"/admin/users/{user_id}", {"action": "update", "role": "admin"}, follow_redirects=True
    )
    assert b"cannot change your own role or deactivate yourself" in response.data
    assert db.session.get(User, user_id).active


def test_admin_issues_api_token_shown_once(login_as, make_user):
    admin = login_as("admin")
    target = make_user("designer")
    response = admin.post(f"/admin/users/{target.id}", {"action": "token", "label": "script"})
    assert response.status_code == 200
    import re

    token = re.search(rb'<code class="token">(fa_[^<]+)</code>', response.data)
    assert token is not None
    again = admin.get(f"/admin/users/{target.id}")
    assert token.group(1) not in again.data
    assert token.group(1)[:8] in again.data  # listed by its prefix


def test_api_creates_and_updates_users(client, api_token, make_region):
    make_region("north")
    make_region("south")
    headers = {"Authorization": f"Bearer {api_token('admin')}"}
    created = client.post(
        "/api/v1/users",
        headers=headers,
        json={
            "username": "apiworker",
            "role": "field_worker",
            "regions": ["north"],
            "password": "a fine password",
        },
    )
    assert created.status_code == 201, created.json
    assert created.json["regions"] == ["north"]
    assert "password" not in created.json
    moved = client.patch("/api/v1/users/apiworker", headers=headers, json={"regions": ["south"]})
    assert moved.status_code == 200
    assert moved.json["regions"] == ["south"]
    bad = client.post(
        "/api/v1/users",
        headers=headers,
        json={"username": "apiworker2", "role": "pilot", "password": "a fine password"},
    )
    assert bad.status_code == 422
    assert "role" in bad.json["error"]["details"]


def test_security_headers_are_set(client):
    response = client.get("/login")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_openapi_lists_every_api_route(app, client):
    spec = client.get("/api/v1/openapi.json").json
    documented = set(spec["paths"])
    import re

    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
            path = path.replace("{case_id}", "{id}").replace("{device_id}", "{id}")
            path = path.replace("{token_id}", "{id}").replace("{endpoint_id}", "{id}")
            assert path in documented, f"{rule.rule} is not in openapi.json"


def test_anonymous_api_writes_get_401_not_a_csrf_error(client):
    response = client.post("/api/v1/regions", json={"code": "east", "name": "East"})
    assert response.status_code == 401
    assert response.json["error"]["code"] == "auth.required"


def test_admin_browses_and_filters_the_audit_log(login_as, make_user, browser):
    admin = login_as("admin")
    target_id = make_user("designer", username="auditee").id
    for _ in range(2):
        assert browser.login("auditee", "wrong").status_code == 401
    page = admin.get("/admin/audit?action=auth.login_failed").data.decode()
    assert "auth.login_failed" in page
    assert "user.created" not in page
    by_record = admin.get(f"/admin/audit?subject={target_id}").data.decode()
    assert "auth.login_failed" in by_record
    bad = admin.get("/admin/audit?from=yesterday").data.decode()
    assert "is not a date" in bad


def test_audit_log_is_for_admins_only(login_as):
    assert login_as("coordinator").get("/admin/audit").status_code == 404
