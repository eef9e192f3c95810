"""The background sender: a thread in each app process, of which only the lease holder works.

Every ``WEBHOOKS_POLL_SECONDS`` the thread tries to take or renew the ``webhooks`` row of
``worker_leases`` (one conditional UPDATE: free, expired, or already its own). Only the
holder runs :meth:`WebhookWorker.run_once`:

1. the periodic tick: cases whose follow-up date passed since the last tick are told overdue
   (``cases.overdue.notice_overdue``: once per case and due date);
2. claim due deliveries: pending, ``next_attempt_at`` reached, not claimed by another sender,
   and no earlier pending delivery of the same endpoint and subject (order per subject). On
   PostgreSQL the rows are read ``FOR UPDATE SKIP LOCKED``; SQLite has one writer anyway.
   Claiming sets ``claimed_until`` and commits, so nothing is held open while sending;
3. send each outside any transaction (signed, timeout, no redirects), then record the attempt
   and its outcome in a short transaction: 2xx → delivered; otherwise the next attempt after
   the backoff, or failed once the backoff schedule (about a day) is used up.

Nothing is lost across a restart: the outbox row is committed with the event, and a claim that
was never finished expires and is claimed again (a receiver may then see a message twice, with
the same ``webhook-id``, as Standard Webhooks expects).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from fieldapp.cases.overdue import notice_overdue
from fieldapp.db import db, utcnow
from fieldapp.errors import DomainError
from fieldapp.webhooks import sender, services
from fieldapp.webhooks.models import (
    DeliveryState,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WorkerLease,
)

log = logging.getLogger(__name__)

LEASE_NAME = "webhooks"

#: after a long pause (no endpoint, server down) follow-ups due at most this long ago are told
MAX_LOOKBACK = timedelta(days=7)

#: seconds before the 2nd, 3rd ... attempt; after the last, the delivery has failed (~22.6 h)
DEFAULT_BACKOFF: tuple[float, ...] = (10, 60, 300, 1800, 7200, 21600, 50400)


@dataclass
class Settings:
    """What the worker reads from the app's config."""

    backoff: Sequence[float] = DEFAULT_BACKOFF
    timeout: float = 10.0
    batch: int = 20
    lease_seconds: float = 60.0
    allow_private: bool = False
    site_url: str | None = None

    @classmethod
    def from_config(cls, config: Any) -> Settings:
        return cls(
            backoff=tuple(
                float(s) for s in config.get("WEBHOOKS_BACKOFF_SECONDS", DEFAULT_BACKOFF)
            ),
            timeout=float(config.get("WEBHOOKS_TIMEOUT_SECONDS", 10)),
            batch=int(config.get("WEBHOOKS_BATCH", 20)),
            lease_seconds=float(config.get("WEBHOOKS_LEASE_SECONDS", 60)),
            allow_private=bool(config.get("WEBHOOKS_ALLOW_PRIVATE_URLS", False)),
            site_url=config.get("SITE_URL"),
        )


def _absolute_links(payload: dict[str, Any], site_url: str | None) -> dict[str, Any]:
    data = payload.get("data")
    if not site_url or not isinstance(data, dict) or not isinstance(data.get("links"), dict):
        return payload
    base = site_url.rstrip("/")
    links = {
        k: base + v if isinstance(v, str) and v.startswith("/") else v
        for k, v in data["links"].items()
    }
    return {**payload, "data": {**data, "links": links}}


