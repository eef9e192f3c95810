"""Weight on a field connection (issue 13, item 6): what a phone downloads for /fill and one
form, first visit (empty cache) and second (warm), measured on the wire between Debian's
chromium and a real gunicorn (tests/browser/weight.py); and the static files' headers as
gunicorn sends them. The figures themselves are recorded by bench/static/run.py."""

from __future__ import annotations

import gzip
import http.client
import json
import re
from collections.abc import Iterator
from typing import Any

import brotli
import pytest

from tests.browser.weight import measure, total
from tests.conftest import need
from tests.live import ROOT, LiveServer

pytestmark = pytest.mark.committed
PASSWORD = "a long password"
FORMS = ("family_registration", "home_visit")
FORM = "family_registration"
#: the issue's figure: the first /fill form downloaded 3.2 MB of JavaScript uncompressed
BEFORE = 3_200_000


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    need((ROOT / "static" / "fill" / "fill.js").exists(), "the web form bundle (static/fill)")
    data_dir = tmp_path_factory.mktemp("weight")
    server = LiveServer(data_dir)
    try:
        server.cli("db", "upgrade")
        for form in FORMS:
            server.cli("forms", "publish", str(ROOT / "forms" / f"{form}.xlsx"))
        server.cli("users", "create", "aigerim", "--role", "field_worker", "--region", "north",
                   stdin=PASSWORD + "\n")  # fmt: skip
        server.cli("assets", "compress")  # as a deployment does (else the first phones get gzip)
        server.start(workers=1, log_dir=data_dir / "logs")
        yield server
    finally:
        server.close()


def _get(port: int, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def test_gunicorn_sends_hashed_compressed_files_with_true_lengths(live: LiveServer):
    status, _, page = _get(live.port, "/login", {})
    assert status == 200
    css = re.search(rb'href="(/static/app\.[0-9a-f]{10}\.css)"', page)
    assert css is not None
    raw = (ROOT / "static" / "app.css").read_bytes()
    for encoding, decode in (("br", brotli.decompress), ("gzip", gzip.decompress)):
        status, headers, body = _get(
            live.port, css.group(1).decode(), {"Accept-Encoding": encoding}
        )
        assert status == 200
        assert headers["content-encoding"] == encoding
        assert int(headers["content-length"]) == len(body)
        assert decode(body) == raw
        assert headers["cache-control"] == "public, max-age=31536000, immutable"
        assert headers["vary"] == "Accept-Encoding"
        assert "set-cookie" not in headers
        status, again, body = _get(
            live.port,
            css.group(1).decode(),
            {"Accept-Encoding": encoding, "If-None-Match": headers["etag"]},
        )
        assert (status, body) == (304, b"")
        assert again["etag"] == headers["etag"]
    bundle = "/static/fill/fill.js"
    status, headers, body = _get(
        live.port, bundle, {"Accept-Encoding": "gzip", "Range": "bytes=0-99"}
    )
    assert status == 206
    assert headers["content-encoding"] == "gzip"
    assert len(body) == 100
    assert headers["content-range"].startswith("bytes 0-99/")
    assert headers["cache-control"] == "public, max-age=300"
    status, headers, body = _get(live.port, "/favicon.ico", {})
    assert status == 200
    assert headers["content-type"] == "image/vnd.microsoft.icon"
    assert body[:4] == b"\x00\x00\x01\x00"


def test_what_a_phone_downloads_first_and_second_visit(live: LiveServer, browser: Any):
    assert live.log_dir is not None
    access = live.log_dir / "access.log"
    compressed = measure(browser, live.port, access, "aigerim", PASSWORD, FORM)
    plain = measure(
        browser, live.port, access, "aigerim", PASSWORD, FORM,
        extra_headers={"Accept-Encoding": "identity"},
    )  # fmt: skip
    first, second = total(compressed["first"]), total(compressed["second"])
    plain_first = total(plain["first"])
    report = {
        name: [phase.as_dict() for phase in phases]
        for name, phases in (*compressed.items(), ("first_uncompressed", plain["first"]))
    }
    (ROOT / "test-artifacts").mkdir(exist_ok=True)
    (ROOT / "test-artifacts" / "field-weight.json").write_text(json.dumps(report, indent=1))

    # the same files were asked for: only their encoding differs
    static = {r[1] for p in compressed["first"] for r in p.static_requests}
    assert any(path.endswith("/fill.js") for path in static), static
    assert static == {r[1] for p in plain["first"] for r in p.static_requests}
    # compressed, the whole first visit (pages, forms, the bundle the service worker keeps for
    # offline use) is far below the bundle's 3.2 MB, and well below the same visit uncompressed
    assert plain_first > BEFORE
    assert first < BEFORE / 2, first
    assert first < plain_first * 0.45, (first, plain_first)
    # the second visit asks for no static file at all (a year's cache, hashed names) and moves
    # only the pages and the form
    assert [p.static_requests for p in compressed["second"]] == [[], []]
    assert second < 100_000, second
    assert second < first / 15, (second, first)
