"""The bytes a phone downloads for ``/fill`` and one form (issue 13, item 6), shared by
``tests/browser/test_field_weight.py`` (which asserts bounds) and ``bench/static/run.py``
(which records the figures).

Chromium (Playwright, Debian's chromium) talks to gunicorn through :class:`CountingProxy`, a
loopback TCP relay that counts every byte in each direction, so the figures are what crosses
the wire (headers, compressed bodies, the service worker's own fetches, and the offline
preparation of the ``/fill`` index included), whatever the browser's caches do. gunicorn's
access log says which requests reached the server in each phase and with how many body bytes.

A visit: log in (first visit only), open ``/fill`` and wait until its forms are prepared for
offline use, open one form and wait until Web Forms shows it. The first visit starts from an
empty browser profile; the second is the same profile (HTTP cache and service worker kept) the
next time the worker opens the same pages.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PHONE = {"width": 390, "height": 844}
_ACCESS = re.compile(
    r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[0-9.]+" (?P<status>\d{3}) (?P<bytes>\d+|-)'
)


class CountingProxy:
    """Relays 127.0.0.1:<port> to a server, counting bytes (threads; for tests and benches)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = int(self._listener.getsockname()[1])
        self._lock = threading.Lock()
        self.down = 0  # server → browser
        self.up = 0  # browser → server
        self._closed = False
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            with self._lock:
                self._sockets += [client, server]
            threading.Thread(target=self._pump, args=(server, client, "down"), daemon=True).start()
            threading.Thread(target=self._pump, args=(client, server, "up"), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, direction: str) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                with self._lock:
                    if direction == "down":
                        self.down += len(data)
                    else:
                        self.up += len(data)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def take(self) -> tuple[int, int]:
        """(bytes down, bytes up) since the last call, then zero."""
        with self._lock:
            counts = (self.down, self.up)
            self.down = self.up = 0
        return counts

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                try:
                    sock.close()
                except OSError:
                    pass


@dataclass
class Phase:
    """One measured step of a visit."""

    name: str
    down: int = 0
    up: int = 0
    #: (method, path without query, status, body bytes) as gunicorn's access log has them
    requests: list[tuple[str, str, int, int]] = field(default_factory=list)

    @property
    def static_requests(self) -> list[tuple[str, str, int, int]]:
        return [r for r in self.requests if r[1].startswith("/static/") or r[1] == "/favicon.ico"]

    @property
    def static_body_bytes(self) -> int:
        return sum(r[3] for r in self.static_requests)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "bytes_down": self.down,
            "bytes_up": self.up,
            "requests": len(self.requests),
            "static_requests": len(self.static_requests),
            "static_body_bytes": self.static_body_bytes,
            "by_path": [
                {"method": m, "path": p, "status": s, "body_bytes": b}
                for m, p, s, b in self.requests
            ],
        }


class AccessLog:
    """gunicorn's access log, read from where the last read stopped."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def since_last(self) -> list[tuple[str, str, int, int]]:
        if not self.path.exists():
            return []
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            data = handle.read()
        end = data.rfind(b"\n") + 1
        self.offset += end
        out = []
        for line in data[:end].decode(errors="replace").splitlines():
            match = _ACCESS.search(line)
            if match:
                size = 0 if match["bytes"] == "-" else int(match["bytes"])
                path = match["path"].split("?", 1)[0]
                out.append((match["method"], path, int(match["status"]), size))
        return out


def _settle(proxy: CountingProxy, quiet: float = 1.0, limit: float = 30.0) -> None:
    """Wait until no byte has moved for ``quiet`` seconds (the service worker's fetches too)."""
    deadline = time.monotonic() + limit
    last = (-1, -1)
    while time.monotonic() < deadline:
        with proxy._lock:
            now = (proxy.down, proxy.up)
        if now == last:
            return
        last = now
        time.sleep(quiet)


def visit(
    page: Any,
    proxy: CountingProxy,
    log: AccessLog,
    base: str,
    form_id: str,
    *,
    login: tuple[str, str] | None,
) -> list[Phase]:
    """One visit; each step's bytes and requests."""
    phases: list[Phase] = []

    def mark(name: str) -> None:
        _settle(proxy)
        time.sleep(0.3)  # gunicorn writes the access line after the response
        down, up = proxy.take()
        phases.append(Phase(name, down, up, log.since_last()))

    proxy.take()
    log.since_last()
    if login is not None:
        page.goto(f"{base}/login")
        page.fill("input[name=username]", login[0])
        page.fill("input[name=password]", login[1])
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r"/$"))
        page.wait_for_load_state("load")
        mark("login")
    page.goto(f"{base}/fill")
    page.wait_for_selector("body[data-fill-ready='1']", timeout=60_000)
    page.wait_for_selector("#offline-ready[data-ready]", state="attached", timeout=60_000)
    mark("/fill")
    page.goto(f"{base}/fill/{form_id}")
    page.wait_for_selector("body[data-fill-ready='1']", timeout=60_000)
    page.wait_for_selector(".form-initialization-status.ready", state="attached", timeout=60_000)
    mark(f"/fill/{form_id}")
    return phases


def measure(
    browser: Any,
    server_port: int,
    access_log: Path,
    username: str,
    password: str,
    form_id: str,
    *,
    extra_headers: dict[str, str] | None = None,
) -> dict[str, list[Phase]]:
    """The first visit (empty profile) and the second (same profile) through a counting proxy."""
    proxy = CountingProxy(server_port)
    log = AccessLog(access_log)
    try:
        context = browser.new_context(viewport=PHONE, extra_http_headers=extra_headers)
        try:
            page = context.new_page()
            base = f"http://127.0.0.1:{proxy.port}"
            first = visit(page, proxy, log, base, form_id, login=(username, password))
            page.close()
            page = context.new_page()
            second = visit(page, proxy, log, base, form_id, login=None)
        finally:
            context.close()
    finally:
        proxy.close()
    return {"first": first, "second": second}


def total(phases: list[Phase]) -> int:
    return sum(p.down for p in phases)
