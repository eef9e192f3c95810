"""gunicorn settings for fieldapp.

Production: ``gunicorn -c python:fieldapp.gunicorn_conf 'fieldapp:create_app()'``.

``fieldapp serve`` uses the same settings. Anything here can be overridden on the command line
(``--bind``, ``--workers`` ...). The access log shows method, path (device tokens hidden) and
status, never query strings, usernames or headers; the error log never shows a request's path
or the message of a request's exception (see :mod:`fieldapp.logredact`).
"""

from __future__ import annotations

from typing import Any

bind = "127.0.0.1:5000"
workers = 2
threads = 4
worker_class = "gthread"
timeout = 120
accesslog = "-"
logger_class = "fieldapp.serve.RedactingLogger"
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(L)ss'


def post_worker_init(worker: Any) -> None:
    """Start the webhook sender and the retention job in each worker process (only the lease
    holder of each works)."""
    from fieldapp.retention.worker import ensure_started as start_retention  # noqa: PLC0415
    from fieldapp.webhooks.worker import ensure_started  # noqa: PLC0415

    app = getattr(worker, "wsgi", None)
    if app is not None and hasattr(app, "extensions"):
        ensure_started(app)
        start_retention(app)
