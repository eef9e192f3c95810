"""A real gunicorn whose blobs live in an S3 bucket (moto's server): Collect submissions with
attachments over HTTP, streamed downloads and exports from the bucket, backup and restore from
bucket to bucket, and a SIGKILL while an attachment is on its way to the store."""

from __future__ import annotations

import hashlib
import http.client
import io
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tests.conftest import need
from tests.live import ROOT, LiveServer, post_submission
from tests.s3.s3support import MotoS3, SlowProxy, assert_objects_are_named_by_their_sha256

pytestmark = pytest.mark.committed

PASSWORD = "a long password"
PASSPHRASE = "an s3 backup passphrase"
FORM = """
| survey   |         |         |       |
|          | type    | name    | label |
|          | text    | name    | Name  |
|          | image   | photo   | Photo |
| settings |         |         |       |
|          | form_id | version |       |
|          | crash   | 1       |       |
"""


def submission_xml(instance_id: str) -> bytes:
    return (
        f'<data id="crash" version="1"><name>n</name><photo>p.jpg</photo>'
        f"<meta><instanceID>{instance_id}</instanceID></meta></data>"
    ).encode()


def s3_server(data_dir: Path, s3: MotoS3, bucket: str, endpoint: str | None = None) -> LiveServer:
    server = LiveServer(data_dir)
    server.env.update(
        {
            "FIELDAPP_BLOB_URL": f"s3://{bucket}/fieldapp",
            "FIELDAPP_S3_ENDPOINT_URL": endpoint or s3.url,
        }
    )
    return server


def set_up(server: LiveServer) -> tuple[str, str]:
    """The crash form, a field worker's phone and an administrator: (submission path, token)."""
    form = server.data_dir.parent / f"{server.data_dir.name}-crash.md"
    form.write_text(FORM)
    server.cli("db", "upgrade")
    server.cli("forms", "publish", str(form))
    server.cli(
        "users", "create", "phone1", "--role", "field_worker", "--region", "north",
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    server.cli("users", "create", "boss", "--role", "admin", stdin=PASSWORD + "\n")
    device = server.cli("devices", "create", "--user", "phone1").rsplit("/", 1)[1]
    api_token = server.cli("users", "token", "boss").strip().split()[-1]
    return f"/collect/key/{device}/submission", api_token


def get(port: int, path: str, token: str) -> tuple[int, bytes]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def check_nothing_half_stored(server: LiveServer, s3: MotoS3, bucket: str) -> dict[str, bytes]:
    """Every blob row (and so every attachment and form row) has its object, with its bytes;
    every submission has its current version. Returns the bucket's objects."""
    objects = s3.objects(bucket)
    assert_objects_are_named_by_their_sha256(objects)
    by_sha = {key.rsplit("/", 1)[-1]: data for key, data in objects.items()}
    engine = server.engine()
    with engine.connect() as conn:
        assert (
            conn.execute(
                text("SELECT count(*) FROM submissions WHERE current_version_id IS NULL")
            ).scalar()
            == 0
        )
        for sha, size in conn.execute(text("SELECT sha256, size FROM blobs")):
            assert sha in by_sha, f"blob row {sha} has no object"
            assert len(by_sha[sha]) == size
        for (sha,) in conn.execute(
            text("SELECT blob_sha256 FROM submission_attachments WHERE blob_sha256 IS NOT NULL")
        ):
            assert sha in by_sha, f"attachment row points at a missing object {sha}"
    engine.dispose()
    return objects


@pytest.fixture(scope="module")
def live(
    s3: MotoS3, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveServer, str, str, str]]:
    bucket = s3.new_bucket()
    server = s3_server(tmp_path_factory.mktemp("s3-live"), s3, bucket)
    try:
        path, token = set_up(server)
        server.start()
        yield server, bucket, path, token
    finally:
        server.close()


