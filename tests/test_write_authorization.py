"""Every write of the app, for every role and two regions, against an explicit status table.

The read side is ``tests/test_authorization.py``; this is the write side. Write routes are read
from the URL map (every rule with a method other than GET, HEAD and OPTIONS), so a new one fails
:func:`test_every_write_route_is_in_the_table` until it gets a row in ``EXPECTED``.

The objects belong to region *north* and were sent by ``worker_n``: ``worker_n2`` is another
worker of *north*, ``coord_s`` and ``worker_s`` are of *south*. Each request carries a body that
would really change something (a review, a deletion, a transfer, an edit ...), and runs inside a
savepoint rolled back afterwards, so that every person meets the same world. A refused request
must leave every table as it was (the audit log and last-seen times aside).

OpenRosa submissions are written four ways, each through the three ways in (``/collect`` with
Basic auth, ``/collect/key/<token>`` with the person's device token, ``/fill/collect`` with the
web session): ``new`` (a submission of one's own), ``edit`` (``deprecatedID`` = the victim's
submission), ``files`` (the victim's XML byte for byte plus the file it still misses) and
``shadow`` (another form's submission under the victim's instanceID).
"""

from __future__ import annotations

import base64
import io
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Connection, select

from fieldapp.auth import devices
from fieldapp.auth import services as auth
from fieldapp.db import db
from fieldapp.models import Base
from fieldapp.review import deletion
from fieldapp.review.services import review_submission
from fieldapp.submissions.services import visible_submission
from tests.cases.conftest import _cheap_password_hashes, _helpers_app  # noqa: F401
from tests.cases.support import (
    SEED1_ADULT,
    SEED1_CHILDREN,
    SEED1_HOUSEHOLD,
    SEED1_INSTANCE,
    home_visit,
    instance_of,
    publish,
    registration,
)
from tests.conftest import TEST_PASSWORD, Browser
from tests.openrosa.helpers import PNG, Collect

PEOPLE = (
    "anonymous",
    "admin",
    "designer",
    "coord_n",
    "coord_s",
    "worker_n",
    "worker_n2",
    "worker_s",
)
#: refused by the login page: a redirect to it for pages, 401 for the API
LOGIN = "login"


@dataclass(frozen=True)
class Row:
    """Who gets which status; only ``writers`` may change anything (all others must leave
    every table as it was, whatever their status)."""

    statuses: dict[str, Any]
    writers: frozenset[str]


def row(
    allowed: dict[str, int | str],
    *,
    refused: int = 404,
    anonymous: Any = LOGIN,
    refused_as: dict[str, int] | None = None,
) -> Row:
    """``allowed`` people get their status and may write; ``refused_as`` people get theirs and
    may not; every other signed-in person gets ``refused``, the anonymous visitor
    ``anonymous``."""
    expected: dict[str, Any] = {who: refused for who in PEOPLE}
    expected["anonymous"] = anonymous
    expected.update(refused_as or {})
    expected.update(allowed)
    return Row(expected, frozenset(allowed))


ADMIN_OK = {"admin": 302}
DESIGNERS_PAGE = {"admin": 302, "designer": 302}
NORTH_COORDS_PAGE = {"admin": 302, "coord_n": 302}
NORTH_COORDS_API = {"admin": 200, "coord_n": 200}

