"""Secrets kept out of the server's logs (gunicorn's access and error logs included).

Device tokens travel in URL paths (``/collect/key/<token>/...``), search terms and cursors in
query strings, passwords and bearer tokens in headers, usernames in Basic credentials. gunicorn
logs request lines and paths on its own (the access log; "Error handling request <path>" with a
traceback when a request fails outside the app), so :func:`install` puts a filter on gunicorn's
two loggers that rewrites every record before any handler sees it. The app installs it when it
is created, so it holds however gunicorn was started; :mod:`fieldapp.gunicorn_conf` also sets a
short access-log format and a logger class that installs it in the master process.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import MutableMapping
from typing import Any

_TOKEN_IN_PATH = re.compile(r"/(key|test)/[^/\s?#\"']+")
# a query string after something that looks like a path: "/x?a=b" (not a "?" ending a sentence)
_QUERY = re.compile(r"(/[^\s?\"']*)\?[^\s\"']+")
_CREDENTIALS = re.compile(r"\b(Basic|Bearer|Token)\s+[A-Za-z0-9._~+/=-]+", re.I)
#: request and response headers (and their environ names) whose values are secrets
_SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-csrf-token"}
)
#: records of a request that failed: its traceback may quote answers or names
_REQUEST_FAILURES = ("Error handling request", "Socket error processing request")
LOGGERS = ("gunicorn.error", "gunicorn.access")


def redact_path(path: str) -> str:
    """Hide device tokens (``/collect/key/<token>/...``) and draft-try tokens
    (``/collect/test/<token>/...``) that travel in URL paths."""
    return _TOKEN_IN_PATH.sub(r"/\1/***", path)


def redact_text(text: str) -> str:
    """Hide device tokens in paths, query strings and credentials anywhere in ``text``."""
    text = redact_path(text)
    text = _QUERY.sub(r"\1?***", text)
    return _CREDENTIALS.sub(r"\1 ***", text)


def _secret_atom(key: str) -> bool:
    if key.startswith("{") and key[-2:] in ("}i", "}o", "}e"):
        name = key[1:-2].lower()
        if name.startswith("http_"):
            name = name[5:]
        return name.replace("_", "-") in _SECRET_HEADERS
    return False


def redact_atoms(atoms: MutableMapping[str, Any]) -> None:
    """Rewrite gunicorn's access-log atoms in place (paths, query, user, secret headers)."""
    for key, value in list(atoms.items()):
        if _secret_atom(key):
            safe: Any = "***"
        elif key == "u":
            safe = "-"  # the Basic username: a person's name
        elif key == "q" or key.lower() == "{query_string}e":
            safe = "***" if value else value
        elif isinstance(value, str):
            safe = redact_text(value)
        else:
            continue
        atoms[key] = safe


def exception_summary(exc_info: Any) -> str:
    """An exception's type and where it happened, without its message."""
    _, exc, tb = exc_info
    frames = traceback.extract_tb(tb)
    where = " <- ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno}" for f in frames[-4:])
    return f"{type(exc).__name__} at {where}"


class RedactingFilter(logging.Filter):
    """Rewrites a record's message, arguments and traceback so that no secret is written."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact_text(record.msg)
        if isinstance(record.args, MutableMapping):
            redact_atoms(record.args)
        elif isinstance(record.args, tuple):
            record.args = tuple(redact_text(a) if isinstance(a, str) else a for a in record.args)
        if record.exc_info and record.exc_info[1] is not None:
            if isinstance(record.msg, str) and record.msg.startswith(_REQUEST_FAILURES):
                record.msg = f"{record.msg} ({exception_summary(record.exc_info)})"
                record.exc_info = None
                record.exc_text = None
            else:
                text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
                record.exc_text = redact_text(text)
        elif record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        return True


def install(app_logger: logging.Logger | None = None) -> None:
    """Put the filter on gunicorn's loggers and on the app's logger and its handlers (once;
    harmless when gunicorn is not used).

    A filter on a logger sees only records logged on it, not those its children pass up to its
    handlers (``fieldapp.web.errors`` logs into the app logger ``fieldapp``), so the app's
    handlers, Flask's default one included, get the filter too.
    """
    targets: list[logging.Logger | logging.Handler] = [logging.getLogger(n) for n in LOGGERS]
    if app_logger is not None:
        targets += [app_logger, *app_logger.handlers]
    for target in targets:
        if not any(isinstance(f, RedactingFilter) for f in target.filters):
            target.addFilter(RedactingFilter())
