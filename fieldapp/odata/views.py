"""``/v1``: ODK Central's URL shapes for the data tools (pyODK, ruODK, Power BI, Excel).

fieldapp is project 1. Every route but ``POST /v1/sessions`` takes ``Authorization: Bearer
<session or API token>`` or ``Basic`` (username and password; Power BI and Excel send it), never
the browser's cookie (so no CSRF). Errors are Central-like JSON ``{"code", "message"}``.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, g, jsonify, request
from marshmallow import Schema, fields, validate

from fieldapp.auth import services as auth
from fieldapp.auth import throttle
from fieldapp.auth.models import User
from fieldapp.db import db, unit_of_work, utcnow
from fieldapp.errors import BadRequest, DomainError, NotFound, Unauthorized
from fieldapp.odata import edm, services
from fieldapp.web.args import load_json
from fieldapp.web.security import client_address, throttle_policy

bp = Blueprint("odata", __name__, url_prefix="/v1")

PROJECT = 1
PROJECT_NAME = "fieldapp"
#: the largest ``$top`` and ``$skip`` accepted
MAX_TOP = 1_000_000
MAX_SKIP = 10_000_000
_TRUE = {"true": True, "false": False}


class _SessionSchema(Schema):
    email = fields.String(required=True, validate=validate.Length(min=1, max=254))
    password = fields.String(required=True, validate=validate.Length(min=1, max=1024))


@bp.errorhandler(DomainError)
def _domain_error(exc: DomainError) -> tuple[Response, int]:
    db.session.rollback()
    body: dict[str, Any] = {
        "code": exc.http_status,
        "message": exc.message,
        "details": {"error": exc.code},
    }
    response = jsonify(body)
    if exc.http_status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="fieldapp", charset="UTF-8"'
    if isinstance(exc, throttle.TooManyAttempts) and getattr(exc, "retry_after", None):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response, exc.http_status


def _actor() -> User:
    user = g.get("odata_user")
    if user is None:
        raise Unauthorized("Send 'Authorization: Bearer <token>' or Basic credentials.")
    assert isinstance(user, User)
    return user


def _basic(value: str) -> User:
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeError):
        raise Unauthorized("The Basic credentials cannot be read.") from None
    username, sep, password = decoded.partition(":")
    if not sep or not username or not password:
        raise Unauthorized("The Basic credentials cannot be read.")
    try:
        user = auth.authenticate(
            username,
            password,
            address=client_address(),
            policy=throttle_policy(),
            record_login=False,
        )
    except DomainError:
        db.session.commit()  # the failure counts even though the request is refused
        raise
    return user


def _bearer(token: str) -> User:
    address, now, policy = client_address(), utcnow(), throttle_policy()
    throttle.raise_if_throttled(throttle.load(None, address, token=True), now=now, token=True)
    try:
        user = auth.api_token_user(token, now=now)
    except auth.TokenRejected:
        throttle.record_failure(None, address, policy=policy, now=now, token=True)
        db.session.commit()
        raise
    if db.session.dirty:
        db.session.commit()
    return user


@bp.before_request
def _authenticate() -> None:
    if request.endpoint == "odata.create_session":
        return
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        g.odata_user = _bearer(value.strip())
        g.odata_token = value.strip()
    elif scheme.lower() == "basic" and value.strip():
        g.odata_user = _basic(value)
    else:
        raise Unauthorized("Send 'Authorization: Bearer <token>' or Basic credentials.")


def _project(project_id: int) -> None:
    if project_id != PROJECT:
        raise NotFound("No such project.", code="project.not_found")


# -- sessions and users ----------------------------------------------------------------------


@bp.post("/sessions")
def create_session() -> Any:
    """Central's login: ``{"email", "password"}`` → ``{"token", "expiresAt", "createdAt"}``."""
    data = load_json(_SessionSchema())
    with unit_of_work():
        try:
            token, row = services.open_session(
                data["email"], data["password"], address=client_address()
            )
        except DomainError:
            db.session.commit()  # the failure counts
            raise
        body = {
            "token": token,
            "createdAt": services._iso(row.created_at),
            "expiresAt": services._iso(row.expires_at),
        }
    return jsonify(body)


@bp.delete("/sessions/<token>")
def delete_session(token: str) -> Any:
    """Log out: ends the given session token, which must be the caller's own."""
    actor = _actor()
    with unit_of_work():
        services.close_session(token, actor=actor)
    return jsonify({"success": True})


@bp.get("/users/current")
def current_user() -> Any:
    actor = _actor()
    return jsonify(
        {
            "id": actor.id,
            "type": "user",
            "displayName": actor.display_name or actor.username,
            "email": actor.username,
            "createdAt": services._iso(actor.created_at),
            "updatedAt": None,
            "deletedAt": None,
        }
    )


