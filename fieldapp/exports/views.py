"""Export routes: the streaming API (``/api/v1/forms/{form_id}/submissions.csv.zip`` and
``.xlsx``, ``/api/v1/cases.csv`` and ``.xlsx``) and the export pages (``/exports``).

Each route commits its ``export.started`` audit event before the response starts, then hands
the stream a generator that owns its reads (see :mod:`fieldapp.exports.services`). The
request's own session is over by then: the generator does not need the request context.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext
from sqlalchemy import func, select

from fieldapp.audit.services import client_ip
from fieldapp.auth.models import Region, Role
from fieldapp.cases.models import CaseList
from fieldapp.db import db, unit_of_work
from fieldapp.errors import Conflict, NotFound
from fieldapp.exports import jobs, services
from fieldapp.exports.models import ACTIVE_STATES, ExportJob
from fieldapp.exports.schemas import CaseExportArgs, SubmissionExportArgs
from fieldapp.forms.models import Form, FormVersion, VersionStatus
from fieldapp.forms.services import get_form
from fieldapp.submissions.models import ReviewState, Submission
from fieldapp.submissions.services import scope_submissions
from fieldapp.web.args import load_args
from fieldapp.web.permissions import current_actor, require

api = Blueprint("exports_api", __name__, url_prefix="/api/v1")
bp = Blueprint("exports", __name__, url_prefix="/exports")
EXPORTERS = (Role.ADMIN, Role.COORDINATOR)

ZIP = "application/zip"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV = "text/csv; charset=utf-8"


def _stream(body: Iterator[bytes], mimetype: str, filename: str) -> Response:
    response = Response(body, mimetype=mimetype, direct_passthrough=True)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["X-Accel-Buffering"] = "no"  # a proxy must not hold the stream back
    return response


def _form_export(form_id: str, export_format: str) -> services.FormExport:
    with unit_of_work():
        return jobs.prepare_from_query(
            form_id,
            request.args,
            actor=current_actor(),
            export_format=export_format,
            ip=client_ip.get(),
        )


@api.get("/forms/<form_id>/submissions.csv.zip")
@require(*EXPORTERS)
def submissions_csv_zip(form_id: str) -> Any:
    """The form's submissions the caller may see: one CSV per table, zipped; audited."""
    export = _form_export(form_id, "csv.zip")
    store = current_app.extensions["fieldapp.blobs"]
    body = services.submissions_csv_zip(export, store)
    return _stream(body, ZIP, f"{jobs.safe_filename(form_id)}.csv.zip")


@api.get("/forms/<form_id>/submissions.xlsx")
@require(*EXPORTERS)
def submissions_xlsx(form_id: str) -> Any:
    """The same tables as the CSV zip, one sheet each; audited."""
    export = _form_export(form_id, "xlsx")
    return _stream(services.submissions_xlsx(export), XLSX, f"{jobs.safe_filename(form_id)}.xlsx")


def _case_export(export_format: str) -> services.CaseExport:
    args = load_args(CaseExportArgs())
    with unit_of_work():
        export = services.prepare_case_export(
            args["dataset"],
            actor=current_actor(),
            export_format=export_format,
            region=args["region"] or None,
            status=args["status"] or None,
            ip=client_ip.get(),
        )
    return export


@api.get("/cases.csv")
@require(*EXPORTERS)
def cases_csv() -> Any:
    """The caller's cases of one case list (``?dataset=``) as CSV; audited."""
    export = _case_export("csv")
    return _stream(services.case_csv(export), CSV, f"{jobs.safe_filename(export.dataset)}.csv")


@api.get("/cases.xlsx")
@require(*EXPORTERS)
def cases_xlsx() -> Any:
    """The caller's cases of one case list (``?dataset=``) as XLSX; audited."""
    export = _case_export("xlsx")
    return _stream(services.case_xlsx(export), XLSX, f"{jobs.safe_filename(export.dataset)}.xlsx")


# -- pages -----------------------------------------------------------------------------------


@bp.get("")
@require(*EXPORTERS)
def index() -> Any:
    """The forms and case lists the caller may export."""
    forms = db.session.scalars(
        select(Form).where(Form.current_version_id.is_not(None)).order_by(Form.title)
    ).all()
    case_lists = db.session.scalars(select(CaseList).order_by(CaseList.title)).all()
    return render_template("exports/index.html", forms=forms, case_lists=case_lists)


@bp.get("/forms/<form_id>")
@require(*EXPORTERS)
def form_page(form_id: str) -> Any:
    """The export form for one form: filters, options, and the two download buttons.

    A download starts streaming at once (the browser shows its progress as it comes), so no
    export waits in a queue and none times out however large it is.
    """
    actor = current_actor()
    form = get_form(form_id)
    visible = db.session.scalar(
        scope_submissions(
            select(func.count()).select_from(Submission).where(Submission.form_pk == form.id),
            actor,
        )
    )
    versions = db.session.scalars(
        select(FormVersion.version)
        .where(FormVersion.form_pk == form.id, FormVersion.status == VersionStatus.PUBLISHED)
        .order_by(FormVersion.id.desc())
    ).all()
    languages: list[str] = []
    for langs in db.session.scalars(
        select(FormVersion.languages).where(FormVersion.form_pk == form.id)
    ):
        languages.extend(x for x in langs or [] if x not in languages)
    regions = db.session.scalars(select(Region).order_by(Region.name)).all()
    if not actor.has_role(Role.ADMIN):
        regions = [r for r in regions if r.id in actor.region_ids]
    return render_template(
        "exports/form.html",
        form=form,
        visible=visible or 0,
        versions=versions,
        languages=languages,
        regions=regions,
        states=[s.value for s in ReviewState],
    )