#: (endpoint, method) -> who gets which status. Objects in URLs and bodies are north's.
EXPECTED: dict[tuple[str, str], Row] = {
    # -- administration pages
    ("admin.regions", "POST"): row(ADMIN_OK),
    ("admin.create_user", "POST"): row(ADMIN_OK),
    ("admin.user", "POST"): row(ADMIN_OK),
    # the page answers a refusal with its own page and a message, not a 404
    ("admin.devices_page", "POST"): row(
        {"admin": 200, "coord_n": 200}, refused_as={"coord_s": 302}
    ),
    ("admin.revoke_device", "POST"): row(NORTH_COORDS_PAGE),
    # -- administration API
    ("auth_api.api_create_region", "POST"): row({"admin": 201}, anonymous=401),
    ("auth_api.api_create_user", "POST"): row({"admin": 201}, anonymous=401),
    ("auth_api.api_update_user", "PATCH"): row({"admin": 200}, anonymous=401),
    ("auth_api.api_create_device", "POST"): row({"admin": 201, "coord_n": 201}, anonymous=401),
    ("auth_api.api_revoke_device", "DELETE"): row({"admin": 204, "coord_n": 204}, anonymous=401),
    # worker_n's API token: its owner and the administrators revoke it
    ("auth_api.api_revoke_token", "DELETE"): row({"admin": 204, "worker_n": 204}, anonymous=401),
    # -- webhooks: administrators only (the pages answer the created/rotated secret with a page)
    ("webhooks.endpoints_page", "POST"): row({"admin": 200}),
    ("webhooks.rotate_page", "POST"): row({"admin": 200}),
    ("webhooks.toggle_page", "POST"): row(ADMIN_OK),
    ("webhooks.delete_page", "POST"): row(ADMIN_OK),
    ("webhooks.resend_page", "POST"): row(ADMIN_OK),
    ("webhooks_api.api_create_endpoint", "POST"): row({"admin": 201}, anonymous=401),
    ("webhooks_api.api_update_endpoint", "PATCH"): row({"admin": 200}, anonymous=401),
    ("webhooks_api.api_delete_endpoint", "DELETE"): row({"admin": 204}, anonymous=401),
    ("webhooks_api.api_rotate", "POST"): row({"admin": 200}, anonymous=401),
    ("webhooks_api.api_resend", "POST"): row({"admin": 200}, anonymous=401),
    # -- exports prepared in the background: every coordinator may ask (a form belongs to no
    # region; the rows are the asker's regions'), only the asker deletes theirs
    ("exports.prepare", "POST"): row({"admin": 302, "coord_n": 302, "coord_s": 302}),
    ("exports_api.api_queue_export", "POST"): row(
        {"admin": 202, "coord_n": 202, "coord_s": 202}, anonymous=401
    ),
    ("exports.job_delete", "POST"): row({"coord_n": 302}),
    ("exports_api.api_delete_export", "DELETE"): row({"coord_n": 204}, anonymous=401),
    # -- the OData API's logout: only one's own session token (here a device token: nobody's)
    ("odata.delete_session", "DELETE"): row({}, anonymous=401),
    # -- one's own account: everyone signed in changes only their own
    ("account.change_password", "POST"): row({who: 302 for who in PEOPLE if who != "anonymous"}),
    ("account.end_my_sessions", "POST"): row({who: LOGIN for who in PEOPLE if who != "anonymous"}),
    ("account.revoke_my_token", "POST"): row({"worker_n": 302}),
    # two-factor: one's own (a wrong code changes nothing, for anyone); the code page only
    # after a password (nobody here has one pending: back to the login page)
    ("account.two_factor", "POST"): row({who: 302 for who in PEOPLE if who != "anonymous"}),
    ("auth.second_factor", "POST"): row({}, refused=LOGIN),  # type: ignore[arg-type]
    ("admin.security", "POST"): row(ADMIN_OK),
    # -- form catalogue
    ("forms.upload", "POST"): row(DESIGNERS_PAGE),
    ("forms.attach", "POST"): row(DESIGNERS_PAGE),
    ("forms.publish", "POST"): row(DESIGNERS_PAGE),
    ("forms.change_state", "POST"): row(DESIGNERS_PAGE),
    ("forms.discard", "POST"): row(DESIGNERS_PAGE),
    ("forms_api.api_upload", "POST"): row({"admin": 201, "designer": 201}, anonymous=401),
    # past the gate, refused after it: the form expects no such file
    ("forms_api.api_attach", "POST"): row({"admin": 422, "designer": 422}, anonymous=401),
    ("forms_api.api_publish", "POST"): row({"admin": 200, "designer": 200}, anonymous=401),
    ("forms_api.api_state", "POST"): row({"admin": 200, "designer": 200}, anonymous=401),
    ("forms_api.api_discard", "DELETE"): row({"admin": 204, "designer": 204}, anonymous=401),
    # -- cases
    ("cases_api.api_update_case_list", "PATCH"): row(
        {"admin": 200, "designer": 200}, anonymous=401
    ),
    ("cases_api.api_assign", "POST"): row(NORTH_COORDS_API, anonymous=401),
    # an administrator moves the case; north's coordinator would make a request into south, but
    # the household already has one waiting for west's answer (see the world)
    ("cases_api.api_transfer", "POST"): row({"admin": 200, "coord_n": 409}, anonymous=401),
    ("cases_api.api_close", "POST"): row(NORTH_COORDS_API, anonymous=401),
    ("cases_api.api_reopen", "POST"): row({"admin": 409, "coord_n": 409}, anonymous=401),
    ("cases_api.api_resolve", "POST"): row({"admin": 409, "coord_n": 409}, anonymous=401),
    ("cases_api.api_link", "POST"): row({"admin": 201, "coord_n": 201}, anonymous=401),
    ("cases_api.api_merge", "POST"): row(NORTH_COORDS_API, anonymous=401),
    ("case_pages.act", "POST"): row(NORTH_COORDS_PAGE),
    # consent and referrals through the API: the same people as on the pages
    ("cases_api.api_change_consent", "POST"): row({"admin": 201, "coord_n": 201}, anonymous=401),
    ("cases_api.api_add_referral", "POST"): row({"admin": 201, "coord_n": 201}, anonymous=401),
    ("cases_api.api_move_referral", "POST"): row(
        {"admin": 200, "coord_n": 200, "worker_n": 200}, anonymous=401
    ),
    # consent and referrals on the case page: north's coordinators (and administrators)
    ("consent_pages.change_consent", "POST"): row(NORTH_COORDS_PAGE),
    ("consent_pages.add_referral", "POST"): row(NORTH_COORDS_PAGE),
    # ... and the household's own worker moves its referrals on (worker_n2 is a stranger to it)
    ("consent_pages.move_referral", "POST"): row(NORTH_COORDS_PAGE | {"worker_n": 302}),
    # a pending request from north to west: its source region (and administrators) cancel it
    ("transfers.decide", "POST"): row(NORTH_COORDS_PAGE),
    # -- review
    ("submissions_api.api_review", "POST"): row(NORTH_COORDS_API, anonymous=401),
    ("submissions_api.api_delete", "DELETE"): row(NORTH_COORDS_API, anonymous=401),
    ("submissions_api.api_restore", "POST"): row(NORTH_COORDS_API, anonymous=401),
    ("review.decide", "POST"): row(NORTH_COORDS_PAGE),
    ("review.add_comment", "POST"): row(NORTH_COORDS_PAGE),
    # the bulk form is open to every coordinator; south's approves nothing of north's
    ("review.bulk_approve", "POST"): row(
        {"admin": 200, "coord_n": 200}, refused_as={"coord_s": 200}
    ),
    ("deletion.delete", "POST"): row(NORTH_COORDS_PAGE),
    ("deletion.restore", "POST"): row(NORTH_COORDS_PAGE),
    # -- retention: a form's by its editors; erasing a case by administrators only. The body
    # here does not confirm (a wrong code): an accepted erasure removes blob files, which a
    # rolled-back savepoint cannot bring back (tests/retention/test_erasure.py erases for real)
    ("retention.form_retention", "POST"): row(DESIGNERS_PAGE),
    ("case_lists.update", "POST"): row(DESIGNERS_PAGE),
    ("retention.erase", "POST"): row({}, refused_as={"admin": 422}),
    # -- trying drafts: family_registration has no draft (409 past the gate, nothing made);
    # there is no try 1, no test submission; the try's OpenRosa wants its header first (400)
    ("tries.start", "POST"): row({"admin": 409, "designer": 409}),
    ("tries.end", "POST"): row({}),
    ("tries.approve", "POST"): row({}),
    ("openrosa_try.submission", "POST"): row({}, refused=400, anonymous=400),
    ("openrosa_test.submission", "POST"): row({}, refused=400, anonymous=400),
}

