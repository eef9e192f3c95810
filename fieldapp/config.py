"""Configuration: defaults, then environment variables, then the caller's mapping.

Only reading and deriving settings happens here; nothing is created except the data dir and the
generated secret key, which must survive restarts so that sessions do too.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULTS: dict[str, Any] = {
    #: minutes of inactivity after which a web session ends
    "SESSION_IDLE_MINUTES": 30,
    #: hours after which a web session ends however active it is
    "SESSION_MAX_HOURS": 12,
    #: failed logins on one account from one address before growing delays (429) begin
    "LOGIN_FREE_FAILURES": 5,
    #: failed logins (any account, known or not) from one address before delays begin
    "LOGIN_ADDRESS_FREE_FAILURES": 20,
    #: an account is locked only after failures from this many addresses within 24 hours ...
    "LOGIN_LOCK_ADDRESSES": 10,
    #: ... and this many failures in all
    "LOGIN_LOCK_FAILURES": 50,
    #: how long such a lock lasts unless an administrator lifts it
    "LOGIN_LOCKOUT_MINUTES": 60,
    #: days an API token works unless its creator chose otherwise
    "API_TOKEN_DAYS": 90,
    #: largest XLSForm accepted, in bytes
    "XLSFORM_MAX_BYTES": 10 * 1024 * 1024,
    #: seconds an XLSForm may take to convert before it is refused (``xlsform.too_slow``)
    "XLSFORM_COMPILE_TIMEOUT": 30,
    #: megabytes of memory the conversion of one XLSForm may take
    "XLSFORM_COMPILE_MEMORY_MB": 1536,
    #: largest form attachment (media, CSV) accepted, in bytes
    "FORM_ATTACHMENT_MAX_BYTES": 50 * 1024 * 1024,
    #: "auto" (run ODK Validate when Java exists), "always" (fail without Java), "never"
    "ODK_VALIDATE": "auto",
    #: seconds ODK Validate may run before publishing is refused
    "ODK_VALIDATE_TIMEOUT": 60,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "SESSION_COOKIE_NAME": "fieldapp_session",
    #: largest request body of any kind; routes lower it for themselves
    "MAX_CONTENT_LENGTH": 100 * 1024 * 1024,
    "MAX_FORM_MEMORY_SIZE": 2 * 1024 * 1024,
    #: largest submission POST accepted (advertised as X-OpenRosa-Accept-Content-Length)
    "OPENROSA_MAX_BYTES": 50 * 1024 * 1024,
    #: largest submission XML part
    "SUBMISSION_XML_MAX_BYTES": 10 * 1024 * 1024,
    #: most elements in a submission XML part (counted while parsing; more is a fast 413). The
    #: programme's largest real submission has under 100; this leaves room for long repeats
    #: while keeping any accepted document quick to take in
    "SUBMISSION_XML_MAX_ELEMENTS": 50_000,
    #: a submission that updates a case whose follow-up is overdue by more than this many days
    #: is urgent in the review queue (as is one whose form computes ``urgent`` = "yes")
    "URGENT_OVERDUE_DAYS": 14,
    #: the programme's time zone (an IANA name, ``FIELDAPP_TIMEZONE``): pages show times in it,
    #: with its offset (``09:41 UTC+5``); stored times, the API and exports stay UTC
    "TIMEZONE": "UTC",
    #: public address used in Collect URLs and QR codes; default: the request's own host
    "SITE_URL": None,
    #: where the gzip and brotli variants of static files are kept (made once per content);
    #: default ``{DATA_DIR}/cache/static``. Processes may share it.
    "STATIC_CACHE_DIR": None,
    #: where blobs live (``FIELDAPP_BLOB_URL``): unset — ``{DATA_DIR}/blobs``; ``file:///path``;
    #: ``s3://bucket/prefix`` — an S3-compatible object store (see ``fieldapp.blobs``)
    "BLOB_URL": None,
    #: the S3 server for non-AWS stores (``FIELDAPP_S3_ENDPOINT_URL``); AWS itself: unset
    "S3_ENDPOINT_URL": None,
    #: where prepared export files are written (``FIELDAPP_EXPORTS_DIR``); default
    #: ``{DATA_DIR}/exports``. App servers sharing a database must share this directory
    "EXPORTS_DIR": None,
    #: seconds between sweeps of temporary files left in the blob store by interrupted writes
    "BLOB_SWEEP_INTERVAL_SECONDS": 900,
    #: age in seconds after which such a temporary file is abandoned (a write takes seconds)
    "BLOB_TMP_MAX_AGE_SECONDS": 900,
    #: run the webhook sender thread in this process (started after fork: by gunicorn's
    #: ``post_worker_init`` or at the process's first request); only the lease holder sends
    "WEBHOOKS_WORKER": True,
    #: seconds between the sender's passes when it has nothing to do
    "WEBHOOKS_POLL_SECONDS": 2,
    #: seconds a send may take before it counts as failed (no redirects are followed)
    "WEBHOOKS_TIMEOUT_SECONDS": 10,
    #: run prepared exports (``/exports/jobs``) in a thread of the process that queued them
    "EXPORT_JOBS_THREAD": True,
    #: allow endpoints on loopback, private, link-local and reserved addresses (tests, labs)
    "WEBHOOKS_ALLOW_PRIVATE_URLS": False,
    #: run the retention thread in this process (deleted submissions and closed cases past
    #: their retention are purged; unreferenced blobs collected); one pass per interval runs
    #: across all servers (a database lease)
    "RETENTION_WORKER": True,
    #: seconds between retention passes (across all servers)
    "RETENTION_INTERVAL_SECONDS": 3600,
    #: seconds between a process's checks whether a pass is due
    "RETENTION_POLL_SECONDS": 60,
    #: seconds a pass may hold the retention lease before another process may take over
    "RETENTION_LEASE_SECONDS": 1800,
    #: an unreferenced blob is collected only once its row is this many seconds old
    "BLOB_GC_GRACE_SECONDS": 3600,
}


def data_dir_from_env(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The data dir: the argument, else ``FIELDAPP_DATA_DIR``, else ``./instance``."""
    raw = explicit or os.environ.get("FIELDAPP_DATA_DIR") or "instance"
    return Path(raw).expanduser().resolve()