def test_a_collect_submission_stores_its_attachment_in_the_bucket_only(live, s3):
    server, bucket, path, token = live
    instance = f"uuid:{uuid.uuid4()}"
    photo = os.urandom(1_500_000)  # over STREAM_OVER_BYTES: the download streams
    assert post_submission(server.port, path, submission_xml(instance), [("p.jpg", photo)]) == 201
    objects = check_nothing_half_stored(server, s3, bucket)
    sha = hashlib.sha256(photo).hexdigest()
    assert objects[f"fieldapp/{sha[:2]}/{sha[2:4]}/{sha}"] == photo
    assert not (server.data_dir / "blobs").exists()  # nothing went to the local disk

    # the same submission again (Collect retrying): the success answer, nothing new stored
    assert post_submission(server.port, path, submission_xml(instance), [("p.jpg", photo)]) == 201
    assert len([k for k in s3.objects(bucket) if k.endswith(sha)]) == 1
    engine = server.engine()
    with engine.connect() as conn:
        versions = conn.execute(
            text("SELECT count(*) FROM submission_versions WHERE instance_id = :i"),
            {"i": instance},
        ).scalar()
    engine.dispose()
    assert versions == 1

    # downloaded through the API (streamed from the bucket), byte for byte, and audited
    status, body = get(server.port, f"/api/v1/submissions/{instance}/attachments/p.jpg", token)
    assert status == 200 and body == photo
    engine = server.engine()
    with engine.connect() as conn:
        viewed = conn.execute(
            text(
                "SELECT count(*) FROM audit_events WHERE action = 'submission.attachment_viewed' "
                "AND subject_id = :i"
            ),
            {"i": instance},
        ).scalar()
    engine.dispose()
    assert viewed == 1

    # the export with its media reads the objects from the bucket
    status, body = get(
        server.port, "/api/v1/forms/crash/submissions.csv.zip?attachments=true", token
    )
    assert status == 200, body[:300]
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        media = {n: archive.read(n) for n in archive.namelist() if n.startswith("media/")}
    assert photo in media.values()


def test_the_store_failing_is_a_retryable_answer_and_stores_no_submission(live, s3, tmp_path):
    server, bucket, _, _ = live
    # a second server on the same database whose store stops answering after its start
    proxy = SlowProxy((s3.host, s3.port), big=1 << 40, rate=1)
    broken = s3_server(tmp_path / "broken", s3, bucket, endpoint=proxy.url)
    broken.env["FIELDAPP_DATABASE_URL"] = server.env["FIELDAPP_DATABASE_URL"]
    if broken.schema:  # it shares the first server's schema: drop its own empty one
        broken.close()
        broken.schema = None
    try:
        broken.start(workers=1, threads=2)
        proxy.close()  # the object store is now out of reach
        device_path = live[2]
        instance = f"uuid:{uuid.uuid4()}"
        status = post_submission(
            broken.port, device_path, submission_xml(instance), [("p.jpg", os.urandom(5000))]
        )
        assert status == 503  # Collect keeps the form and tries again later
        engine = server.engine()
        with engine.connect() as conn:
            stored = conn.execute(
                text("SELECT count(*) FROM submissions WHERE instance_id = :i"), {"i": instance}
            ).scalar()
        engine.dispose()
        assert stored == 0
    finally:
        broken.stop()
    check_nothing_half_stored(server, s3, bucket)


def _fieldapp(server: LiveServer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fieldapp.cli", *args],
        capture_output=True,
        text=True,
        env={**server.env, "FIELDAPP_BACKUP_PASSPHRASE": PASSPHRASE},
        cwd=ROOT,
        timeout=180,
    )


def test_backup_reads_the_bucket_and_restore_fills_another(live, s3, tmp_path):
    on_postgres = server_is_postgres(live[0])
    if on_postgres:
        import shutil

        for tool in ("pg_dump", "pg_restore", "psql"):
            need(shutil.which(tool) is not None, f"{tool} not found (PostgreSQL client tools)")
    server, bucket, path, token = live
    photo = os.urandom(120_000)
    instance = f"uuid:{uuid.uuid4()}"
    assert post_submission(server.port, path, submission_xml(instance), [("p.jpg", photo)]) == 201
    archive = tmp_path / "s3.fieldapp-backup"
    made = _fieldapp(server, "backup", "--to", str(archive))
    assert made.returncode == 0, made.stderr
    source_objects = s3.objects(bucket)

    other = s3.new_bucket()
    (tmp_path / "target").mkdir()
    target = s3_server(tmp_path / "target", s3, other)
    try:
        restored = _fieldapp(target, "restore", "--from", str(archive))
        assert restored.returncode == 0, restored.stderr
        target_objects = s3.objects(other)
        assert target_objects == source_objects  # the same keys under the same prefix
        assert not (target.data_dir / "blobs").exists()
        target.cli("db", "upgrade")
        target.start(workers=1, threads=2)
        status, body = get(target.port, f"/api/v1/submissions/{instance}/attachments/p.jpg", token)
        assert status == 200 and body == photo
        check_nothing_half_stored(target, s3, other)
    finally:
        target.close()


