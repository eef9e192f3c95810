"""Static assets for a field connection: content-hashed URLs, long cache lifetimes, and
precompressed gzip and brotli variants chosen by ``Accept-Encoding``.

* **URLs.** :func:`static_url` names a file by its content: a file at the top of ``static/``
  gets the hash in its name (``app.css`` → ``/static/app.<hash>.css``); a file in a directory
  gets the hash of the whole directory in the directory's name (``fill/fill.js`` →
  ``/static/fill.<hash>/fill.js``), so that the Web Forms bundle's chunks, which import each
  other by relative names (``./index-….js``), are found under the same hashed directory. A
  hashed URL whose hash is the current content's is answered with
  ``Cache-Control: public, max-age=31536000, immutable``; the plain name, or a hash of older
  content (a page cached before a deploy), is answered with the current file and a short
  lifetime (:data:`SHORT_CACHE`).
* **Compression.** Text assets are compressed once per content (gzip level 9, brotli quality
  11) into ``STATIC_CACHE_DIR`` (default ``{DATA_DIR}/cache/static``), named by their SHA-256,
  written to a temporary file and renamed (several processes may share the directory). gzip
  is made on the first request that accepts it (a tenth of a second for the largest file);
  brotli of a large file takes seconds, so it is made in a background thread and gzip is
  served until it is ready; ``fieldapp assets compress`` makes every variant ahead of time.
  Each variant has its own ETag (``"<sha>"``, ``"<sha>-gz"``, ``"<sha>-br"``), its own
  ``Content-Length``, ``Content-Encoding`` and ``Vary: Accept-Encoding``; ``If-None-Match``
  gives 304 and ``Range`` is answered from the chosen variant's bytes (RFC 9110 §14: ranges
  apply to the selected representation, which its ETag names for ``If-Range``).

Static responses never carry the session: no ``Set-Cookie`` and no ``Vary: Cookie`` (see
:class:`fieldapp.app.FieldApp`), so a shared cache may keep them and a new session cookie does
not empty the browser's cache.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import os
import re
import tempfile
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import brotli
from flask import Flask, Response, current_app, request, send_file
from werkzeug.exceptions import NotFound
from werkzeug.security import safe_join

#: hex digits of the SHA-256 put in a URL
HASH_LENGTH = 10
IMMUTABLE_CACHE = "public, max-age=31536000, immutable"
#: unhashed (or stale-hashed) requests: kept a few minutes, then revalidated by ETag
SHORT_CACHE = "public, max-age=300"
#: file types worth compressing (images, fonts in woff2 and archives already are)
COMPRESSIBLE = frozenset(
    {".css", ".js", ".mjs", ".json", ".svg", ".html", ".txt", ".map", ".wasm", ".xml", ".ico"}
)
#: smaller files are sent as they are (the headers would outweigh the saving)
MIN_COMPRESS_BYTES = 512
#: brotli of files up to this size is made in the request (quality 11: ~20 ms per 64 kB)
BROTLI_INLINE_BYTES = 64 * 1024
#: the encodings made, best first: (Accept-Encoding token, file suffix, ETag suffix)
ENCODINGS = (("br", "br", "-br"), ("gzip", "gz", "-gz"))
_HASHED_SEGMENT = re.compile(
    rf"^(?P<stem>.+)\.(?P<hash>[0-9a-f]{{{HASH_LENGTH}}})(?P<ext>\.[^./]+)?$"
)


@dataclass(frozen=True)
class Asset:
    """One file under ``static/``."""

    #: the path below ``static/``, with forward slashes
    name: str
    path: Path
    sha256: str
    size: int
    mtime_ns: int

    @property
    def compressible(self) -> bool:
        return self.path.suffix.lower() in COMPRESSIBLE and self.size >= MIN_COMPRESS_BYTES


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class AssetIndex:
    """The files under one static folder, their hashes, and their compressed variants."""

    def __init__(self, root: Path, cache_dir: Path) -> None:
        self.root = root
        self.cache_dir = cache_dir
        self._lock = threading.Lock()
        self._assets: dict[str, Asset] = {}
        #: top-level segment (a file or a directory name) → its hash
        self._versions: dict[str, str] = {}
        self._scanned = False
        self._pending: set[str] = set()

    # -- the index ---------------------------------------------------------------------------

    def _scan(self) -> None:
        assets: dict[str, Asset] = {}
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for filename in sorted(filenames):
                if filename.startswith("."):
                    continue
                path = Path(dirpath) / filename
                stat = path.stat()
                name = path.relative_to(self.root).as_posix()
                assets[name] = Asset(name, path, _sha256(path), stat.st_size, stat.st_mtime_ns)
        versions: dict[str, str] = {}
        groups: dict[str, list[Asset]] = {}
        for asset in assets.values():
            groups.setdefault(asset.name.split("/", 1)[0], []).append(asset)
        for segment, members in groups.items():
            if len(members) == 1 and members[0].name == segment:
                versions[segment] = members[0].sha256[:HASH_LENGTH]
            else:  # a directory: one hash over every file's name and content
                digest = hashlib.sha256()
                for member in sorted(members, key=lambda a: a.name):
                    digest.update(f"{member.name}\0{member.sha256}\n".encode())
                versions[segment] = digest.hexdigest()[:HASH_LENGTH]
        self._assets, self._versions, self._scanned = assets, versions, True

    def _ensure(self) -> None:
        with self._lock:
            if not self._scanned:
                self._scan()

    @staticmethod
    def _unchanged(asset: Asset) -> bool:
        try:
            stat = asset.path.stat()
        except FileNotFoundError:
            return False
        return (stat.st_size, stat.st_mtime_ns) == (asset.size, asset.mtime_ns)

    def _fresh(self, name: str) -> Asset | None:
        """The asset as it is on disk now, or ``None``. A changed file of its group (the file,
        or every file of its top-level directory) re-reads the index, so its hash is true."""
        segment = name.split("/", 1)[0]
        group = [a for n, a in self._assets.items() if n == segment or n.startswith(segment + "/")]
        if not all(self._unchanged(a) for a in group):
            with self._lock:
                self._scan()
        return self._assets.get(name)

    def assets(self) -> Iterator[Asset]:
        """Every file, by name."""
        self._ensure()
        yield from (self._assets[name] for name in sorted(self._assets))

    def url_path(self, name: str) -> str:
        """The content-hashed path below ``/static/`` for ``name`` (``fill/fill.js``)."""
        self._ensure()
        if name not in self._assets or self._fresh(name) is None:
            return name  # not a file we know: the plain name (answers 404 like before)
        segment, slash, rest = name.partition("/")
        version = self._versions[segment]
        if slash:
            return f"{segment}.{version}/{rest}"
        stem, dot, ext = segment.rpartition(".")
        return f"{stem}.{version}.{ext}" if dot and stem else f"{segment}.{version}"

    def resolve(self, filename: str) -> tuple[Asset, bool] | None:
        """The asset a request path below ``/static/`` names, and whether its hash is current."""
        self._ensure()
        if safe_join(str(self.root), filename) is None:
            return None
        if filename in self._assets:
            fresh = self._fresh(filename)
            return (fresh, False) if fresh is not None else None
        segment, slash, rest = filename.partition("/")
        match = _HASHED_SEGMENT.match(segment)
        if match is None:
            return None
        plain = match["stem"] + (match["ext"] or "")
        name = f"{plain}/{rest}" if slash else plain
        asset = self._fresh(name) if name in self._assets else None
        if asset is None:
            return None
        return asset, self._versions.get(plain) == match["hash"]

    # -- compressed variants -----------------------------------------------------------------

    def variant_path(self, asset: Asset, suffix: str) -> Path:
        return self.cache_dir / f"{asset.sha256}.{suffix}"

    def compress(self, asset: Asset, suffix: str) -> Path | None:
        """Make (or find) one compressed variant; ``None`` when it would not be smaller."""
        target = self.variant_path(asset, suffix)
        if target.exists():
            return target if target.stat().st_size < asset.size else None
        data = asset.path.read_bytes()
        if hashlib.sha256(data).hexdigest() != asset.sha256:
            return None  # the file changed under us; the next request re-reads the index
        if suffix == "br":
            mode = brotli.MODE_FONT if asset.path.suffix == ".woff" else brotli.MODE_TEXT
            packed = brotli.compress(data, quality=11, mode=mode)
        else:
            packed = gzip.compress(data, compresslevel=9, mtime=0)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=self.cache_dir, prefix=f".{asset.sha256}.")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(packed)
            os.chmod(temporary, 0o644)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return target if len(packed) < asset.size else None

    def _compress_later(self, asset: Asset, suffix: str) -> None:
        key = f"{asset.sha256}.{suffix}"
        with self._lock:
            if key in self._pending:
                return
            self._pending.add(key)

        def run() -> None:
            try:
                self.compress(asset, suffix)
            except OSError:
                pass  # the cache is unwritable: the asset is sent as it is
            finally:
                with self._lock:
                    self._pending.discard(key)

        threading.Thread(target=run, name="fieldapp-static-compress", daemon=True).start()

    def variant(self, asset: Asset, encoding: str) -> Path | None:
        """The ready variant of ``asset`` for ``encoding`` ("br", "gzip"), or ``None``."""
        suffix = {token: suffix for token, suffix, _ in ENCODINGS}[encoding]
        path = self.variant_path(asset, suffix)
        if path.exists():
            return path if path.stat().st_size < asset.size else None
        if suffix == "br" and asset.size > BROTLI_INLINE_BYTES:
            self._compress_later(asset, suffix)
            return None
        try:
            return self.compress(asset, suffix)
        except OSError:
            return None

    def compress_all(self) -> int:
        """Make every variant of every compressible asset; the number of files made or found."""
        count = 0
        for asset in self.assets():
            if asset.compressible:
                for _token, suffix, _etag in ENCODINGS:
                    self.compress(asset, suffix)
                    count += 1
        return count


def cache_dir_of(config: Mapping[str, Any]) -> Path:
    """``STATIC_CACHE_DIR``, else ``{DATA_DIR}/cache/static``."""
    configured = config.get("STATIC_CACHE_DIR")
    return Path(configured) if configured else Path(config["DATA_DIR"]) / "cache" / "static"


def init_app(app: Flask) -> None:
    """Index ``app``'s static folder and offer ``static_url()`` to templates."""
    root = Path(app.static_folder or "static")
    app.extensions["fieldapp.assets"] = AssetIndex(root, cache_dir_of(app.config))
    app.jinja_env.globals["static_url"] = static_url


