"""No loss across a server restart: a real gunicorn writes the outbox row with the submission,
is stopped before its sender runs, and the restarted server delivers the message."""

from __future__ import annotations

import http.client
import json
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tests.cases.support import ROOT, registration
from tests.live import LiveServer, post_submission
from tests.webhooks.test_webhooks import verify


def _api(port: int, token: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(
            method,
            path,
            body=json.dumps(body) if body is not None else None,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        conn.close()


def _pending(server: LiveServer) -> int:
    engine = server.engine()
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    text("SELECT count(*) FROM webhook_deliveries WHERE state = 'pending'")
                ).scalar_one()
            )
    finally:
        engine.dispose()


@pytest.mark.committed
def test_a_pending_delivery_survives_a_restart(tmp_path: Path, receiver: Any) -> None:
    server = LiveServer(tmp_path)
    server.env.update(
        {
            "FIELDAPP_WEBHOOKS_ALLOW_PRIVATE_URLS": "1",
            "FIELDAPP_WEBHOOKS_WORKER": "0",  # the first server never sends
            "FIELDAPP_WEBHOOKS_POLL_SECONDS": "0.2",
        }
    )
    try:
        server.cli("db", "upgrade")
        server.cli("forms", "publish", str(ROOT / "forms" / "family_registration.xlsx"))
        server.cli("users", "create", "admin", "--role", "admin", stdin="a long password\n")
        server.cli(
            "users",
            "create",
            "worker",
            "--role",
            "field_worker",
            "--region",
            "north",
            stdin="a long password\n",
        )
        token = server.cli("users", "token", "admin")
        device = server.cli("devices", "create", "--user", "worker").rsplit("/", 1)[1]
        server.start(workers=2)
        status, hook = _api(
            server.port,
            token,
            "POST",
            "/api/v1/webhooks",
            {"url": receiver.url(), "events": ["submission.received"]},
        )
        assert status == 201, hook
        xml, files = registration("seed1", fresh=True)
        assert post_submission(server.port, f"/collect/key/{device}/submission", xml, files) == 201
        server.stop()
        assert receiver.received == []
        assert _pending(server) == 1

        server.env["FIELDAPP_WEBHOOKS_WORKER"] = "1"
        server.start(workers=2)  # two processes, one lease: one message
        deadline = time.monotonic() + 60
        while _pending(server) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _pending(server) == 0
        assert len(receiver.received) == 1
        assert verify(receiver.received[0], hook["secret"])
        status, detail = _api(server.port, token, "GET", f"/api/v1/webhooks/{hook['id']}")
        assert [d["state"] for d in detail["deliveries"]] == ["delivered"]
    finally:
        server.close()
