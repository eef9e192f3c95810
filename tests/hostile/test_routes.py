"""The hostile-input suite: every route of the URL map, every parameter, malformed values.

Each case is one (route, method, parameter, value): path parameters (from the rule), query
parameters, JSON fields, form fields and whole bodies (described in ``routes.py``) get wrong
types, huge, negative and fractional numbers, non-ASCII, a right-to-left override, NUL, lone
surrogates, strings longer than any column, empty values, arrays, strings, numbers and null
where an object is expected, invalid JSON, wrong content types and unknown fields. The actor is
a person who may use the route (and, once per route and method, nobody). Every answer must be
below 500, come within 2 s, and, when it refuses, be a well-formed error with a code: JSON
``{"error": {"code", "message"}}`` under ``/api``, an ``OpenRosaResponse`` with a message under
``/collect`` and ``/fill/collect``, an HTML error page with its code elsewhere; a refused write
stores nothing.

The world (people, forms, a submission, its cases) is built once per module inside one
transaction; each case runs in a savepoint rolled back afterwards, so an accepted write does not
leak into the next case (hence ``committed``: the suite manages its own transaction).

Covered besides: page cursors that decode to 40-digit ids, non-ASCII or naive times; submissions
in UTF-16, with a 300-character instanceID, an attachment content type longer than its column or
an RTL-override file name, or for an unknown form; uploads without a file, empty, garbage, with
an over-long name, or not multipart.

Left out on purpose: property-based fuzzing of the XML, multipart and XLSForm parsers with
arbitrary bytes (their own suites, with the parser and XLSForm work of the same issue); headers
other than ``Authorization`` (the WSGI server parses them before the app); bodies above the size
limits (``tests/test_bad_uploads.py``); lone surrogates in URLs and forms arrive as U+FFFD
(werkzeug decodes with replacement), so only JSON can carry a real one — both are sent.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from argon2 import PasswordHasher
from flask import Flask
from sqlalchemy import func, select

from fieldapp.auth import devices
from fieldapp.auth import services as auth
from fieldapp.db import Base, db
from tests.cases.support import (
    SEED1_HOUSEHOLD,
    SEED1_INSTANCE,
    publish,
    registration,
    set_element,
)
from tests.conftest import TEST_PASSWORD, Browser
from tests.hostile.routes import ROUTES, Route
from tests.openrosa import helpers
from tests.openrosa.helpers import PNG

pytestmark = pytest.mark.committed

#: a lone surrogate: sent as its (invalid) UTF-8 bytes in URLs and forms, escaped in JSON
SURROGATE = "\ud800"
LONG = "x" * 300  # longer than every String(255) column
VERY_LONG = "y" * 5000  # longer than any column at all

#: values for path and query parameters and form fields (text is all these can carry)
TEXT_VALUES: dict[str, str] = {
    "empty": "",
    "huge_number": "9" * 40,
    "negative": "-1",
    "float": "1.5",
    "exponent": "1e3",
    "non_ascii": "\u0444\u043e\u0442\u043e",
    "rtl_override": "\u202eevil",
    "nul": "a\x00b",
    "surrogate": SURROGATE,
    "long": LONG,
    "very_long": VERY_LONG,
    "sql": "' OR '1'='1",
    "html": "<script>alert(1)</script>",
    "dots": "../..",
}
#: path parameters cannot be empty (no route matches an empty segment)
PATH_VALUES = {k: v for k, v in TEXT_VALUES.items() if k not in ("empty", "html")}
QUERY_VALUES = TEXT_VALUES
FORM_VALUES = {k: v for k, v in TEXT_VALUES.items() if k not in ("sql", "dots", "exponent")}


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode("utf-8", "surrogatepass")).decode()


#: page cursors that decode, but to nonsense: 40-digit ids, non-ASCII, too many parts
CURSOR_VALUES: dict[str, str] = {
    "id_40_digits": _b64("9" * 40),
    "queue_id_40_digits": _b64("1|2026-01-01T00:00:00+00:00|" + "9" * 40),
    "list_id_40_digits": _b64("2026-01-01T00:00:00+00:00|" + "9" * 40),
    "non_ascii": _b64("\u0444|\u0444"),
    "arabic_digits": _b64("\u0661\u0662"),
    "naive_time": _b64("1|2026-01-01T00:00:00|1"),
    "year_zero": _b64("0001-01-01T00:00:00+00:00|1"),
    "not_base64": "!!!",
    "parts": _b64("|||||"),
}

#: values for one JSON field
JSON_VALUES: dict[str, Any] = {
    "null": None,
    "true": True,
    "zero": 0,
    "huge_number": 10**40,
    "negative": -1,
    "float": 1.5,
    "array": [1, "a"],
    "object": {"a": 1},
    "empty": "",
    "non_ascii": "\u0444\u043e\u0442\u043e",
    "rtl_override": "\u202eevil",
    "nul": "a\x00b",
    "surrogate": SURROGATE,
    "long": LONG,
    "very_long": VERY_LONG,
}
#: whole JSON bodies: (raw body, content type)
BODY_VALUES: dict[str, tuple[bytes, str]] = {
    "array": (b"[1, 2]", "application/json"),
    "string": (b'"state"', "application/json"),
    "number": (b"123", "application/json"),
    "null": (b"null", "application/json"),
    "invalid_json": (b'{"state": ', "application/json"),
    "text_plain": (b"state=approved", "text/plain"),
    "form_encoded": (b"state=approved", "application/x-www-form-urlencoded"),
    "unknown_field": (b'{"surprise": 1}', "application/json"),
    "utf16_json": ('{"state": "x"}'.encode("utf-16"), "application/json"),
    "surrogate_key": (b'{"\\ud800": 1}', "application/json"),
}


# -- the world ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(app: Flask) -> Iterator[dict[str, Any]]:
    """People of two regions, published forms, seed1 submitted and approved (one transaction)."""
    assert db.engine is not None
    engine = db.engine
    connection = engine.connect()
    outer = connection.begin()
    db.session.remove()
    db.session.configure(bind=connection, join_transaction_mode="create_savepoint")
    patch = pytest.MonkeyPatch()
    patch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    helpers.APP = app
    try:
        yield _build_world(app) | {"connection": connection}
    finally:
        helpers.APP = None
        patch.undo()
        db.session.remove()
        outer.rollback()
        connection.close()
        db.session.configure(bind=engine)


def _build_world(app: Flask) -> dict[str, Any]:
    publish("family_registration", "home_visit")
    regions = {
        code: auth.create_region(code, code.title(), actor=None) for code in ("north", "south")
    }
    people = {}
    for who, role, region in (
        ("admin_x", "admin", []),
        ("designer_x", "designer", []),
        ("coord_n", "coordinator", ["north"]),
        ("coord_s", "coordinator", ["south"]),
        ("worker_n", "field_worker", ["north"]),
    ):
        people[who] = auth.create_user(
            who,
            role=role,
            password=TEST_PASSWORD,
            actor=None,
            regions=[regions[r] for r in region],
        )
    device_token, _ = devices.create_device(people["worker_n"], actor=None)
    _, spare = devices.create_device(people["worker_n"], actor=None)
    tokens = {name: auth.issue_api_token(user, actor=None)[0] for name, user in people.items()}
    _, spare_token = auth.issue_api_token(people["worker_n"], actor=None, label="spare")
    from fieldapp.webhooks import services as webhooks

    hook, _ = webhooks.create_endpoint(
        url="http://127.0.0.1:7699/hook",
        events=["submission.received"],
        actor=people["admin_x"],
        allow_private=True,
    )
    from fieldapp.exports.models import ExportJob

    job = ExportJob(
        token="north-coordinators-job", user_id=people["coord_n"].id, form_id="family_registration",
        format="csv.zip", params={},
    )  # fmt: skip
    db.session.add(job)
    db.session.commit()
    hook_id = hook.id
    xml, files = registration("seed1")
    phone = helpers.Collect(app, f"/collect/key/{device_token}")
    assert phone.submit(xml, files).status_code == 201
    from fieldapp.review.services import review_submission
    from fieldapp.submissions.services import visible_submission

    admin = people["admin_x"]
    review_submission(
        visible_submission(SEED1_INSTANCE, actor=admin), state="approved", actor=admin
    )
    db.session.commit()
    from sqlalchemy import select

    from fieldapp.webhooks.models import WebhookDelivery

    delivery_id = db.session.scalars(select(WebhookDelivery.id)).one()
    from fieldapp.cases import services as case_services
    from fieldapp.cases import transfers

    west = auth.create_region("west", "West", actor=None)
    transfer = transfers.request_transfer(
        case_services.visible_case(SEED1_HOUSEHOLD, actor=admin), west, actor=people["coord_n"]
    )
    transfer_id = transfer.id
    from fieldapp.cases import referrals

    referral_id = referrals.add(
        case_services.visible_case(SEED1_HOUSEHOLD, actor=admin),
        service="doctor",
        urgency="week",
        note=None,
        actor=admin,
    ).id
    db.session.commit()  # end the read: each case's savepoint must not nest inside it
    return {
        "tokens": tokens,
        "device_token": device_token,
        "registration": (xml, files),
        "values": {
            "form_id": "family_registration",
            "version": "2026112101",
            "instance_id": SEED1_INSTANCE,
            "case_id": SEED1_HOUSEHOLD,
            "name": files[0][0],
            "user_id": str(people["worker_n"].id),
            "username": "worker_n",
            "device_id": str(spare.id),
            "token_id": str(spare_token.id),
            "dataset": "households",
            "token": device_token,
            "try_id": "1",
            "endpoint_id": str(hook_id),
            "delivery_id": str(delivery_id),
            "project_id": "1",
            "table": "Submissions",
            "job": "north-coordinators-job",
            "request_id": str(transfer_id),
            "referral_id": str(referral_id),
            "screen": "screenings",
        },
    }


@pytest.fixture
def savepoint(world: dict[str, Any]) -> Iterator[None]:
    nested = world["connection"].begin_nested()
    yield
    db.session.remove()
    nested.rollback()


# -- the cases ---------------------------------------------------------------------------------


def _rules() -> list[tuple[str, str, tuple[str, ...], str]]:
    """(endpoint, rule, path arguments, method) of every route but static files."""
    from fieldapp.app import _register_blueprints
    from fieldapp.web import boundary

    bare = Flask("fieldapp_rules", static_folder=None)
    boundary.init_app(bare)
    _register_blueprints(bare)
    out = []
    for rule in sorted(bare.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            out.append((rule.endpoint, rule.rule, tuple(sorted(rule.arguments)), method))
    return out


@dataclass(frozen=True)
class Case:
    endpoint: str
    rule: str
    method: str
    where: str  # "path", "query", "json", "body", "form", "multipart", "anonymous"
    param: str
    value_name: str
    value: Any

    @property
    def id(self) -> str:
        return f"{self.endpoint}:{self.method}:{self.where}:{self.param}={self.value_name}"


def _cases() -> list[Case]:
    cases: list[Case] = []
    for endpoint, rule, arguments, method in _rules():
        route = ROUTES.get(endpoint)
        if route is None:
            continue  # test_every_route_is_described fails for it
        writes = method != "GET"
        cases.append(Case(endpoint, rule, method, "anonymous", "-", "valid", None))
        for arg in arguments:
            for name, value in PATH_VALUES.items():
                cases.append(Case(endpoint, rule, method, "path", arg, name, value))
        if not writes or endpoint.endswith(".submission"):
            for param in route.query:
                values = QUERY_VALUES | (CURSOR_VALUES if param == "cursor" else {})
                for name, value in values.items():
                    cases.append(Case(endpoint, rule, method, "query", param, name, value))
        if writes and route.json is not None:
            for param in route.json:
                for name, value in JSON_VALUES.items():
                    cases.append(Case(endpoint, rule, method, "json", param, name, value))
            for name, value in BODY_VALUES.items():
                cases.append(Case(endpoint, rule, method, "body", "-", name, value))
        if writes and route.form is not None:
            for param in route.form:
                for name, value in FORM_VALUES.items():
                    cases.append(Case(endpoint, rule, method, "form", param, name, value))
        if writes and route.multipart:
            kinds = SUBMISSION_BODIES if endpoint.endswith(".submission") else UPLOAD_BODIES
            for name in kinds:
                cases.append(Case(endpoint, rule, method, "multipart", "-", name, None))
    return cases


SUBMISSION_BODIES = (
    "no_xml_part",
    "not_xml",
    "utf16",
    "instance_id_too_long",
    "attachment_type_too_long",
    "attachment_name_rtl",
    "unknown_form",
    "empty_xml",
)
UPLOAD_BODIES = ("no_file", "empty_file", "garbage", "name_too_long", "not_multipart")

CASES = _cases()


# -- requests ----------------------------------------------------------------------------------


def _quote(value: str) -> str:
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


def _path(case: Case, values: dict[str, str]) -> str:
    def fill(match: re.Match[str]) -> str:
        arg = match.group(1)
        if case.where == "path" and arg == case.param:
            return _quote(case.value)
        value = values[arg]
        blueprint, _, view = case.endpoint.partition(".")
        if blueprint.startswith("openrosa") and view in ("attachment", "manifest", "form_download"):
            value = {"form_id": "home_visit", "name": "households.csv"}.get(arg, value)
        if blueprint in ("cases_api", "case_lists") and arg == "name":
            value = "households"
        if blueprint == "fill" and arg == "form_id":
            value = "family_registration"
        if blueprint == "odata":
            value = {"name": "households"}.get(arg, value)
        return _quote(value)

    return re.sub(r"<(?:[a-z]+:)?(\w+)>", fill, case.rule)


def _encode(pairs: list[tuple[str, str]]) -> str:
    return urlencode([(k, v.encode("utf-8", "surrogatepass")) for k, v in pairs])


def _login(client: Any, username: str) -> str:
    """Log ``client`` in; the session's CSRF token."""
    assert Browser(client).login(username).status_code == 302
    with client.session_transaction() as session:
        token = session.get("_csrf")
    if not token:  # a fresh session after login: any page makes one
        return Browser(client).csrf()
    return str(token)


