"""Every route of the app, for every role and two regions, against an explicit table.

The routes are read from the URL map, so a new route fails this test until it is added to
``ALLOWED`` with the people who may use it. "Allowed" means the request got past the gate (any
answer but 401, 403, 404 or a redirect to the login page: a 409 or 422 for the deliberately
harmless bodies sent here is fine); "denied" means exactly that kind of answer. Objects belong to
region *north*; the coordinator of *south* must be refused them like a stranger.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest
from flask import Flask

from fieldapp.auth import devices
from fieldapp.auth import services as auth
from fieldapp.db import db
from tests.cases.conftest import _cheap_password_hashes, _helpers_app  # noqa: F401
from tests.cases.support import (
    SEED1_ADULT,
    SEED1_HOUSEHOLD,
    SEED1_INSTANCE,
    publish,
    registration,
)
from tests.conftest import TEST_PASSWORD, Browser
from tests.openrosa.helpers import Collect

PEOPLE = ("anonymous", "admin", "designer", "coord_n", "coord_s", "worker_n")
EVERYONE = set(PEOPLE)
SIGNED_IN = EVERYONE - {"anonymous"}
ADMIN = {"admin"}
DESIGNERS = {"admin", "designer"}
COORDS = {"admin", "coord_n", "coord_s"}
NORTH_COORDS = {"admin", "coord_n"}
NORTH_READERS = {"admin", "coord_n", "worker_n"}
COLLECTORS = {"coord_n", "coord_s", "worker_n"}

#: endpoint -> who may use it (objects in the URL belong to region north)
ALLOWED: dict[str, set[str]] = {
    "pages.home": SIGNED_IN,
    "pages.health": EVERYONE,
    "auth.login": EVERYONE,
    "auth.set_language": EVERYONE,  # one's own setting, or this browser's before logging in
    "auth.logout": SIGNED_IN,  # GET: a page with the POST button; anonymous: the login page
    "account.account": SIGNED_IN,
    "account.end_my_sessions": SIGNED_IN,
    "account.change_password": SIGNED_IN,  # the empty current password is refused after the gate
    # the token in the URL is the worker's: only they revoke it on their own page
    "account.revoke_my_token": {"worker_n"},
    "account.two_factor": SIGNED_IN,  # one's own; an empty code is refused after the gate
    # the code page needs a login whose password was right a moment ago: nobody here has one
    "auth.second_factor": set(),
    "admin.security": ADMIN,
    "api.openapi": EVERYONE,
    "admin.users": ADMIN,
    "admin.create_user": ADMIN,
    "admin.user": ADMIN,
    "admin.regions": ADMIN,
    "admin.audit": ADMIN,
    "admin.devices_page": COORDS,
    "admin.revoke_device": NORTH_COORDS,
    "webhooks.endpoints_page": ADMIN,
    "webhooks.endpoint_page": ADMIN,
    "webhooks.rotate_page": ADMIN,
    "webhooks.toggle_page": ADMIN,
    "webhooks.delete_page": ADMIN,
    "webhooks.resend_page": ADMIN,
    "webhooks_api.api_endpoints": ADMIN,
    "webhooks_api.api_create_endpoint": ADMIN,
    "webhooks_api.api_endpoint": ADMIN,
    "webhooks_api.api_update_endpoint": ADMIN,
    "webhooks_api.api_delete_endpoint": ADMIN,
    "webhooks_api.api_rotate": ADMIN,
    "webhooks_api.api_resend": ADMIN,
    "auth_api.api_users": ADMIN,
    "auth_api.api_create_user": ADMIN,
    "auth_api.api_update_user": ADMIN,
    "auth_api.api_regions": COORDS | {"designer"},
    "auth_api.api_create_region": ADMIN,
    "auth_api.api_devices": COORDS,
    "auth_api.api_create_device": NORTH_COORDS,
    "auth_api.api_revoke_device": NORTH_COORDS,
    "auth_api.api_tokens": SIGNED_IN,
    "auth_api.api_revoke_token": {"admin", "worker_n"},  # its owner and administrators
    "forms.catalogue": DESIGNERS,
    "forms.upload": DESIGNERS,
    "forms.detail": DESIGNERS,
    "forms.publish": DESIGNERS,
    "forms.publish_confirm": DESIGNERS,
    "forms.diff_page": DESIGNERS,
    "forms.change_state": DESIGNERS,
    "forms.discard": DESIGNERS,
    "forms.attach": DESIGNERS,
    "forms.xform": DESIGNERS,
    "forms.source": DESIGNERS,
    "forms_api.api_list": DESIGNERS | {"coord_n", "coord_s"},
    "forms_api.api_detail": DESIGNERS | {"coord_n", "coord_s"},
    "forms_api.api_upload": DESIGNERS,
    "forms_api.api_publish": DESIGNERS,
    "forms_api.api_diff": DESIGNERS,
    "forms_api.api_versions": DESIGNERS,
    "forms_api.api_state": DESIGNERS,
    "forms_api.api_discard": DESIGNERS,
    "forms_api.api_attach": DESIGNERS,
    "forms_api.api_xform": DESIGNERS,
    "submissions_api.api_list": COORDS | {"worker_n"},
    "submissions_api.api_detail": NORTH_READERS,
    "submissions_api.api_attachment": NORTH_READERS,
    "submissions_api.api_review": NORTH_COORDS,
    "submissions_api.api_delete": NORTH_COORDS,  # the empty reason is refused (422)
    # restoring needs a deleted submission; the one here is not (tests/review/test_deletion.py)
    "submissions_api.api_restore": set(),
    "deletion.delete": NORTH_COORDS,
    "deletion.deleted": COORDS,
    "deletion.restore": set(),
    "review.queue": COORDS,
    "review.bulk_approve": COORDS,
    "review.submission_page": NORTH_COORDS,
    "review.decide": NORTH_COORDS,
    "review.add_comment": NORTH_COORDS,
    "dashboard.region_dashboard": COORDS,
    # the Monday screens: administrators and coordinators (their regions); workers follow
    # their own cases on their phones
    "care.index": COORDS,
    "care.screen_page": COORDS,
    "cases_api.api_cases": COORDS | {"worker_n"},
    "cases_api.api_case": NORTH_READERS,
    "cases_api.api_links": NORTH_READERS,
    "cases_api.api_assign": NORTH_COORDS,
    "cases_api.api_transfer": NORTH_COORDS,
    "cases_api.api_close": NORTH_COORDS,
    "cases_api.api_reopen": NORTH_COORDS,
    "cases_api.api_resolve": NORTH_COORDS,
    "cases_api.api_link": NORTH_COORDS,
    "cases_api.api_merge": NORTH_COORDS,
    # consent through the API: the case's region's coordinators (the history holds reasons);
    # referrals: read and moved on also by the case's own worker, added by coordinators
    "cases_api.api_consent": NORTH_COORDS,
    "cases_api.api_change_consent": NORTH_COORDS,
    "cases_api.api_referrals": NORTH_READERS,
    "cases_api.api_add_referral": NORTH_COORDS,
    "cases_api.api_move_referral": NORTH_READERS,
    "cases_api.api_case_lists": COORDS | {"designer"},
    "cases_api.api_update_case_list": DESIGNERS,
    "cases_api.api_duplicates": COORDS,
    "case_pages.case_list": COORDS,
    # transfer requests: the list is every coordinator's (their regions' requests); the one
    # here goes from north to west, so south's coordinator is a stranger to it
    "transfers.transfer_list": COORDS,
    "transfers.transfer_page": NORTH_COORDS,
    "transfers.decide": NORTH_COORDS,  # "nonsense" is refused after the gate
    # exports: administrators and coordinators (a south coordinator gets an export without
    # north's rows, not a refusal: a form belongs to no region)
    "exports_api.submissions_csv_zip": COORDS,
    "exports_api.submissions_xlsx": COORDS,
    "exports_api.cases_csv": COORDS,
    "exports_api.cases_xlsx": COORDS,
    "exports.index": COORDS,
    "exports.form_page": COORDS,
    # prepared exports: every coordinator asks; a job is its asker's alone (here north's
    # coordinator's), administrators included
    "exports.prepare": COORDS,
    "exports_api.api_queue_export": COORDS,
    "exports.jobs_page": COORDS,
    "exports.job_page": {"coord_n"},
    "exports.job_download": {"coord_n"},
    "exports.job_delete": {"coord_n"},
    "exports_api.api_export_job": {"coord_n"},
    "exports_api.api_export_file": {"coord_n"},
    "exports_api.api_delete_export": {"coord_n"},
    # the ODK Central-compatible API: coordinators (their regions' rows) and administrators;
    # a login is open to all (an empty body is refused after the gate); a logout names one's
    # own token only (the one here is nobody's)
    "odata.create_session": EVERYONE,
    "odata.delete_session": set(),
    "odata.current_user": SIGNED_IN,  # one's own account, as on Central
    "odata.projects": COORDS,
    "odata.project": COORDS,
    "odata.forms": COORDS,
    "odata.form": COORDS,
    "odata.service_document": COORDS,
    "odata.metadata": COORDS,
    "odata.table": COORDS,
    "odata.datasets": COORDS,
    "odata.dataset": COORDS,
    "odata.dataset_service": COORDS,
    "odata.dataset_metadata": COORDS,
    "odata.entities": COORDS,
    "case_pages.case_page": NORTH_COORDS,
    "case_pages.act": NORTH_COORDS,
    # consent and referrals: the case's region's coordinators; the Monday screens: every
    # coordinator (their regions' rows) and administrators
    "consent_pages.change_consent": NORTH_COORDS,  # "nonsense" is refused after the gate
    "consent_pages.add_referral": NORTH_COORDS,
    # and the case's own worker (worker_n sent the registration: the household is theirs)
    "consent_pages.move_referral": NORTH_READERS,
    "consent_pages.missing_consent": COORDS,
    "consent_pages.late_referrals": COORDS,
    # OpenRosa with a password: every account may ask; only people who collect get forms
    "openrosa.form_list": SIGNED_IN,
    "openrosa.submission": SIGNED_IN,  # HEAD/GET: 204 for any account
    "openrosa.integrity": SIGNED_IN,
    "openrosa.form_download": COLLECTORS,
    "openrosa.manifest": COLLECTORS,
    "openrosa.attachment": COLLECTORS,
    # web forms: the worker's pages; their OpenRosa copy under /fill/collect goes by the session
    "fill.index": {"worker_n"},
    "fill.fill": {"worker_n"},
    # only the worker's own submission, only when sent back (tests/fill): nobody here
    "fill.submission_xml": set(),
    "fill.submission_attachment": set(),
    "fill.service_worker": EVERYONE,
    "openrosa_web.form_list": SIGNED_IN,
    "openrosa_web.submission": SIGNED_IN,
    "openrosa_web.integrity": SIGNED_IN,
    "openrosa_web.form_download": COLLECTORS,
    "openrosa_web.manifest": COLLECTORS,
    "openrosa_web.attachment": COLLECTORS,
    # trying drafts: the draft page of a form (family_registration has no draft: 409 past the
    # gate); tries, test submissions and the try's OpenRosa need a try of one's own
    # (tests/sandbox/test_try_access.py), and there is none here
    "tries.try_page": DESIGNERS,
    "tries.start": DESIGNERS,
    "tries.end": set(),
    "tries.fill": set(),
    "tries.test_submission": set(),
    "tries.approve": set(),
    "openrosa_try.form_list": set(),
    "openrosa_try.form_download": set(),
    "openrosa_try.manifest": set(),
    "openrosa_try.attachment": set(),
    "openrosa_try.integrity": set(),
    "openrosa_try.submission": set(),
    # retention: a form's by its editors; erasing a case on request by administrators only
    # (the empty bodies here are refused past the gate: no reason, no confirmation)
    "retention.form_retention": DESIGNERS,
    # case list settings: designers and administrators (the body below is refused: 422)
    "case_lists.index": DESIGNERS,
    "case_lists.settings_page": DESIGNERS,
    "case_lists.update": DESIGNERS,
    "retention.erase_confirm": ADMIN,
    "retention.erase": ADMIN,
}
#: OpenRosa with a device token: the worker's phone, not a person's session (tested apart)
DEVICE_ENDPOINTS = {
    "openrosa_key.form_list",
    "openrosa_key.form_download",
    "openrosa_key.manifest",
    "openrosa_key.attachment",
    "openrosa_key.integrity",
    "openrosa_key.submission",
}
#: OpenRosa of a draft try with its token (tests/sandbox/test_try_access.py)
TRY_TOKEN_ENDPOINTS = {
    "openrosa_test.form_list",
    "openrosa_test.form_download",
    "openrosa_test.manifest",
    "openrosa_test.attachment",
    "openrosa_test.integrity",
    "openrosa_test.submission",
}

#: harmless bodies: they pass validation only where nothing irreversible happens
BODIES: dict[str, dict[str, Any]] = {
    "cases_api.api_assign": {"user": "worker_n"},
    "cases_api.api_transfer": {"region": "north"},  # same region: refused after the gate
    "cases_api.api_close": {"reason": ""},
    "cases_api.api_link": {"to": SEED1_ADULT, "relation": "nonsense"},
    "cases_api.api_merge": {"other": SEED1_ADULT, "choose": "not a mapping"},
    "cases_api.api_update_case_list": {"cadence_days": 30},
    "cases_api.api_change_consent": {"kind": "nonsense", "state": "withdrawn", "reason": "r"},
    "cases_api.api_add_referral": {"service": "nonsense", "urgency": "today"},
    "cases_api.api_move_referral": {"to": "nonsense"},
    "submissions_api.api_review": {"state": "nonsense"},
    "forms_api.api_state": {"state": "nonsense"},
    "auth_api.api_create_device": {"user": "worker_n"},
    "auth_api.api_update_user": {},
    "case_pages.act": {"action": "nonsense"},
    "transfers.decide": {"action": "nonsense"},
    "consent_pages.change_consent": {"kind": "nonsense"},
    "consent_pages.add_referral": {"service": "nonsense"},
    "consent_pages.move_referral": {"to": "nonsense"},
    "review.decide": {"state": "nonsense"},
    "review.add_comment": {"note": ""},
    "admin.user": {"action": "nonsense"},
    "retention.form_retention": {"deleted_days": "nonsense"},
    "case_lists.update": {"cadence_days": "nonsense"},
}


@pytest.fixture
def world(app: Flask, make_user, make_region) -> dict[str, Any]:
    publish("family_registration", "home_visit")
    people = {
        "admin": make_user("admin", username="admin_x"),
        "designer": make_user("designer", username="designer_x"),
        "coord_n": make_user("coordinator", username="coord_n", regions=["north"]),
        "coord_s": make_user("coordinator", username="coord_s", regions=["south"]),
        "worker_n": make_user("field_worker", username="worker_n", regions=["north"]),
    }
    token, _ = devices.create_device(people["worker_n"], actor=None)
    _, spare_device = devices.create_device(people["worker_n"], actor=None)
    tokens = {name: auth.issue_api_token(user, actor=None)[0] for name, user in people.items()}
    _, spare_token = auth.issue_api_token(people["worker_n"], actor=None, label="spare")
    db.session.commit()
    phone = Collect(app, f"/collect/key/{token}")
    xml, files = registration("seed1")
    assert phone.submit(xml, files).status_code == 201
    admin = auth.get_user_by_username("admin_x")
    from fieldapp.review.services import review_submission
    from fieldapp.submissions.services import visible_submission

    review_submission(
        visible_submission(SEED1_INSTANCE, actor=admin), state="approved", actor=admin
    )
    from fieldapp.webhooks import services as webhooks

    hook, _ = webhooks.create_endpoint(
        url="http://127.0.0.1:7699/hook", events=["case.created"], actor=admin, allow_private=True
    )
    # removed by the two delete routes (the page's and the API's), one each
    spare_hooks = [
        webhooks.create_endpoint(
            url="http://127.0.0.1:7699/spare",
            events=["case.created"],
            actor=admin,
            allow_private=True,
        )[0]
        for _ in range(2)
    ]
    db.session.commit()
    from fieldapp.webhooks.models import WebhookDelivery

    sent = WebhookDelivery(
        endpoint_id=hook.id,
        msg_id="msg_world",
        event="case.created",
        subject=f"case:{SEED1_HOUSEHOLD}",
        payload={"type": "case.created", "data": {}},
        state="delivered",
    )
    db.session.add(sent)
    from fieldapp.exports.models import ExportJob

    job = ExportJob(
        token="north-coordinators-job", user_id=people["coord_n"].id, form_id="family_registration",
        format="csv.zip", params={},
    )  # fmt: skip
    db.session.add(job)
    from fieldapp.cases import services as case_services
    from fieldapp.cases import transfers

    west = make_region("west")
    transfer = transfers.request_transfer(
        case_services.visible_case(SEED1_HOUSEHOLD, actor=admin), west, actor=people["coord_n"]
    )
    from fieldapp.cases import referrals

    referral = referrals.add(
        case_services.visible_case(SEED1_HOUSEHOLD, actor=admin),
        service="doctor",
        urgency="week",
        note=None,
        actor=admin,
    )
    db.session.commit()
    attachment = next(name for name, _ in files)
    return {
        "people": {k: v.id for k, v in people.items()},
        "tokens": tokens,
        "device_token": token,
        "values": {
            "form_id": "family_registration",
            "version": "2026112101",
            "instance_id": SEED1_INSTANCE,
            "case_id": SEED1_HOUSEHOLD,
            "name": attachment,
            "user_id": people["worker_n"].id,
            "username": "worker_n",
            "device_id": spare_device.id,
            "token_id": spare_token.id,
            "endpoint_id": hook.id,
            "delivery_id": sent.id,
            "spare_endpoint_ids": {
                "webhooks.delete_page": spare_hooks[0].id,
                "webhooks_api.api_delete_endpoint": spare_hooks[1].id,
            },
            "dataset": "households",
            "try_id": 1,  # no such try: only its designer would get past (tests/sandbox)
            "project_id": 1,
            "table": "Submissions",
            "token": "not-anyones-session-token",
            "job": job.token,
            "request_id": transfer.id,
            "referral_id": referral.id,
            "screen": "overdue",
        },
    }


def _url(app: Flask, rule: Any, values: dict[str, Any]) -> str:
    args = {arg: values[arg] for arg in rule.arguments}
    blueprint, _, view = rule.endpoint.partition(".")
    if blueprint.startswith("openrosa") and view in ("attachment", "manifest", "form_download"):
        args["form_id"] = "home_visit"  # a form with a file: the worker's case list
        if "name" in args:
            args["name"] = "households.csv"
    if blueprint in ("cases_api", "odata", "case_lists") and "name" in args:
        args["name"] = "households"
    if rule.endpoint in values["spare_endpoint_ids"]:  # deleting: not the one others use
        args["endpoint_id"] = values["spare_endpoint_ids"][rule.endpoint]
    with app.test_request_context():
        from flask import url_for

        return url_for(rule.endpoint, **args)


def _denied(response: Any) -> bool:
    if response.status_code in (401, 403, 404):
        return True
    return response.status_code == 302 and "/login" in response.headers.get("Location", "")


def _request(
    app: Flask, world: dict[str, Any], who: str, method: str, url: str, endpoint: str
) -> Any:
    body = BODIES.get(endpoint, {})
    if endpoint.startswith("openrosa."):
        client = app.test_client()
        headers = {"X-OpenRosa-Version": "1.0"}
        if who != "anonymous":
            basic = base64.b64encode(f"{_username(who)}:{TEST_PASSWORD}".encode()).decode()
            headers["Authorization"] = f"Basic {basic}"
        return client.open(url, method=method, headers=headers)
    if endpoint.startswith(("openrosa_web.", "openrosa_try.")):
        browser = Browser(app.test_client())
        if who != "anonymous":
            assert browser.login(_username(who)).status_code == 302
        return browser.client.open(url, method=method, headers={"X-OpenRosa-Version": "1.0"})
    if url.startswith(("/api/", "/v1/")):
        headers = {} if who == "anonymous" else {"Authorization": f"Bearer {world['tokens'][who]}"}
        return app.test_client().open(url, method=method, headers=headers, json=body)
    browser = Browser(app.test_client())
    if who != "anonymous":
        assert browser.login(_username(who)).status_code == 302
    if method == "GET":
        return browser.get(url)
    return browser.post(url, dict(body))


def _username(who: str) -> str:
    return {"admin": "admin_x", "designer": "designer_x"}.get(who, who)


def test_every_route_is_in_the_table(app: Flask):
    endpoints = {r.endpoint for r in app.url_map.iter_rules() if r.endpoint != "static"}
    assert endpoints - set(ALLOWED) - DEVICE_ENDPOINTS - TRY_TOKEN_ENDPOINTS == set(), (
        "add new routes to ALLOWED"
    )
    assert set(ALLOWED) - endpoints == set(), "the table names routes that no longer exist"


def test_every_route_for_every_person(app: Flask, world):
    failures = []
    rules = sorted(
        (r for r in app.url_map.iter_rules() if r.endpoint in ALLOWED), key=lambda r: r.rule
    )
    for rule in rules:
        url = _url(app, rule, world["values"])
        for method in sorted(m for m in rule.methods if m not in ("HEAD", "OPTIONS")):
            if rule.endpoint in (
                "openrosa.submission",
                "openrosa_web.submission",
                "openrosa_try.submission",
            ) and (method == "POST"):
                continue  # submissions by role are covered in tests/openrosa
            if rule.endpoint in ("auth.logout", "account.end_my_sessions") and method == "POST":
                # both end the session and answer with the login page, like a refusal would
                # (tests/auth/test_web_sessions.py); GET /logout is walked
                continue
            for who in PEOPLE:
                response = _request(app, world, who, method, url, rule.endpoint)
                allowed = who in ALLOWED[rule.endpoint]
                if allowed == _denied(response):
                    failures.append(
                        f"{method} {url} as {who}: {response.status_code} "
                        f"({'should pass' if allowed else 'should be refused'})"
                    )
    assert failures == [], "\n".join(failures)


def test_device_routes_need_a_live_device_token(app: Flask, world):
    values = world["values"]
    for rule in app.url_map.iter_rules():
        if rule.endpoint not in DEVICE_ENDPOINTS:
            continue
        for token, allowed in ((world["device_token"], True), ("A" * 64, False)):
            url = _url(app, rule, values | {"token": token})
            response = app.test_client().get(url, headers={"X-OpenRosa-Version": "1.0"})
            assert _denied(response) != allowed, (rule.rule, token[:4], response.status_code)


def test_anonymous_api_answers_are_json(app: Flask):
    response = app.test_client().get("/api/v1/cases")
    assert response.status_code == 401
    assert response.is_json
    assert re.match(r"auth\.", response.json["error"]["code"])
