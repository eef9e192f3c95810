"""Static files for a field connection (issue 13, item 6), through Flask's test client:
content-hashed URLs with a year's immutable cache, gzip and brotli variants chosen by
Accept-Encoding (their own ETag, Content-Length, 304, ranges), no session cookie on them, the
favicon, and the /fill service worker precaching the hashed URLs. The same under gunicorn and
the bytes a phone downloads: tests/browser/test_field_weight.py and bench/static."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import brotli
import pytest
from flask import Flask

from fieldapp.web import assets
from fieldapp.web.assets import IMMUTABLE_CACHE, SHORT_CACHE, AssetIndex
from tests.conftest import Browser

ROOT = Path(__file__).resolve().parent.parent
#: compresses well and is above the inline-brotli size, like the web form bundle
BIG = b"".join(
    b"function f%d(a){return a*%d+'%s';}\n" % (i, i, b"x" * (i % 50)) for i in range(4000)
)
CSS = b"body { color: #123456; }\n" * 200


@pytest.fixture
def tiny_static(app: Flask, tmp_path: Path) -> Iterator[AssetIndex]:
    """The app serving a static folder of our own (a stylesheet, a two-file bundle, an image)."""
    root = tmp_path / "static"
    (root / "bundle").mkdir(parents=True)
    (root / "app.css").write_bytes(CSS)
    (root / "bundle" / "main.js").write_bytes(b'import("./chunk-Ab12.js");\n' * 40)
    (root / "bundle" / "chunk-Ab12.js").write_bytes(BIG)
    (root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(2000))
    index = AssetIndex(root, tmp_path / "cache")
    previous = app.extensions["fieldapp.assets"]
    app.extensions["fieldapp.assets"] = index
    yield index
    app.extensions["fieldapp.assets"] = previous


class _Client:
    """The test client, reading and closing every response (a static file is an open file)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def get(self, url: str, **kwargs: Any) -> Any:
        response = self.client.get(url, **kwargs)
        response.get_data()
        response.close()
        return response


def _url(app: Flask, name: str) -> str:
    with app.test_request_context():
        return assets.static_url(name)


def test_urls_carry_the_content_hash_and_hashed_ones_are_cached_for_a_year(app, tiny_static):
    client = _Client(app.test_client())
    css = _url(app, "app.css")
    assert re.fullmatch(r"/static/app\.[0-9a-f]{10}\.css", css)
    chunk = _url(app, "bundle/chunk-Ab12.js")
    # a directory is hashed as a whole: relative imports between its files keep working
    assert re.fullmatch(r"/static/bundle\.[0-9a-f]{10}/chunk-Ab12\.js", chunk)
    assert chunk.rsplit("/", 1)[0] == _url(app, "bundle/main.js").rsplit("/", 1)[0]

    hashed = client.get(css)
    assert hashed.status_code == 200
    assert hashed.data == CSS
    assert hashed.headers["Cache-Control"] == IMMUTABLE_CACHE
    assert "Set-Cookie" not in hashed.headers
    relative = client.get(chunk.rsplit("/", 1)[0] + "/chunk-Ab12.js")
    assert relative.headers["Cache-Control"] == IMMUTABLE_CACHE
    assert relative.data == BIG

    plain = client.get("/static/app.css")
    assert plain.status_code == 200
    assert plain.data == CSS
    assert plain.headers["Cache-Control"] == SHORT_CACHE
    # a page cached before a deploy asks for an older hash: it gets today's file, briefly kept
    stale = client.get("/static/app.0123456789.css")
    assert stale.status_code == 200
    assert stale.data == CSS
    assert stale.headers["Cache-Control"] == SHORT_CACHE


def test_a_changed_file_gets_a_new_url(app, tiny_static):
    before = _url(app, "bundle/main.js")
    path = tiny_static.root / "bundle" / "chunk-Ab12.js"
    path.write_bytes(BIG + b"// changed\n")
    os.utime(path, ns=(1, 1))
    after = _url(app, "bundle/main.js")
    assert after != before
    response = _Client(app.test_client()).get(before)
    assert response.headers["Cache-Control"] == SHORT_CACHE  # the old hash is no longer true
    assert _Client(app.test_client()).get(after).headers["Cache-Control"] == IMMUTABLE_CACHE


