"""The health check a load balancer or monitor asks: 200 while the database answers, the
retryable 503 when it cannot be reached, and nothing about people or data either way."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from flask.testing import FlaskClient

#: an app whose database is out of reach (nothing listens on port 1: the connection is refused,
#: as for a stopped PostgreSQL), asked for its health in a process of its own, since an app
#: points the process's one session at its database
_OUT_OF_REACH = """
import json, sys
from fieldapp.app import create_app
app = create_app({
    "DATA_DIR": sys.argv[1],
    "DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=2",
    "WEBHOOKS_WORKER": False, "RETENTION_WORKER": False, "EXPORT_JOBS_THREAD": False,
})
response = app.test_client().get("/healthz")
print(json.dumps({"status": response.status_code, "retry_after": response.headers.get("Retry-After"),
                  "body": response.get_data(as_text=True)}))
"""


def test_a_server_that_reaches_its_database_is_healthy(client: FlaskClient):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers  # a monitor's poll starts no session


def test_a_server_whose_database_is_out_of_reach_says_so_with_retry_after(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDAPP_")}
    done = subprocess.run(
        [sys.executable, "-c", _OUT_OF_REACH, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=True,
    )
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["status"] == 503
    assert answer["retry_after"].isdigit()
    assert "Temporarily unavailable" in answer["body"]
