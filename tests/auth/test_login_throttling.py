"""Throttling instead of lockout as a weapon (issue 10, item 9): delays per client address and per
account at an address, for known and unknown usernames alike, on the web login, Collect's Basic
auth and API tokens; an account is locked only after failures from many addresses, and then
its owner and the administrators are told."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from flask import Flask
from sqlalchemy import select, update

from fieldapp.audit.models import AuditEvent
from fieldapp.auth import services as auth
from fieldapp.auth.models import AuthThrottle, User
from fieldapp.db import db, utcnow
from tests.conftest import TEST_PASSWORD, Browser

OPENROSA = {"X-OpenRosa-Version": "1.0"}


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Many failed logins here: cheap argon2 keeps the module fast (the logic is the same)."""
    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


def _from(app: Flask, address: str) -> Browser:
    browser = Browser(app.test_client())
    browser.client.environ_base["REMOTE_ADDR"] = address
    return browser


def _audit(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _basic(username: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return OPENROSA | {"Authorization": f"Basic {token}"}


def _unblock_all() -> None:
    """Let every delay run out (as time would), keeping the counts."""
    db.session.execute(update(AuthThrottle).values(blocked_until=utcnow() - timedelta(seconds=1)))
    db.session.commit()


@pytest.mark.parametrize("known", [True, False], ids=["known user", "unknown user"])
def test_failures_from_one_address_get_429_with_retry_after(app, make_user, known):
    name = make_user("coordinator").username if known else "nobody-by-this-name"
    attacker = _from(app, "203.0.113.7")
    for _ in range(app.config["LOGIN_FREE_FAILURES"]):
        assert attacker.login(name, "guess").status_code == 401
    refused = attacker.login(name, "guess")
    assert refused.status_code == 429
    retry = int(refused.headers["Retry-After"])
    assert 0 < retry <= 30
    assert b"Too many failed logins from this address" in refused.data
    assert b"Wait" in refused.data


def test_delays_grow_with_more_failures(app, make_user):
    name = make_user("coordinator").username
    attacker = _from(app, "203.0.113.8")
    waits = []
    for _ in range(4):
        while (response := attacker.login(name, "guess")).status_code == 401:
            pass
        assert response.status_code == 429
        waits.append(int(response.headers["Retry-After"]))
        _unblock_all()
    assert waits == sorted(waits)
    assert waits[-1] >= 4 * waits[0] - 1


def test_many_usernames_from_one_address_are_throttled_by_address(app):
    sprayer = _from(app, "203.0.113.9")
    limit = app.config["LOGIN_ADDRESS_FREE_FAILURES"]
    for n in range(limit):
        assert sprayer.login(f"someone{n}", "guess").status_code == 401
    refused = sprayer.login("yet-another", "guess")
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0


def test_an_attacker_does_not_lock_the_owner_out_from_elsewhere(app, make_user):
    owner = make_user("coordinator")
    attacker = _from(app, "198.51.100.66")
    for _ in range(30):
        attacker.login(owner.username, "guess")
        _unblock_all()  # even if the attacker waits out every delay
    office = _from(app, "192.0.2.10")
    assert office.login(owner.username).status_code == 302
    assert office.get("/").status_code == 200
    assert db.session.get(User, owner.id).locked_until is None


def test_the_owner_at_the_attackers_address_waits_only_the_delay(app, make_user):
    owner = make_user("coordinator")
    shared = _from(app, "198.51.100.70")
    for _ in range(app.config["LOGIN_FREE_FAILURES"]):
        shared.login(owner.username, "guess")
    assert shared.login(owner.username).status_code == 429
    _unblock_all()
    assert shared.login(owner.username).status_code == 302


def test_failures_from_many_addresses_lock_and_tell_owner_and_admins(
    app, make_user, login_as, monkeypatch
):
    monkeypatch.setitem(app.config, "LOGIN_LOCK_ADDRESSES", 4)
    monkeypatch.setitem(app.config, "LOGIN_LOCK_FAILURES", 12)
    owner = make_user("coordinator")
    for n in range(4):
        bot = _from(app, f"198.51.100.{n + 1}")
        for _ in range(3):
            assert bot.login(owner.username, "guess").status_code == 401
    # locked now: the right password does not help, from anywhere
    locked = _from(app, "192.0.2.20").login(owner.username)
    assert locked.status_code == 403
    assert b"locked" in locked.data
    events = _audit("auth.locked")
    assert len(events) == 1
    assert events[0].subject_id == str(owner.id)
    assert events[0].details["addresses"] == 4
    assert "guess" not in str(events[0].details)
    # the administrators see it on /admin/users, and unlock
    admin = login_as("admin")
    listing = admin.get("/admin/users").data.decode()
    assert "1 account is locked" in listing
    assert f"Unlock {owner.username}" in listing
    admin.post(f"/admin/users/{owner.id}", {"action": "unlock", "back": "users"})
    assert _audit("user.unlocked")
    assert "account is locked" not in admin.get("/admin/users").data.decode()
    # the owner is told at their next login, once
    owner_browser = _from(app, "192.0.2.20")
    assert owner_browser.login(owner.username).status_code == 302
    home = owner_browser.get("/").data.decode()
    assert "Your account was locked on" in home
    assert "Your account was locked on" not in owner_browser.get("/").data.decode()
    owner_browser.post("/logout")
    owner_browser.login(owner.username)
    assert "Your account was locked on" not in owner_browser.get("/").data.decode()


def test_unknown_names_lock_alike_so_locks_do_not_reveal_accounts(app, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_LOCK_ADDRESSES", 2)
    monkeypatch.setitem(app.config, "LOGIN_LOCK_FAILURES", 4)
    for n in range(2):
        bot = _from(app, f"198.51.100.{n + 100}")
        for _ in range(2):
            bot.login("no-such-person", "guess")
    answer = _from(app, "192.0.2.30").login("no-such-person", "guess")
    assert answer.status_code == 403
    assert b"locked" in answer.data
    events = _audit("auth.locked")
    assert [e.details["unknown_user"] for e in events] == [True]
    assert "no-such-person" not in str(events[0].details)


def test_collect_basic_auth_is_throttled(app, make_user):
    worker = make_user("field_worker")
    phone = app.test_client()
    phone.environ_base["REMOTE_ADDR"] = "203.0.113.40"
    for _ in range(app.config["LOGIN_FREE_FAILURES"]):
        wrong = phone.get("/collect/formList", headers=_basic(worker.username, "guess"))
        assert wrong.status_code == 401
    refused = phone.get("/collect/formList", headers=_basic(worker.username, TEST_PASSWORD))
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert refused.content_type.startswith("text/xml")
    assert b"Too many failed logins" in refused.data
    # the worker's phone on another network is not affected
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "192.0.2.41"
    ok = other.get("/collect/formList", headers=_basic(worker.username, TEST_PASSWORD))
    assert ok.status_code == 200


def test_wrong_api_tokens_are_throttled_per_address(app, api_token):
    good = api_token("admin")
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "203.0.113.50"
    for n in range(app.config["LOGIN_ADDRESS_FREE_FAILURES"]):
        bad = client.get("/api/v1/users", headers={"Authorization": f"Bearer fa_guess{n}"})
        assert bad.status_code == 401
        assert bad.json["error"]["code"] == "auth.token_invalid"
    refused = client.get("/api/v1/users", headers={"Authorization": f"Bearer {good}"})
    assert refused.status_code == 429
    assert refused.json["error"]["code"] == "auth.throttled"
    assert int(refused.headers["Retry-After"]) > 0
    # logins from that address are not blocked by a script's bad tokens
    assert _from(app, "203.0.113.50").login("whoever", "guess").status_code == 401
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "192.0.2.51"
    assert (
        elsewhere.get("/api/v1/users", headers={"Authorization": f"Bearer {good}"}).status_code
        == 200
    )


def test_throttle_rows_store_no_usernames_or_addresses(app):
    _from(app, "203.0.113.60").login("a-secret-looking-name", "guess")
    rows = db.session.scalars(select(AuthThrottle)).all()
    assert rows
    for row in rows:
        text = f"{row.key_hash} {row.account_hash}"
        assert "a-secret-looking-name" not in text
        assert "203.0.113.60" not in text