#: public by design, tested in tests/test_auth.py: signing in and out are nobody's data
PUBLIC = {("auth.login", "POST"), ("auth.logout", "POST"), ("odata.create_session", "POST")}
#: the pages' language: one's own setting (or, before logging in, the browser session's);
#: it reaches nobody else's row (tests/i18n/test_language_choice.py)
PUBLIC |= {("auth.set_language", "POST")}

#: writes that end the session they come in (every signed-in person may make them)
SESSION_ENDING = {"account.end_my_sessions"}

SUBMISSION_ENDPOINTS = ("openrosa.submission", "openrosa_key.submission", "openrosa_web.submission")
SCENARIOS = ("new", "edit", "files", "shadow")

#: per way in: what people who may not submit at all, and the anonymous, get
_NOT_SUBMITTERS = {
    # Basic: a signed-in admin or designer may not submit (403); nobody signed in: 401
    "openrosa.submission": {"admin": 403, "designer": 403, "anonymous": 401},
    # device tokens exist only for people who collect: the others send an unknown token (403)
    "openrosa_key.submission": {"admin": 403, "designer": 403, "anonymous": 403},
    # the web session: signed in but not collecting (403); no session: 401, no challenge
    "openrosa_web.submission": {"admin": 403, "designer": 403, "anonymous": 401},
}
_COLLECTORS = ("coord_n", "coord_s", "worker_n", "worker_n2", "worker_s")
#: scenario -> what each person who collects gets (the same by every way in)
_BY_SCENARIO: dict[str, dict[str, int]] = {
    # anyone who collects may send their own
    "new": {who: 201 for who in _COLLECTORS},
    # item 1: only the submitter or a coordinator of its region; for anyone else the
    # deprecatedID is not on this server
    "edit": {
        "worker_n": 201,
        "coord_n": 201,
        "coord_s": 404,
        "worker_n2": 404,
        "worker_s": 404,
    },
    # item 2: the same rule for files brought by an identical resubmission; others get 409
    "files": {
        "worker_n": 201,
        "coord_n": 201,
        "coord_s": 409,
        "worker_n2": 409,
        "worker_s": 409,
    },
    # item 3: another form under the victim's instanceID, from anyone (the owner too)
    "shadow": {who: 409 for who in _COLLECTORS},
}
SUBMISSIONS: dict[tuple[str, str], Row] = {
    (endpoint, scenario): Row(
        _BY_SCENARIO[scenario] | _NOT_SUBMITTERS[endpoint],
        frozenset(who for who, status in _BY_SCENARIO[scenario].items() if status == 201),
    )
    for endpoint in SUBMISSION_ENDPOINTS
    for scenario in SCENARIOS
}

