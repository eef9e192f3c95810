"""Exports one after another through a real gunicorn with one worker thread, so that every
request gets the same pooled database connection: an export must hand its connection back
clean. (On PostgreSQL the CSV zip is written by COPY on the session's own connection; a COPY
run after the session had given the connection back left it inside a transaction, and the
next request that took it failed with a 500, its export's end unrecorded.)"""

from __future__ import annotations

import io
import urllib.request
import zipfile
from collections.abc import Iterator

import openpyxl
import pytest
from sqlalchemy import text

from tests.cases.support import SEED1_INSTANCE
from tests.exports.live_support import family_registration_server
from tests.live import LiveServer


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str]]:
    data = tmp_path_factory.mktemp("export-live")
    server, api_token = family_registration_server(
        data, workers=1, threads=1, log_dir=data / "logs"
    )
    try:
        yield server, api_token
    finally:
        server.close()


def _get(server: LiveServer, token: str, path: str) -> tuple[int, bytes]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{server.port}{path}", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_exports_in_a_row_share_one_connection_and_each_is_recorded(live):
    server, token = live
    base = "/api/v1/forms/family_registration/submissions"
    for _ in range(2):
        status, body = _get(server, token, f"{base}.csv.zip")
        assert status == 200, body[:300]
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            assert SEED1_INSTANCE in archive.read("family_registration.csv").decode("utf-8-sig")
        status, body = _get(server, token, f"{base}.xlsx")
        assert status == 200, body[:300]
        book = openpyxl.load_workbook(io.BytesIO(body), read_only=True)
        assert SEED1_INSTANCE in next(book.worksheets[0].iter_rows(min_row=2, values_only=True))
    engine = server.engine()
    with engine.connect() as connection:
        ends = connection.execute(
            text("SELECT action FROM audit_events WHERE action LIKE 'export.%' ORDER BY id")
        ).scalars()
        assert list(ends) == ["export.started", "export.finished"] * 4
    engine.dispose()
    assert "recording the end of an export failed" not in server.logs()
