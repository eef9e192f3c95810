"""The OpenRosa server ODK Collect talks to (ODK-INTEROP §1-2, fieldapp's rules in §10).

Two ways in, one blueprint registered twice:

* ``/collect`` — username and password (HTTP Basic). A request without credentials gets 401 with
  a Basic challenge, so Collect asks the worker.
* ``/collect/key/<token>`` — a device token in the path and no password (set up by QR code).
  A malformed token is 401; a well-formed unknown or revoked one is 403 (so that Collect does
  not prompt for a password that would not help).

Every URL handed out (form list, manifest) keeps the prefix the request came in on, so Collect's
later downloads carry the same credential. This package knows HTTP, headers and XML envelopes;
the decisions are in ``forms.services`` and ``submissions.services``.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import re
from collections.abc import Sequence
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, request, url_for
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from werkzeug.http import http_date
from werkzeug.routing import Map, UnicodeConverter

from fieldapp.auth import devices
from fieldapp.auth import services as auth
from fieldapp.auth.models import User
from fieldapp.blobs import Blob
from fieldapp.cases.models import CaseList
from fieldapp.cases.services import get_case_list
from fieldapp.db import column_length, db, unit_of_work
from fieldapp.errors import BadRequest, Forbidden, NotFound, Unauthorized
from fieldapp.forms import fetches
from fieldapp.forms import services as forms
from fieldapp.forms.models import Form, FormAttachment, FormState, FormVersion
from fieldapp.openrosa import multipart
from fieldapp.openrosa.responses import (
    FormListEntry,
    MediaEntry,
    form_list_xml,
    integrity_xml,
    manifest_xml,
    message_xml,
)
from fieldapp.sandbox import openrosa as tries
from fieldapp.sandbox import services as try_services
from fieldapp.submissions.models import SubmissionVersion
from fieldapp.submissions.services import Upload, may_submit, receive_submission
from fieldapp.web.files import blob_store, content_disposition

bp = Blueprint("openrosa", __name__)
log = logging.getLogger(__name__)

#: endpoints that require the ``X-OpenRosa-Version: 1.0`` header (downloads do not)
_VERSIONED = {"form_list", "manifest", "submission", "integrity"}
XML = "text/xml; charset=utf-8"
#: how a ``<form_id>`` route segment (the default converter) writes a value into a path
_PATH_PART = UnicodeConverter(Map())


def register(app: Flask) -> None:
    """Mount the blueprint under its three prefixes.

    ``/fill/collect`` is for the web form page (``fieldapp.fill``): the logged-in web session
    is the credential, so it keeps the CSRF check (the page sends ``X-CSRF-Token``).
    """
    app.register_blueprint(bp, url_prefix="/collect", name="openrosa")
    app.register_blueprint(bp, url_prefix="/collect/key/<token>", name="openrosa_key")
    app.register_blueprint(bp, url_prefix="/fill/collect", name="openrosa_web")
    tries.register(app, bp)  # /collect/test/<token> and /forms/tries/<try_id>/collect
    from fieldapp.web.security import CSRF_EXEMPT_BLUEPRINTS  # noqa: PLC0415

    CSRF_EXEMPT_BLUEPRINTS.update({"openrosa", "openrosa_key", tries.COLLECT})


# -- protocol plumbing -----------------------------------------------------------------------


@bp.url_value_preprocessor
def _pull_token(endpoint: str | None, values: dict[str, Any] | None) -> None:
    g.device_token = values.pop("token", None) if values else None
    g.try_id = values.pop("try_id", None) if values else None


@bp.url_defaults
def _push_token(endpoint: str, values: dict[str, Any]) -> None:
    token = g.get("device_token")
    if token is not None and current_app.url_map.is_endpoint_expecting(endpoint, "token"):
        values.setdefault("token", token)
    try_id = g.get("try_id")
    if try_id is not None and current_app.url_map.is_endpoint_expecting(endpoint, "try_id"):
        values.setdefault("try_id", try_id)


def _authenticate() -> User:
    if tries.is_try_request():
        return tries.authenticate()  # a try of drafts: test data only (fieldapp.sandbox)
    if request.blueprint == "openrosa_web":
        # the web form page: its session, never a password prompt (no Basic challenge)
        from flask_login import current_user  # noqa: PLC0415

        from fieldapp.web.permissions import current_actor  # noqa: PLC0415

        if not current_user.is_authenticated:
            raise Unauthorized(
                "Your session has ended. Log in again; nothing waiting on this device is lost.",
                code="auth.session_required",
            )
        return current_actor()
    token = g.get("device_token")
    if token is not None:
        if not devices.TOKEN_RE.match(token):
            raise Unauthorized(
                "This server address is not complete. Scan the QR code from "
                "your coordinator again.",
                code="device.token_malformed",
            )
        device = devices.device_for_token(token)
        if device is None:
            raise Forbidden(
                "This phone's access has been revoked, or the address is wrong. "
                "Ask your coordinator for a new QR code.",
                code="device.token_invalid",
            )
        g.device = device
        return device.user
    credentials = request.authorization
    if credentials is None or credentials.type != "basic" or not credentials.username:
        raise Unauthorized("Enter your fieldapp username and password.")
    from fieldapp.auth.throttle import TooManyAttempts  # noqa: PLC0415
    from fieldapp.web.security import client_address, throttle_policy  # noqa: PLC0415

    try:
        user = auth.authenticate(
            credentials.username,
            credentials.password or "",
            address=client_address(),
            policy=throttle_policy(),
            record_login=False,  # a sync is many requests: the phone is noted below instead
        )
    except TooManyAttempts:
        db.session.commit()  # keep the failure counts and their audit entries
        raise
    except auth.AccountLocked as exc:
        db.session.commit()
        raise Unauthorized(exc.template, code=exc.code, params=exc.params) from None
    except auth.LoginFailed as exc:
        db.session.commit()  # keep the failure count and its audit entry
        raise Unauthorized(exc.template, code=exc.code, params=exc.params) from None
    devices.note_password_sync(
        user, user_agent=request.headers.get("User-Agent", ""), ip=request.remote_addr
    )
    return user


@bp.before_request
def _before() -> None:
    endpoint = (request.endpoint or "").rpartition(".")[2]
    if endpoint in _VERSIONED and request.headers.get("X-OpenRosa-Version") != "1.0":
        raise BadRequest(
            "This is an OpenRosa server: send the header X-OpenRosa-Version: 1.0.",
            code="openrosa.version_header",
        )
    g.actor = _authenticate()
    if db.session.dirty or db.session.new:
        db.session.commit()  # last-seen times (written at most every few minutes)


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers["X-OpenRosa-Version"] = "1.0"
    response.headers["X-OpenRosa-Accept-Content-Length"] = str(
        current_app.config["OPENROSA_MAX_BYTES"]
    )
    response.headers["Content-Language"] = "en"
    response.headers.setdefault("Date", http_date())
    return response


def _conditional(
    body: str | bytes, content_type: str, etag: str | None = None, *, compress: bool = False
) -> Response:
    """A response with a strong ETag, answered 304 when the client already has it.

    :param compress: gzip the body for a client that accepts it (its own ETag, ``-gz``); only
        for bodies that hold no secret and nothing the requester chose (no BREACH oracle).
    """
    data = body.encode() if isinstance(body, str) else body
    if etag is None:
        etag = hashlib.md5(data, usedforsecurity=False).hexdigest()
    gzipped = compress and len(data) > 1024 and request.accept_encodings.quality("gzip") > 0
    if gzipped:
        data = gzip.compress(data, compresslevel=6, mtime=0)
        etag += "-gz"
    response = Response(data, content_type=content_type)
    if compress:
        response.vary.add("Accept-Encoding")
    if gzipped:
        response.headers["Content-Encoding"] = "gzip"
    response.set_etag(etag)
    response.make_conditional(request)
    return response


def _actor() -> User:
    actor = g.actor
    assert isinstance(actor, User)
    return actor


# -- discovery -------------------------------------------------------------------------------


def _downloadable(form_id: str) -> tuple[Form, FormVersion]:
    """A form the actor may download: published, open or closing (in a try: its draft)."""
    draft_try = tries.current_try()
    if draft_try is not None:
        return try_services.draft_in_try(draft_try, form_id)
    form = forms.find_form(form_id)
    if (
        form is None
        or form.current_version is None
        or not may_submit(_actor())
        or form.state not in (FormState.OPEN, FormState.CLOSING)
    ):
        raise NotFound(
            "There is no form '%(form)s' for you on this server.",
            code="form.not_found",
            params={"form": form_id},
        )
    return form, form.current_version


@bp.get("/formList")
def form_list() -> Response:
    """The open forms this worker may fill (``?formID=`` narrows to one)."""
    wanted = request.args.get("formID")
    draft_try = tries.current_try()
    if draft_try is not None:  # a try: its drafts only
        return _try_form_list(try_services.drafts_of(draft_try), wanted)
    listed = forms.open_forms(wanted) if may_submit(_actor()) else []
    download = _url_pattern("form_download")
    manifest = _url_pattern("manifest")
    # The list is a function of these rows and of the two URL patterns (which hold the prefix
    # the request came in on), so their hash is a strong ETag: a phone that has the list gets
    # its 304 before any XML is built.
    fingerprint = hashlib.md5(usedforsecurity=False)
    for part in (download, manifest, *(f.fingerprint for f in listed)):
        fingerprint.update(part.encode())
        fingerprint.update(b"\0")
    etag = fingerprint.hexdigest()
    if request.if_none_match.contains(etag):
        return _conditional(b"", XML, etag=etag)
    entries = [
        FormListEntry(
            form_id=f.form_id,
            name=f.title or f.form_id,
            version=f.version,
            md5=f.xform_md5,
            download_url=_url_for_form(download, f.form_id),
            manifest_url=_url_for_form(manifest, f.form_id) if f.has_attachments else None,
        )
        for f in listed
    ]
    return _conditional(form_list_xml(entries), XML, etag=etag)


#: stands for the form id in a URL pattern (letters only: no converter changes it)
_FORM_ID_MARK = "FIELDAPPFORMIDMARK"


def _url_pattern(endpoint: str) -> str:
    """The external URL of ``endpoint`` for this request's blueprint, with a mark for the form id
    (one ``url_for`` per list instead of two per form)."""
    return url_for(f"{request.blueprint}.{endpoint}", form_id=_FORM_ID_MARK, _external=True)


def _url_for_form(pattern: str, form_id: str) -> str:
    """``url_for`` of the pattern's endpoint for ``form_id``: the form id as the route's default
    converter writes it into a path."""
    return pattern.replace(_FORM_ID_MARK, _PATH_PART.to_url(form_id), 1)


def _try_form_list(
    listed: Sequence[tuple[Form, FormVersion | None]], wanted: str | None
) -> Response:
    """A designer's try: the drafts on trial (few, and only for the designer's phone)."""
    entries = []
    for form, version in sorted(listed, key=lambda p: (p[0].title or p[0].form_id).lower()):
        if version is None or (wanted is not None and form.form_id != wanted):
            continue
        entries.append(
            FormListEntry(
                form_id=form.form_id,
                name=version.title or form.form_id,
                version=version.version,
                md5=version.xform_md5,
                download_url=url_for(
                    f"{request.blueprint}.form_download", form_id=form.form_id, _external=True
                ),
                manifest_url=url_for(
                    f"{request.blueprint}.manifest", form_id=form.form_id, _external=True
                )
                if version.attachments
                else None,
            )
        )
    return _conditional(form_list_xml(entries), XML)


#: the ways in whose downloads say which version a worker's phone or browser has
_NOTED_BLUEPRINTS = {"openrosa": False, "openrosa_key": False, "openrosa_web": True}


def _note_fetch(version: FormVersion, kind: str) -> None:
    """Note which version this phone now has (``fieldapp.forms.fetches``; a few writes an hour
    at most). A failure to note never fails the download itself."""
    web = _NOTED_BLUEPRINTS.get(request.blueprint or "")
    if web is None:
        return
    try:
        with unit_of_work():
            fetches.note_fetch(
                version,
                user=_actor(),
                device=g.get("device"),
                user_agent=request.headers.get("User-Agent", ""),
                kind=kind,
                web=web,
            )
    except SQLAlchemyError as exc:
        log.warning("form fetch not noted: %s", type(exc).__name__)


@bp.get("/forms/<form_id>.xml")
def form_download(form_id: str) -> Response:
    """The XForm, byte for byte what the list's hash describes."""
    _form, version = _downloadable(form_id)
    response = _conditional(version.xform.encode(), XML, etag=version.xform_md5, compress=True)
    # kept by the browser of /fill and revalidated by its ETag (a 304 when unchanged); a form
    # definition holds no one's data, and "private" keeps it out of shared caches
    response.headers["Cache-Control"] = "private, no-cache"
    _note_fetch(version, "xform")
    return response