# -- projects and forms ----------------------------------------------------------------------


def _project_json() -> dict[str, Any]:
    return {
        "id": PROJECT,
        "name": PROJECT_NAME,
        "description": None,
        "archived": False,
        "keyId": None,
        "createdAt": "2019-01-01T00:00:00.000Z",
        "updatedAt": None,
        "deletedAt": None,
    }


@bp.get("/projects")
def projects() -> Any:
    services.check_reader(_actor())
    return jsonify([_project_json()])


@bp.get("/projects/<int:project_id>")
def project(project_id: int) -> Any:
    services.check_reader(_actor())
    _project(project_id)
    return jsonify(_project_json())


def _form_json(form: Any) -> dict[str, Any]:
    version = form.current_version
    return {
        "projectId": PROJECT,
        "xmlFormId": form.form_id,
        "name": form.title,
        "version": version.version if version else "",
        "hash": version.xform_md5 if version else "",
        "state": form.state,
        "enketoId": None,
        "keyId": None,
        "createdAt": services._iso(form.created_at),
        "updatedAt": services._iso(form.updated_at),
        "publishedAt": services._iso(version.published_at) if version else None,
    }


@bp.get("/projects/<int:project_id>/forms")
def forms(project_id: int) -> Any:
    services.check_reader(_actor())
    _project(project_id)
    return jsonify([_form_json(f) for f in services.list_forms()])


@bp.get("/projects/<int:project_id>/forms/<form_id>")
def form(project_id: int, form_id: str) -> Any:
    services.check_reader(_actor())
    _project(project_id)
    return jsonify(_form_json(services.get_form(form_id)))


# -- OData: forms ----------------------------------------------------------------------------


def _int_option(name: str, maximum: int) -> int | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()) or int(raw) > maximum:
        raise BadRequest(
            "%(name)s is a whole number from 0 to %(maximum)s.",
            code="odata.option_invalid",
            params={"name": name, "maximum": maximum},
        )
    return int(raw)


def _options(*, allow_expand: bool = True) -> services.Options:
    args = request.args
    count = args.get("$count")
    if count is not None and count.lower() not in _TRUE:
        raise BadRequest("$count is true or false.", code="odata.option_invalid")
    wkt = args.get("$wkt")
    if wkt is not None and wkt.lower() not in _TRUE:
        raise BadRequest("$wkt is true or false.", code="odata.option_invalid")
    expand = args.get("$expand")
    if expand is not None and (expand.strip() != "*" or not allow_expand):
        raise BadRequest("Only $expand=* is supported.", code="odata.expand_unsupported")
    select = args.get("$select")
    names: tuple[str, ...] | None = None
    if select is not None:
        names = tuple(n.strip() for n in select.split(",") if n.strip())
        if not names or len(select) > 2000 or len(names) > 500:
            raise BadRequest(
                "$select names properties, separated by commas.", code="odata.select_invalid"
            )
    token = args.get("$skiptoken")
    return services.Options(
        top=_int_option("$top", MAX_TOP),
        skip=_int_option("$skip", MAX_SKIP) or 0,
        count=bool(count and _TRUE[count.lower()]),
        filter=args.get("$filter"),
        expand=expand is not None,
        select=names,
        wkt=bool(wkt and _TRUE[wkt.lower()]),
        skiptoken=token,
    )


def _base() -> str:
    return request.host_url.rstrip("/")


def _next_link(token: str | None) -> str | None:
    if token is None:
        return None
    params = [(k, v) for k, v in request.args.items(multi=True) if k not in ("$skip", "$skiptoken")]
    params.append(("$skiptoken", token))
    return f"{_base()}{request.path}?{urlencode(params)}"


def _feed(context: str, page: services.Page) -> Response:
    body: dict[str, Any] = {"@odata.context": context}
    if page.count is not None:
        body["@odata.count"] = page.count
    body["value"] = page.rows
    link = _next_link(page.next_token)
    if link is not None:
        body["@odata.nextLink"] = link
    response = jsonify(body)
    response.headers["OData-Version"] = "4.0"
    return response


def _svc(project_id: int, form_id: str) -> tuple[Any, list[edm.Node]]:
    services.check_reader(_actor())
    _project(project_id)
    found = services.get_form(form_id)
    return found, services.form_tree(found)


@bp.get("/projects/<int:project_id>/forms/<form_id>.svc")
def service_document(project_id: int, form_id: str) -> Any:
    """The OData service document: the form's entity sets."""
    _, tree = _svc(project_id, form_id)
    base = f"{_base()}{request.path}"
    response = jsonify(
        {
            "@odata.context": f"{base}/$metadata",
            "value": [
                {"name": t.name, "kind": "EntitySet", "url": t.name} for t in edm.tables(tree)
            ],
        }
    )
    response.headers["OData-Version"] = "4.0"
    return response


