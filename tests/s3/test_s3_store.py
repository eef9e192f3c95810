"""The S3 blob store against a real S3-protocol server: a write is stored and verified before
it returns (what the local store's fsync rule gives), a failed write raises and stores no row,
reads stream, and a missing bucket or an unreachable server is a clear error at start."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time

import pytest

from fieldapp.blobs import (
    BlobStorage,
    BlobStore,
    BlobStoreUnavailable,
    S3BlobStore,
    store_from_config,
)
from tests.live import ROOT, free_port
from tests.s3.s3support import MotoS3, SlowProxy, assert_objects_are_named_by_their_sha256


@pytest.fixture
def store(s3: MotoS3) -> S3BlobStore:
    return S3BlobStore(s3.new_bucket(), "fieldapp/blobs", endpoint_url=s3.url)


def test_a_write_returns_only_once_the_object_is_in_the_bucket_with_its_bytes(store, s3):
    data = os.urandom(2_500_000)
    sha = store.write(data)
    assert sha == hashlib.sha256(data).hexdigest()
    objects = s3.objects(store.bucket)
    assert objects == {f"fieldapp/blobs/{sha[:2]}/{sha[2:4]}/{sha}": data}
    assert_objects_are_named_by_their_sha256(objects)
    assert store.exists(sha) and store.size(sha) == len(data)
    assert store.read(sha) == data


def test_writing_the_same_bytes_twice_stores_one_object(store, s3):
    data = b"the same consent form"
    assert store.write(data) == store.write(data)
    assert len(s3.objects(store.bucket)) == 1


def test_a_write_the_server_refuses_raises_and_store_blob_adds_no_row(s3, app):
    from sqlalchemy import select

    from fieldapp.blobs import Blob, store_blob
    from fieldapp.db import db

    gone = S3BlobStore(f"missing-{os.getpid()}", endpoint_url=s3.url)
    data = os.urandom(1000)
    with pytest.raises(BlobStoreUnavailable) as raised:
        store_blob(gone, data)
    assert raised.value.http_status == 503
    assert raised.value.code == "blobs.unavailable"
    sha = hashlib.sha256(data).hexdigest()
    assert db.session.scalars(select(Blob).where(Blob.sha256 == sha)).first() is None


def _socket_buffer_ceiling() -> int:
    """The most bytes the kernel may hold between the proxy and the client: the client's
    receive window (``tcp_rmem``'s maximum, which autotuning may reach), the proxy's send buffer
    (``tcp_wmem``'s maximum) and the client's read buffer. Linux values where they can be read."""

    def maximum(path: str, default: int) -> int:
        try:
            with open(path) as fields:
                return int(fields.read().split()[-1])
        except (OSError, ValueError, IndexError):
            return default

    receive = maximum("/proc/sys/net/ipv4/tcp_rmem", 6 * 1024 * 1024)
    send = maximum("/proc/sys/net/ipv4/tcp_wmem", 4 * 1024 * 1024)
    return receive + send + 8 * 1024 * 1024


def test_reads_stream_rather_than_fetch_the_whole_object(s3):
    # An object more than twice what the sockets can hold: a client that fetches the whole
    # object before the first read would have pulled all of it across; a streaming one stops
    # once the buffers are full. (A fixed 20 MiB bound failed once on a machine whose
    # tcp_rmem maximum is 32 MiB: 22 MB had crossed into the kernel's buffers.)
    ceiling = _socket_buffer_ceiling()
    size = max(48 * 1024 * 1024, 2 * ceiling + 8 * 1024 * 1024)
    bucket = s3.new_bucket()
    proxy = SlowProxy((s3.host, s3.port), big=1 << 40, rate=1)
    try:
        store = S3BlobStore(bucket, endpoint_url=proxy.url)
        data = os.urandom(size)
        sha = store.write(data)
        before = proxy.sent_to_client
        with store.open(sha) as stream:
            first = stream.read(4096)
            assert first == data[:4096]
            time.sleep(1)  # time enough for a client that reads everything to have done so
            streamed = proxy.sent_to_client - before
            print("streamed so far", streamed, "of", size, "ceiling", ceiling)
            assert streamed <= ceiling < size
            digest = hashlib.sha256(first)
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
        assert digest.hexdigest() == sha
    finally:
        proxy.close()


def test_missing_blobs_and_deletes(store):
    sha = hashlib.sha256(b"never stored").hexdigest()
    assert not store.exists(sha) and store.size(sha) is None
    with pytest.raises(FileNotFoundError):
        store.read(sha)
    with pytest.raises(FileNotFoundError):
        store.open(sha)
    stored = store.write(b"to be erased")
    store.delete(stored)
    store.delete(stored)  # idempotent
    assert not store.exists(stored)
    with pytest.raises(ValueError, match="sha256"):
        store.key_for("../../etc/passwd")


def test_both_stores_offer_the_same_interface(store, tmp_path):
    local = BlobStore(tmp_path / "blobs")
    for each in (store, local):
        assert isinstance(each, BlobStorage)
        sha = each.write(b"x" * 10)
        with each.open(sha) as stream:
            assert stream.read() == b"x" * 10
        each.delete(sha)
        each.delete(sha)
        assert not each.exists(sha)


def test_the_configuration_chooses_the_store(tmp_path, s3):
    default = store_from_config({"DATA_DIR": str(tmp_path)})
    assert isinstance(default, BlobStore) and default.root == tmp_path / "blobs"
    elsewhere = store_from_config({"DATA_DIR": "/x", "BLOB_URL": f"file://{tmp_path}/b"})
    assert isinstance(elsewhere, BlobStore) and elsewhere.root == tmp_path / "b"
    remote = store_from_config(
        {"DATA_DIR": "/x", "BLOB_URL": "s3://my-bucket/a/b/", "S3_ENDPOINT_URL": s3.url}
    )
    assert isinstance(remote, S3BlobStore)
    assert (remote.bucket, remote.prefix, remote.endpoint_url) == ("my-bucket", "a/b", s3.url)
    for bad in ("s3://", "s3://A_B/x", "ftp://host/x", "relative/path"):
        with pytest.raises(BlobStoreUnavailable) as raised:
            store_from_config({"DATA_DIR": "/x", "BLOB_URL": bad})
        assert raised.value.code == "blobs.bad_url"


def _cli(tmp_path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FIELDAPP_")}
    clean.update(
        {
            "FIELDAPP_DATA_DIR": str(tmp_path / "data"),
            "FIELDAPP_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "FIELDAPP_SECRET_KEY": "s3-test",
            **env,
        }
    )
    return subprocess.run(
        [sys.executable, "-m", "fieldapp.cli", "db", "upgrade"],
        capture_output=True,
        text=True,
        env=clean,
        cwd=ROOT,
        timeout=120,
    )


def test_a_missing_bucket_stops_the_start_with_one_clear_line(tmp_path, s3):
    done = _cli(
        tmp_path, FIELDAPP_BLOB_URL="s3://no-such-bucket/x", FIELDAPP_S3_ENDPOINT_URL=s3.url
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"error: The bucket no-such-bucket does not exist on the blob store "
        f"s3://no-such-bucket/x at {s3.url} (FIELDAPP_BLOB_URL); create it first."
    ]


def test_an_unreachable_store_stops_the_start_with_one_clear_line(tmp_path, s3):
    nobody = f"http://127.0.0.1:{free_port()}"
    done = _cli(tmp_path, FIELDAPP_BLOB_URL="s3://some-bucket", FIELDAPP_S3_ENDPOINT_URL=nobody)
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: The blob store s3://some-bucket/ at ")
    assert "cannot be reached" in line and "FIELDAPP_S3_ENDPOINT_URL" in line
    assert "Traceback" not in done.stderr


def test_with_a_reachable_bucket_the_command_runs(tmp_path, s3):
    bucket = s3.new_bucket()
    done = _cli(tmp_path, FIELDAPP_BLOB_URL=f"s3://{bucket}/p", FIELDAPP_S3_ENDPOINT_URL=s3.url)
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "data" / "blobs").exists()  # nothing local is made for S3
