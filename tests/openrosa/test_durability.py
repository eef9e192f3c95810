"""Nothing acknowledged is ever lost or half-stored: a real gunicorn server, concurrent phones,
and a SIGKILL in the middle of uploads."""

from __future__ import annotations

import hashlib
import http.client
import os
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.live import LiveServer, post_submission

pytestmark = pytest.mark.committed

FORM = """
| survey   |         |       |       |
|          | type    | name  | label |
|          | text    | name  | Name  |
|          | image   | photo | Photo |
| settings |         |       |       |
|          | form_id | version |     |
|          | crash   | 1     |       |
"""


def submission_xml(instance_id: str, photo: str = "p.jpg") -> bytes:
    return (
        f'<data id="crash" version="1"><name>n</name><photo>{photo}</photo>'
        f"<meta><instanceID>{instance_id}</instanceID></meta></data>"
    ).encode()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str]]:
    data_dir = tmp_path_factory.mktemp("live")
    server = LiveServer(data_dir)
    form = data_dir / "crash.md"
    form.write_text(FORM)
    try:
        server.cli("db", "upgrade")
        server.cli("forms", "publish", str(form))
        server.cli(
            "users",
            "create",
            "phone1",
            "--role",
            "field_worker",
            "--region",
            "north",
            stdin="a long password\n",
        )
        token = server.cli("devices", "create", "--user", "phone1").rsplit("/", 1)[1]
        server.start()
        yield server, f"/collect/key/{token}/submission"
    finally:
        server.close()


def _blob_path(data_dir: Path, sha: str) -> Path:
    return data_dir / "blobs" / sha[:2] / sha[2:4] / sha


def _check_nothing_half_stored(server: LiveServer) -> None:
    """Every submission has its current version; every stored file reference has its file."""
    engine = server.engine()
    with engine.connect() as conn:
        orphans = conn.execute(
            text("SELECT count(*) FROM submissions WHERE current_version_id IS NULL")
        ).scalar()
        assert orphans == 0
        without_versions = conn.execute(
            text(
                "SELECT count(*) FROM submissions s WHERE NOT EXISTS "
                "(SELECT 1 FROM submission_versions v WHERE v.submission_id = s.id)"
            )
        ).scalar()
        assert without_versions == 0
        for (sha,) in conn.execute(
            text("SELECT blob_sha256 FROM submission_attachments WHERE blob_sha256 IS NOT NULL")
        ):
            path = _blob_path(server.data_dir, sha)
            assert path.exists(), f"attachment row points at a missing file {sha}"
            assert hashlib.sha256(path.read_bytes()).hexdigest() == sha
    engine.dispose()


def test_concurrent_identical_posts_make_one_submission(live):
    server, path = live
    xml = submission_xml("uuid:same-" + uuid.uuid4().hex)
    photo = os.urandom(50_000)
    barrier = threading.Barrier(12)

    def send() -> int:
        barrier.wait()
        return post_submission(server.port, path, xml, [("p.jpg", photo)])

    with ThreadPoolExecutor(12) as pool:
        statuses = list(pool.map(lambda _: send(), range(12)))
    assert statuses == [201] * 12
    engine = server.engine()
    with engine.connect() as conn:
        instance = xml.decode().split("<instanceID>")[1].split("<")[0]
        assert (
            conn.execute(
                text("SELECT count(*) FROM submissions WHERE instance_id = :i"), {"i": instance}
            ).scalar()
            == 1
        )
        assert (
            conn.execute(
                text("SELECT count(*) FROM submission_versions WHERE instance_id = :i"),
                {"i": instance},
            ).scalar()
            == 1
        )
    engine.dispose()


def test_killing_the_server_mid_upload_loses_nothing_acknowledged(live):
    server, path = live
    acknowledged: dict[str, tuple[bytes, str]] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def phone() -> None:
        while not stop.is_set():
            instance = f"uuid:{uuid.uuid4()}"
            xml = submission_xml(instance)
            photo = os.urandom(150_000)
            try:
                status = post_submission(server.port, path, xml, [("p.jpg", photo)], timeout=10)
            except (OSError, http.client.HTTPException):
                return  # the server is gone
            if status == 201:
                with lock:
                    acknowledged[instance] = (xml, hashlib.sha256(photo).hexdigest())

    threads = [threading.Thread(target=phone) for _ in range(8)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while len(acknowledged) < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    server.kill()  # SIGKILL while the phones are still sending
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    assert len(acknowledged) >= 20

    engine = server.engine()
    with engine.connect() as conn:
        for instance, (xml, photo_sha) in acknowledged.items():
            row = conn.execute(
                text(
                    "SELECT v.xml, a.blob_sha256 FROM submission_versions v "
                    "JOIN submission_attachments a ON a.version_id = v.id "
                    "WHERE v.instance_id = :i"
                ),
                {"i": instance},
            ).one()
            assert bytes(row.xml) == xml
            assert row.blob_sha256 == photo_sha
    engine.dispose()
    _check_nothing_half_stored(server)

    # after a restart the phones' retries of acknowledged submissions are recognised
    server.start()
    instance, (xml, _sha) = next(iter(acknowledged.items()))
    assert post_submission(server.port, path, xml, []) == 201
    engine = server.engine()
    with engine.connect() as conn:
        assert (
            conn.execute(
                text("SELECT count(*) FROM submissions WHERE instance_id = :i"), {"i": instance}
            ).scalar()
            == 1
        )
    engine.dispose()
