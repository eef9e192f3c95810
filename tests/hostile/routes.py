"""What every route of the app takes: the description the hostile-input suite feeds.

Each endpoint of the URL map is described here with the query parameters, JSON fields and form
fields it reads (path parameters come from the rule itself), a valid value for each, and the
person who may use it. A route that is not described makes ``test_every_route_is_described``
fail, so a new route cannot escape the suite.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.cases.support import SEED1_ADULT


@dataclass(frozen=True)
class Route:
    """The inputs of one endpoint and who may use it (a name from the world's people)."""

    who: str
    query: dict[str, str] = field(default_factory=dict)
    json: dict[str, Any] | None = None  # None: the route takes no JSON body
    form: dict[str, str] | None = None  # None: the route takes no form
    multipart: bool = False  # a file upload (XLSForm, attachment, submission)


C = "coord_n"
A = "admin"
D = "designer"
W = "worker_n"

OPENROSA: dict[str, Route] = {
    "form_list": Route(W, query={"formID": "home_visit"}),
    "submission": Route(W, query={"deviceID": "collect:abc"}, multipart=True),
    "integrity": Route(W, query={"id": SEED1_ADULT}),
    "form_download": Route(W),
    "manifest": Route(W),
    "attachment": Route(W),
}

#: the OData query options every OData feed takes (valid values; the suite makes them hostile)
ODATA_QUERY = {
    "$top": "2",
    "$skip": "1",
    "$count": "true",
    "$filter": "__system/submissionDate ge 2020-01-01 and __system/reviewState eq 'approved'",
    "$select": "__id,__system",
    "$skiptoken": "01eyJpZCI6IDEwMH0=",
    "$wkt": "false",
}

ROUTES: dict[str, Route] = {
    "odata.create_session": Route(
        "anonymous", json={"email": "coord_n", "password": "correct horse battery"}
    ),
    "odata.delete_session": Route(C),
    "odata.current_user": Route(C),
    "odata.projects": Route(C),
    "odata.project": Route(C),
    "odata.forms": Route(C),
    "odata.form": Route(C),
    "odata.service_document": Route(C),
    "odata.metadata": Route(C),
    "odata.table": Route(C, query={**ODATA_QUERY, "$expand": "*"}),
    "odata.datasets": Route(C),
    "odata.dataset": Route(C),
    "odata.dataset_service": Route(C),
    "odata.dataset_metadata": Route(C),
    "odata.entities": Route(
        C, query={**ODATA_QUERY, "$filter": "__system/createdAt ge 2020-01-01", "$select": "label"}
    ),
    "pages.home": Route(C),
    "pages.health": Route("anonymous"),
    "auth.login": Route(
        "anonymous",
        query={"next": "/review", "expired": "1"},
        form={"username": "nobody", "password": "wrong password", "next": "/review"},
    ),
    "auth.logout": Route(C),
    "auth.set_language": Route(C, form={"language": "kk", "next": "/cases"}),
    "api.openapi": Route("anonymous"),
    "admin.users": Route(A),
    "admin.create_user": Route(
        A,
        form={
            "username": "newperson",
            "display_name": "New Person",
            "role": "field_worker",
            "regions": "north",
            "password": "a long enough password",
        },
    ),
    "admin.user": Route(
        A,
        form={
            "action": "update",
            "role": "field_worker",
            "regions": "north",
            "display_name": "Worker",
            "active": "on",
            "password": "another long password",
            "label": "laptop",
        },
    ),
    "admin.regions": Route(A, form={"action": "create", "code": "east", "name": "East"}),
    "admin.audit": Route(
        A,
        query={
            "action": "case",
            "user": "coord_n",
            "subject": "x",
            "region": "north",
            "from": "2026-01-01",
            "to": "2026-12-31",
            "before": "100",
        },
    ),
    "admin.devices_page": Route(C, form={"user": "worker_n", "label": "phone"}),
    "admin.revoke_device": Route(C, form={}),
    "auth_api.api_users": Route(A),
    "auth_api.api_create_user": Route(
        A,
        json={
            "username": "newperson",
            "role": "field_worker",
            "password": "a long enough password",
            "regions": ["north"],
            "display_name": "New Person",
        },
    ),
    "auth_api.api_update_user": Route(
        A, json={"display_name": "W", "role": "field_worker", "regions": ["north"], "active": True}
    ),
    "auth_api.api_regions": Route(C),
    "auth_api.api_create_region": Route(A, json={"code": "east", "name": "East"}),
    "auth_api.api_devices": Route(C),
    "auth_api.api_create_device": Route(C, json={"user": "worker_n", "label": "phone"}),
    "auth_api.api_revoke_device": Route(C),
    "auth_api.api_tokens": Route(A, query={"user": "worker_n"}),
    "auth_api.api_revoke_token": Route(A),
    "webhooks.endpoints_page": Route(
        A,
        form={
            "url": "http://127.0.0.1:7699/new",
            "events": "case.created",
            "description": "BI",
            "include_answers": "1",
        },
    ),
    "webhooks.endpoint_page": Route(A),
    "webhooks.rotate_page": Route(A, form={}),
    "webhooks.toggle_page": Route(A, form={}),
    "webhooks.delete_page": Route(A, form={}),
    "webhooks.resend_page": Route(A, form={}),
    "webhooks_api.api_endpoints": Route(A),
    "webhooks_api.api_create_endpoint": Route(
        A,
        json={
            "url": "http://127.0.0.1:7699/new",
            "events": ["case.created"],
            "description": "BI",
            "include_answers": False,
        },
    ),
    "webhooks_api.api_endpoint": Route(A),
    "webhooks_api.api_update_endpoint": Route(
        A, json={"url": "http://127.0.0.1:7699/x", "events": ["case.closed"], "active": False}
    ),
    "webhooks_api.api_delete_endpoint": Route(A),
    "webhooks_api.api_rotate": Route(A),
    "webhooks_api.api_resend": Route(A),
    "account.account": Route(W),
    "account.end_my_sessions": Route(W, form={}),
    "account.change_password": Route(
        W, form={"current": "not the password", "password": "a new long enough password"}
    ),
    "account.revoke_my_token": Route(W, form={}),
    "forms.catalogue": Route(D),
    "forms.upload": Route(D, multipart=True),
    "forms.detail": Route(D),
    "forms.publish_confirm": Route(D),
    "forms.publish": Route(
        D,
        form={
            "acknowledge_warnings": "on",
            "note": "A note.",
            "test_data": "keep",
            "confirm": "1",
        },
    ),
    "forms.diff_page": Route(D, query={"from": "2026112101", "to": "2026112101"}),
    "forms.change_state": Route(D, form={"state": "closing"}),
    "forms.discard": Route(D, form={}),
    "forms.attach": Route(D, form={"name": "logo.png"}, multipart=True),
    "forms.xform": Route(D),
    "forms.source": Route(D),
    "forms_api.api_list": Route(D),
    "forms_api.api_upload": Route(D, multipart=True),
    "forms_api.api_detail": Route(D),
    "forms_api.api_publish": Route(
        D,
        query={"acknowledge_warnings": "1"},
        json={"acknowledge_warnings": True, "note": "A note.", "test_data": "discard"},
    ),
    "forms_api.api_diff": Route(D, query={"from": "2026112101", "to": "2026112101"}),
    "forms_api.api_versions": Route(D),
    "forms_api.api_state": Route(D, json={"state": "closing"}),
    "forms_api.api_discard": Route(D),
    "forms_api.api_attach": Route(D, multipart=True),
    "forms_api.api_xform": Route(D),
    "submissions_api.api_list": Route(
        C,
        query={
            "review_state": "approved",
            "form_id": "family_registration",
            "region": "north",
            "urgent": "1",
            "cursor": "",
            "limit": "10",
        },
    ),
    "submissions_api.api_detail": Route(C),
    "submissions_api.api_attachment": Route(C),
    "submissions_api.api_review": Route(
        C, json={"state": "has_issues", "note": "check the ages", "take": {"full_name": True}}
    ),
    "submissions_api.api_delete": Route(C, json={"reason": "a duplicate"}),
    "submissions_api.api_restore": Route(C, json={}),
    "deletion.delete": Route(C, form={"reason": "a duplicate", "confirm": "1"}),
    "deletion.deleted": Route(C),
    "deletion.restore": Route(C, form={}),
    "retention.form_retention": Route(D, form={"deleted_days": "45"}),
    "case_lists.index": Route(D),
    "case_lists.settings_page": Route(D),
    "case_lists.update": Route(
        D,
        form={
            "cadence_days": "30",
            "approval_required": "on",
            "phone_label": "next_due",
            "closed_retention_days": "",
        },
    ),
    "retention.erase_confirm": Route(A),
    # never the case's code: an accepted erasure would remove blob files for the later cases
    "retention.erase": Route(A, form={"reason": "the person asked", "confirm": "NOT-THE-CODE"}),
    "review.queue": Route(
        C,
        query={
            "form": "family_registration",
            "worker": "worker_n",
            "state": "all",
            "from": "2026-01-01",
            "to": "2026-12-31",
            "urgent": "1",
            "cursor": "",
        },
    ),
    "review.bulk_approve": Route(C, form={"instance_id": "uuid:x"}),
    "review.submission_page": Route(C, query={"lang": "en"}),
    "review.decide": Route(
        C,
        form={
            "state": "has_issues",
            "note": "check",
            "seen_version": "uuid:x",
            "take": "a:b",
            "lang": "en",
        },
    ),
    "review.add_comment": Route(C, form={"note": "a comment", "lang": "en"}),
    "dashboard.region_dashboard": Route(C, query={"region": "north"}),
    "care.index": Route(C, query={"region": "north"}),
    "care.screen_page": Route(C, query={"region": "north"}),
    "cases_api.api_cases": Route(
        C,
        query={
            "dataset": "households",
            "region": "north",
            "status": "all",
            "overdue": "1",
            "cursor": "",
            "limit": "10",
        },
    ),
    "cases_api.api_case": Route(C),
    "exports_api.submissions_csv_zip": Route(
        C,
        query={
            "from": "2026-01-01",
            "to": "2026-12-31",
            "review_state": "received",
            "region": "north",
            "version": "2026112101",
            "urgent": "false",
            "headers": "labels",
            "lang": "en",
            "choices": "labels",
            "split_select_multiples": "true",
            "attachments": "true",
        },
    ),
    "exports_api.submissions_xlsx": Route(
        C,
        query={
            "from": "2026-01-01",
            "to": "2026-12-31",
            "review_state": "received",
            "region": "north",
            "version": "2026112101",
            "urgent": "false",
            "headers": "names",
            "lang": "en",
            "choices": "names",
            "split_select_multiples": "false",
            "attachments": "false",
        },
    ),
    "exports_api.cases_csv": Route(
        C, query={"dataset": "households", "region": "north", "status": "open"}
    ),
    "exports_api.cases_xlsx": Route(
        C, query={"dataset": "households", "region": "north", "status": "open"}
    ),
    "auth.second_factor": Route(C, form={"code": "123456"}),
    "account.two_factor": Route(C, form={"action": "enable", "code": "123456"}),
    "admin.security": Route(A, form={"two_factor_required": "on"}),
    "exports.index": Route(C),
    "exports.form_page": Route(C),
    "exports.prepare": Route(
        C,
        query={"from": "2026-01-01", "review_state": "received", "headers": "labels"},
        form={"format": "xlsx", "to": "2026-12-31", "region": "north", "lang": "en"},
    ),
    "exports_api.api_queue_export": Route(
        C, query={"format": "csv.zip", "urgent": "true", "version": "2026112101"}
    ),
    "exports.jobs_page": Route(C),
    "exports.job_page": Route(C),
    "exports.job_download": Route(C),
    "exports.job_delete": Route(C, form={}),
    "exports_api.api_export_job": Route(C),
    "exports_api.api_export_file": Route(C),
    "exports_api.api_delete_export": Route(C),
    "cases_api.api_links": Route(C),
    "cases_api.api_assign": Route(C, json={"user": "worker_n"}),
    "cases_api.api_transfer": Route(C, json={"region": "south", "assign_to": None}),
    "cases_api.api_close": Route(C, json={"reason": "moved away"}),
    "cases_api.api_reopen": Route(C, json={}),
    "cases_api.api_resolve": Route(C, json={"properties": {}, "note": "checked"}),
    "cases_api.api_link": Route(C, json={"to": SEED1_ADULT, "relation": "household"}),
    "cases_api.api_merge": Route(C, json={"other": SEED1_ADULT, "choose": {}}),
    "cases_api.api_consent": Route(C),
    "cases_api.api_change_consent": Route(
        C, json={"kind": "consent", "state": "withdrawn", "reason": "the family moved"}
    ),
    "cases_api.api_referrals": Route(C),
    "cases_api.api_add_referral": Route(
        C, json={"service": "doctor", "urgency": "week", "note": "booked"}
    ),
    "cases_api.api_move_referral": Route(C, json={"to": "accepted", "note": "booked"}),
    "cases_api.api_case_lists": Route(C),
    "cases_api.api_update_case_list": Route(
        D, json={"cadence_days": 30, "approval_required": True, "next_visit_property": "next_visit"}
    ),
    "cases_api.api_duplicates": Route(C, query={"region": "north", "keys": "full_name"}),
    "case_pages.case_list": Route(
        C,
        query={
            "q": "C",
            "dataset": "households",
            "region": "north",
            "status": "open",
            "overdue": "1",
            "page": "1",
        },
    ),
    "case_pages.case_page": Route(C),
    "case_pages.act": Route(
        C,
        form={
            "action": "close",
            "user": "worker_n",
            "region": "north",
            "reason": "moved",
            "note": "",
            "other": "C",
            "confirm": "1",
        },
    ),
    "transfers.transfer_list": Route(C),
    "transfers.transfer_page": Route(C),
    "transfers.decide": Route(
        C, form={"action": "decline", "worker": "worker_n", "reason": "no room", "confirm": "1"}
    ),
    "consent_pages.change_consent": Route(
        C, form={"kind": "consent", "state": "withdrawn", "reason": "moved", "confirm": "1"}
    ),
    "consent_pages.add_referral": Route(
        C, form={"service": "doctor", "urgency": "week", "note": "call first"}
    ),
    "consent_pages.move_referral": Route(C, form={"to": "accepted", "note": "booked"}),
    "consent_pages.missing_consent": Route(C, query={"region": "north", "page": "1"}),
    "consent_pages.late_referrals": Route(C, query={"region": "north", "page": "1"}),
    "fill.index": Route(W),
    "fill.fill": Route(W, query={"edit": "uuid:x"}),
    "fill.submission_xml": Route(W),
    "fill.submission_attachment": Route(W),
    "fill.service_worker": Route("anonymous"),
    "tries.try_page": Route(D),
    "tries.start": Route(D, form={"with": "home_visit", "review": "review"}),
    "tries.end": Route(D),
    "tries.fill": Route(D),
    "tries.test_submission": Route(D),
    "tries.approve": Route(D),
}
for _prefix in ("openrosa", "openrosa_key", "openrosa_web", "openrosa_test", "openrosa_try"):
    for _view, _route in OPENROSA.items():
        ROUTES[f"{_prefix}.{_view}"] = _route