USERNAMES = {"admin": "admin_x", "designer": "designer_x"}


def _multipart(case: Case, world: dict[str, Any]) -> tuple[bytes, str]:
    from tests.live import multipart

    if case.endpoint.endswith(".submission"):
        xml, files = world["registration"]
        fresh = f"uuid:{uuid.uuid4()}"
        xml = xml.replace(SEED1_INSTANCE.encode(), fresh.encode())
        parts = [("xml_submission_file", "submission.xml", xml, "text/xml")]
        attachments = [(n, n, d, "image/jpeg") for n, d in files]
        match case.value_name:
            case "no_xml_part":
                parts = []
            case "not_xml":
                parts = [("xml_submission_file", "s.xml", b"<data id='x'", "text/xml")]
            case "utf16":
                text = xml.decode().replace('encoding="UTF-8"', 'encoding="UTF-16"')
                parts = [("xml_submission_file", "s.xml", text.encode("utf-16"), "text/xml")]
            case "instance_id_too_long":
                long_xml = set_element(xml, "instanceID", "uuid:" + LONG)
                parts = [("xml_submission_file", "s.xml", long_xml, "text/xml")]
            case "attachment_type_too_long":
                attachments = [(n, n, d, "image/" + LONG) for n, d in files]
            case "attachment_name_rtl":
                attachments = [("\u202e" + n, "\u202e" + n, d, "image/jpeg") for n, d in files]
            case "unknown_form":
                parts = [
                    (
                        "xml_submission_file",
                        "s.xml",
                        xml.replace(b'id="family_registration"', b'id="nope"'),
                        "text/xml",
                    )
                ]
            case "empty_xml":
                parts = [("xml_submission_file", "s.xml", b"", "text/xml")]
        return multipart(parts + attachments)
    data = {
        "no_file": None,
        "empty_file": b"",
        "garbage": b"\x00\xff garbage",
        "name_too_long": PNG,
        "not_multipart": None,
    }[case.value_name]
    if case.value_name == "not_multipart":
        return b"file=abc", "application/x-www-form-urlencoded"
    filename = (LONG + ".png") if case.value_name == "name_too_long" else "logo.png"
    parts = [] if data is None else [("file", filename, data, "image/png")]
    return multipart(parts)


