"""The application factory: configuration, extensions, blueprints, error handlers."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from flask import Flask, Request, Response
from flask.sessions import SecureCookieSessionInterface

from fieldapp.config import load_config
from fieldapp.db import db

#: the repository root (holds ``forms/``, ``static/``, ``migrations/``)
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class FieldApp(Flask):
    """Flask, logging an unhandled exception by its type and place only.

    Flask's own line names the request's path (which can hold a device token) and its traceback
    quotes the exception's message (which can quote answers); neither may reach a log.
    """

    def log_exception(self, exc_info: Any) -> None:
        from fieldapp.logredact import exception_summary  # noqa: PLC0415

        self.logger.error("unhandled exception: %s", exception_summary(exc_info))

    def send_static_file(self, filename: str) -> Response:
        """A static file by its plain or content-hashed name (``fieldapp.web.assets``)."""
        from fieldapp.web.assets import send_asset  # noqa: PLC0415

        return send_asset(filename)


class _SessionInterface(SecureCookieSessionInterface):
    """The signed session cookie, never set on (nor varying) a static file's response: those
    are public and cached for a year, and a cache must not keep anyone's cookie."""

    def save_session(self, app: Flask, session: Any, response: Response) -> None:
        from flask import request  # noqa: PLC0415

        if request.endpoint == "static":
            return
        super().save_session(app, session, response)


class _Request(Request):
    """Closes every upload stream it opened, even those of a multipart body that broke off.

    Werkzeug closes the files of ``request.files`` at the end of a request, but when a body
    fails to parse halfway (a cut-off or mis-framed multipart upload) it drops the parts read so
    far, and their temporary files stay open until garbage collection finds them.
    """

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        stream = super()._get_file_stream(
            total_content_length, content_type, filename, content_length
        )
        self.__dict__.setdefault("_upload_streams", []).append(stream)
        return stream

    def close(self) -> None:
        super().close()
        for stream in self.__dict__.pop("_upload_streams", []):
            stream.close()


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build a configured fieldapp.

    :param config: settings that win over defaults and environment variables.
    """
    app = FieldApp(
        "fieldapp",
        static_folder=str(PROJECT_ROOT / "static"),
        static_url_path="/static",
        template_folder=str(Path(__file__).parent / "templates"),
    )
    app.request_class = _Request
    app.session_interface = _SessionInterface()
    app.config.update(load_config(config))
    import fieldapp.wiring  # noqa: F401, PLC0415 (every event subscriber, registered once)

    _configure_logging(app)
    db.init_app(app)
    _configure_blobs(app)
    _configure_web(app)
    _register_blueprints(app)
    return app


def _configure_logging(app: Flask) -> None:
    from fieldapp import logredact  # noqa: PLC0415

    # however gunicorn was started, its access and error logs never show tokens or queries;
    # nor does the app's own log (Flask writes it to gunicorn's error stream)
    logredact.install(app.logger)


def _configure_blobs(app: Flask) -> None:
    from fieldapp.blobs import BlobStore, TemporarySweeper, store_from_config  # noqa: PLC0415

    # a missing bucket or refused credentials stop the start here, with a clear message
    store = store_from_config(app.config)
    store.check()
    app.extensions["fieldapp.blobs"] = store
    if isinstance(store, BlobStore):  # an object store has no temporary files (atomic puts)
        app.extensions["fieldapp.blob_sweeper"] = TemporarySweeper(
            store,
            interval=float(app.config["BLOB_SWEEP_INTERVAL_SECONDS"]),
            max_age=float(app.config["BLOB_TMP_MAX_AGE_SECONDS"]),
        ).start()


def _configure_web(app: Flask) -> None:
    from fieldapp.web import assets, boundary, errors, i18n, security, templating  # noqa: PLC0415

    boundary.init_app(app)  # first: its converter must exist before any rule, its check run first
    security.init_app(app)
    errors.init_app(app)
    templating.init_app(app)
    i18n.init_app(app)  # after templating: its date filters replace the plain ones
    assets.init_app(app)
    # browsers ask for /favicon.ico by themselves; it is a static file like the others
    app.add_url_rule(
        "/favicon.ico", endpoint="static", defaults={"filename": "favicon.ico"}, methods=["GET"]
    )


def _register_blueprints(app: Flask) -> None:
    from fieldapp.auth import views as auth_views  # noqa: PLC0415
    from fieldapp.care import views as care_views  # noqa: PLC0415
    from fieldapp.cases import consent_views, transfer_views  # noqa: PLC0415
    from fieldapp.cases import list_views as case_list_views  # noqa: PLC0415
    from fieldapp.cases import pages as case_pages  # noqa: PLC0415
    from fieldapp.cases import views as cases_views  # noqa: PLC0415
    from fieldapp.exports import views as exports_views  # noqa: PLC0415
    from fieldapp.fill import views as fill_views  # noqa: PLC0415
    from fieldapp.forms import views as forms_views  # noqa: PLC0415
    from fieldapp.odata import views as odata_views  # noqa: PLC0415
    from fieldapp.openrosa import views as openrosa_views  # noqa: PLC0415
    from fieldapp.retention import views as retention_views  # noqa: PLC0415
    from fieldapp.retention import worker as retention_worker  # noqa: PLC0415
    from fieldapp.review import dashboard_views, deletion_views, page_helpers  # noqa: PLC0415
    from fieldapp.review import views as review_views  # noqa: PLC0415
    from fieldapp.sandbox import views as sandbox_views  # noqa: PLC0415
    from fieldapp.submissions import views as submissions_views  # noqa: PLC0415
    from fieldapp.web import api, pages  # noqa: PLC0415
    from fieldapp.webhooks import views as webhook_views  # noqa: PLC0415
    from fieldapp.webhooks import worker as webhook_worker  # noqa: PLC0415

    app.register_blueprint(pages.bp)
    app.register_blueprint(auth_views.bp)
    app.register_blueprint(auth_views.admin_bp)
    app.register_blueprint(auth_views.api)
    app.register_blueprint(auth_views.account_bp)
    app.register_blueprint(forms_views.bp)
    app.register_blueprint(sandbox_views.bp)
    app.register_blueprint(forms_views.api)
    app.register_blueprint(submissions_views.api)
    app.register_blueprint(cases_views.api)
    app.register_blueprint(case_pages.bp)
    app.register_blueprint(transfer_views.bp)
    app.register_blueprint(consent_views.bp)
    app.register_blueprint(case_list_views.bp)
    app.register_blueprint(review_views.bp)
    app.register_blueprint(dashboard_views.bp)
    app.register_blueprint(care_views.bp)
    app.register_blueprint(deletion_views.bp)
    app.register_blueprint(page_helpers.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(fill_views.bp)
    app.register_blueprint(exports_views.api)
    app.register_blueprint(exports_views.bp)
    openrosa_views.register(app)
    app.register_blueprint(webhook_views.admin_bp)
    app.register_blueprint(webhook_views.api)
    webhook_worker.init_app(app)
    app.register_blueprint(retention_views.bp)
    retention_worker.init_app(app)
    odata_views.init_app(app)
