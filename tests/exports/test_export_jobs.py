"""Exports prepared in the background: the same files as the streamed ones, the rows so far
while they run, only the requester sees and downloads them, deleted and expired files go, a
job whose server stopped is taken over, and every step is in the audit log."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, update

from fieldapp.audit.models import AuditEvent
from fieldapp.db import db, utcnow
from fieldapp.exports import jobs, services
from fieldapp.exports.models import ExportJob
from tests.conftest import Browser
from tests.exports.test_exports import get, tables


def reload(token: str) -> ExportJob:
    return db.session.scalars(
        select(ExportJob).where(ExportJob.token == token).execution_options(populate_existing=True)
    ).one()


def fetch(app: Flask, world: dict[str, Any], who: str, url: str) -> Any:
    """A file's response, read and closed."""
    response = get(app, world, who, url)
    response.get_data()
    response.close()
    return response


def signed_in(app: Flask, who: str) -> Any:
    browser = Browser(app.test_client())
    assert browser.login(who).status_code == 302
    return browser.client


def post(app: Flask, world: dict[str, Any], who: str, url: str) -> Any:
    return app.test_client().post(url, headers={"Authorization": f"Bearer {world['tokens'][who]}"})


def queue(app: Flask, world: dict[str, Any], who: str, query: str = "") -> dict[str, Any]:
    response = post(app, world, who, f"/api/v1/forms/expo/exports?{query}")
    assert response.status_code == 202, response.get_data(as_text=True)
    assert response.headers["Location"] == f"/api/v1/exports/{response.json['id']}"
    return response.json


def actions(job_id: int | None = None) -> list[str]:
    rows = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action.like("export.%")).order_by(AuditEvent.id)
    ).all()
    return [r.action for r in rows if job_id is None or r.details.get("job") in (job_id, None)]


@pytest.fixture
def progress(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every heartbeat's rows so far. The real heartbeat writes on a connection of its own,
    which cannot see the test's transaction; this one touches no database (on PostgreSQL the
    session's connection is inside a COPY when it is called) and keeps the job running."""
    seen: list[int] = []

    def beat(state: jobs._Progress, rows: int) -> bool:
        seen.append(rows)
        return True

    monkeypatch.setattr(jobs, "_heartbeat", beat)
    monkeypatch.setattr(jobs, "HEARTBEAT_SECONDS", 0)
    return seen


@pytest.mark.parametrize(("fmt", "streamed"), [("csv.zip", "csv.zip"), ("xlsx", "xlsx")])
def test_a_prepared_export_is_the_streamed_export_and_counts_its_rows(
    app, world, progress, monkeypatch, fmt, streamed
):
    monkeypatch.setattr(services, "BATCH", 1)  # SQLite: a batch per submission
    monkeypatch.setattr(services, "PROGRESS_EVERY", 1)  # PostgreSQL: a report per COPY row
    job = queue(app, world, "coord1", f"format={fmt}&headers=labels&lang=ru")
    assert job["state"] == "queued" and job["download"] is None
    assert jobs.run_pending(app) == 1
    status = get(app, world, "coord1", f"/api/v1/exports/{job['id']}").json
    assert status["state"] == "ready"
    assert status["rows_done"] == status["rows_expected"] == 2  # north: n1, n2 (n3 deleted)
    assert progress == sorted(progress) and {1, 2} <= set(progress) and max(progress) == 2
    download = fetch(app, world, "coord1", status["download"])
    assert download.status_code == 200
    assert download.headers["Content-Disposition"].startswith("attachment; filename=expo-")
    direct = get(
        app, world, "coord1", f"/api/v1/forms/expo/submissions.{streamed}?headers=labels&lang=ru"
    )
    if fmt == "csv.zip":
        assert tables(download.data) == tables(direct.data)
    else:
        import io

        import openpyxl

        def sheets(data: bytes) -> dict[str, list[Any]]:
            book = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
            return {n: list(book[n].iter_rows(values_only=True)) for n in book.sheetnames}

        assert sheets(download.data) == sheets(direct.data)
    row = db.session.scalars(select(ExportJob).where(ExportJob.token == job["id"])).one()
    assert actions(row.id)[:4] == [
        "export.queued",
        "export.started",
        "export.finished",
        "export.downloaded",
    ]
    downloaded = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "export.downloaded")
    ).all()[-1]
    assert downloaded.details["rows"] == 2 and downloaded.actor_id == world["people"]["coord1"].id


def test_only_the_requester_sees_or_downloads_a_prepared_export(app, world, progress):
    job = queue(app, world, "coord1")
    jobs.run_pending(app)
    status = get(app, world, "coord1", f"/api/v1/exports/{job['id']}").json
    for who in ("coord2", "admin"):
        assert get(app, world, who, f"/api/v1/exports/{job['id']}").status_code == 404
        assert get(app, world, who, status["download"]).status_code == 404
        page = signed_in(app, world["people"][who].username)
        assert job["id"] not in page.get("/exports/jobs").get_data(as_text=True)
        assert page.get(f"/exports/jobs/{job['id']}").status_code == 404
    for who in ("worker1", "designer"):
        assert post(app, world, who, "/api/v1/forms/expo/exports").status_code in (403, 404)
        assert get(app, world, who, f"/api/v1/exports/{job['id']}").status_code in (403, 404)
    assert job["id"] in signed_in(app, "coord1").get("/exports/jobs").get_data(as_text=True)


def test_a_prepared_export_keeps_the_requesters_region_scope(app, world, progress):
    job = queue(app, world, "coord2")
    jobs.run_pending(app)
    status = get(app, world, "coord2", f"/api/v1/exports/{job['id']}").json
    assert status["rows_done"] == 1
    top = tables(fetch(app, world, "coord2", status["download"]).data)["expo.csv"]
    assert [r["KEY"] for r in top] == ["uuid:s1"]


