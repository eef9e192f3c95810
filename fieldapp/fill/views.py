"""The field workers' web form pages.

* ``/fill`` — the worker's index: open forms, submissions sent back to correct (with the
  coordinator's note), and (drawn by the page script from the browser's storage) drafts and
  submissions waiting to be sent.
* ``/fill/<form_id>`` — one form in ODK Web Forms; ``?edit=<instance_id>`` loads a sent-back
  submission, whose correction is sent as an edit (``deprecatedID``).
* ``/fill/sw.js`` — the service worker that keeps the pages, the bundle, the forms and their
  files for offline use (scope ``/fill``).

The page fetches forms and sends submissions through ``/fill/collect`` (the OpenRosa blueprint
under the web session, see :func:`fieldapp.openrosa.views.register`), so the same decision
table applies as for ODK Collect. The page script lives in ``webforms/`` and is built into
``static/fill/``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, render_template, request, url_for

from fieldapp.audit.services import record
from fieldapp.auth.models import Role
from fieldapp.db import unit_of_work
from fieldapp.errors import NotFound
from fieldapp.fill import services
from fieldapp.forms import services as forms
from fieldapp.forms.models import FormState
from fieldapp.web.files import blob_store, file_response
from fieldapp.web.permissions import current_actor, require
from fieldapp.web.security import csrf_token

bp = Blueprint("fill", __name__, url_prefix="/fill")

#: where the page script and the service worker are built (``webforms/``, ``npm run build``)
BUNDLE_DIR = "fill"


def _page_data() -> dict[str, str]:
    """What every /fill page passes to its script (as data- attributes; no inline script)."""
    actor = current_actor()
    return {
        "user": actor.username,
        "csrf": csrf_token(),
        "index": url_for("fill.index"),
        "collect": url_for("openrosa_web.form_list").rsplit("/", 1)[0],
        "sw": url_for("fill.service_worker"),
        "scope": url_for("fill.index"),
        "bundle": url_for("static", filename=f"{BUNDLE_DIR}/fill.js"),
    }


@bp.get("")
@require(Role.FIELD_WORKER)
def index() -> Any:
    """The worker's open forms and the submissions sent back to them."""
    actor = current_actor()
    return render_template(
        "fill/index.html",
        forms=services.open_forms(actor),
        returned=services.returned_submissions(actor),
        page=_page_data(),
    )


@bp.get("/<form_id>")
@require(Role.FIELD_WORKER)
def fill(form_id: str) -> Any:
    """One form to fill, or a sent-back submission to correct (``?edit=<instance_id>``)."""
    actor = current_actor()
    form = forms.find_form(form_id)
    edit_id = request.args.get("edit", "")
    correction = services.correction(form_id, edit_id, actor=actor) if edit_id else None
    allowed = {FormState.OPEN} if correction is None else {FormState.OPEN, FormState.CLOSING}
    if form is None or form.current_version is None or form.state not in allowed:
        raise NotFound(f"There is no form {form_id!r} for you to fill.", code="form.not_found")
    if correction is None and not any(f.form_id == form_id for f in services.open_forms(actor)):
        raise NotFound(f"There is no form {form_id!r} for you to fill.", code="form.not_found")
    page = _page_data() | {
        "form-id": form.form_id,
        "form-title": form.current_version.title or form.form_id,
        "form-url": url_for("openrosa_web.form_download", form_id=form.form_id),
        "attachments": url_for("openrosa_web.attachment", form_id=form.form_id, name="_")[:-1],
    }
    if correction is not None:
        page |= {
            "edit": correction.submission.instance_id,
            "edit-current": correction.version.instance_id,
            "edit-url": url_for(
                "fill.submission_xml",
                form_id=form_id,
                instance_id=correction.submission.instance_id,
            ),
            "edit-attachments": url_for(
                "fill.submission_attachment",
                form_id=form_id,
                instance_id=correction.submission.instance_id,
                name="_",
            )[:-1],
        }
    return render_template(
        "fill/form.html",
        form=form,
        title=page["form-title"],
        correction=correction,
        page=page,
        edit_files=list(correction.attachment_names) if correction else [],
    )


@bp.get("/<form_id>/returned/<path:instance_id>.xml")
@require(Role.FIELD_WORKER)
def submission_xml(form_id: str, instance_id: str) -> Response:
    """The current XML of the worker's own sent-back submission, to load for correcting."""
    found = services.correction(form_id, instance_id, actor=current_actor())
    with unit_of_work():
        record(
            "submission.viewed",
            actor=current_actor(),
            subject_type="submission",
            subject_id=found.submission.instance_id,
            region_id=found.submission.region_id,
            purpose="correction",
        )
    # the bytes as the phone or browser sent them, in their own encoding: no charset here, so
    # the document's byte order mark or XML declaration says how to read it (RFC 7303)
    response = Response(found.version.xml, content_type="application/xml")
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@bp.get("/<form_id>/returned/<path:instance_id>/files/<name>")
@require(Role.FIELD_WORKER)
def submission_attachment(form_id: str, instance_id: str, name: str) -> Response:
    """One file of the worker's own sent-back submission (a photo it already carries)."""
    found = services.correction(form_id, instance_id, actor=current_actor())
    attachment = next(
        (a for a in found.version.attachments if a.name == name and a.blob_sha256), None
    )
    if attachment is None or attachment.blob_sha256 is None:
        raise NotFound("No such attachment.", code="submission.attachment_not_found")
    with unit_of_work():
        record(
            "submission.attachment_viewed",
            actor=current_actor(),
            subject_type="submission",
            subject_id=found.submission.instance_id,
            region_id=found.submission.region_id,
            name=name,
        )
    return file_response(
        blob_store().read(attachment.blob_sha256), name, attachment.content_type, inline=False
    )


@bp.get("/sw.js")
def service_worker() -> Response:
    """The service worker (built with the page script); its scope is all of ``/fill``."""
    path = f"{current_app.static_folder}/{BUNDLE_DIR}/sw.js"
    try:
        with open(path, "rb") as handle:
            body = handle.read()
    except FileNotFoundError:
        raise NotFound("The web form bundle is not built.", code="not_found") from None
    response = Response(body, content_type="text/javascript; charset=utf-8")
    response.headers["Service-Worker-Allowed"] = url_for("fill.index")
    response.headers["Cache-Control"] = "no-cache"
    return response