def _case_list_token(attachment: FormAttachment, case_list: CaseList | None) -> str:
    from fieldapp.cases.caselists import list_token  # noqa: PLC0415

    assert attachment.dataset is not None
    return list_token(attachment.dataset, actor=_actor(), case_list=case_list)


@bp.get("/forms/<form_id>/manifest")
def manifest(form_id: str) -> Response:
    """The files the form needs: uploaded media and CSVs, and the worker's case lists."""
    _form, version = _downloadable(form_id)
    entries = []
    for attachment in version.attachments:
        url = url_for(
            f"{request.blueprint}.attachment", form_id=form_id, name=attachment.name, _external=True
        )
        if attachment.dataset is not None:
            draft_try = tries.current_try()
            case_list = get_case_list(attachment.dataset)
            token = (
                try_services.test_case_list(attachment.dataset, draft_try).token
                if draft_try is not None
                else _case_list_token(attachment, case_list)
            )
            integrity = url_for(
                f"{request.blueprint}.integrity", dataset=attachment.dataset, _external=True
            )
            kind = (
                "approvalEntityList"
                if case_list is None or case_list.approval_required
                else "entityList"
            )
            entries.append(
                MediaEntry(attachment.name, f"md5:{token}", url, type=kind, integrity_url=integrity)
            )
        elif attachment.blob_sha256 is not None:
            blob = db.session.get(Blob, attachment.blob_sha256)
            assert blob is not None
            entries.append(MediaEntry(attachment.name, f"md5:{blob.md5}", url))
    response = _conditional(manifest_xml(entries), XML)
    _note_fetch(version, "manifest")
    return response