#: volatile bookkeeping that reading or signing in moves; everything else must stay
#: (collect_syncs: the apps a person signs in from with a password, noted on authentication)
IGNORED_TABLES = {"audit_events", "collect_syncs"}
IGNORED_COLUMNS = {
    "users": {"last_login_at"},
    "web_sessions": {"last_seen_at"},
    "api_tokens": {"last_used_at"},
    "devices": {"last_seen_at"},
}

SIMPLE_MD = textwrap.dedent(
    """
    | survey   |         |      |       |
    |          | type    | name | label |
    |          | text    | name | Name  |
    | settings |         |      |       |
    |          | form_id | version | form_title |
    |          | scratch | 1       | Scratch    |
    """
).encode()


def _write_methods(rule: Any) -> list[str]:
    return sorted(m for m in rule.methods if m not in ("GET", "HEAD", "OPTIONS"))


def _write_routes(app: Flask) -> set[tuple[str, str]]:
    return {(r.endpoint, m) for r in app.url_map.iter_rules() for m in _write_methods(r)}


# -- the world ---------------------------------------------------------------------------------


@pytest.fixture
def world(app: Flask, make_user) -> dict[str, Any]:
    publish("family_registration", "home_visit")
    users = {
        "admin": make_user("admin", username="admin_x"),
        "designer": make_user("designer", username="designer_x"),
        "coord_n": make_user("coordinator", username="coord_n", regions=["north"]),
        "coord_s": make_user("coordinator", username="coord_s", regions=["south"]),
        "worker_n": make_user("field_worker", username="worker_n", regions=["north"]),
        "worker_n2": make_user("field_worker", username="worker_n2", regions=["north"]),
        "worker_s": make_user("field_worker", username="worker_s", regions=["south"]),
    }
    device_tokens = {who: devices.create_device(users[who], actor=None)[0] for who in _COLLECTORS}
    _, spare_device = devices.create_device(users["worker_n"], actor=None)
    issued = {who: auth.issue_api_token(user, actor=None) for who, user in users.items()}
    api_tokens = {who: token for who, (token, _) in issued.items()}
    db.session.commit()
    phone = Collect(app, f"/collect/key/{device_tokens['worker_n']}")

    # the household case (approved), the victim (received, one file missing), a deleted one
    xml, files = registration("seed1")
    assert phone.submit(xml, files).status_code == 201
    admin = users["admin"]
    review_submission(
        visible_submission(SEED1_INSTANCE, actor=admin), state="approved", actor=admin
    )
    db.session.commit()
    victim_xml, victim_files = registration("children3", fresh=True)
    assert victim_files, "the victim needs a file to miss"
    assert phone.submit(victim_xml).status_code == 201
    deleted_xml, _ = registration("children3", fresh=True)
    assert phone.submit(deleted_xml).status_code == 201
    deletion.delete_submission(
        visible_submission(instance_of(deleted_xml), actor=admin), actor=admin, reason="a test"
    )
    # a draft to publish or discard
    from fieldapp.forms import services as forms
    from tests.openrosa.helpers import _store

    forms.upload_draft(SIMPLE_MD, filename="scratch.md", actor=None, store=_store())
    # a webhook with one delivered message (to send again)
    from fieldapp.webhooks import services as webhooks
    from fieldapp.webhooks.models import WebhookDelivery

    hook, _ = webhooks.create_endpoint(
        url="http://127.0.0.1:7699/hook", events=["case.closed"], actor=admin, allow_private=True
    )
    sent = WebhookDelivery(
        endpoint_id=hook.id,
        msg_id="msg_world",
        event="case.closed",
        subject=f"case:{SEED1_HOUSEHOLD}",
        payload={"type": "case.closed", "data": {}},
        state="delivered",
    )
    db.session.add(sent)
    # an export north's coordinator asked to be prepared (only they may delete it)
    from fieldapp.exports.models import ExportJob

    job = ExportJob(
        token="north-coordinators-job", user_id=users["coord_n"].id, form_id="family_registration",
        format="csv.zip", params={},
    )  # fmt: skip
    db.session.add(job)
    # a transfer request waiting for west's answer (north's to cancel)
    from fieldapp.cases import services as case_services
    from fieldapp.cases import transfers

    west = auth.create_region("west", "West", actor=None)
    transfer = transfers.request_transfer(
        case_services.visible_case(SEED1_HOUSEHOLD, actor=admin), west, actor=users["coord_n"]
    )
    # a referral of the household (north's to move on)
    from fieldapp.cases import referrals

    referral = referrals.add(
        case_services.visible_case(SEED1_HOUSEHOLD, actor=admin),
        service="doctor",
        urgency="week",
        note=None,
        actor=admin,
    )
    db.session.commit()

    browsers = {}
    for who, user in users.items():
        browser = Browser(app.test_client())
        assert browser.login(user.username).status_code == 302
        browsers[who] = browser
    browsers["anonymous"] = Browser(app.test_client())
    victim = instance_of(victim_xml)
    return {
        "users": {who: user.username for who, user in users.items()},
        "browsers": browsers,
        "api_tokens": api_tokens,
        "device_tokens": device_tokens,
        "victim": victim,
        "victim_xml": victim_xml,
        "victim_files": victim_files,
        "deleted": instance_of(deleted_xml),
        "new_xml": registration("children3", fresh=True)[0],
        "spare_device": spare_device.id,
        "worker_id": users["worker_n"].id,
        "worker_token_id": issued["worker_n"][1].id,
        "endpoint_id": hook.id,
        "delivery_id": sent.id,
        "job": job.token,
        "request_id": transfer.id,
        "referral_id": referral.id,
    }


