"""Serving uploaded files without letting them act as web pages.

Uploaded bytes come from phones and designers: an "image" may be HTML with script. Only raster
images are shown inline; everything else is a download typed ``application/octet-stream``.
Every ``Content-Disposition`` header is built by :func:`content_disposition` (RFC 6266), so a
name in any script downloads under that name and no name can break the header.
"""

from __future__ import annotations

import unicodedata
from typing import IO, Any
from urllib.parse import quote

from flask import Response, current_app
from werkzeug.wsgi import FileWrapper

from fieldapp.blobs import BlobStorage


def blob_store() -> BlobStorage:
    """The current app's file store (made by the app factory: local or S3)."""
    store = current_app.extensions["fieldapp.blobs"]
    assert isinstance(store, BlobStorage)
    return store


#: blobs up to this size are answered from memory; larger ones stream from the store
STREAM_OVER_BYTES = 1 << 20


def blob_body(store: BlobStorage, sha256: str) -> bytes | IO[bytes]:
    """A blob for :func:`file_response`: its bytes when small, else an open stream (closed by
    the server when the response ends), so a large photo never sits in a worker's memory."""
    size = store.size(sha256)
    if size is not None and size > STREAM_OVER_BYTES:
        return store.open(sha256)
    return store.read(sha256)


#: characters that are never part of a file name: controls, bidi overrides and isolates
#: (U+202E makes "gpj.exe" read as "exe.jpg"), and format characters in general
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
#: what the quoted ASCII fallback may not contain: quoting, escapes, path separators, and
#: ``%`` (some browsers percent-decode the plain parameter)
_FALLBACK_UNSAFE = frozenset('"\\/:%;*?<>|')
#: RFC 5987 ``attr-char`` beyond letters and digits (``quote`` keeps ``_.-~`` itself)
_ATTR_CHARS = "!#$&+^`|"


def _clean_name(name: str) -> str:
    """The name without invisible or reordering characters and without any directory part."""
    kept = "".join(c for c in name if unicodedata.category(c) not in _UNSAFE_CATEGORIES)
    kept = kept.replace("/", "_").replace("\\", "_").strip().lstrip(".")
    return kept or "download"


def _ascii_fallback(name: str) -> str:
    """An ASCII stand-in for old clients: accents dropped, anything else unsafe becomes ``_``."""
    out = []
    for char in unicodedata.normalize("NFKD", name):
        if unicodedata.combining(char):
            continue
        if " " <= char <= "~" and char not in _FALLBACK_UNSAFE:
            out.append(char)
        else:
            out.append("_")
    fallback = "".join(out).strip().lstrip(".")
    stem, dot, ext = fallback.rpartition(".")
    if not (stem if dot else fallback).strip("_ "):  # nothing readable was left
        fallback = f"download.{ext}" if dot and ext.strip("_") else "download"
    return fallback


def content_disposition(disposition: str, filename: str) -> str:
    """A ``Content-Disposition`` value (RFC 6266) for ``filename`` in any script.

    ``filename*=UTF-8''...`` (RFC 5987) carries the real name; ``filename="..."`` is a safe
    ASCII fallback without quotes, backslashes, control or bidi characters or path separators.
    The value itself is ASCII, so every server (gunicorn encodes headers as Latin-1) sends it.
    """
    name = _clean_name(filename)
    fallback = _ascii_fallback(name)
    value = f'{disposition}; filename="{fallback}"'
    if fallback != name:
        value += f"; filename*=UTF-8''{quote(name, safe=_ATTR_CHARS)}"
    return value


#: types a browser renders without running anything (no SVG: it can carry script)
INLINE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})


def file_response(
    data: bytes | IO[bytes], name: str, content_type: str | None, *, inline: bool = True
) -> Response:
    """A response for an uploaded file: inline for raster images, else a plain download.

    :param data: the bytes, or an open file that is streamed in blocks and closed at the end.
    """
    body: Any = data if isinstance(data, bytes) else FileWrapper(data, 1 << 16)
    kind = (content_type or "").split(";")[0].strip().lower()
    if inline and kind in INLINE_TYPES:
        response = Response(body, mimetype=kind)
        response.headers["Content-Disposition"] = content_disposition("inline", name)
    else:
        response = Response(body, mimetype="application/octet-stream")
        response.headers["Content-Disposition"] = content_disposition("attachment", name)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
