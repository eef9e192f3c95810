"""Serving uploaded files without letting them act as web pages.

Uploaded bytes come from phones and designers: an "image" may be HTML with script. Only raster
images are shown inline; everything else is a download typed ``application/octet-stream``, and
the file name is put in ``Content-Disposition`` with proper quoting.
"""

from __future__ import annotations

from flask import Response, current_app

from fieldapp.blobs import BlobStore


def blob_store() -> BlobStore:
    """The current app's file store (made by the app factory)."""
    store = current_app.extensions["fieldapp.blobs"]
    assert isinstance(store, BlobStore)
    return store


#: types a browser renders without running anything (no SVG: it can carry script)
INLINE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})


def file_response(
    data: bytes, name: str, content_type: str | None, *, inline: bool = True
) -> Response:
    """A response for an uploaded file: inline for raster images, else a plain download."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if inline and kind in INLINE_TYPES:
        response = Response(data, mimetype=kind)
        response.headers.set("Content-Disposition", "inline", filename=name)
    else:
        response = Response(data, mimetype="application/octet-stream")
        response.headers.set("Content-Disposition", "attachment", filename=name)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
