"""The form catalogue in the browser (``/forms``) and in the JSON API (``/api/v1/forms``)."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext
from marshmallow import Schema, fields, validate
from werkzeug.datastructures import FileStorage

from fieldapp.auth.models import Role
from fieldapp.db import column_length, unit_of_work
from fieldapp.errors import BadRequest, DomainError, Invalid, NotFound, PayloadTooLarge
from fieldapp.forms import fetches, services
from fieldapp.forms.models import Form, FormAttachment, FormVersion, public_problems
from fieldapp.forms.sandbox import CompileLimits, warm_up
from fieldapp.sandbox import services as try_services
from fieldapp.submissions import impact
from fieldapp.web.args import Text, load_args, load_json
from fieldapp.web.files import blob_store, content_disposition
from fieldapp.web.i18n import state_label, translated_error
from fieldapp.web.permissions import current_actor, require

bp = Blueprint("forms", __name__, url_prefix="/forms")
api = Blueprint("forms_api", __name__, url_prefix="/api/v1/forms")

DESIGNERS = (Role.DESIGNER, Role.ADMIN)


@bp.before_app_request
def _warm_up_converter() -> None:
    # The first request a server process handles starts the XLSForm converter's forkserver in
    # the background (a second or two), so that no upload waits for it. Only requests, which
    # run in the serving processes themselves, do this: a forkserver started before gunicorn
    # forks its workers would not belong to them.
    warm_up()


class PublishBody(Schema):
    acknowledge_warnings = fields.Boolean(load_default=False, allow_none=True)
    #: what becomes of the test data of the draft's tries (``fieldapp.sandbox``)
    test_data = fields.String(
        load_default="discard", validate=validate.OneOf(try_services.TEST_DATA_CHOICES)
    )
    note = Text(max=services.PUBLISH_NOTE_MAX, load_default=None, allow_none=True)


class DiffArgs(Schema):
    """``?from=&to=``: version strings (default: the current version and the draft)."""

    from_version = Text(column=FormVersion.version, data_key="from", load_default=None)
    to_version = Text(column=FormVersion.version, data_key="to", load_default=None)


def _diff_args() -> dict[str, Any]:
    args = load_args(DiffArgs())
    return {
        "from_version": args["from_version"] or None,
        "to_version": args["to_version"] or None,
    }


def _draft_diff(form: Form) -> impact.VersionDiff | None:
    """The draft against the current version, for the draft and publish pages."""
    if form.draft is None:
        return None
    return impact.version_diff(form)


def _versions_overview(form: Form) -> dict[str, Any]:
    """Per version: submissions, and which phones have it (none of their tokens)."""
    counts = impact.submission_counts(form)
    clients = fetches.clients_by_version(form)
    phones: dict[str, int] = {}
    for client in clients:
        phones[client.version] = phones.get(client.version, 0) + 1
    return {"counts": counts, "clients": clients, "phones": phones}


class StateBody(Schema):
    state = fields.String(load_default="")


def _policy() -> services.ValidationPolicy:
    return services.ValidationPolicy(
        mode=str(current_app.config["ODK_VALIDATE"]),
        timeout=float(current_app.config["ODK_VALIDATE_TIMEOUT"]),
    )


def _uploaded_file(limit: int, what: str) -> FileStorage:
    """The multipart ``file`` part, refusing oversize bodies before reading them."""
    if request.content_length is not None and request.content_length > limit + 64 * 1024:
        raise PayloadTooLarge(
            "%(what)s files up to %(limit)s MB are accepted; this upload is %(size)s MB.",
            code="file.too_large",
            params={
                "what": what,
                "limit": limit // (1024 * 1024),
                "size": request.content_length // (1024 * 1024),
            },
        )
    request.max_content_length = limit + 64 * 1024
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise BadRequest("Choose a file to upload (multipart field 'file').", code="file.missing")
    return upload


def _upload_xlsform() -> FormVersion:
    limit = int(current_app.config["XLSFORM_MAX_BYTES"])
    upload = _uploaded_file(limit, "XLSForm")
    data = upload.read(limit + 1)
    with unit_of_work():
        version = services.upload_draft(
            data,
            filename=upload.filename or "",
            actor=current_actor(),
            store=blob_store(),
            max_bytes=limit,
            limits=CompileLimits(
                timeout=float(current_app.config["XLSFORM_COMPILE_TIMEOUT"]),
                memory_mb=int(current_app.config["XLSFORM_COMPILE_MEMORY_MB"]),
            ),
        )
    return version


def _attach(form: Form) -> None:
    limit = int(current_app.config["FORM_ATTACHMENT_MAX_BYTES"])
    upload = _uploaded_file(limit, "Attachment")
    data = upload.read(limit + 1)
    name = request.form.get("name") or upload.filename or ""
    for value, longest, what in (
        (name, column_length(FormAttachment.name), "name"),
        (upload.mimetype or "", column_length(FormAttachment.content_type), "content_type"),
    ):
        if len(value) > longest:
            raise Invalid(
                "The file's %(what)s is longer than %(longest)s characters.",
                code="file.invalid",
                details={what: [f"Longer than {longest} characters."]},
                params={"what": what, "longest": longest},
            )
    with unit_of_work():
        services.attach_file(
            form,
            name,
            data,
            actor=current_actor(),
            store=blob_store(),
            content_type=upload.mimetype or None,
            max_bytes=limit,
        )


def _version(form: Form, version: str) -> FormVersion:
    for candidate in form.versions:
        if candidate.version == version:
            return candidate
    raise NotFound(
        "Form '%(form)s' has no version '%(version)s'.",
        code="form.version_not_found",
        params={"form": form.form_id, "version": version},
    )


# -- pages -----------------------------------------------------------------------------------


@bp.get("")
@require(*DESIGNERS)
def catalogue() -> Any:
    """Every form, its state, current version, draft and missing files; the upload form."""
    return render_template("forms/catalogue.html", forms=services.list_forms())


@bp.post("/upload")
@require(*DESIGNERS)
def upload() -> Any:
    """Upload an XLSForm; on errors the page lists them by sheet, row and column."""
    try:
        version = _upload_xlsform()
    except DomainError as exc:
        return render_template(
            "forms/catalogue.html",
            forms=services.list_forms(),
            upload_error=exc,
            filename=(request.files.get("file").filename if request.files.get("file") else None),  # type: ignore[union-attr]
        ), exc.http_status
    flash(
        gettext(
            "Uploaded version %(version)s of %(form)s as a draft.",
            version=version.version,
            form=version.form.form_id,
        )
    )
    return redirect(url_for("forms.detail", form_id=version.form.form_id))


@bp.get("/<form_id>")
@require(*DESIGNERS)
def detail(form_id: str) -> Any:
    """One form: its draft (what it changes, warnings, missing files), versions with their
    submissions and phones, state."""
    form = services.get_form(form_id)
    return render_template(
        "forms/detail.html",
        form=form,
        diff=_draft_diff(form),
        overview=_versions_overview(form),
    )


@bp.get("/<form_id>/diff")
@require(*DESIGNERS)
def diff_page(form_id: str) -> Any:
    """What differs between two versions (``?from=&to=``), with submission counts."""
    form = services.get_form(form_id)
    return render_template(
        "forms/diff.html", form=form, diff=impact.version_diff(form, **_diff_args())
    )


def _publish_page(form: Form, *, error: DomainError | None = None, entered: Any = None) -> Any:
    return render_template(
        "forms/publish.html",
        form=form,
        diff=_draft_diff(form),
        publish_error=error,
        entered=entered or {},
    )


@bp.get("/<form_id>/publish")
@require(*DESIGNERS)
def publish_confirm(form_id: str) -> Any:
    """Publishing asks first: what the draft changes, its warnings, a note, then confirm."""
    form = services.get_form(form_id)
    if form.draft is None:
        flash(gettext("There is no draft to publish. Upload a new version first."), "error")
        return redirect(url_for("forms.detail", form_id=form_id))
    return _publish_page(form)


@bp.post("/<form_id>/publish")
@require(*DESIGNERS)
def publish(form_id: str) -> Any:
    """Publish the draft (confirmed on the publish page), once its warnings were acknowledged;
    the note is kept on the version."""
    form = services.get_form(form_id)
    if request.form.get("confirm") != "1":  # only the publish page's form publishes
        flash(gettext("Read what publishing changes, then confirm on this page."), "error")
        return redirect(url_for("forms.publish_confirm", form_id=form_id))
    note = request.form.get("note", "")
    acknowledge = request.form.get("acknowledge_warnings") == "on"
    test_data = request.form.get("test_data", "discard")
    entered = {"note": note, "acknowledge_warnings": acknowledge, "test_data": test_data}
    try:
        with unit_of_work():
            version = services.publish(
                form, actor=current_actor(), acknowledge=acknowledge, policy=_policy(), note=note
            )
            try_services.at_publish(form, test_data, actor=current_actor())
    except DomainError as exc:
        form = services.get_form(form_id)
        if form.draft is None:
            return render_template(
                "forms/detail.html",
                form=form,
                diff=None,
                overview=_versions_overview(form),
                publish_error=exc,
            ), exc.http_status
        return _publish_page(form, error=exc, entered=entered), exc.http_status
    flash(
        gettext(
            "Version %(version)s is published; phones will get it at their next update.",
            version=version.version,
        )
    )
    return redirect(url_for("forms.detail", form_id=form_id))


@bp.post("/<form_id>/state")
@require(*DESIGNERS)
def change_state(form_id: str) -> Any:
    """Open, close, or set closing."""
    form = services.get_form(form_id)
    try:
        with unit_of_work():
            services.set_state(form, request.form.get("state", ""), actor=current_actor())
        flash(gettext("The form is now %(state)s.", state=state_label(form.state, "form")))
    except DomainError as exc:
        flash(translated_error(exc), "error")
    return redirect(url_for("forms.detail", form_id=form_id))


@bp.post("/<form_id>/discard")
@require(*DESIGNERS)
def discard(form_id: str) -> Any:
    """Throw the draft away."""
    form = services.get_form(form_id)
    try:
        with unit_of_work():
            services.discard_draft(form, actor=current_actor())
        flash(gettext("The draft was discarded."))
    except DomainError as exc:
        flash(translated_error(exc), "error")
        return redirect(url_for("forms.detail", form_id=form_id))
    if services.find_form(form_id) is None:
        return redirect(url_for("forms.catalogue"))
    return redirect(url_for("forms.detail", form_id=form_id))


@bp.post("/<form_id>/attachments")
@require(*DESIGNERS)
def attach(form_id: str) -> Any:
    """Upload a media or CSV file the form references."""
    form = services.get_form(form_id)
    try:
        _attach(form)
        flash(gettext("File attached."))
    except DomainError as exc:
        flash(translated_error(exc), "error")
    return redirect(url_for("forms.detail", form_id=form_id))


@bp.get("/<form_id>/versions/<version>/xform")
@require(*DESIGNERS)
def xform(form_id: str, version: str) -> Response:
    """The XForm XML of a version, for download."""
    found = _version(services.get_form(form_id), version)
    return Response(
        found.xform,
        mimetype="text/xml",
        headers={
            "Content-Disposition": content_disposition("attachment", f"{form_id}-{version}.xml")
        },
    )


@bp.get("/<form_id>/versions/<version>/source")
@require(*DESIGNERS)
def source(form_id: str, version: str) -> Response:
    """The XLSForm file as uploaded."""
    found = _version(services.get_form(form_id), version)
    return Response(
        blob_store().read(found.source_sha256),
        mimetype="application/octet-stream",
        headers={
            "Content-Disposition": content_disposition(
                "attachment", f"{form_id}-{version}{found.source_type}"
            )
        },
    )


# -- JSON API --------------------------------------------------------------------------------


@api.get("")
@require(*DESIGNERS, Role.COORDINATOR)
def api_list() -> Any:
    """Forms with their versions and state."""
    return {"items": [services.form_summary(f) for f in services.list_forms()]}


@api.post("")
@require(*DESIGNERS)
def api_upload() -> Any:
    """Upload an XLSForm (multipart ``file``) as a draft."""
    version = _upload_xlsform()
    return {
        "form_id": version.form.form_id,
        "version": version.version,
        "state": "draft",
        "form_state": version.form.state,
        "warnings": public_problems(version.warnings),
        "missing_attachments": [a.name for a in version.missing_attachments],
    }, 201


@api.get("/<form_id>")
@require(*DESIGNERS, Role.COORDINATOR)
def api_detail(form_id: str) -> Any:
    """One form with all its versions."""
    return services.form_summary(services.get_form(form_id))


@api.get("/<form_id>/diff")
@require(*DESIGNERS)
def api_diff(form_id: str) -> Any:
    """What differs between two versions (``?from=&to=``; default: current and draft), with
    what it does to case properties and to submissions already received (counts only)."""
    form = services.get_form(form_id)
    return impact.version_diff(form, **_diff_args()).to_json()


@api.get("/<form_id>/versions")
@require(*DESIGNERS)
def api_versions(form_id: str) -> Any:
    """Each version with its submissions and the phones that have it; the phones (workers and
    devices by name, never a token) with the version each last downloaded."""
    form = services.get_form(form_id)
    overview = _versions_overview(form)
    return {
        "form_id": form.form_id,
        "current_version": form.current_version.version if form.current_version else None,
        "versions": [
            {
                "version": v.version,
                "status": v.status,
                "current": v.id == form.current_version_id,
                "published_at": v.published_at.isoformat() if v.published_at else None,
                "publish_note": v.publish_note,
                "submissions": overview["counts"].get(v.version, 0),
                "phones": overview["phones"].get(v.version, 0),
            }
            for v in form.versions
        ],
        "phones": [c.to_json() for c in overview["clients"]],
    }


@api.post("/<form_id>/publish")
@require(*DESIGNERS)
def api_publish(form_id: str) -> Any:
    """Publish the draft: ``{"acknowledge_warnings": true}`` when it has warnings, an
    optional ``"note"`` kept on the version (``publish_note``) and in the audit log, and
    ``"test_data": "discard" | "keep"`` (default discard) for the test data of its tries."""
    form = services.get_form(form_id)
    body = load_json(PublishBody())
    acknowledge = bool(body["acknowledge_warnings"]) or request.args.get(
        "acknowledge_warnings"
    ) in ("1", "true")
    with unit_of_work():
        version = services.publish(
            form,
            actor=current_actor(),
            acknowledge=acknowledge,
            policy=_policy(),
            note=body["note"],
        )
        try_services.at_publish(form, body["test_data"], actor=current_actor())
    return {
        "form_id": form.form_id,
        "version": version.version,
        "state": form.state,
        "validation": version.validation,
        "publish_note": version.publish_note,
    }


@api.post("/<form_id>/state")
@require(*DESIGNERS)
def api_state(form_id: str) -> Any:
    """Set the form's state: ``{"state": "open" | "closing" | "closed"}``."""
    form = services.get_form(form_id)
    body = load_json(StateBody())
    with unit_of_work():
        services.set_state(form, body["state"], actor=current_actor())
    return {"form_id": form.form_id, "state": form.state}


@api.delete("/<form_id>/draft")
@require(*DESIGNERS)
def api_discard(form_id: str) -> Any:
    """Discard the draft."""
    with unit_of_work():
        services.discard_draft(services.get_form(form_id), actor=current_actor())
    return "", 204


@api.post("/<form_id>/attachments")
@require(*DESIGNERS)
def api_attach(form_id: str) -> Any:
    """Add a media or CSV file the form references (multipart ``file``, optional ``name``)."""
    form = services.get_form(form_id)
    _attach(form)
    target = form.draft or form.current_version
    assert target is not None
    return services.version_summary(target), 201


@api.get("/<form_id>/versions/<version>.xml")
@require(*DESIGNERS)
def api_xform(form_id: str, version: str) -> Response:
    """The XForm of a version."""
    found = _version(services.get_form(form_id), version)
    return Response(found.xform, mimetype="text/xml")