# -- requests ----------------------------------------------------------------------------------


def _values(world: dict[str, Any], endpoint: str) -> dict[str, Any]:
    restoring = endpoint in ("submissions_api.api_restore", "deletion.restore")
    return {
        "instance_id": world["deleted"] if restoring else world["victim"],
        "case_id": SEED1_CHILDREN[0] if endpoint == "cases_api.api_merge" else SEED1_HOUSEHOLD,
        "device_id": world["spare_device"],
        "user_id": world["worker_id"],
        "token_id": world["worker_token_id"],
        "username": "worker_n",
        "form_id": "scratch"
        if endpoint.endswith(("discard", "publish"))
        else "family_registration",
        "name": "households",
        "try_id": 1,
        "endpoint_id": world["endpoint_id"],
        "delivery_id": world["delivery_id"],
        "job": world["job"],
        "request_id": world["request_id"],
        "referral_id": world["referral_id"],
    }


def _form_body(world: dict[str, Any], endpoint: str) -> dict[str, Any]:
    """Bodies of the HTML forms: each would change something if allowed."""
    bodies: dict[str, dict[str, Any]] = {
        "admin.regions": {"code": "east", "name": "East"},
        "admin.create_user": {
            "username": "newbie",
            "role": "field_worker",
            "regions": "north",
            "password": "a long enough password",
        },
        "admin.user": {"action": "deactivate"},
        "admin.devices_page": {"user": "worker_n"},
        "forms.upload": {"file": (io.BytesIO(SIMPLE_MD), "other.md")},
        "forms.attach": {"file": (io.BytesIO(PNG), "logo.png")},
        "forms.change_state": {"state": "closing"},
        "case_pages.act": {"action": "close", "reason": "moved away", "confirm": "1"},
        "transfers.decide": {"action": "cancel"},
        "consent_pages.change_consent": {
            "kind": "consent",
            "state": "withdrawn",
            "reason": "the family asked",
            "confirm": "1",
        },
        "consent_pages.add_referral": {"service": "doctor", "urgency": "today"},
        "consent_pages.move_referral": {"to": "accepted"},
        "forms.publish": {"confirm": "1"},
        "review.decide": {"state": "approved"},
        "review.add_comment": {"note": "please check the date"},
        "review.bulk_approve": {"instance_id": world["victim"]},
        "deletion.delete": {"reason": "sent twice", "confirm": "1"},
        "retention.form_retention": {"deleted_days": "45"},
        "case_lists.update": {"cadence_days": "30", "approval_required": "on"},
        "retention.erase": {"reason": "the person asked", "confirm": "NOT-THE-CODE"},
        "account.two_factor": {"action": "enable", "code": "000000"},
        "auth.second_factor": {"code": "000000"},
        "admin.security": {"two_factor_required": "on"},
        "webhooks.endpoints_page": {
            "url": "http://127.0.0.1:7699/new",
            "events": ["case.created"],
        },
        "account.change_password": {
            "current": TEST_PASSWORD,
            "password": "another long enough password",
            "confirm": "another long enough password",
        },
    }
    return bodies.get(endpoint, {})