# -- prepared in the background --------------------------------------------------------------


def _job_json(job: ExportJob) -> dict[str, Any]:
    ready = job.state == "ready"
    return {
        "id": job.token,
        "form_id": job.form_id,
        "format": job.format,
        "state": job.state,
        "rows_done": job.rows_done,
        "rows_expected": job.rows_expected,
        "size": job.size,
        "error": job.error,
        "created_at": job.created_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "expires_at": job.expires_at.isoformat() if job.expires_at else None,
        "download": url_for("exports_api.api_export_file", job=job.token) if ready else None,
    }


def _queue(form_id: str, args: Any, export_format: str) -> ExportJob:
    with unit_of_work():
        job = jobs.queue(
            form_id,
            actor=current_actor(),
            args=args,
            export_format=export_format,
            ip=client_ip.get(),
        )
    jobs.kick()
    return job


@api.post("/forms/<form_id>/exports")
@require(*EXPORTERS)
def api_queue_export(form_id: str) -> Any:
    """Prepare an export in the background (``?format=csv.zip|xlsx`` and the export
    routes' filters and options); 202 with the job, whose ``Location`` tells how far it got."""
    export_format = request.args.get("format", "csv.zip")
    job = _queue(form_id, request.args, export_format)
    response = jsonify(_job_json(job))
    response.status_code = 202
    response.headers["Location"] = url_for("exports_api.api_export_job", job=job.token)
    return response


@api.get("/exports/<job>")
@require(*EXPORTERS)
def api_export_job(job: str) -> Any:
    """One of the caller's prepared exports: its state, the rows so far, and when ready the
    address of its file."""
    found = jobs.get_job(job, current_actor())
    if found.state in ACTIVE_STATES:
        jobs.kick()  # a job left by a stopped server goes on once someone asks after it
    return jsonify(_job_json(found))


@bp.route("/forms/<form_id>/prepare", methods=["GET", "POST"])
@require(*EXPORTERS)
def prepare(form_id: str) -> Any:
    """GET: what will be prepared (the filters chosen on the export page), with a button for
    each format. POST: queue it and go to its page."""
    if request.method == "POST":
        export_format = request.form.get("format", "csv.zip")
        job = _queue(form_id, request.form, export_format)
        return redirect(url_for("exports.job_page", job=job.token))
    load_args(SubmissionExportArgs())  # the same messages as the export routes
    form = get_form(form_id)
    if form.current_version_id is None:
        raise NotFound(
            "Form '%(form)s' has no published version to export.",
            code="form.not_found",
            params={"form": form_id},
        )
    chosen = [(k, v) for k in jobs.PARAMS for v in request.args.getlist(k) if v]
    return render_template("exports/prepare.html", form=form, chosen=chosen)


@bp.get("/jobs")
@require(*EXPORTERS)
def jobs_page() -> Any:
    """The caller's prepared exports; a visit also lets a job left by a stopped server go on."""
    mine = jobs.jobs_of(current_actor())
    if any(j.state in ACTIVE_STATES for j in mine):
        jobs.kick()
    return render_template("exports/jobs.html", jobs=mine, active=ACTIVE_STATES)


@bp.get("/jobs/<job>")
@require(*EXPORTERS)
def job_page(job: str) -> Any:
    """One prepared export: the rows so far while it runs (the page reloads itself), then
    its download."""
    found = jobs.get_job(job, current_actor())
    if found.state in ACTIVE_STATES:
        jobs.kick()
    return render_template("exports/job.html", job=found, active=ACTIVE_STATES)


def _send_job_file(job: str) -> Any:
    actor = current_actor()
    with unit_of_work():
        found = jobs.get_job(job, actor)
        path = jobs.open_download(found, actor, client_ip.get())
        mimetype = ZIP if found.format == "csv.zip" else XLSX
        name = jobs.download_name(found)
    try:
        handle = path.open("rb")  # once open, a delete that comes now cannot take it away
    except FileNotFoundError:
        raise Conflict("This export was deleted.", code="export.deleted") from None
    return send_file(handle, mimetype=mimetype, as_attachment=True, download_name=name)


@api.get("/exports/<job>/file")
@require(*EXPORTERS)
def api_export_file(job: str) -> Any:
    """A prepared export's file (audited as ``export.downloaded``); 409 until it is ready."""
    return _send_job_file(job)


@bp.get("/jobs/<job>/download")
@require(*EXPORTERS)
def job_download(job: str) -> Any:
    """The finished file (audited as ``export.downloaded``)."""
    return _send_job_file(job)


@api.delete("/exports/<job>")
@require(*EXPORTERS)
def api_delete_export(job: str) -> Any:
    """Delete a prepared export's file now (a running one stops); 204."""
    actor = current_actor()
    with unit_of_work():
        jobs.delete(jobs.get_job(job, actor), actor, client_ip.get())
    return Response(status=204)


@bp.post("/jobs/<job>/delete")
@require(*EXPORTERS)
def job_delete(job: str) -> Any:
    """Delete the file now (a running export stops)."""
    actor = current_actor()
    with unit_of_work():
        jobs.delete(jobs.get_job(job, actor), actor, client_ip.get())
    flash(gettext("The export was deleted."))
    return redirect(url_for("exports.jobs_page"))
