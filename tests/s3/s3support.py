"""A real S3-protocol server for the blob store's tests (moto's standalone server, started in a
thread of the test process on a free port), and a TCP proxy in front of it that can slow the
uploads down (so a test can kill a server while an object is on its way).

Credentials are moto's dummies; nothing leaves the machine.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3

#: what boto3 reads from the environment (moto accepts any credentials)
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "fieldapp-test",
    "AWS_SECRET_ACCESS_KEY": "fieldapp-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


class MotoS3:
    """moto's server, started once per test process."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.host, self.port = host, int(port)
        self.url = f"http://{host}:{port}"

    def client(self, endpoint: str | None = None) -> Any:
        return boto3.session.Session(
            aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"],
            region_name=AWS_ENV["AWS_DEFAULT_REGION"],
        ).client("s3", endpoint_url=endpoint or self.url)

    def new_bucket(self) -> str:
        name = f"fieldapp-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def objects(self, bucket: str) -> dict[str, bytes]:
        """Every object of the bucket: key -> bytes (read straight from the server)."""
        client = self.client()
        found: dict[str, bytes] = {}
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                key = item["Key"]
                found[key] = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        return found

    def stop(self) -> None:
        self._server.stop()


def assert_objects_are_named_by_their_sha256(objects: dict[str, bytes]) -> None:
    for key, data in objects.items():
        assert key.rsplit("/", 1)[-1] == hashlib.sha256(data).hexdigest(), key


class SlowProxy:
    """A TCP proxy to ``target``. Answers pass freely; a connection that sends a request with a
    ``Content-Length`` over ``big`` is slowed to ``rate`` bytes a second from then on (while
    :attr:`slow` is set), and :attr:`uploading` is set once 256 KB of such a body have passed.
    :attr:`sent_to_client` counts the bytes answered."""

    def __init__(self, target: tuple[str, int], *, big: int, rate: int) -> None:
        self.target = target
        self.big = big
        self.rate = rate
        self.slow = threading.Event()
        self.slow.set()
        self.uploading = threading.Event()
        self.sent_to_client = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._stop = threading.Event()
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            threading.Thread(target=self._up, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._down, args=(upstream, client), daemon=True).start()

    def _up(self, source: socket.socket, dest: socket.socket) -> None:
        slowed = 0
        crawling = False
        try:
            while data := source.recv(16384):
                if not crawling:
                    found = _CONTENT_LENGTH.search(data)
                    crawling = bool(found and int(found.group(1)) > self.big)
                if crawling and self.slow.is_set():
                    for start in range(0, len(data), 1024):
                        dest.sendall(data[start : start + 1024])
                        slowed += len(data[start : start + 1024])
                        if slowed >= 256 * 1024:
                            self.uploading.set()
                        time.sleep(1024 / self.rate)
                else:
                    dest.sendall(data)
        except OSError:
            pass
        finally:
            _close(source, dest)

    def _down(self, source: socket.socket, dest: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                dest.sendall(data)
                with self._lock:
                    self.sent_to_client += len(data)
        except OSError:
            pass
        finally:
            _close(source, dest)

    def close(self) -> None:
        """Stop listening and cut every connection (the store is gone for its clients)."""
        self._stop.set()
        self._listener.close()
        with self._lock:
            _close(*self._sockets)


_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length: *(\d+)\r\n", re.IGNORECASE)


def _close(*sockets: socket.socket) -> None:
    for sock in sockets:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()


@contextmanager
def aws_environment() -> Iterator[None]:
    """moto's dummy credentials in this process's environment (LiveServer copies it)."""
    saved = {k: os.environ.get(k) for k in AWS_ENV}
    os.environ.update(AWS_ENV)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
