"""Serving with gunicorn from the ``fieldapp serve`` and ``fieldapp demo`` commands.

Each worker builds its own app (and so its own database engine) after the fork. Production can run
gunicorn directly: ``gunicorn 'fieldapp:create_app()'``.
"""

from __future__ import annotations

import re
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger

_TOKEN_IN_PATH = re.compile(r"/key/[^/]+")


def redact_path(path: str) -> str:
    """Hide device tokens that travel in URL paths (``/collect/key/<token>/...``)."""
    return _TOKEN_IN_PATH.sub("/key/***", path)


class RedactingLogger(Logger):  # type: ignore[misc]
    """gunicorn's logger, with secrets taken out of logged paths."""

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        for key in ("U", "r"):
            if isinstance(atoms.get(key), str):
                atoms[key] = redact_path(atoms[key])
        return atoms


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from fieldapp.app import create_app  # noqa: PLC0415

        return create_app()


def serve(host: str, port: int, *, workers: int = 2, threads: int = 4) -> None:
    """Serve until stopped."""
    _Gunicorn(
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "threads": threads,
            "worker_class": "gthread",
            "timeout": 120,
            "accesslog": "-",
            "logger_class": RedactingLogger,
            # the access log shows method, path and status, never query strings or bodies
            "access_log_format": '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(L)ss',
        }
    ).run()