@bp.get("/forms/<form_id>/attachments/<name>")
def attachment(form_id: str, name: str) -> Response:
    """One media file or case list of the form."""
    _form, version = _downloadable(form_id)
    found = next((a for a in version.attachments if a.name == name), None)
    if found is None:
        raise NotFound(
            "The form has no file '%(name)s'.",
            code="form.attachment_not_found",
            params={"name": name},
        )
    draft_try = tries.current_try()
    if found.dataset is not None and draft_try is not None:
        test_list = try_services.test_case_list(found.dataset, draft_try)  # test cases only
        response = _conditional(test_list.content, "text/csv; charset=utf-8", etag=test_list.token)
        response.headers["Content-Disposition"] = content_disposition("attachment", name)
        return response
    if found.dataset is not None:
        from fieldapp.cases.caselists import (  # noqa: PLC0415
            build_case_list,
            known_token,
            state_key,
        )

        # a phone that has the current list gets 304 without it being built; otherwise it is
        # built once (and _conditional still answers 304 if the phone had it after all)
        key = state_key(found.dataset, actor=_actor())
        token = known_token(key)
        if token is not None and request.if_none_match.contains(token):
            return Response(status=304, headers={"ETag": f'"{token}"'})
        built = build_case_list(found.dataset, actor=_actor(), key=key)
        response = _conditional(built.content, "text/csv; charset=utf-8", etag=built.token)
        response.headers["Content-Disposition"] = content_disposition("attachment", name)
        return response
    if found.blob_sha256 is None:
        raise NotFound(
            "%(name)s has not been uploaded yet.",
            code="form.attachment_missing",
            params={"name": name},
        )
    blob = db.session.get(Blob, found.blob_sha256)
    assert blob is not None
    response = _conditional(
        blob_store().read(found.blob_sha256),
        found.content_type or "application/octet-stream",
        etag=blob.md5,
    )
    # media are for Collect, not browsers: never let an uploaded file run as a page here
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@bp.get("/datasets/<dataset>/integrity")
def integrity(dataset: str) -> Response:
    """Which of the cases a phone holds (``?id=a,b``) it must now delete (ODK-INTEROP §1.5)."""
    from fieldapp.cases.caselists import deleted_states  # noqa: PLC0415

    ids = [i.strip() for i in request.args.get("id", "").split(",") if i.strip()][:10_000]
    if tries.current_try() is not None:
        states = try_services.test_deleted_states(dataset, ids)
    else:
        states = (
            deleted_states(dataset, ids, actor=_actor())
            if may_submit(_actor())
            else [(i, True) for i in ids]
        )
    return Response(integrity_xml(states), content_type=XML)


