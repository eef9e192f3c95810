"""The issue's acceptance test: data through the real ingest (gunicorn), a backup taken while
a phone keeps sending, a restore into a new instance, and a second server that serves it all.

The restored database is the snapshot; every row it holds must be the source's row (the tables
that only grow during ingest, compared whole), every blob row must have its file, and every
attachment the restored server serves must be byte-identical to what the phone sent.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
import urllib.request
import uuid
from pathlib import Path

from sqlalchemy import inspect, text

from tests.cases.support import instance_of, registration
from tests.exports.live_support import set_up_family_registration
from tests.live import ROOT, LiveServer, post_submission
from tests.test_backup import PASSPHRASE, need_pg_tools

#: tables that only grow while submissions arrive: compared row by row
APPEND_ONLY = (
    "audit_events",
    "blobs",
    "case_versions",
    "case_work",
    "submission_attachments",
    "submission_versions",
)


def _run(server: LiveServer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fieldapp.cli", *args],
        capture_output=True,
        text=True,
        env={**server.env, "FIELDAPP_BACKUP_PASSPHRASE": PASSPHRASE},
        cwd=ROOT,
        timeout=120,
    )


def _rows(server: LiveServer) -> dict[str, dict[str, tuple[object, ...]]]:
    """Every table's rows by primary key (as text, so both databases compare alike)."""
    engine = server.engine()
    tables: dict[str, dict[str, tuple[object, ...]]] = {}
    with engine.connect() as conn:
        inspector = inspect(conn)
        for table in inspector.get_table_names():
            keys = inspector.get_pk_constraint(table)["constrained_columns"] or []
            result = conn.execute(text(f'SELECT * FROM "{table}"'))
            columns = list(result.keys())
            rows = {}
            for row in result:
                pk = "|".join(str(row[columns.index(k)]) for k in keys) or str(tuple(row))
                rows[pk] = tuple(str(v) for v in row)
            tables[table] = rows
    engine.dispose()
    return tables


def _get(server: LiveServer, token: str, path: str) -> bytes:
    request = urllib.request.Request(
        f"http://127.0.0.1:{server.port}{path}", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status == 200
        return bytes(response.read())


def test_a_backup_taken_during_ingest_restores_everything_its_snapshot_held(tmp_path: Path):
    need_pg_tools()
    source = LiveServer(tmp_path / "source")
    target = LiveServer(tmp_path / "target")
    (tmp_path / "target").mkdir()
    sent: dict[str, dict[str, str]] = {}  # instanceID -> attachment name -> sha256
    try:
        device, token = set_up_family_registration(source)
        source.start(workers=2, threads=4)
        path = f"/collect/key/{device}/submission"

        def send() -> None:
            xml, files = registration(fresh=True)
            # each submission's photo its own bytes, so each adds a blob
            files = [(name, data + uuid.uuid4().bytes) for name, data in files]
            assert post_submission(source.port, path, xml, files) == 201
            sent[instance_of(xml)] = {n: hashlib.sha256(d).hexdigest() for n, d in files}

        for _ in range(3):
            send()
        before = set(sent)
        # an approval turns a registration's case work into cases and case versions
        review = urllib.request.Request(
            f"http://127.0.0.1:{source.port}/api/v1/submissions/{sorted(before)[0]}/review",
            data=json.dumps({"state": "approved"}).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(review, timeout=60) as response:
            assert response.status == 200
        stop = threading.Event()
        during = threading.Event()
        errors: list[BaseException] = []

        def keep_sending() -> None:
            try:
                while not stop.is_set():
                    send()
                    during.set()
            except BaseException as exc:
                errors.append(exc)
                during.set()

        sender = threading.Thread(target=keep_sending)
        sender.start()
        try:
            assert during.wait(60)
            archive = tmp_path / "during-ingest.fieldapp-backup"
            made = _run(source, "backup", "--to", str(archive))
        finally:
            stop.set()
            sender.join(60)
        assert not errors
        assert made.returncode == 0, made.stderr

        restored = _run(target, "restore", "--from", str(archive))
        assert restored.returncode == 0, restored.stderr
        upgraded = _run(target, "db", "upgrade")
        assert upgraded.returncode == 0, upgraded.stderr

        old, new = _rows(source), _rows(target)
        assert set(new) == set(old)
        for table, rows in new.items():
            assert set(rows) <= set(old[table]), table
            if table in APPEND_ONLY:
                assert all(old[table][pk] == row for pk, row in rows.items()), table
        assert new["case_versions"] and new["audit_events"]
        # tables the ingest does not touch are the same, row for row
        for table in ("forms", "form_versions", "users", "regions", "alembic_version"):
            assert new[table] == old[table], table
        engine = target.engine()
        with engine.connect() as conn:
            restored_ids = set(conn.execute(text("SELECT instance_id FROM submissions")).scalars())
        engine.dispose()
        assert before <= restored_ids <= set(sent)
        # no row without its file
        for sha in new["blobs"]:
            blob = target.data_dir / "blobs" / sha[:2] / sha[2:4] / sha
            assert hashlib.sha256(blob.read_bytes()).hexdigest() == sha

        target.start(workers=1, threads=2)
        listed = json.loads(_get(target, token, "/api/v1/submissions?limit=100"))
        assert {item["instance_id"] for item in listed["items"]} == restored_ids
        for instance in restored_ids:
            for name, sha in sent[instance].items():
                body = _get(target, token, f"/api/v1/submissions/{instance}/attachments/{name}")
                assert hashlib.sha256(body).hexdigest() == sha
    finally:
        source.close()
        target.close()