def index() -> AssetIndex:
    found: AssetIndex = current_app.extensions["fieldapp.assets"]
    return found


def static_url(name: str) -> str:
    """The content-hashed URL of a static file (``static_url('app.css')``)."""
    path = (current_app.static_url_path or "/static").rstrip("/")
    return f"{path}/{index().url_path(name)}"


def _chosen_encoding(asset: Asset) -> tuple[Path, str, str]:
    """(file to send, Content-Encoding or "", ETag) for this request."""
    found = index()
    accepted = request.accept_encodings
    if asset.compressible:
        for token, _suffix, etag_suffix in ENCODINGS:
            if accepted.quality(token) > 0:
                path = found.variant(asset, token)
                if path is not None:
                    return path, token, asset.sha256[:32] + etag_suffix
    return asset.path, "", asset.sha256[:32]


def send_asset(filename: str) -> Response:
    """Answer ``/static/<filename>``: the chosen variant, conditional, cacheable."""
    resolved = index().resolve(filename)
    if resolved is None:
        raise NotFound()
    asset, hashed = resolved
    path, encoding, etag = _chosen_encoding(asset)
    # werkzeug adds "; charset=utf-8" to text types itself
    mimetype = mimetypes.guess_type(asset.name)[0] or "application/octet-stream"
    response = send_file(
        path,
        mimetype=mimetype,
        conditional=True,
        etag=etag,
        last_modified=asset.mtime_ns / 1e9,
        max_age=None,
    )
    response.headers.pop("Content-Disposition", None)  # would name the cache file
    if encoding:
        response.headers["Content-Encoding"] = encoding
    if asset.compressible:
        response.vary.add("Accept-Encoding")
    response.headers["Cache-Control"] = IMMUTABLE_CACHE if hashed else SHORT_CACHE
    response.headers["Accept-Ranges"] = "bytes"
    return response


def request_is_static() -> bool:
    """Whether this request is for a static file (served without touching the session)."""
    return request.endpoint == "static"
