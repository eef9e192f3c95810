"""Serving with gunicorn from the ``fieldapp serve`` and ``fieldapp demo`` commands.

Each worker builds its own app (and so its own database engine) after the fork. Production can run
gunicorn directly with the same settings: ``gunicorn -c python:fieldapp.gunicorn_conf
'fieldapp:create_app()'`` (:mod:`fieldapp.gunicorn_conf`). Without that config the app still
keeps secrets out of gunicorn's logs: it installs :class:`fieldapp.logredact.RedactingFilter`
on gunicorn's loggers when it is created.
"""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger

from fieldapp import gunicorn_conf, logredact
from fieldapp.logredact import redact_path

__all__ = ["RedactingLogger", "redact_path", "serve"]


class RedactingLogger(Logger):  # type: ignore[misc]
    """gunicorn's logger, with secrets taken out of access-log atoms and error-log records."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        logredact.install()

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        logredact.redact_atoms(atoms)
        return atoms


_SETTINGS = ("workers", "threads", "worker_class", "timeout", "accesslog", "access_log_format")


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


def serve(
    host: str,
    port: int,
    *,
    workers: int = gunicorn_conf.workers,
    threads: int = gunicorn_conf.threads,
) -> None:
    """Serve until stopped."""
    options: dict[str, Any] = {key: getattr(gunicorn_conf, key) for key in _SETTINGS}
    options.update(
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "threads": threads,
            "logger_class": RedactingLogger,
            "post_worker_init": gunicorn_conf.post_worker_init,
        }
    )
    _Gunicorn(options).run()
