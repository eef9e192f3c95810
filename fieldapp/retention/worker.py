"""The retention job: a daemon thread per process; one pass per interval across all servers.

Every ``RETENTION_POLL_SECONDS`` the thread tries to take the ``retention`` row of
``worker_leases`` with one conditional UPDATE: free or expired, *and* its last pass
(``last_tick_at``) at least ``RETENTION_INTERVAL_SECONDS`` ago. The one process that wins runs
:func:`fieldapp.retention.purge.purge`, writes the pass's time and lets the lease go; every
other process (on this server or another sharing the database) finds the row taken or the pass
recent and does nothing. A holder that dies mid-pass loses the lease when it expires
(``RETENTION_LEASE_SECONDS``); the pass is safe to run again (each removal is its own
transaction). ``fieldapp purge`` takes the same lease, so it never runs beside a worker's pass.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError

from fieldapp.blobs import BlobStorage
from fieldapp.db import db, utcnow
from fieldapp.retention.purge import PurgeReport, purge
from fieldapp.webhooks.models import WorkerLease

log = logging.getLogger(__name__)

LEASE_NAME = "retention"


def _holder(tag: object) -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{id(tag):x}"[:120]


def take_lease(holder: str, *, now: datetime, lease: timedelta, interval: timedelta | None) -> bool:
    """Take the retention lease if free (and, with ``interval``, if the last pass is that old);
    commits."""
    if db.session.get(WorkerLease, LEASE_NAME) is None:
        try:
            with db.session.begin_nested():
                db.session.add(WorkerLease(name=LEASE_NAME))
        except IntegrityError:
            pass  # another process made it first
    conditions = [
        WorkerLease.name == LEASE_NAME,
        or_(
            WorkerLease.holder == holder,
            WorkerLease.expires_at.is_(None),
            WorkerLease.expires_at < now,
        ),
    ]
    if interval is not None:
        conditions.append(
            or_(WorkerLease.last_tick_at.is_(None), WorkerLease.last_tick_at <= now - interval)
        )
    result = db.session.execute(
        update(WorkerLease)
        .where(*conditions)
        .values(holder=holder, expires_at=now + lease)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return bool(getattr(result, "rowcount", 0) == 1)


def release_lease(holder: str, *, finished_at: datetime | None) -> None:
    values: dict[str, object] = {"holder": None, "expires_at": None}
    if finished_at is not None:
        values["last_tick_at"] = finished_at
    db.session.execute(
        update(WorkerLease)
        .where(WorkerLease.name == LEASE_NAME, WorkerLease.holder == holder)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def run_pass(
    app: Flask,
    *,
    holder: str,
    now: datetime | None = None,
    dry_run: bool = False,
    interval: timedelta | None = None,
) -> PurgeReport | None:
    """One leased pass; ``None`` when another process holds the lease (or passed recently)."""
    now = now or utcnow()
    lease = timedelta(seconds=float(app.config["RETENTION_LEASE_SECONDS"]))
    if not take_lease(holder, now=now, lease=lease, interval=interval):
        return None
    store = app.extensions.get("fieldapp.blobs")
    finished = None
    try:
        report = purge(
            store if isinstance(store, BlobStorage) else None,
            now=now,
            dry_run=dry_run,
            blob_grace=timedelta(seconds=float(app.config["BLOB_GC_GRACE_SECONDS"])),
        )
        finished = None if dry_run else now
        return report
    finally:
        db.rollback_quietly()
        release_lease(holder, finished_at=finished)


class RetentionWorker:
    """The thread; ``run_once`` is one attempt (tests call it with their own clock)."""

    def __init__(self, app: Flask, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.app = app
        self.clock = clock
        self.holder = _holder(self)
        self.pid = os.getpid()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> PurgeReport | None:
        interval = timedelta(seconds=float(self.app.config["RETENTION_INTERVAL_SECONDS"]))
        return run_pass(self.app, holder=self.holder, now=self.clock(), interval=interval)

    def start(self) -> RetentionWorker:
        self._thread = threading.Thread(target=self._run, name="retention", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        poll = float(self.app.config["RETENTION_POLL_SECONDS"])
        while not self._stop.wait(poll):
            try:
                with self.app.app_context():
                    try:
                        self.run_once()
                    finally:
                        db.remove_session()
            except Exception as exc:  # keep going; never kill the process
                log.warning("retention pass failed with %s", type(exc).__name__)


_start_lock = threading.Lock()


def ensure_started(app: Flask) -> RetentionWorker | None:
    """Start this process's retention thread once, when ``RETENTION_WORKER`` is on."""
    if not app.config.get("RETENTION_WORKER", True):
        return None
    with _start_lock:
        current = app.extensions.get("fieldapp.retention_worker")
        if isinstance(current, RetentionWorker) and current.pid == os.getpid():
            return current
        worker = RetentionWorker(app).start()
        app.extensions["fieldapp.retention_worker"] = worker
        return worker


def init_app(app: Flask) -> None:
    """Start the thread at the process's first request (gunicorn's ``post_worker_init`` starts
    it earlier)."""

    @app.before_request
    def _start_retention_worker() -> None:
        current = app.extensions.get("fieldapp.retention_worker")
        if not (isinstance(current, RetentionWorker) and current.pid == os.getpid()):
            ensure_started(app)
