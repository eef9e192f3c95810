"""PostgreSQL drops the app's connections mid-request (a restart, a failover, an administrator's
``pg_terminate_backend``): the requests caught by it get a clean, retryable 503 in their
protocol's shape, the pool recovers, and nothing that can hold a secret reaches any log.

Before the fix, the request teardown (``session.remove()`` rolling back on the dead connection)
raised outside Flask's error handlers: gunicorn answered its own bare 500 and logged
``Error handling request HEAD /collect/key/<raw device token>/submission`` with a traceback.
"""

from __future__ import annotations

import json
import os
import threading

import pytest
from sqlalchemy import text

from fieldapp.db import make_engine
from tests.concurrency.conftest import seed_submissions
from tests.concurrency.office import (
    Answer,
    Office,
    Phone,
    check_every_acknowledged_submission_stored,
    run_load,
)

pytestmark = [
    pytest.mark.committed,
    pytest.mark.skipif(
        "postgresql" not in os.environ.get("FIELDAPP_TEST_DATABASE_URL", ""),
        reason="terminates PostgreSQL backends: runs when the suite runs on PostgreSQL",
    ),
]


def _check_clean_503(name: str, answer: Answer) -> None:
    assert answer.headers.get("retry-after", "").isdigit(), name
    content_type = answer.headers.get("content-type", "")
    if name.startswith("collect"):
        if name.endswith("HEAD submission"):
            return  # a HEAD has no body
        assert content_type.startswith("text/xml"), name
        assert b"<OpenRosaResponse" in answer.body and b'nature="error"' in answer.body, name
    elif name.startswith("api"):
        assert content_type.startswith("application/json"), name
        assert json.loads(answer.body)["error"]["code"] == "unavailable", name
    else:
        assert content_type.startswith("text/html"), name
        assert b"Temporarily unavailable" in answer.body, name


def test_terminated_backends_give_clean_503s_and_the_pool_recovers(office: Office, tmp_path):
    server = office.server
    assert server.schema is not None and server.application_name is not None
    admin = make_engine(server._admin_url)
    server.start(workers=2, threads=4, log_dir=tmp_path / "logs")
    stop = threading.Event()
    terminated = [0]

    def terminate_backends() -> None:
        # only this server's backends (its own application_name), over and over, until stopped
        while not stop.is_set():
            with admin.connect() as conn:
                killed = conn.execute(
                    text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE application_name = :name AND datname = current_database()"
                    ),
                    {"name": server.application_name},
                ).scalar()
            terminated[0] += int(killed or 0)
            stop.wait(0.1)

    try:
        office.discover()
        seed_submissions(office)
        phones = [Phone(office) for _ in range(8)]
        killer = threading.Thread(target=terminate_backends)
        killer.start()
        try:
            during = run_load(office, clients=phones, seconds=12, allow_unavailable=True)
        finally:
            stop.set()
            killer.join(timeout=30)
        # no more terminations: every request succeeds again, on reconnected pools
        after = run_load(office, clients=phones, seconds=4)
    finally:
        server.stop()
        admin.dispose()
    print("\n" + during.report(f"while terminating backends ({terminated[0]} terminated)"))
    print(after.report("afterwards"))

    assert terminated[0] > 0
    assert during.unexpected == [], during.unexpected[:20]
    for name, answer in during.unavailable:
        _check_clean_503(name, answer)
    assert after.unexpected == [] and after.unavailable == [], after.unexpected[:20]
    check_every_acknowledged_submission_stored(office)

    logs = server.logs()
    assert "Error handling request" not in logs
    for secret in office.secrets():
        assert secret not in logs