@bp.get("/projects/<int:project_id>/forms/<form_id>.svc/$metadata")
def metadata(project_id: int, form_id: str) -> Any:
    """The form's CSDL (EDMX) document, built from every published version's fields."""
    found, tree = _svc(project_id, form_id)
    response = Response(edm.metadata_xml(found.form_id, tree), mimetype="application/xml")
    response.headers["OData-Version"] = "4.0"
    return response


@bp.get("/projects/<int:project_id>/forms/<form_id>.svc/<table>")
def table(project_id: int, form_id: str, table: str) -> Any:
    """``Submissions`` or a repeat's entity set, with the OData query options."""
    found, tree = _svc(project_id, form_id)
    known = {t.name: t for t in edm.tables(tree)}
    if table not in known:
        raise NotFound("No such entity set.", code="odata.table_not_found")
    chosen = known[table]
    options = _options(allow_expand=chosen.node is None)
    nodes = tree if chosen.node is None else chosen.node.children
    allowed = [n.name for n in nodes] + ["__id"]
    allowed += ["__system"] if chosen.node is None else []
    services.check_select(options, allowed + [f"__{t.name}-id" for t in known.values()])
    actor = _actor()
    with unit_of_work():
        if chosen.node is None:
            page = services.read_submissions(found, actor, options, tree=tree)
        else:
            page = services.read_repeat(found, actor, options, tree=tree, table=chosen)
    base = f"{_base()}/v1/projects/{PROJECT}/forms/{form_id}.svc"
    return _feed(f"{base}/$metadata#{table}", page)


# -- OData: case lists -----------------------------------------------------------------------


def _dataset_json(case_list: Any) -> dict[str, Any]:
    return {
        "name": case_list.name,
        "projectId": PROJECT,
        "createdAt": services._iso(case_list.created_at),
        "approvalRequired": case_list.approval_required,
        "properties": [
            {
                "name": p,
                "odataName": p,
                "publishedAt": services._iso(case_list.created_at),
                "forms": [],
            }
            for p in services.property_names(case_list)
        ],
    }


@bp.get("/projects/<int:project_id>/datasets")
def datasets(project_id: int) -> Any:
    services.check_reader(_actor())
    _project(project_id)
    return jsonify([_dataset_json(c) for c in services.list_case_lists()])


@bp.get("/projects/<int:project_id>/datasets/<name>")
def dataset(project_id: int, name: str) -> Any:
    services.check_reader(_actor())
    _project(project_id)
    return jsonify(_dataset_json(services.get_case_list(name)))


@bp.get("/projects/<int:project_id>/datasets/<name>.svc")
def dataset_service(project_id: int, name: str) -> Any:
    services.check_reader(_actor())
    _project(project_id)
    services.get_case_list(name)
    response = jsonify(
        {
            "@odata.context": f"{_base()}{request.path}/$metadata",
            "value": [{"name": "Entities", "kind": "EntitySet", "url": "Entities"}],
        }
    )
    response.headers["OData-Version"] = "4.0"
    return response


@bp.get("/projects/<int:project_id>/datasets/<name>.svc/$metadata")
def dataset_metadata(project_id: int, name: str) -> Any:
    services.check_reader(_actor())
    _project(project_id)
    found = services.get_case_list(name)
    response = Response(
        edm.entity_metadata_xml(found.name, services.property_names(found)),
        mimetype="application/xml",
    )
    response.headers["OData-Version"] = "4.0"
    return response


@bp.get("/projects/<int:project_id>/datasets/<name>.svc/Entities")
def entities(project_id: int, name: str) -> Any:
    """The case list's cases the reader may see, as Central's entity feed."""
    actor = _actor()
    services.check_reader(actor)
    _project(project_id)
    found = services.get_case_list(name)
    options = _options(allow_expand=False)
    services.check_select(options, ["__id", "label", "__system", *services.property_names(found)])
    with unit_of_work():
        page = services.read_entities(found, actor, options)
    base = f"{_base()}/v1/projects/{PROJECT}/datasets/{name}.svc"
    return _feed(f"{base}/$metadata#Entities", page)


def init_app(app: Any) -> None:
    """Register the blueprint (no cookie authentication here, hence no CSRF check)."""
    from fieldapp.web.security import CSRF_EXEMPT_BLUEPRINTS  # noqa: PLC0415

    CSRF_EXEMPT_BLUEPRINTS.add("odata")
    app.register_blueprint(bp)