# -- submission ------------------------------------------------------------------------------


def _retryable(exc: Exception) -> bool:
    if isinstance(exc, IntegrityError):
        return True  # a concurrent upload of the same instanceID won; the retry sees it
    return isinstance(exc, OperationalError) and "locked" in str(exc.orig).lower()


_DEVICE_ID_MAX = column_length(SubmissionVersion.device_id)


#: a part's content type as stored: ``type/subtype`` (parameters dropped), at most the column's
#: 100 characters; anything else is stored as unknown rather than refused (the file still counts)
_MIMETYPE = re.compile(
    r"(?:[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,48})/(?:[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,48})"
)
_XML_PART = "xml_submission_file"


def _read_parts(max_xml_bytes: int) -> tuple[bytes, list[Upload]]:
    """The XML part and the file parts of a submission POST (ODK-INTEROP §2.2).

    The XML may come as a file part or as a plain field; exactly one is accepted, since with two
    the server could not tell which one the phone meant. The body is read up to the route's
    limit (more is a 413 before it is read whole) and split by :mod:`.multipart`; a body of
    another type is left to werkzeug (it has no parts, so the XML is missing).
    """
    boundary = multipart.boundary_of(request.content_type or "")
    if boundary is None:
        xml_parts = [f.read(max_xml_bytes + 1) for f in request.files.getlist(_XML_PART)]
        xml_parts += [v.encode() for v in request.form.getlist(_XML_PART)]
        parts = [
            (name, part.read(), part.mimetype)
            for name, part in request.files.items(multi=True)
            if name != _XML_PART
        ]
    else:
        body = request.get_data(cache=False)
        split = multipart.parse(
            body,
            boundary,
            max_parts=int(current_app.config.get("MAX_FORM_PARTS") or 1000),
            max_field_bytes=max(
                max_xml_bytes, int(current_app.config.get("MAX_FORM_MEMORY_SIZE") or 0)
            ),
        )
        del body
        xml_parts = [p.data for p in split if p.name == _XML_PART]
        parts = [
            (p.name, p.data, (p.content_type or "").partition(";")[0])
            for p in split
            if p.name != _XML_PART and p.filename is not None
        ]
    if len(xml_parts) > 1:
        raise BadRequest(
            "The POST has more than one xml_submission_file part; send exactly one.",
            code="submission.xml_part_duplicate",
        )
    if not xml_parts:
        raise BadRequest(
            "Required multipart POST field xml_submission_file missing.",
            code="submission.xml_part_missing",
        )
    uploads = [
        Upload(name=name, data=data, content_type=_stored_mimetype(mimetype))
        for name, data, mimetype in parts
    ]
    return xml_parts[0], uploads


