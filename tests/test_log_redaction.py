"""No device token, query string, credential or exception message reaches gunicorn's logs,
however gunicorn is started (the live-server tests check the real logs under load)."""

from __future__ import annotations

import io
import logging
import subprocess
import sys
from types import TracebackType

from fieldapp import logredact
from fieldapp.serve import RedactingLogger
from tests.live import ROOT

TOKEN = "s3cr3t-device-token-AbCdEf0123456789"


def _raise(exc: BaseException) -> None:
    raise exc


def _traceback_of(exc: BaseException) -> TracebackType | None:
    try:
        _raise(exc)
    except BaseException as raised:
        return raised.__traceback__
    return None


def _formatted(logger_name: str, msg: str, *args: object, exc: BaseException | None = None) -> str:
    logredact.install()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger(logger_name)
    logger.addHandler(handler)
    try:
        if exc is None:
            logger.error(msg, *args)
        else:
            logger.error(msg, *args, exc_info=(type(exc), exc, _traceback_of(exc)))
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def test_error_handling_request_line_hides_the_path_token_and_the_exception_message():
    out = _formatted(
        "gunicorn.error",
        "Error handling request %s %s",
        "HEAD",
        f"/collect/key/{TOKEN}/submission?formID=x&name=Aigul",
        exc=RuntimeError("answer: Aigul Omarova"),
    )
    assert "Error handling request HEAD /collect/key/***/submission?***" in out
    assert "RuntimeError at test_log_redaction.py" in out
    assert TOKEN not in out and "Aigul" not in out and "Traceback" not in out


def test_invalid_request_lines_and_other_records_are_redacted_too():
    out = _formatted(
        "gunicorn.error", f"Invalid request from ip=1.2.3.4: GET /collect/key/{TOKEN}/formList"
    )
    out += _formatted("gunicorn.error", "worker failed", exc=ValueError(f"/collect/key/{TOKEN}"))
    assert TOKEN not in out
    assert "/collect/key/***/formList" in out
    assert "Traceback" in out  # not a request's failure: the traceback stays, redacted


def test_access_log_atoms_hide_tokens_queries_usernames_and_credentials():
    atoms = {
        "r": f"GET /collect/key/{TOKEN}/formList?formID=a HTTP/1.1",
        "U": f"/collect/key/{TOKEN}/formList",
        "q": "formID=a",
        "u": "worker1",
        "f": f"https://host/collect/key/{TOKEN}/x?q=Aigul",
        "{authorization}i": "Basic d29ya2VyMTpwYXNzd29yZA==",
        "{cookie}i": "fieldapp_session=abc",
        "{http_authorization}e": "Bearer abc",
        "{raw_uri}e": f"/collect/key/{TOKEN}/formList?formID=a",
        "s": "200",
    }
    logredact.redact_atoms(atoms)
    assert atoms == {
        "r": "GET /collect/key/***/formList?*** HTTP/1.1",
        "U": "/collect/key/***/formList",
        "q": "***",
        "u": "-",
        "f": "https://host/collect/key/***/x?***",
        "{authorization}i": "***",
        "{cookie}i": "***",
        "{http_authorization}e": "***",
        "{raw_uri}e": "/collect/key/***/formList?***",
        "s": "200",
    }


def test_the_shipped_gunicorn_config_loads_with_the_redacting_logger():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--check-config",
            "-c",
            "python:fieldapp.gunicorn_conf",
            "fieldapp:create_app()",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    from fieldapp import gunicorn_conf

    assert gunicorn_conf.logger_class == f"{RedactingLogger.__module__}.RedactingLogger"
