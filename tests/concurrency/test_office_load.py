"""A whole regional office at once on the embedded default (and on PostgreSQL): 16 clients mix
page reads, API reads, Collect syncs with a device token and with a password, and new
submissions with a photo, on a live gunicorn with several workers and threads.

Before the fix, GET requests that write (the audit row of every case, submission and API read,
the login bookkeeping of every password sync) ran in deferred SQLite transactions that cannot be
upgraded once another writer committed: hundreds of 500 "database is locked".
"""

from __future__ import annotations

import os

import pytest

from tests.concurrency.conftest import seed_submissions
from tests.concurrency.office import (
    MIX,
    Office,
    check_every_acknowledged_submission_stored,
    run_load,
)

pytestmark = pytest.mark.committed

CLIENTS = 16
SECONDS = float(os.environ.get("FIELDAPP_LOAD_SECONDS", "30"))


def test_sixteen_clients_mixing_reads_syncs_and_submissions_get_no_error(office: Office, tmp_path):
    server = office.server
    # production's shape: several gthread workers, so writers meet across processes and threads
    server.start(workers=4, threads=4, log_dir=tmp_path / "logs")
    try:
        office.discover()
        seed_submissions(office)
        before = len(office.acknowledged)
        result = run_load(office, clients=CLIENTS, seconds=SECONDS)
    finally:
        server.stop()
    database = "PostgreSQL" if server.schema else "SQLite"
    print("\n" + result.report(f"office load on {database}, {CLIENTS} clients"))

    assert result.unexpected == [], result.unexpected[:20]
    submitted = len(office.acknowledged) - before
    assert submitted > 0
    ran = {name for name, _status in result.statuses}
    assert ran == {name for name, _expected, _op in MIX}  # every kind of request really ran
    assert check_every_acknowledged_submission_stored(office) == len(office.acknowledged)
    logs = server.logs()
    for secret in office.secrets():
        assert secret not in logs