def _json_body(world: dict[str, Any], endpoint: str) -> dict[str, Any]:
    """Bodies of the API writes: each would change something if allowed."""
    bodies: dict[str, dict[str, Any]] = {
        "auth_api.api_create_region": {"code": "east", "name": "East"},
        "auth_api.api_create_user": {
            "username": "newbie",
            "role": "field_worker",
            "regions": ["north"],
            "password": "a long enough password",
        },
        "auth_api.api_update_user": {"active": False},
        "auth_api.api_create_device": {"user": "worker_n"},
        "forms_api.api_state": {"state": "closing"},
        "cases_api.api_update_case_list": {"cadence_days": 30},
        "cases_api.api_assign": {"user": "worker_n2"},
        "cases_api.api_transfer": {"region": "south"},
        "cases_api.api_close": {"reason": "moved away"},
        "cases_api.api_link": {"to": SEED1_ADULT, "relation": "mother"},
        "cases_api.api_merge": {"other": SEED1_CHILDREN[1]},
        "cases_api.api_resolve": {"properties": {}},
        "cases_api.api_change_consent": {
            "kind": "consent",
            "state": "withdrawn",
            "reason": "the family asked",
        },
        "cases_api.api_add_referral": {"service": "doctor", "urgency": "today"},
        "cases_api.api_move_referral": {"to": "accepted"},
        "submissions_api.api_review": {"state": "approved"},
        "submissions_api.api_delete": {"reason": "sent twice"},
        "webhooks_api.api_create_endpoint": {
            "url": "http://127.0.0.1:7699/new",
            "events": ["case.created"],
        },
        "webhooks_api.api_update_endpoint": {"active": False},
    }
    return bodies.get(endpoint, {})