def _send(case: Case, world: dict[str, Any], app: Flask) -> tuple[Any, tuple[float, float]]:
    route: Route = ROUTES[case.endpoint]
    who = "anonymous" if case.where == "anonymous" else route.who
    username = USERNAMES.get(who, who)
    url = _path(case, world["values"])
    query = [(k, v) for k, v in route.query.items()]
    if case.where == "query":
        query = [(k, case.value if k == case.param else v) for k, v in query]
    if query and (case.method == "GET" or case.endpoint.endswith(".submission")):
        url += "?" + _encode(query)
    client = app.test_client()
    headers: dict[str, str] = {}
    blueprint = case.endpoint.partition(".")[0]
    csrf = ""
    if blueprint in ("openrosa", "openrosa_key", "openrosa_web"):
        headers["X-OpenRosa-Version"] = "1.0"
    if who != "anonymous":
        if url.startswith(("/api/", "/v1/")):
            headers["Authorization"] = f"Bearer {world['tokens'][username]}"
        elif blueprint == "openrosa":
            basic = base64.b64encode(f"{username}:{TEST_PASSWORD}".encode()).decode()
            headers["Authorization"] = f"Basic {basic}"
        elif blueprint != "openrosa_key":
            csrf = _login(client, username)
            headers["X-CSRF-Token"] = csrf
    data: bytes | str | None = None
    content_type: str | None = None
    if case.method != "GET":
        if route.multipart and case.where == "multipart":
            data, content_type = _multipart(case, world)
        elif route.multipart and case.endpoint.endswith(".submission"):
            data, content_type = _multipart(
                Case(case.endpoint, case.rule, case.method, "multipart", "-", "valid", None),
                world,
            )
        elif route.json is not None:
            if case.where == "body":
                data, content_type = case.value
            else:
                body = dict(route.json)
                if case.where == "json":
                    body[case.param] = case.value
                data, content_type = json.dumps(body), "application/json"
        elif route.form is not None or not url.startswith(("/api/", "/v1/")):
            fields = list((route.form or {}).items())
            if case.where == "form":
                fields = [(k, case.value if k == case.param else v) for k, v in fields]
            if csrf:
                fields.append(("csrf_token", csrf))
            data, content_type = _encode(fields), "application/x-www-form-urlencoded"
    started, cpu = time.perf_counter(), time.thread_time()
    response = client.open(
        url, method=case.method, data=data, content_type=content_type, headers=headers
    )
    return response, (time.perf_counter() - started, time.thread_time() - cpu)