def test_gzip_variant_chosen_by_accept_encoding_with_its_own_length_and_etag(app, tiny_static):
    client = _Client(app.test_client())
    url = _url(app, "bundle/chunk-Ab12.js")
    response = client.get(url, headers={"Accept-Encoding": "gzip, deflate"})
    assert response.status_code == 200
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.headers["Vary"] == "Accept-Encoding"
    assert int(response.headers["Content-Length"]) == len(response.data) < len(BIG) / 5
    assert gzip.decompress(response.data) == BIG
    assert response.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert response.headers["ETag"].endswith('-gz"')
    assert "Content-Disposition" not in response.headers

    identity = client.get(url, headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in identity.headers
    assert identity.data == BIG
    assert identity.headers["Vary"] == "Accept-Encoding"
    assert identity.headers["ETag"] != response.headers["ETag"]
    refused = client.get(url, headers={"Accept-Encoding": "gzip;q=0, br;q=0"})
    assert "Content-Encoding" not in refused.headers
    assert refused.data == BIG


def test_brotli_is_made_once_and_preferred(app, tiny_static):
    client = _Client(app.test_client())
    url = _url(app, "bundle/chunk-Ab12.js")
    # a large file's brotli is made in the background; meanwhile gzip is sent
    tiny_static.compress(tiny_static._assets["bundle/chunk-Ab12.js"], "br")
    response = client.get(url, headers={"Accept-Encoding": "gzip, deflate, br"})
    assert response.headers["Content-Encoding"] == "br"
    assert brotli.decompress(response.data) == BIG
    assert int(response.headers["Content-Length"]) == len(response.data)
    assert response.headers["ETag"].endswith('-br"')
    gzipped = client.get(url, headers={"Accept-Encoding": "gzip"}).data
    assert len(response.data) < len(gzipped)
    # a small file's brotli is made in the request itself
    css = client.get(_url(app, "app.css"), headers={"Accept-Encoding": "br"})
    assert css.headers["Content-Encoding"] == "br"
    assert brotli.decompress(css.data) == CSS
    made = sorted(p.name for p in tiny_static.cache_dir.iterdir())
    assert all(re.fullmatch(r"[0-9a-f]{64}\.(br|gz)", name) for name in made), made


def test_large_brotli_made_in_background_while_gzip_is_served(app, tiny_static):
    client = _Client(app.test_client())
    url = _url(app, "bundle/chunk-Ab12.js")
    first = client.get(url, headers={"Accept-Encoding": "br, gzip"})
    assert first.headers["Content-Encoding"] in ("gzip", "br")
    assert first.headers["Content-Encoding"] == "gzip" or brotli.decompress(first.data) == BIG
    asset = tiny_static._assets["bundle/chunk-Ab12.js"]
    for _ in range(200):
        if tiny_static.variant_path(asset, "br").exists():
            break
        time.sleep(0.05)
    later = client.get(url, headers={"Accept-Encoding": "br, gzip"})
    assert later.headers["Content-Encoding"] == "br"
    assert brotli.decompress(later.data) == BIG


def test_images_are_not_compressed_again(app, tiny_static):
    response = _Client(app.test_client()).get(
        _url(app, "logo.png"), headers={"Accept-Encoding": "br"}
    )
    assert response.status_code == 200
    assert "Content-Encoding" not in response.headers
    assert "Vary" not in response.headers
    assert response.headers["Content-Type"] == "image/png"


def test_revalidation_answers_304_per_variant(app, tiny_static):
    client = _Client(app.test_client())
    url = _url(app, "bundle/chunk-Ab12.js")
    gz = client.get(url, headers={"Accept-Encoding": "gzip"})
    again = client.get(
        url, headers={"Accept-Encoding": "gzip", "If-None-Match": gz.headers["ETag"]}
    )
    assert again.status_code == 304
    assert again.data == b""
    assert again.headers["ETag"] == gz.headers["ETag"]
    assert again.headers["Cache-Control"] == IMMUTABLE_CACHE
    assert again.headers["Vary"] == "Accept-Encoding"
    # the gzip ETag does not validate the uncompressed file
    other = client.get(
        url, headers={"Accept-Encoding": "identity", "If-None-Match": gz.headers["ETag"]}
    )
    assert other.status_code == 200
    assert other.data == BIG
    plain = client.get("/static/app.css")
    assert (
        client.get("/static/app.css", headers={"If-None-Match": plain.headers["ETag"]}).status_code
        == 304
    )


def test_ranges_are_ranges_of_the_variant_sent(app, tiny_static):
    client = _Client(app.test_client())
    url = _url(app, "bundle/chunk-Ab12.js")
    whole = client.get(url, headers={"Accept-Encoding": "gzip"})
    part = client.get(url, headers={"Accept-Encoding": "gzip", "Range": "bytes=10-99"})
    assert part.status_code == 206
    assert part.headers["Content-Encoding"] == "gzip"
    assert part.headers["Content-Range"] == f"bytes 10-99/{len(whole.data)}"
    assert part.data == whole.data[10:100]
    assert part.headers["Content-Length"] == "90"
    # If-Range with another variant's ETag: the whole of this one
    mismatch = client.get(
        url,
        headers={"Accept-Encoding": "gzip", "Range": "bytes=10-99", "If-Range": '"nope"'},
    )
    assert mismatch.status_code == 200
    assert mismatch.data == whole.data
    beyond = client.get(
        url, headers={"Accept-Encoding": "gzip", "Range": f"bytes={len(whole.data) + 5}-"}
    )
    assert beyond.status_code == 416


@pytest.mark.parametrize(
    "path",
    [
        "/static/../pyproject.toml",
        "/static/%2e%2e/pyproject.toml",
        "/static/bundle.0123456789/../../pyproject.toml",
        "/static/nothing.css",
        "/static/app.zzzzzzzzzz.css",
        "/static/.hidden",
    ],
)
def test_nothing_outside_the_static_files(app, tiny_static, path):
    (tiny_static.root / ".hidden").write_text("secret")
    response = _Client(app.test_client()).get(path)
    assert response.status_code == 404


def test_no_session_cookie_on_static_responses(app, login_as):
    browser: Browser = login_as("coordinator")
    page = browser.get("/review")
    client = _Client(browser.client)
    assert page.status_code == 200
    css = re.search(rb'href="(/static/app\.[0-9a-f]{10}\.css)"', page.data)
    assert css is not None
    response = client.get(css.group(1).decode())
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    assert "Cookie" not in response.headers.get("Vary", "")
    assert response.headers["Cache-Control"] == IMMUTABLE_CACHE
    # pages still carry their no-store and cookie
    assert page.headers["Cache-Control"] == "no-store"


def test_favicon(app):
    client = _Client(app.test_client())
    ico = client.get("/favicon.ico")
    assert ico.status_code == 200
    assert ico.headers["Content-Type"] == "image/vnd.microsoft.icon"
    assert ico.data[:4] == b"\x00\x00\x01\x00"  # an ICO directory
    assert ico.data[22:30] == b"\x89PNG\r\n\x1a\n"
    page = client.get("/login")
    link = re.search(rb'<link rel="icon" href="([^"]+)" type="image/svg\+xml">', page.data)
    assert link is not None
    svg = client.get(link.group(1).decode())
    assert svg.status_code == 200
    assert svg.headers["Content-Type"].startswith("image/svg+xml")
    assert svg.data.startswith(b"<svg")
    assert svg.headers["Cache-Control"] == IMMUTABLE_CACHE


def test_fill_pages_and_service_worker_use_hashed_urls(app, login_as):
    browser = login_as("field_worker")
    page = browser.get("/fill")
    assert page.status_code == 200
    bundle = re.search(rb'data-bundle="(/static/fill\.[0-9a-f]{10}/fill\.js)"', page.data)
    assert bundle is not None
    assert re.search(rb'src="/static/fill\.[0-9a-f]{10}/fill\.js"', page.data)
    assert re.search(rb'href="/static/fill\.[0-9a-f]{10}/fill\.css"', page.data)
    worker = browser.get("/fill/sw.js")
    first_line, _, rest = worker.data.partition(b"\n")
    match = re.fullmatch(rb"self\.FIELDAPP_PRECACHE = (\[.*\]);", first_line)
    assert match is not None
    precache = json.loads(match.group(1))
    listed = json.loads((ROOT / "static" / "fill" / "assets.json").read_text())
    assert {url.rsplit("/", 1)[1] for url in precache if "/fill." in url} == set(listed)
    assert bundle.group(1).decode() in precache
    for url in precache:
        response = _Client(app.test_client()).get(url)
        assert response.status_code == 200, url
        assert response.headers["Cache-Control"] == IMMUTABLE_CACHE, url
    assert rest == (ROOT / "static" / "fill" / "sw.js").read_bytes()
    assert worker.headers["Cache-Control"] == "no-cache"


def test_cli_makes_every_variant_ahead(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDAPP_")}
    cache = tmp_path / "cache"
    env.update(
        {
            "FIELDAPP_DATA_DIR": str(tmp_path),
            "FIELDAPP_STATIC_CACHE_DIR": str(cache),
            "FIELDAPP_ODK_VALIDATE": "never",
        }
    )
    result = subprocess.run(
        [sys.executable, "-m", "fieldapp.cli", "assets", "compress"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "compressed variants" in result.stdout
    fill = (ROOT / "static" / "fill" / "fill.js").read_bytes()
    digest = hashlib.sha256(fill).hexdigest()
    assert brotli.decompress((cache / f"{digest}.br").read_bytes()) == fill
    assert gzip.decompress((cache / f"{digest}.gz").read_bytes()) == fill