def _url(app: Flask, endpoint: str, world: dict[str, Any], who: str = "anonymous") -> str:
    from flask import url_for

    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
    values = _values(world, endpoint)
    args = {arg: values[arg] for arg in rule.arguments if arg != "token"}
    if "token" in rule.arguments:
        args["token"] = world["device_tokens"].get(who, "A" * 64)
    with app.test_request_context():
        return url_for(endpoint, **args)


def _status(response: Any) -> int | str:
    if response.status_code == 302 and "/login" in response.headers.get("Location", ""):
        return LOGIN
    if response.status_code == 401 and not response.headers.get("Location"):
        return 401
    return int(response.status_code)


def _send(app: Flask, world: dict[str, Any], who: str, endpoint: str, method: str) -> Any:
    url = _url(app, endpoint, world, who)
    if url.startswith(("/api/", "/v1/")):
        headers = {}
        if who != "anonymous":
            headers["Authorization"] = f"Bearer {world['api_tokens'][who]}"
        client = app.test_client()
        if endpoint in ("forms_api.api_upload", "forms_api.api_attach"):
            name, data = (
                ("other.md", SIMPLE_MD) if endpoint.endswith("upload") else ("logo.png", PNG)
            )
            return client.open(
                url, method=method, headers=headers, data={"file": (io.BytesIO(data), name)}
            )
        return client.open(url, method=method, headers=headers, json=_json_body(world, endpoint))
    browser = world["browsers"][who]
    if endpoint in SESSION_ENDING and who != "anonymous":
        # ends the browser's session: sign in afresh inside the savepoint, so the shared
        # browser stays signed in for the rows after this one
        browser = Browser(app.test_client())
        assert browser.login(world["users"][who]).status_code == 302
    data = _form_body(world, endpoint)
    data.setdefault("csrf_token", browser.csrf())
    return browser.client.open(url, method=method, data=data)


def _submission_xml(world: dict[str, Any], scenario: str) -> tuple[bytes, list[tuple[str, bytes]]]:
    victim, xml = world["victim"], world["victim_xml"]
    if scenario == "new":
        return world["new_xml"], []
    if scenario == "files":
        return xml, world["victim_files"]
    if scenario == "edit":
        edited = xml.replace(
            f"<instanceID>{victim}</instanceID>".encode(),
            f"<instanceID>uuid:edit-of-victim</instanceID><deprecatedID>{victim}</deprecatedID>".encode(),
        )
        assert edited != xml
        return edited.replace(b"<worker_notes>", b"<worker_notes>taken over "), []
    visit = home_visit(SEED1_HOUSEHOLD, 1)
    return visit.replace(instance_of(visit).encode(), victim.encode()), []


def _submit(app: Flask, world: dict[str, Any], who: str, endpoint: str, scenario: str) -> Any:
    xml, files = _submission_xml(world, scenario)
    data: dict[str, Any] = {"xml_submission_file": (io.BytesIO(xml), "submission.xml", "text/xml")}
    for name, content in files:
        data[name] = (io.BytesIO(content), name, "application/octet-stream")
    headers = {"X-OpenRosa-Version": "1.0"}
    url = _url(app, endpoint, world, who)
    if endpoint == "openrosa_web.submission":
        browser = world["browsers"][who]
        if who != "anonymous":
            headers["X-CSRF-Token"] = browser.csrf()
        client = browser.client
    else:
        client = app.test_client()
        if endpoint == "openrosa.submission" and who != "anonymous":
            basic = base64.b64encode(f"{world['users'][who]}:{TEST_PASSWORD}".encode()).decode()
            headers["Authorization"] = f"Basic {basic}"
    return client.post(url, data=data, headers=headers, content_type="multipart/form-data")


# -- isolation and the state of the world ------------------------------------------------------