#: bookkeeping a refusal may still write: the audit log (a failed login is audited), failure
#: counters of the login throttle, the apps noted when a password signs in, and the sessions
#: the suite signs in with
BOOKKEEPING = {"audit_events", "auth_throttles", "collect_syncs", "web_sessions"}


def _counts() -> dict[str, int]:
    """Rows per table, but the bookkeeping ones."""
    return {
        table.name: db.session.scalar(select(func.count()).select_from(table)) or 0
        for table in Base.metadata.sorted_tables
        if table.name not in BOOKKEEPING
    }


def assert_well_formed_error(response: Any, path: str) -> None:
    if path.startswith("/v1/") and response.is_json:
        # ODK Central's shape: {"code", "message"} (a URL no /v1 route matches is an HTML 404)
        assert isinstance(response.json["message"], str) and response.json["message"]
    elif path.startswith("/api/"):
        assert response.is_json, response.data[:200]
        error = response.json["error"]
        assert isinstance(error["code"], str) and error["code"]
        assert isinstance(error["message"], str) and error["message"]
    elif path.startswith(("/collect", "/fill/collect")):
        body = response.get_data(as_text=True)
        assert "<OpenRosaResponse" in body, body[:200]
        assert re.search(r"<message[^>]*>[^<]+</message>", body), body[:200]
    else:
        body = response.get_data(as_text=True)
        assert response.mimetype == "text/html", response.mimetype
        assert re.search(r'data-error-code="[^"]+"', body) or "login" in body, body[:300]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_input(app: Flask, world: dict[str, Any], savepoint: None, case: Case):
    writes = case.method != "GET"
    before = _counts() if writes else None
    response, elapsed = _send(case, world, app)
    status = response.status_code
    assert status < 500, (status, response.get_data(as_text=True)[:300])
    # a quadratic path shows in the CPU whatever else the machine does; a hang on the clock
    wall, used = elapsed
    assert used < 2.0, f"answered with {used:.2f} s of CPU"
    assert wall < 10.0, f"answered in {wall:.2f} s"
    path = _path(case, world["values"])
    if status >= 400:
        assert_well_formed_error(response, path)
        if writes:
            db.session.remove()
            assert _counts() == before, "a refused write stored something"


def test_every_route_is_described(app: Flask):
    endpoints = {r.endpoint for r in app.url_map.iter_rules() if r.endpoint != "static"}
    assert endpoints - set(ROUTES) == set(), "describe the new routes in tests/hostile/routes.py"
    assert set(ROUTES) - endpoints == set(), "routes.py describes routes that no longer exist"


def test_the_suite_is_large_enough():
    assert len(CASES) >= 500
