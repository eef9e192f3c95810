"""Fixtures of the webhook tests: a real HTTP receiver on loopback, a clock, the programme."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from argon2 import PasswordHasher
from flask import Flask

from fieldapp.auth import services as auth_services
from fieldapp.auth.models import User
from fieldapp.db import utcnow
from fieldapp.webhooks.worker import WebhookWorker
from tests.cases.support import Programme, publish
from tests.openrosa import helpers

#: this suite's receivers listen here (one port per receiver, first free one)
PORTS = range(7600, 7700)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A threaded ``http.server`` that records every POST and answers from a script."""

    port: int = 0
    received: list[Received] = field(default_factory=list)
    #: statuses to answer, in order; then 200
    script: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def events(self) -> list[tuple[str, str]]:
        return [
            (r.json["type"], r.json["data"].get("instance_id") or r.json["data"].get("case_id"))
            for r in self.received
        ]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            with receiver.lock:
                receiver.received.append(
                    Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                status = receiver.script.pop(0) if receiver.script else 200
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", receiver.url("/elsewhere"))
            self.send_header("Content-Type", "text/plain")
            answer = f"answer {status}".encode()
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    recv = Receiver()
    server = None
    for port in PORTS:
        try:
            server = ThreadingHTTPServer(("127.0.0.1", port), _handler(recv))
            break
        except OSError:
            continue
    assert server is not None, "no free port in 7600-7699"
    recv.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield recv
    server.shutdown()
    server.server_close()


class Clock:
    """An injectable clock: real time plus what the test moved it by (no sleeping)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return utcnow() + self.offset

    def advance(self, **delta: float) -> None:
        self.offset += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_worker(app: Flask, clock: Clock) -> Callable[..., WebhookWorker]:
    def _make(holder: str = "test-worker") -> WebhookWorker:
        return WebhookWorker(app, clock=clock, holder=holder)

    return _make


@pytest.fixture(autouse=True)
def _helpers_app(app: Flask) -> Iterator[None]:
    helpers.APP = app
    yield
    helpers.APP = None


@pytest.fixture(autouse=True)
def _cheap_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        auth_services, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    )


@pytest.fixture
def programme(app: Flask, make_user: Callable[..., User]) -> Programme:
    publish("family_registration", "home_visit")
    world = Programme(app, make_user)
    world.person("admin", "admin", [])
    world.person("coord", "coordinator", ["north"])
    world.person("worker", "field_worker", ["north"])
    return world