@pytest.fixture
def isolated() -> Callable[[Callable[[], Any]], Any]:
    """Run a request in a savepoint of the test's connection, rolled back afterwards."""
    bind = db.session.get_bind()
    assert isinstance(bind, Connection)

    def _run(request: Callable[[], Any]) -> Any:
        db.session.remove()
        savepoint = bind.begin_nested()
        try:
            return request()
        finally:
            db.session.remove()
            savepoint.rollback()

    return _run


def snapshot() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (but the audit log and last-seen times)."""
    state = {}
    for table in Base.metadata.sorted_tables:
        if table.name in IGNORED_TABLES:
            continue
        ignored = IGNORED_COLUMNS.get(table.name, set())
        columns = [c for c in table.columns if c.name not in ignored]
        order = list(table.primary_key.columns) or columns
        rows = db.session.execute(select(*columns).order_by(*order)).all()
        state[table.name] = [tuple(r) for r in rows]
    db.session.remove()
    return state


def _changes(before: dict[str, list[Any]], after: dict[str, list[Any]]) -> list[str]:
    return [name for name in before if before[name] != after[name]]


def _check(
    failures: list[str],
    label: str,
    expected: Row,
    who: str,
    got: Any,
    before: dict[str, list[Any]],
    after: dict[str, list[Any]],
) -> None:
    if got != expected.statuses[who]:
        failures.append(f"{label}: {got}, expected {expected.statuses[who]}")
    elif who not in expected.writers and _changes(before, after):
        failures.append(f"{label}: refused ({got}) but changed {_changes(before, after)}")


# -- the tests ---------------------------------------------------------------------------------


def test_every_write_route_is_in_the_table(app: Flask):
    routes = _write_routes(app)
    submissions = {(e, "POST") for e in SUBMISSION_ENDPOINTS}
    listed = set(EXPECTED) | PUBLIC | submissions
    assert routes - listed == set(), "add new write routes to EXPECTED"
    assert listed - routes == set(), "the table names write routes that no longer exist"
    assert {e for e, _ in SUBMISSIONS} == set(SUBMISSION_ENDPOINTS)
    for expected in [*EXPECTED.values(), *SUBMISSIONS.values()]:
        assert set(expected.statuses) == set(PEOPLE)
        assert "anonymous" not in expected.writers


def test_every_write_for_every_person(app: Flask, world, isolated):
    failures: list[str] = []
    before = snapshot()
    for (endpoint, method), expected in sorted(EXPECTED.items()):
        for who in PEOPLE:
            status, after = isolated(
                lambda: (_status(_send(app, world, who, endpoint, method)), snapshot())
            )
            _check(failures, f"{method} {endpoint} as {who}", expected, who, status, before, after)
    assert failures == [], "\n".join(failures)


def test_every_submission_write_for_every_person_and_way_in(app: Flask, world, isolated):
    failures: list[str] = []
    before = snapshot()
    for (endpoint, scenario), expected in sorted(SUBMISSIONS.items()):
        for who in PEOPLE:
            status, after = isolated(
                lambda: (_status(_submit(app, world, who, endpoint, scenario)), snapshot())
            )
            label = f"{scenario} via {endpoint} as {who}"
            _check(failures, label, expected, who, status, before, after)
    assert failures == [], "\n".join(failures)


def test_allowed_writes_change_the_world(app: Flask, world, isolated):
    """The refusals above mean something: the same requests from the right people write."""
    before = snapshot()

    def changed(request: Callable[[], Any]) -> list[str]:
        def run() -> list[str]:
            request()
            return _changes(before, snapshot())

        return isolated(run)

    assert changed(lambda: _submit(app, world, "worker_n", "openrosa_key.submission", "edit"))
    assert changed(lambda: _submit(app, world, "coord_n", "openrosa.submission", "files"))
    assert changed(lambda: _send(app, world, "coord_n", "submissions_api.api_review", "POST"))
    assert changed(lambda: _send(app, world, "admin", "cases_api.api_transfer", "POST"))
    assert changed(lambda: _send(app, world, "coord_n", "transfers.decide", "POST"))
    assert changed(lambda: _send(app, world, "coord_n", "case_pages.act", "POST"))
    assert changed(lambda: _send(app, world, "coord_n", "deletion.delete", "POST"))