def normalise_database_url(url: str) -> str:
    """Use psycopg 3 for plain ``postgresql://`` URLs (psycopg2 is not installed)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _secret_key(data_dir: Path) -> str:
    """Read the secret key kept in the data dir, making it on first use (mode 0600)."""
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def valid_timezone(name: str) -> str:
    """``name`` if it is an IANA time zone this machine knows.

    :raises ValueError: it is not (the server does not start with a wrong clock on its pages).
    """
    try:
        ZoneInfo(name)
    except (ValueError, OSError, ZoneInfoNotFoundError):
        raise ValueError(
            f"FIELDAPP_TIMEZONE: {name!r} is not a time zone; use an IANA name such as "
            "Asia/Almaty or UTC"
        ) from None
    return name


def load_config(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Build the Flask config mapping.

    :param overrides: settings that win over defaults and environment (tests use this).
    :return: the complete mapping, with ``DATA_DIR``, ``DATABASE_URL`` and ``SECRET_KEY`` set.
    """
    overrides = dict(overrides or {})
    config: dict[str, Any] = dict(DEFAULTS)
    data_dir = data_dir_from_env(overrides.pop("DATA_DIR", None))
    data_dir.mkdir(parents=True, exist_ok=True)
    config["DATA_DIR"] = str(data_dir)
    env_url = os.environ.get("FIELDAPP_DATABASE_URL")
    config["DATABASE_URL"] = env_url or f"sqlite:///{data_dir / 'fieldapp.sqlite3'}"
    for name in ("BLOB_URL", "S3_ENDPOINT_URL", "EXPORTS_DIR"):
        if os.environ.get(f"FIELDAPP_{name}"):
            config[name] = os.environ[f"FIELDAPP_{name}"]
    if os.environ.get("FIELDAPP_EXPORT_JOBS_THREAD") in ("0", "1"):
        config["EXPORT_JOBS_THREAD"] = os.environ["FIELDAPP_EXPORT_JOBS_THREAD"] == "1"
    if os.environ.get("FIELDAPP_TIMEZONE"):
        config["TIMEZONE"] = os.environ["FIELDAPP_TIMEZONE"].strip()
    if os.environ.get("FIELDAPP_SITE_URL"):
        config["SITE_URL"] = os.environ["FIELDAPP_SITE_URL"]
    if os.environ.get("FIELDAPP_STATIC_CACHE_DIR"):
        config["STATIC_CACHE_DIR"] = os.environ["FIELDAPP_STATIC_CACHE_DIR"]
    if os.environ.get("FIELDAPP_SECURE_COOKIES") == "1":
        config["SESSION_COOKIE_SECURE"] = True
    if os.environ.get("FIELDAPP_ODK_VALIDATE"):
        config["ODK_VALIDATE"] = os.environ["FIELDAPP_ODK_VALIDATE"]
    if os.environ.get("FIELDAPP_URGENT_OVERDUE_DAYS", "").isdigit():
        config["URGENT_OVERDUE_DAYS"] = int(os.environ["FIELDAPP_URGENT_OVERDUE_DAYS"])
    if os.environ.get("FIELDAPP_WEBHOOKS_WORKER") in ("0", "1"):
        config["WEBHOOKS_WORKER"] = os.environ["FIELDAPP_WEBHOOKS_WORKER"] == "1"
    if os.environ.get("FIELDAPP_RETENTION_WORKER") in ("0", "1"):
        config["RETENTION_WORKER"] = os.environ["FIELDAPP_RETENTION_WORKER"] == "1"
    if os.environ.get("FIELDAPP_WEBHOOKS_ALLOW_PRIVATE_URLS") in ("0", "1"):
        config["WEBHOOKS_ALLOW_PRIVATE_URLS"] = (
            os.environ["FIELDAPP_WEBHOOKS_ALLOW_PRIVATE_URLS"] == "1"
        )
    if os.environ.get("FIELDAPP_WEBHOOKS_POLL_SECONDS"):
        config["WEBHOOKS_POLL_SECONDS"] = float(os.environ["FIELDAPP_WEBHOOKS_POLL_SECONDS"])
    config.update(overrides)
    config["DATABASE_URL"] = normalise_database_url(str(config["DATABASE_URL"]))
    config["TIMEZONE"] = valid_timezone(str(config["TIMEZONE"]))
    if not config.get("SECRET_KEY"):
        config["SECRET_KEY"] = os.environ.get("FIELDAPP_SECRET_KEY") or _secret_key(data_dir)
    config["PERMANENT_SESSION_LIFETIME"] = timedelta(minutes=int(config["SESSION_IDLE_MINUTES"]))
    return config
