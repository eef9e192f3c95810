"""Two app servers (separate gunicorns on two ports) sharing one PostgreSQL database, one S3
bucket and one secret key, with requests alternating between them: nothing that matters lives
in one process (sessions, login throttles, the export job queue, the blobs)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import time
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tests.concurrency.office import Http
from tests.live import LiveServer, multipart
from tests.s3.s3support import MotoS3
from tests.s3.test_s3_live import FORM, PASSWORD, submission_xml

pytestmark = [
    pytest.mark.committed,
    pytest.mark.skipif(
        "postgresql" not in os.environ.get("FIELDAPP_TEST_DATABASE_URL", ""),
        reason="two app servers share one PostgreSQL database (SQLite is one server's "
        "embedded database): runs when the suite runs on PostgreSQL",
    ),
]


@pytest.fixture(scope="module")
def pair(
    s3: MotoS3, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveServer, LiveServer, dict[str, str]]]:
    root = tmp_path_factory.mktemp("two-servers")
    bucket = s3.new_bucket()
    a = LiveServer(root / "a")
    b = LiveServer(root / "b")
    b.close()  # b made a schema of its own: drop it, b uses a's
    b.schema = None
    b.database_url = a.database_url
    shared = {
        "FIELDAPP_DATABASE_URL": a.database_url,
        "FIELDAPP_BLOB_URL": f"s3://{bucket}/fieldapp",
        "FIELDAPP_S3_ENDPOINT_URL": s3.url,
        "FIELDAPP_EXPORTS_DIR": str(root / "shared-exports"),
        "FIELDAPP_SECRET_KEY": "the two servers' secret key",
    }
    a.env.update(shared)
    b.env.update(shared)
    # a queues prepared exports but never runs them: b must
    a.env["FIELDAPP_EXPORT_JOBS_THREAD"] = "0"
    try:
        form = root / "crash.md"
        form.write_text(FORM)
        a.cli("db", "upgrade")
        a.cli("forms", "publish", str(form))
        for name, role in (("phone1", "field_worker"), ("coord", "coordinator")):
            a.cli("users", "create", name, "--role", role, "--region", "north",
                  stdin=PASSWORD + "\n")  # fmt: skip
        a.cli("users", "create", "victim", "--role", "coordinator", "--region", "north",
              stdin=PASSWORD + "\n")  # fmt: skip
        a.cli("users", "create", "boss", "--role", "admin", stdin=PASSWORD + "\n")
        tokens = {
            "boss": a.cli("users", "token", "boss").strip().split()[-1],
            "coord": b.cli("users", "token", "coord").strip().split()[-1],  # made through b
        }
        a.start(workers=2, threads=2)
        b.start(workers=2, threads=2)
        yield a, b, tokens
    finally:
        b.stop()
        a.close()


def _json(answer: Any) -> Any:
    assert answer.status == 200, (answer.status, answer.body[:300])
    return json.loads(answer.body)


def _failed_login(port: int, username: str) -> int:
    browser = Http(port)
    page = browser.request("GET", "/login")
    match = re.search(rb'name="csrf_token" value="([^"]+)"', page.body)
    assert match is not None
    body = f"username={username}&password=wrong&csrf_token={match.group(1).decode()}".encode()
    return browser.request(
        "POST", "/login", body, {"Content-Type": "application/x-www-form-urlencoded"}
    ).status


def _csvs(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {n: archive.read(n) for n in archive.namelist()}


def _parent_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("PPid:"):
            return int(line.split()[1])
    raise AssertionError(f"no process {pid}")


def test_two_servers_on_one_database_and_bucket_agree_on_everything(pair, s3):
    a, b, tokens = pair
    phone_a = Http(a.port, basic=("phone1", PASSWORD))
    phone_b = Http(b.port, basic=("phone1", PASSWORD))

    # Collect: the form list on a, the submission with its photo on a, the retry on b
    listed = phone_a.request("GET", "/collect/formList")
    assert listed.status == 200 and b"<formID>crash</formID>" in listed.body
    instance = f"uuid:{uuid.uuid4()}"
    photo = os.urandom(200_000)
    body, content_type = multipart(
        [
            ("xml_submission_file", "submission.xml", submission_xml(instance), "text/xml"),
            ("p.jpg", "p.jpg", photo, "image/jpeg"),
        ]
    )
    sent = phone_a.request("POST", "/collect/submission", body, {"Content-Type": content_type})
    assert sent.status == 201, sent.body[:300]
    again = phone_b.request("POST", "/collect/submission", body, {"Content-Type": content_type})
    assert again.status == 201 and b"successful" in again.body  # the duplicate's answer
    engine = a.engine()
    with engine.connect() as conn:
        assert conn.execute(
            text("SELECT count(*) FROM submission_versions WHERE instance_id = :i"),
            {"i": instance},
        ).scalar() == 1  # fmt: skip
    engine.dispose()

    # a web sign-in on a is a session on b (the row is in the shared database)
    browser = Http(a.port)
    browser.login("coord", PASSWORD)
    on_b = Http(b.port)
    on_b.cookies = dict(browser.cookies)
    queue = on_b.request("GET", "/review")
    assert queue.status == 200 and b"/login" not in queue.headers.get("location", "").encode()
    listed_on_b = _json(on_b.request("GET", "/api/v1/submissions?form_id=crash"))
    assert instance in [item["instance_id"] for item in listed_on_b["items"]]

    # failed logins count on both servers: 5 free failures in all, then 429 on either
    statuses = [_failed_login((a, b)[i % 2].port, "victim") for i in range(5)]
    assert statuses == [401] * 5
    assert _failed_login(b.port, "victim") == 429
    assert _failed_login(a.port, "victim") == 429

    # reviewed on b (with a token made through b), seen approved on a
    reviewer = Http(b.port, bearer=tokens["coord"])
    answer = reviewer.request(
        "POST",
        f"/api/v1/submissions/{instance}/review",
        json.dumps({"state": "approved", "note": "seen on b"}).encode(),
        {"Content-Type": "application/json"},
    )
    assert answer.status == 200, answer.body[:300]
    boss_a = Http(a.port, bearer=tokens["boss"])
    boss_b = Http(b.port, bearer=tokens["boss"])
    assert _json(boss_a.request("GET", f"/api/v1/submissions/{instance}"))["review_state"] == (
        "approved"
    )

    # an export on a, with the photo read from the bucket
    streamed = boss_a.request("GET", "/api/v1/forms/crash/submissions.csv.zip?attachments=true")
    assert streamed.status == 200
    files = _csvs(streamed.body)
    assert instance.encode() in files["crash.csv"]
    assert photo in files.values()

    # a prepared export queued on a (which runs none) and run by b, downloaded from a
    queued = boss_a.request("POST", "/api/v1/forms/crash/exports?format=csv.zip&attachments=true")
    assert queued.status == 202, queued.body[:300]
    job = json.loads(queued.body)["id"]
    deadline = time.monotonic() + 60
    while (found := _json(boss_b.request("GET", f"/api/v1/exports/{job}")))["state"] in (
        "queued",
        "running",
    ):
        assert time.monotonic() < deadline, found
        time.sleep(0.2)
    assert found["state"] == "ready", found
    engine = a.engine()
    with engine.connect() as conn:
        holder = conn.execute(
            text("SELECT claimed_by FROM export_jobs WHERE token = :t"), {"t": job}
        ).scalar_one()
    engine.dispose()
    assert b.proc is not None
    assert _parent_of(int(holder.split(":")[1])) == b.proc.pid  # one of b's workers ran it
    prepared = boss_a.request("GET", found["download"])
    assert prepared.status == 200
    assert _csvs(prepared.body) == files

    # the attachment that came through a, downloaded from b: the same bytes
    got = boss_b.request("GET", f"/api/v1/submissions/{instance}/attachments/p.jpg")
    assert got.status == 200 and got.body == photo
    assert hashlib.sha256(got.body).hexdigest() == hashlib.sha256(photo).hexdigest()