def test_a_backup_of_a_row_whose_object_is_gone_fails_naming_it(live, s3, tmp_path):
    server = live[0]
    engine = server.engine()
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO blobs (sha256, md5, size, created_at) VALUES (:s, :m, 3, :t)"),
            {"s": "f" * 64, "m": "0" * 32, "t": "2026-01-01 00:00:00+00:00"},
        )
    try:
        made = _fieldapp(server, "backup", "--to", str(tmp_path / "x.fieldapp-backup"))
        assert made.returncode == 1
        assert "f" * 64 in made.stderr and "no backup was written" in made.stderr
        assert not (tmp_path / "x.fieldapp-backup").exists()
    finally:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM blobs WHERE sha256 = :s"), {"s": "f" * 64})
        engine.dispose()


def server_is_postgres(server: LiveServer) -> bool:
    return server.schema is not None


# -- killed mid-upload ---------------------------------------------------------------------------


def test_killing_the_server_while_an_attachment_is_uploaded_loses_nothing_acknowledged(
    s3, tmp_path
):
    bucket = s3.new_bucket()
    # uploads of more than 1 MB crawl through this proxy (64 KB/s), the small ones fly
    proxy = SlowProxy((s3.host, s3.port), big=1 << 20, rate=64 * 1024)
    server = s3_server(tmp_path / "killed", s3, bucket, endpoint=proxy.url)
    try:
        path, _ = set_up(server)
        server.start()
        acknowledged: dict[str, str] = {}
        lock = threading.Lock()
        stop = threading.Event()

        def phone() -> None:
            while not stop.is_set():
                instance = f"uuid:{uuid.uuid4()}"
                photo = os.urandom(40_000)
                try:
                    status = post_submission(
                        server.port, path, submission_xml(instance), [("p.jpg", photo)], 20
                    )
                except (OSError, http.client.HTTPException):
                    return  # the server is gone
                if status == 201:
                    with lock:
                        acknowledged[instance] = hashlib.sha256(photo).hexdigest()

        big_instance = f"uuid:{uuid.uuid4()}"
        big_photo = os.urandom(6 * 1024 * 1024)
        big_answer: list[Any] = []

        def big_phone() -> None:
            try:
                big_answer.append(
                    post_submission(
                        server.port, path, submission_xml(big_instance), [("p.jpg", big_photo)],
                        120,
                    )
                )  # fmt: skip
            except (OSError, http.client.HTTPException) as exc:
                big_answer.append(exc)

        phones = [threading.Thread(target=phone) for _ in range(3)]
        for thread in phones:
            thread.start()
        deadline = time.monotonic() + 30
        while len(acknowledged) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        big = threading.Thread(target=big_phone)
        big.start()
        assert proxy.uploading.wait(60), "the large attachment never reached the store"
        server.kill()  # SIGKILL while the object is on its way
        stop.set()
        for thread in [*phones, big]:
            thread.join(60)
        assert len(acknowledged) >= 5
        assert big_answer and big_answer[0] != 201  # never acknowledged

        objects = check_nothing_half_stored(server, s3, bucket)
        big_sha = hashlib.sha256(big_photo).hexdigest()
        assert not any(k.endswith(big_sha) for k in objects)  # the cut upload left nothing
        engine = server.engine()
        with engine.connect() as conn:
            stored = dict(
                conn.execute(
                    text(
                        "SELECT v.instance_id, a.blob_sha256 FROM submission_versions v "
                        "JOIN submission_attachments a ON a.version_id = v.id"
                    )
                ).all()
            )
        engine.dispose()
        for instance, sha in acknowledged.items():
            assert stored.get(instance) == sha, f"acknowledged {instance} was lost"
        assert big_instance not in stored

        # the phone tries again once the server is back: now it is stored, whole
        proxy.slow.clear()
        server.start()
        assert (
            post_submission(
                server.port, path, submission_xml(big_instance), [("p.jpg", big_photo)], 120
            )
            == 201
        )
        objects = check_nothing_half_stored(server, s3, bucket)
        assert [v for k, v in objects.items() if k.endswith(big_sha)] == [big_photo]
    finally:
        server.close()
        proxy.close()