def test_bad_arguments_are_refused_when_asked_and_nothing_is_queued(app, world):
    before = db.session.scalar(select(db_count()))
    for query, code in (
        ("format=pdf", "export.not_found"),
        ("from=yesterday", "validation"),
        ("review_state=lost", "validation"),
    ):
        response = post(app, world, "coord1", f"/api/v1/forms/expo/exports?{query}")
        assert response.status_code in (404, 422), query
        assert response.json["error"]["code"] == code
    assert post(app, world, "coord1", "/api/v1/forms/nope/exports").status_code == 404
    assert db.session.scalar(select(db_count())) == before


def db_count() -> Any:
    from sqlalchemy import func

    return func.count(ExportJob.id)


def test_a_person_has_at_most_three_exports_waiting(app, world):
    for _ in range(jobs.ACTIVE_MAX):
        queue(app, world, "coord1")
    response = post(app, world, "coord1", "/api/v1/forms/expo/exports")
    assert response.status_code == 409
    assert response.json["error"]["code"] == "export.too_many_jobs"
    queue(app, world, "coord2")  # someone else still may


def test_a_run_that_loses_its_job_stops_and_leaves_no_file(app, world, progress, monkeypatch):
    """A heartbeat that finds the job deleted (or taken over) stops the stream at once."""
    monkeypatch.setattr(services, "BATCH", 1)
    monkeypatch.setattr(services, "PROGRESS_EVERY", 1)
    job = queue(app, world, "coord1")
    monkeypatch.setattr(jobs, "_heartbeat", lambda state, rows: rows < 1)
    jobs.run_pending(app)
    row = reload(job["id"])
    assert row.state == "failed" and row.rows_done == 0
    assert not jobs.file_path(row, app).exists() and not jobs._part_path(row, app).exists()
    assert actions(row.id)[-1] == "export.aborted"
    response = get(app, world, "coord1", f"/api/v1/exports/{job['id']}/file")
    assert response.status_code == 409 and response.json["error"]["code"] == "export.failed"


def test_a_ready_file_is_deleted_on_request_and_expires_after_a_day(app, world, progress):
    first, second = queue(app, world, "coord1"), queue(app, world, "coord1")
    jobs.run_pending(app)
    rows = {j.token: j for j in db.session.scalars(select(ExportJob))}
    one, two = rows[first["id"]], rows[second["id"]]
    assert jobs.file_path(one, app).is_file() and jobs.file_path(two, app).is_file()
    client = app.test_client()
    headers = {"Authorization": f"Bearer {world['tokens']['coord1']}"}
    assert client.delete(f"/api/v1/exports/{one.token}", headers=headers).status_code == 204
    one = reload(first["id"])
    assert one.state == "deleted" and not jobs.file_path(one, app).exists()
    assert "export.deleted" in actions(one.id)
    assert jobs.expire(now=utcnow() + timedelta(hours=23), app=app) == 0
    assert jobs.expire(now=utcnow() + timedelta(hours=25), app=app) == 1
    two = reload(second["id"])
    assert two.state == "expired" and not jobs.file_path(two, app).exists()
    response = client.get(f"/api/v1/exports/{two.token}/file", headers=headers)
    assert response.status_code == 409
    assert response.json["error"]["code"] == "export.expired"


def test_a_job_whose_server_stopped_is_taken_over(app, world, progress):
    job = queue(app, world, "coord1")
    row = db.session.scalars(select(ExportJob).where(ExportJob.token == job["id"])).one()
    assert jobs.claim("dead-server") == row.id
    assert jobs.claim("other") is None  # a live runner's job is not taken
    row.heartbeat_at = utcnow() - jobs.STALE_AFTER - timedelta(seconds=1)
    db.session.commit()
    assert jobs.run_pending(app, "other") == 1
    row = reload(job["id"])
    assert row.state == "ready" and row.claimed_by == "other" and row.rows_done == 2


def test_a_requester_no_longer_allowed_gets_a_failed_job(app, world, progress):
    job = queue(app, world, "coord1")
    from fieldapp.auth.models import User

    db.session.execute(update(User).where(User.username == "coord1").values(active=False))
    db.session.commit()
    jobs.run_pending(app)
    row = db.session.scalars(select(ExportJob).where(ExportJob.token == job["id"])).one()
    assert row.state == "failed" and "can no longer sign in" in (row.error or "")
    assert not jobs.file_path(row, app).exists()


def test_the_pages_queue_show_progress_and_offer_the_download(app, world, progress):
    client = signed_in(app, "coord1")
    page = client.get("/exports/forms/expo/prepare?review_state=received&headers=labels")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'name="review_state" value="received"' in html
    token = html.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    response = client.post(
        "/exports/forms/expo/prepare",
        data={"csrf_token": token, "format": "xlsx", "review_state": "received"},
    )
    assert response.status_code == 302
    job_url = response.headers["Location"]
    waiting = client.get(job_url).get_data(as_text=True)
    assert 'http-equiv="refresh"' in waiting and "waiting to start" in waiting
    jobs.run_pending(app)
    ready = client.get(job_url).get_data(as_text=True)
    assert 'http-equiv="refresh"' not in ready and "ready: 2 submissions" in ready
    assert 'id="job-download"' in ready
    no_csrf = client.post("/exports/forms/expo/prepare", data={"format": "xlsx"})
    assert no_csrf.status_code == 400 and b"csrf" in no_csrf.data.lower()