def _stored_mimetype(mimetype: str | None) -> str | None:
    value = (mimetype or "").strip()
    return value.lower() if _MIMETYPE.fullmatch(value) else None


@bp.route("/submission", methods=["HEAD", "GET", "POST"])
def submission() -> Response:
    """HEAD: 204 and the accepted size. POST: one submission (or one part of a split upload).

    The 201 is sent only after everything is committed: rows and attachment files.
    """
    if request.method != "POST":
        return Response(status=204)
    limit = int(current_app.config["OPENROSA_MAX_BYTES"])
    request.max_content_length = limit
    xml, uploads = _read_parts(int(current_app.config["SUBMISSION_XML_MAX_BYTES"]))
    device_id = request.args.get("deviceID")
    if device_id is not None and len(device_id) > _DEVICE_ID_MAX:
        raise BadRequest(
            "deviceID is longer than %(max)s characters.",
            code="submission.device_id",
            params={"max": _DEVICE_ID_MAX},
        )
    user_agent = request.headers.get("User-Agent")
    if request.headers.get("ODK-Client"):
        user_agent = f"{request.headers['ODK-Client']} {user_agent or ''}".strip()
    draft_try = tries.current_try()
    for attempt in range(3):
        try:
            with unit_of_work():
                result = receive_submission(
                    xml=xml,
                    uploads=uploads,
                    actor=_actor(),
                    store=blob_store(),
                    device=g.get("device"),
                    device_id=device_id,
                    user_agent=user_agent,
                    max_xml_bytes=int(current_app.config["SUBMISSION_XML_MAX_BYTES"]),
                    max_xml_elements=int(current_app.config["SUBMISSION_XML_MAX_ELEMENTS"]),
                    overdue_days=int(current_app.config["URGENT_OVERDUE_DAYS"]),
                    test=try_services.test_target(draft_try) if draft_try else None,
                )
                if draft_try is not None:
                    try_services.after_test_submission(result, draft_try, actor=_actor())
            break
        except (IntegrityError, OperationalError) as exc:
            if attempt == 2 or not _retryable(exc):
                raise
    return Response(
        message_xml("full submission upload was successful!"), status=201, content_type=XML
    )
