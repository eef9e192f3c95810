"""Exports prepared in the background: queued by a coordinator, written to a file on the
server with the rows counted as they go, downloaded when ready, removed after a day.

A streamed download (:mod:`fieldapp.exports.views`) is the quick way out and never times out;
a prepared export is for the long ones: the person can close the page, watch the rows so far,
and come back for the file. Both run the same streams of :mod:`fieldapp.exports.services`, so
the files are the same and so are their audit events (``export.started`` and
``export.finished`` / ``export.aborted`` when the run begins and ends, ``export.downloaded``
each time the file is fetched).

Who runs them: a daemon thread in the process that queued the job (:func:`kick`), which takes
every job it can claim, one at a time. Claiming is one conditional UPDATE (queued, or running
with a heartbeat older than :data:`STALE_AFTER`), so two processes never run the same job and
a job whose process died is taken over by the next one kicked: a new job, or a visit to the
list of prepared exports. A run re-checks the requester first (still active, still allowed to
export) and reads with their region scope as it is then.

The files live under ``{DATA_DIR}/exports`` (owner-only permissions), named by the job's random
token; a file is removed when its job expires (:data:`KEEP`) or is deleted. Servers sharing one
database must share that directory too (as they share the blob store).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Generator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask, current_app
from sqlalchemy import func, or_, select, update
from werkzeug.datastructures import MultiDict

from fieldapp.audit.services import record
from fieldapp.auth.models import User
from fieldapp.blobs import BlobStorage
from fieldapp.db import db, unit_of_work, utcnow
from fieldapp.errors import Conflict, DomainError, NotFound
from fieldapp.exports import services
from fieldapp.exports.models import ACTIVE_STATES, ExportJob, JobState
from fieldapp.exports.schemas import SubmissionExportArgs
from fieldapp.exports.tables import Options
from fieldapp.forms.models import Form
from fieldapp.web.args import load_args

log = logging.getLogger(__name__)

#: how long a finished file is kept before it is removed
KEEP = timedelta(hours=24)
#: a running job whose process has not said anything for this long is taken over
STALE_AFTER = timedelta(seconds=90)
#: seconds between progress writes while a job runs
HEARTBEAT_SECONDS = 1.0
#: jobs one person may have queued or running at once
ACTIVE_MAX = 3
#: the query arguments a job keeps (those of the export routes)
PARAMS = tuple(f.data_key or name for name, f in SubmissionExportArgs().fields.items())
FORMATS = ("csv.zip", "xlsx")


def export_dir(app: Flask | None = None) -> Path:
    """Where prepared files live (made on first use, readable by the server's user only)."""
    app = app or current_app
    path = Path(app.config.get("EXPORTS_DIR") or Path(app.config["DATA_DIR"]) / "exports")
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def file_path(job: ExportJob, app: Flask | None = None) -> Path:
    return export_dir(app) / f"{job.token}.{job.format}"


def safe_filename(name: str) -> str:
    """``name`` with anything but ASCII letters, digits and ``-_.`` made ``_`` (export files)."""
    return "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in name)


def download_name(job: ExportJob) -> str:
    return f"{safe_filename(job.form_id)}-{job.created_at:%Y%m%d-%H%M}.{job.format}"


def _record(action: str, job: ExportJob, actor: User, ip: str | None, **details: Any) -> None:
    """An audit event about ``job`` (its form, format and id)."""
    record(
        action,
        actor=actor,
        subject_type="form",
        subject_id=job.form_id,
        ip=ip,
        format=job.format,
        job=job.id,
        **details,
    )


# -- asking ----------------------------------------------------------------------------------


def queue(
    form_id: str,
    *,
    actor: User,
    args: MultiDict[str, str],
    export_format: str,
    ip: str | None,
) -> ExportJob:
    """Check the request as the streamed export would, and queue a job for it.

    :param args: the export's arguments (filters and options), as the export routes take them.
    :raises NotFound: no such form, or the actor may not export.
    :raises Invalid: an argument is wrong (the same messages as the export routes).
    :raises Conflict: the actor already has :data:`ACTIVE_MAX` exports waiting or running.
    """
    if not services.may_export(actor):
        raise NotFound("No such export.", code="export.not_found")
    if export_format not in FORMATS:
        raise NotFound("No such export format.", code="export.not_found")
    load_args(SubmissionExportArgs(), args)  # refuse now what the run would refuse later
    form = db.session.scalars(select(Form).where(Form.form_id == form_id)).one_or_none()
    if form is None or form.current_version_id is None:
        raise NotFound(
            "There is no form '%(form)s' to export.",
            code="form.not_found",
            params={"form": form_id},
        )
    active = db.session.scalar(
        select(func.count())
        .select_from(ExportJob)
        .where(ExportJob.user_id == actor.id, ExportJob.state.in_(ACTIVE_STATES))
    )
    if (active or 0) >= ACTIVE_MAX:
        raise Conflict(
            "You already have %(max)s exports being prepared. Wait for one "
            "to finish, or delete one, before asking for another.",
            code="export.too_many_jobs",
            params={"max": ACTIVE_MAX},
        )
    params = {name: args.getlist(name) for name in PARAMS if args.getlist(name)}
    job = ExportJob(
        token=secrets.token_urlsafe(16),
        user_id=actor.id,
        form_id=form.form_id,
        format=export_format,
        params=params,
        state=JobState.QUEUED.value,
        ip=ip,
    )
    db.session.add(job)
    db.session.flush()
    _record("export.queued", job, actor, ip)
    return job


def jobs_of(actor: User, limit: int = 50) -> list[ExportJob]:
    """The actor's own prepared exports, newest first."""
    return list(
        db.session.scalars(
            select(ExportJob)
            .where(ExportJob.user_id == actor.id)
            .order_by(ExportJob.id.desc())
            .limit(limit)
        )
    )


def get_job(token: str, actor: User) -> ExportJob:
    """The actor's own job by its token; anyone else's is not there.

    :raises NotFound: no such job of the actor's.
    """
    job = db.session.scalars(select(ExportJob).where(ExportJob.token == token)).one_or_none()
    if job is None or job.user_id != actor.id or not services.may_export(actor):
        raise NotFound("No such export.", code="export.not_found")
    return job


def open_download(job: ExportJob, actor: User, ip: str | None) -> Path:
    """The finished file to send, with ``export.downloaded`` added to the caller's transaction.

    :raises Conflict: the job is not ready (still running, failed, deleted or expired).
    """
    path = file_path(job)
    if job.state != JobState.READY or not path.is_file():
        raise Conflict(_not_ready(job), code=f"export.{job.state}")
    _record("export.downloaded", job, actor, ip, rows=job.rows_done)
    return path


def _not_ready(job: ExportJob) -> str:
    return {
        JobState.QUEUED: "This export is waiting to start.",
        JobState.RUNNING: "This export is still being prepared.",
        JobState.FAILED: "This export failed; ask for it again.",
        JobState.DELETED: "This export was deleted.",
        JobState.EXPIRED: "This export's file was removed after a day; ask for it again.",
    }.get(JobState(job.state), "This export is not ready.")


def delete(job: ExportJob, actor: User, ip: str | None) -> None:
    """Remove the file now; a job waiting or running stops (at its next batch)."""
    if job.state in (JobState.DELETED, JobState.EXPIRED):
        return
    job.state = JobState.DELETED.value
    job.finished_at = job.finished_at or utcnow()
    _remove_files(job)
    _record("export.deleted", job, actor, ip)


def _remove_files(job: ExportJob, app: Flask | None = None) -> None:
    for path in (file_path(job, app), _part_path(job, app)):
        path.unlink(missing_ok=True)


def _part_path(job: ExportJob, app: Flask | None = None) -> Path:
    return export_dir(app) / f"{job.token}.{job.format}.part"


def expire(now: Any = None, app: Flask | None = None) -> int:
    """Remove the files of jobs past their keeping time; return how many."""
    now = now or utcnow()
    due = db.session.scalars(
        select(ExportJob).where(ExportJob.state == JobState.READY, ExportJob.expires_at <= now)
    ).all()
    for job in due:
        job.state = JobState.EXPIRED.value
        _remove_files(job, app)
    db.session.commit()
    return len(due)


# -- running ---------------------------------------------------------------------------------


class _Stopped(Exception):
    """The job is no longer this runner's to finish."""


@dataclass
class _Progress:
    job_id: int
    holder: str
    last: float = 0.0


def claim(holder: str, now: Any = None) -> int | None:
    """Take the oldest job waiting, or one whose runner went silent; its id, or None."""
    now = now or utcnow()
    stale = now - STALE_AFTER
    claimable = or_(
        ExportJob.state == JobState.QUEUED,
        (ExportJob.state == JobState.RUNNING) & (ExportJob.heartbeat_at < stale),
    )
    for job_id in db.session.scalars(
        select(ExportJob.id).where(claimable).order_by(ExportJob.id).limit(5)
    ).all():
        result = db.session.execute(
            update(ExportJob)
            .where(ExportJob.id == job_id, claimable)
            .values(
                state=JobState.RUNNING.value,
                claimed_by=holder,
                heartbeat_at=now,
                started_at=now,
                rows_done=0,
            )
            .execution_options(synchronize_session=False)
        )
        taken = getattr(result, "rowcount", 0) == 1
        db.session.commit()
        if taken:
            return job_id
    db.session.commit()
    return None


def _heartbeat(progress: _Progress, rows: int) -> bool:
    """Write the rows so far (on a connection of its own: the session may be mid-COPY) and
    say whether the job is still this runner's to finish."""
    assert db.engine is not None
    with db.engine.begin() as connection:
        result = connection.execute(
            update(ExportJob)
            .where(
                ExportJob.id == progress.job_id,
                ExportJob.claimed_by == progress.holder,
                ExportJob.state == JobState.RUNNING,
            )
            .values(rows_done=rows, heartbeat_at=utcnow())
        )
    progress.last = time.monotonic()
    return bool(result.rowcount == 1)


def run(job_id: int, holder: str, store: BlobStorage | None) -> str:
    """Run one claimed job to its end; return the state it ended in. Never raises."""
    job = db.session.get(ExportJob, job_id)
    assert job is not None
    part = _part_path(job)
    progress = _Progress(job_id, holder)
    try:
        export = _prepare(job)
    except DomainError as exc:
        return _end(job_id, holder, JobState.FAILED, error=exc.message)
    body: Generator[bytes, None, None] = (
        services.submissions_csv_zip(export, store)
        if job.format == "csv.zip"
        else services.submissions_xlsx(export)
    )

    def beat(rows: int) -> None:
        if time.monotonic() - progress.last >= HEARTBEAT_SECONDS and not _heartbeat(progress, rows):
            raise _Stopped  # deleted, or taken over by another runner: stop here

    export.progress = beat
    size = 0
    try:
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            for chunk in body:
                out.write(chunk)
                size += len(chunk)
                beat(export.rows)  # also while the repeat tables and files are written
            out.flush()
            os.fsync(out.fileno())
    except _Stopped:
        pass  # the stream recorded export.aborted as it closed
    except Exception as exc:  # the stream's own end is audited by the stream
        log.warning("export job %s failed with %s", job_id, type(exc).__name__)
        body.close()
        part.unlink(missing_ok=True)
        return _end(job_id, holder, JobState.FAILED, error="The export failed on the server.")
    body.close()  # a stop before the end: the stream records export.aborted
    if not export.done:
        part.unlink(missing_ok=True)
        return _end(job_id, holder, None)
    return _end(job_id, holder, JobState.READY, rows=export.rows, size=size, part=part)


def prepare_from_query(
    form_id: str,
    query: MultiDict[str, str],
    *,
    actor: User,
    export_format: str,
    ip: str | None,
) -> services.FormExport:
    """An export of ``form_id`` as the export routes' query arguments describe it (checked
    here), with ``export.started`` added to the caller's transaction."""
    args = load_args(SubmissionExportArgs(), query)
    filters = services.SubmissionFilters(
        received_from=args["received_from"],
        received_to=args["received_to"],
        review_states=args["review_state"],
        regions=args["region"],
        versions=args["version"],
        urgent=args["urgent"],
    )
    options = Options(
        labels=args["headers"] == "labels",
        choice_labels=args["choices"] == "labels",
        split_select_multiples=args["split_select_multiples"],
    )
    return services.prepare_form_export(
        form_id,
        actor=actor,
        filters=filters,
        options=options,
        language=args["lang"] or None,
        export_format=export_format,
        attachments=args["attachments"] and export_format == "csv.zip",
        ip=ip,
    )


def _prepare(job: ExportJob) -> services.FormExport:
    """The run's export, checked as if the requester asked now; adds ``export.started``."""
    user = db.session.get(User, job.user_id)
    if user is None or not user.active:
        raise NotFound("The person who asked for this export can no longer sign in.")
    with unit_of_work():
        export = prepare_from_query(
            job.form_id,
            MultiDict(job.params),
            actor=user,
            export_format=job.format,
            ip=job.ip,
        )
        job = db.session.get(ExportJob, job.id, populate_existing=True)  # type: ignore[assignment]
        job.rows_expected = services.count_rows(export)
    return export


def _end(
    job_id: int,
    holder: str,
    state: JobState | None,
    *,
    error: str | None = None,
    rows: int | None = None,
    size: int | None = None,
    part: Path | None = None,
) -> str:
    """Record how the run ended, if the job is still this runner's (a deleted one stays so)."""
    db.rollback_quietly()
    job = db.session.get(ExportJob, job_id, populate_existing=True)
    assert job is not None
    if job.state != JobState.RUNNING or job.claimed_by != holder:
        if part is not None:  # deleted, or taken over by another runner: theirs to finish
            part.unlink(missing_ok=True)
        db.session.commit()
        return job.state
    if state is None:  # stopped, yet still this runner's: nobody will finish it
        state, error = JobState.FAILED, "The export stopped before it was finished."
    now = utcnow()
    if state == JobState.READY:
        assert part is not None
        os.replace(part, file_path(job))
        job.rows_done = rows or 0
        job.size = size
        job.expires_at = now + KEEP
    job.state = state.value
    job.error = error[:500] if error else None
    job.finished_at = now
    db.session.commit()
    return job.state


# -- the thread ------------------------------------------------------------------------------


class Runner:
    """A daemon thread that runs every job it can claim, then ends (:func:`kick` starts one)."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"[:120]
        self.pid = os.getpid()
        self.thread = threading.Thread(target=self._run, name="export-jobs", daemon=True)
        self.again = threading.Event()

    def _run(self) -> None:
        while True:
            self.again.clear()
            try:
                run_pending(self.app, self.holder)
            except Exception as exc:  # keep the process alive; the next kick tries again
                log.warning("export jobs pass failed with %s", type(exc).__name__)
            with _lock:
                if not self.again.is_set():
                    self.app.extensions.pop("fieldapp.export_runner", None)
                    return


_lock = threading.Lock()


def run_pending(app: Flask, holder: str | None = None) -> int:
    """Remove expired files, then run every job this process can claim; return how many ran."""
    holder = holder or f"{socket.gethostname()}:{os.getpid()}:inline"
    store = app.extensions.get("fieldapp.blobs")
    ran = 0
    with app.app_context():
        expire(app=app)
        while (job_id := claim(holder)) is not None:
            run(job_id, holder, store)
            db.remove_session()
            ran += 1
    return ran


def kick(app: Flask | None = None) -> None:
    """Make sure a runner thread of this process looks for work (``EXPORT_JOBS_THREAD``)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    if not app.config.get("EXPORT_JOBS_THREAD", True):
        return
    with _lock:
        runner = app.extensions.get("fieldapp.export_runner")
        if isinstance(runner, Runner) and runner.pid == os.getpid() and runner.thread.is_alive():
            runner.again.set()
            return
        runner = Runner(app)
        app.extensions["fieldapp.export_runner"] = runner
        runner.thread.start()
