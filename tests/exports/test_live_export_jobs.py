"""Exports prepared in the background by a real gunicorn: the server's own runner thread
claims the job, writes the file with its heartbeat on a connection of its own, and the file is
the streamed export's; a job left running by a server that stopped is taken over by the next
one when someone asks after it."""

from __future__ import annotations

import io
import json
import stat
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from fieldapp.db import utcnow
from tests.cases.support import SEED1_INSTANCE
from tests.exports.live_support import family_registration_server
from tests.live import LiveServer


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str, Path]]:
    data = tmp_path_factory.mktemp("export-jobs-live")
    server, api_token = family_registration_server(
        data, workers=2, threads=2, log_dir=data / "logs"
    )
    try:
        yield server, api_token, data
    finally:
        server.close()


def call(server: LiveServer, token: str, path: str, method: str = "GET") -> tuple[int, Any, bytes]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{server.port}{path}",
        method=method,
        headers={"Authorization": f"Bearer {token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def wait_ready(server: LiveServer, token: str, job: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status, _, body = call(server, token, f"/api/v1/exports/{job}")
        assert status == 200, body[:300]
        found = json.loads(body)
        if found["state"] not in ("queued", "running"):
            return found
        time.sleep(0.2)
    raise AssertionError(f"the export {job} did not finish: {found}")


def csvs(data: bytes) -> dict[str, str]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {n: archive.read(n).decode("utf-8-sig") for n in archive.namelist()}


def test_the_server_prepares_the_export_and_keeps_it_for_its_asker(live):
    server, token, data = live
    status, headers, body = call(
        server, token, "/api/v1/forms/family_registration/exports?format=csv.zip", "POST"
    )
    assert status == 202, body[:300]
    job = json.loads(body)["id"]
    assert headers["Location"] == f"/api/v1/exports/{job}"
    found = wait_ready(server, token, job)
    assert found["state"] == "ready", found
    assert found["rows_done"] == found["rows_expected"] == 1
    status, headers, prepared = call(server, token, found["download"])
    assert status == 200
    assert "attachment" in headers["Content-Disposition"]
    _, _, streamed = call(server, token, "/api/v1/forms/family_registration/submissions.csv.zip")
    assert csvs(prepared) == csvs(streamed)
    assert SEED1_INSTANCE in csvs(prepared)["family_registration.csv"]
    stored = data / "exports" / f"{job}.csv.zip"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert stat.S_IMODE(stored.parent.stat().st_mode) == 0o700

    assert call(server, token, f"/api/v1/exports/{job}", "DELETE")[0] == 204
    assert not stored.exists()
    status, _, body = call(server, token, found["download"])
    assert status == 409 and json.loads(body)["error"]["code"] == "export.deleted"
    engine = server.engine()
    with engine.connect() as connection:
        jobs_audit = connection.execute(
            text(
                "SELECT action FROM audit_events WHERE action IN ('export.queued', "
                "'export.downloaded', 'export.deleted') ORDER BY id"
            )
        ).scalars()
        assert list(jobs_audit) == ["export.queued", "export.downloaded", "export.deleted"]
    engine.dispose()
    assert "export job" not in server.logs()  # no run failed


def test_a_job_left_running_by_a_stopped_server_is_taken_over(live):
    server, token, data = live
    server.stop()
    engine = server.engine()
    with engine.begin() as connection:
        boss = connection.execute(text("SELECT id FROM users WHERE username = 'boss'")).scalar()
        stale = utcnow() - timedelta(minutes=10)
        connection.execute(
            text(
                "INSERT INTO export_jobs (token, user_id, form_id, format, params, state, "
                "rows_done, claimed_by, heartbeat_at, created_at, started_at) VALUES "
                "('left-by-a-dead-server', :boss, 'family_registration', 'xlsx', '{}', "
                "'running', 0, 'gone:1:0', :stale, :stale, :stale)"
            ),
            {"boss": boss, "stale": stale},
        )
    engine.dispose()
    server.start(workers=2, threads=2, log_dir=data / "logs")
    found = wait_ready(server, token, "left-by-a-dead-server")
    assert found["state"] == "ready" and found["rows_done"] == 1
    status, _, book = call(server, token, found["download"])
    assert status == 200 and book[:2] == b"PK"