class WebhookWorker:
    """Sends the outbox. ``run_once`` is one pass (tests call it with their own clock);
    ``start`` runs passes in a daemon thread while this process holds the lease."""

    def __init__(
        self,
        app: Flask,
        *,
        clock: Callable[[], datetime] = utcnow,
        holder: str | None = None,
        poll: float | None = None,
    ) -> None:
        self.app = app
        self.clock = clock
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"[:120]
        self.poll = float(poll if poll is not None else app.config.get("WEBHOOKS_POLL_SECONDS", 2))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.pid = os.getpid()

    # -- the lease -------------------------------------------------------------------------

    def acquire_lease(self) -> bool:
        """Take or renew the lease; whether this worker holds it now (commits)."""
        settings = Settings.from_config(self.app.config)
        now = self.clock()
        if db.session.get(WorkerLease, LEASE_NAME) is None:
            try:
                with db.session.begin_nested():
                    db.session.add(WorkerLease(name=LEASE_NAME))
            except IntegrityError:
                pass  # another process made it first
        result = db.session.execute(
            update(WorkerLease)
            .where(
                WorkerLease.name == LEASE_NAME,
                or_(
                    WorkerLease.holder == self.holder,
                    WorkerLease.expires_at.is_(None),
                    WorkerLease.expires_at < now,
                ),
            )
            .values(holder=self.holder, expires_at=now + timedelta(seconds=settings.lease_seconds))
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
        return bool(getattr(result, "rowcount", 0) == 1)

    def release_lease(self) -> None:
        db.session.execute(
            update(WorkerLease)
            .where(WorkerLease.name == LEASE_NAME, WorkerLease.holder == self.holder)
            .values(holder=None, expires_at=None)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()

    # -- one pass --------------------------------------------------------------------------

    def run_once(self) -> int:
        """Tick, then send what is due, if this worker holds the lease. Returns how many
        deliveries were attempted.

        With no active endpoint there is nothing to tell anyone: the pass only reads (no lease
        write every few seconds on a server that uses no webhooks)."""
        has_endpoints = db.session.scalars(
            select(WebhookEndpoint.id).where(WebhookEndpoint.active.is_(True)).limit(1)
        ).first()
        pending = db.session.scalars(
            select(WebhookDelivery.id)
            .where(WebhookDelivery.state == DeliveryState.PENDING.value)
            .limit(1)
        ).first()
        db.session.commit()
        if has_endpoints is None and pending is None:
            return 0
        if not self.acquire_lease():
            return 0
        self.tick()
        sent = 0
        settings = Settings.from_config(self.app.config)
        for delivery_id in self.claim(settings):
            self._send(delivery_id, settings)
            sent += 1
        return sent

    def tick(self) -> None:
        """The periodic work besides sending: follow-ups that became overdue."""
        now = self.clock()
        lease = db.session.get(WorkerLease, LEASE_NAME, populate_existing=True)
        assert lease is not None
        last = lease.last_tick_at
        if last is not None and last.date() == now.date():
            return  # due dates are days: once a day is enough
        since = max(last.date(), now.date() - MAX_LOOKBACK) if last else None
        notice_overdue(today=now.date(), since=since)
        lease.last_tick_at = now
        db.session.commit()

    def claim(self, settings: Settings) -> list[int]:
        """Claim due deliveries in order (see the module docstring); commits."""
        now = self.clock()
        earlier = aliased(WebhookDelivery)
        query = (
            select(WebhookDelivery)
            .where(
                WebhookDelivery.state == DeliveryState.PENDING.value,
                WebhookDelivery.next_attempt_at <= now,
                or_(WebhookDelivery.claimed_until.is_(None), WebhookDelivery.claimed_until < now),
                ~exists().where(
                    and_(
                        earlier.endpoint_id == WebhookDelivery.endpoint_id,
                        earlier.subject == WebhookDelivery.subject,
                        earlier.state == DeliveryState.PENDING.value,
                        earlier.id < WebhookDelivery.id,
                    )
                ),
            )
            .order_by(WebhookDelivery.id)
            .limit(settings.batch)
        )
        bind = db.session.get_bind()
        if bind.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True, of=WebhookDelivery)
        rows = db.session.scalars(query).all()
        until = now + timedelta(seconds=settings.timeout * 3 + 30)
        for row in rows:
            row.claimed_until = until
        ids = [row.id for row in rows]
        db.session.commit()
        return ids

    def _send(self, delivery_id: int, settings: Settings) -> None:
        delivery = db.session.get_one(WebhookDelivery, delivery_id)
        endpoint = db.session.get_one(WebhookEndpoint, delivery.endpoint_id)
        now = self.clock()
        body = json.dumps(
            _absolute_links(delivery.payload, settings.site_url),
            separators=(",", ":"),
            ensure_ascii=False,
        )
        url = endpoint.url
        secrets_now = services.signing_secrets(endpoint, now)
        db.session.commit()  # nothing open while the request is out
        if not endpoint.active:
            outcome = sender.Outcome(status=None, duration_ms=0, error="endpoint disabled")
        else:
            try:
                services.check_url(url, allow_private=settings.allow_private)
            except DomainError:
                outcome = sender.Outcome(status=None, duration_ms=0, error="address not allowed")
            else:
                outcome = sender.send(
                    url,
                    msg_id=delivery.msg_id,
                    timestamp=now,
                    body=body,
                    secrets=secrets_now,
                    timeout=settings.timeout,
                )
        self._record(delivery_id, outcome, settings)

    def _record(self, delivery_id: int, outcome: sender.Outcome, settings: Settings) -> None:
        delivery = db.session.get_one(WebhookDelivery, delivery_id, populate_existing=True)
        now = self.clock()
        db.session.add(
            WebhookAttempt(
                delivery_id=delivery.id,
                at=now,
                status_code=outcome.status,
                duration_ms=outcome.duration_ms,
                error=outcome.error[:200] if outcome.error else None,
                response_excerpt=outcome.excerpt[:500] if outcome.excerpt else None,
            )
        )
        delivery.attempts += 1
        delivery.last_status = outcome.status
        delivery.claimed_until = None
        if outcome.ok:
            delivery.state = DeliveryState.DELIVERED.value
            delivery.finished_at = now
        elif delivery.attempts > len(settings.backoff):
            delivery.state = DeliveryState.FAILED.value
            delivery.finished_at = now
        else:
            delay = settings.backoff[delivery.attempts - 1]
            delivery.next_attempt_at = now + timedelta(seconds=delay)
        db.session.commit()

    # -- the thread ------------------------------------------------------------------------

    def start(self) -> WebhookWorker:
        self._thread = threading.Thread(target=self._run, name="webhook-worker", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with self.app.app_context():
                    try:
                        busy = self.run_once()
                    finally:
                        db.remove_session()
            except Exception as exc:  # keep going; never kill the process
                log.warning("webhook worker pass failed with %s", type(exc).__name__)
                busy = 0
            if not busy and self._stop.wait(self.poll):
                break
        try:
            with self.app.app_context():
                self.release_lease()
                db.remove_session()
        except Exception as exc:
            log.warning("releasing the webhook lease failed with %s", type(exc).__name__)


_start_lock = threading.Lock()


def ensure_started(app: Flask) -> WebhookWorker | None:
    """Start this process's worker thread once, when ``WEBHOOKS_WORKER`` is on.

    Threads do not survive ``fork``: a worker made in another process (gunicorn's master with
    ``--preload``) is replaced by a new one here.
    """
    if not app.config.get("WEBHOOKS_WORKER", True):
        return None
    with _start_lock:
        current = app.extensions.get("fieldapp.webhook_worker")
        if isinstance(current, WebhookWorker) and current.pid == os.getpid():
            return current
        worker = WebhookWorker(app).start()
        app.extensions["fieldapp.webhook_worker"] = worker
        return worker


def init_app(app: Flask) -> None:
    """Start the worker at the process's first request (gunicorn's ``post_worker_init`` in
    ``fieldapp.gunicorn_conf`` starts it earlier, without waiting for a request)."""

    @app.before_request
    def _start_webhook_worker() -> None:
        current = app.extensions.get("fieldapp.webhook_worker")
        if not (isinstance(current, WebhookWorker) and current.pid == os.getpid()):
            ensure_started(app)
