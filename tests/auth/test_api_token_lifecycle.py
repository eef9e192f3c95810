"""API tokens expire, note their last use rarely, and are listed and revoked by their owner and
the administrators, on a page and through the API (issue 10, item 9)."""

from __future__ import annotations

from datetime import timedelta

from click.testing import CliRunner
from sqlalchemy import update

from fieldapp.auth import services as auth
from fieldapp.auth.models import ApiToken
from fieldapp.db import db, utcnow


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_tokens_expire_after_90_days_by_default(client, make_user):
    user = make_user("designer")
    token, row = auth.issue_api_token(user, actor=None)
    db.session.commit()
    assert timedelta(days=89) < row.expires_at - utcnow() <= timedelta(days=90)
    assert client.get("/api/v1/forms", headers=_bearer(token)).status_code == 200
    db.session.execute(update(ApiToken).where(ApiToken.id == row.id).values(expires_at=utcnow()))
    db.session.commit()
    expired = client.get("/api/v1/forms", headers=_bearer(token))
    assert expired.status_code == 401
    assert expired.json["error"]["code"] == "auth.token_expired"
    assert "expired on" in expired.json["error"]["message"]


def test_the_lifetime_is_chosen_at_creation_and_bounded(login_as, make_user):
    admin = login_as("admin")
    target = make_user("designer")
    admin.post(
        f"/admin/users/{target.id}", {"action": "token", "label": "short", "expires_in_days": "7"}
    )
    row = db.session.query(ApiToken).filter_by(user_id=target.id).one()
    assert timedelta(days=6) < row.expires_at - row.created_at <= timedelta(days=7)
    page = admin.post(
        f"/admin/users/{target.id}",
        {"action": "token", "expires_in_days": "5000"},
        follow_redirects=True,
    )
    assert b"1 to 366 days" in page.data
    assert db.session.query(ApiToken).filter_by(user_id=target.id).count() == 1


def test_cli_token_takes_expires_in(app, make_user, monkeypatch):
    from fieldapp import cli

    user = make_user("designer")
    monkeypatch.setattr(cli, "_app_context", _reuse_app(app))
    result = CliRunner().invoke(cli.main, ["users", "token", user.username, "--expires-in", "3"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("fa_")
    row = db.session.query(ApiToken).filter_by(user_id=user.id).one()
    assert timedelta(days=2) < row.expires_at - row.created_at <= timedelta(days=3)
    refused = CliRunner().invoke(cli.main, ["users", "token", user.username, "--expires-in", "0"])
    assert refused.exit_code != 0


def _reuse_app(app):
    from contextlib import contextmanager

    @contextmanager
    def _context(**config):
        with app.app_context():
            yield app

    return _context


def test_revoked_tokens_get_their_own_code(client, make_user):
    user = make_user("designer")
    token, row = auth.issue_api_token(user, actor=None)
    auth.revoke_api_token(row, actor=user)
    db.session.commit()
    response = client.get("/api/v1/forms", headers=_bearer(token))
    assert response.status_code == 401
    assert response.json["error"]["code"] == "auth.token_revoked"


def test_last_used_is_noted_but_rarely(client, make_user):
    user = make_user("designer")
    token, row = auth.issue_api_token(user, actor=None)
    db.session.commit()
    assert row.last_used_at is None
    client.get("/api/v1/forms", headers=_bearer(token))
    db.session.expire_all()
    first = db.session.get(ApiToken, row.id).last_used_at
    assert first is not None
    client.get("/api/v1/forms", headers=_bearer(token))
    db.session.expire_all()
    assert db.session.get(ApiToken, row.id).last_used_at == first


def test_owner_lists_and_revokes_own_tokens_through_the_api(client, make_user):
    owner = make_user("designer")
    other = make_user("designer")
    token, row = auth.issue_api_token(owner, actor=None, label="laptop script")
    _, spare = auth.issue_api_token(owner, actor=None, label="spare")
    _, foreign = auth.issue_api_token(other, actor=None)
    db.session.commit()
    listing = client.get("/api/v1/tokens", headers=_bearer(token))
    assert listing.status_code == 200
    items = {item["id"]: item for item in listing.json["items"]}
    assert set(items) == {row.id, spare.id}
    assert items[row.id]["label"] == "laptop script"
    assert items[row.id]["state"] == "active"
    assert items[row.id]["last_used_at"] is not None
    assert token not in str(listing.json)
    # not someone else's
    assert client.delete(f"/api/v1/tokens/{foreign.id}", headers=_bearer(token)).status_code == 404
    assert client.delete(f"/api/v1/tokens/{spare.id}", headers=_bearer(token)).status_code == 204
    states = {
        i["id"]: i["state"]
        for i in client.get("/api/v1/tokens", headers=_bearer(token)).json["items"]
    }
    assert states[spare.id] == "revoked"


def test_admins_list_and_revoke_anyones_tokens(client, api_token, make_user):
    admin_token = api_token("admin")
    user = make_user("designer")
    token, row = auth.issue_api_token(user, actor=None)
    db.session.commit()
    listing = client.get(f"/api/v1/tokens?user={user.username}", headers=_bearer(admin_token))
    assert [i["id"] for i in listing.json["items"]] == [row.id]
    assert (
        client.delete(f"/api/v1/tokens/{row.id}", headers=_bearer(admin_token)).status_code == 204
    )
    assert client.get("/api/v1/forms", headers=_bearer(token)).json["error"]["code"] == (
        "auth.token_revoked"
    )


def test_owner_revokes_a_token_on_their_account_page(login_as):
    browser = login_as("designer")
    token, row = auth.issue_api_token(browser.user, actor=None, label="old script")
    db.session.commit()
    page = browser.get("/account")
    assert b"old script" in page.data
    assert row.prefix.encode() in page.data
    assert token.encode() not in page.data
    response = browser.post(f"/account/tokens/{row.id}/revoke")
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(ApiToken, row.id).revoked_at is not None


def test_admin_revokes_a_token_on_the_user_page(login_as, make_user, client):
    admin = login_as("admin")
    user = make_user("designer")
    token, row = auth.issue_api_token(user, actor=None, label="their script")
    db.session.commit()
    page = admin.get(f"/admin/users/{user.id}")
    assert b"their script" in page.data
    admin.post(f"/admin/users/{user.id}", {"action": "revoke_token", "token_id": str(row.id)})
    assert client.get("/api/v1/forms", headers=_bearer(token)).status_code == 401
