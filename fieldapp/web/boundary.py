"""Checks every request passes before any view sees it.

* Integer path parameters (``<int:...>``) beyond the database's integer range are not routes
  (404), so no view hands a 40-digit id to the database.
* No text from outside — path, query string, urlencoded form, JSON (keys and values), Basic
  credentials — may hold a NUL character or a lone surrogate: PostgreSQL cannot store the first
  and no database driver can encode the second. They are refused here, once, with 400.

Everything else (types, shapes, lengths) is checked per route by marshmallow
(:mod:`fieldapp.web.args`).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, request
from werkzeug.routing import IntegerConverter, ValidationError

from fieldapp.db import DB_INT_MAX
from fieldapp.errors import BadRequest


class BoundedIntConverter(IntegerConverter):
    """``<int:...>`` limited to the database's integer range: larger ids match no route."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", DB_INT_MAX)
        super().__init__(map, *args, **kwargs)

    def to_python(self, value: str) -> Any:
        if len(value) > len(str(DB_INT_MAX)):
            raise ValidationError()  # no int() of a huge digit string
        return super().to_python(value)


def unsafe_text(value: str) -> bool:
    """Whether ``value`` holds a NUL or a lone surrogate (text no database takes)."""
    if "\x00" in value:
        return True
    return not value.isascii() and any("\ud800" <= c <= "\udfff" for c in value)


def _unsafe_json(value: Any, depth: int = 0) -> bool:
    if isinstance(value, str):
        return unsafe_text(value)
    if depth > 64:  # the JSON parser bounds nesting; this only keeps the walk cheap
        return False
    if isinstance(value, dict):
        return any(unsafe_text(k) or _unsafe_json(v, depth + 1) for k, v in value.items())
    if isinstance(value, list):
        return any(_unsafe_json(v, depth + 1) for v in value)
    return False


def _refuse(where: str) -> None:
    raise BadRequest(
        "The %(where)s contains a character that cannot be stored (a NUL byte "
        "or an unpaired surrogate). Remove it and send again.",
        code="input.invalid_character",
        params={"where": where},
    )


def check_request_text() -> None:
    """Refuse NUL bytes and lone surrogates anywhere in the request's text."""
    if unsafe_text(request.path):
        _refuse("address")
    for key, value in request.args.items(multi=True):
        if unsafe_text(key) or unsafe_text(value):
            _refuse(f"query parameter {key!r}" if not unsafe_text(key) else "query string")
    if request.mimetype == "application/x-www-form-urlencoded":
        for key, value in request.form.items(multi=True):
            if unsafe_text(key) or unsafe_text(value):
                _refuse(f"form field {key!r}" if not unsafe_text(key) else "form")
    elif request.is_json:
        body = request.get_json(silent=True)  # invalid JSON is the view's 400 (args.json_body)
        if body is not None and _unsafe_json(body):
            _refuse("JSON body")
    header = request.headers.get("Authorization", "")
    if "\x00" in header:
        _refuse("Authorization header")
    credentials = request.authorization
    if (
        credentials is not None
        and credentials.type == "basic"
        and (unsafe_text(credentials.username or "") or unsafe_text(credentials.password or ""))
    ):
        _refuse("username or password")


def init_app(app: Flask) -> None:
    """Install the converter (before any blueprint adds rules) and the text check."""
    app.url_map.converters["int"] = BoundedIntConverter
    app.before_request(check_request_text)
