"""The one place request data meets marshmallow.

Views read their query string with :func:`load_args`, their JSON body with :func:`load_json`
(or :func:`json_body` for the raw object) and their form with :func:`load`; a refusal is a 422
with a message per field. String limits come from the model's columns (:func:`column_length`,
:class:`Text`), so the database never has to say that a value was too long.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import request
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate
from werkzeug.datastructures import MultiDict

from fieldapp.db import column_length
from fieldapp.errors import BadRequest, Invalid, UnsupportedMediaType


def load(schema: Schema, data: Mapping[str, Any]) -> dict[str, Any]:
    """Validate ``data`` with ``schema``.

    :raises Invalid: 422 with the field messages as details.
    """
    if not isinstance(data, Mapping):
        raise Invalid(
            'The body must be a JSON object (for example {"name": "value"}).',
            code="validation",
            details={"_schema": ["Expected an object."]},
        )
    try:
        result = schema.load(data)
    except ValidationError as exc:
        raise _invalid(exc) from None
    assert isinstance(result, dict)
    return result


def _invalid(exc: ValidationError) -> Invalid:
    """marshmallow's field messages as one ``validation`` error (the fields in ``details``)."""
    messages = exc.normalized_messages()  # type: ignore[no-untyped-call]
    summary = "; ".join(f"{field}: {_flat(m)}" for field, m in messages.items())
    return Invalid(
        "Please correct: %(summary)s",
        code="validation",
        details=messages,
        params={"summary": summary},
    )


def _flat(message: Any) -> str:
    if isinstance(message, list):
        return " ".join(_flat(m) for m in message)
    if isinstance(message, dict):
        return " ".join(f"{k}: {_flat(v)}" for k, v in message.items())
    return str(message)


def json_body() -> dict[str, Any]:
    """The request's JSON object; an empty body is ``{}``.

    :raises UnsupportedMediaType: a body that is not ``application/json``.
    :raises BadRequest: JSON that does not parse.
    :raises Invalid: JSON that is not an object (an array, a string, a number, null).
    """
    if not request.get_data(cache=True):
        return {}
    if not request.is_json:
        raise UnsupportedMediaType(
            "Send the body as JSON (Content-Type: application/json).", code="json.content_type"
        )
    body = request.get_json(silent=True)
    if body is None and request.get_data(cache=True).strip() != b"null":
        raise BadRequest("The body is not valid JSON.", code="json.invalid")
    if not isinstance(body, dict):
        raise Invalid(
            'The body must be a JSON object (for example {"name": "value"}).',
            code="validation",
            details={"_schema": ["Expected an object."]},
        )
    return body


def load_json(schema: Schema) -> dict[str, Any]:
    """The JSON body, validated with ``schema``."""
    return load(schema, json_body())


def load_args(schema: Schema, args: MultiDict[str, str] | None = None) -> dict[str, Any]:
    """The query string, validated with ``schema`` (unknown arguments are ignored: links
    and bookmarks carry extra ones)."""
    source = request.args if args is None else args
    try:
        result = schema.load(source, unknown=EXCLUDE)
    except ValidationError as exc:
        raise _invalid(exc) from None
    assert isinstance(result, dict)
    return result


class Text(fields.String):
    """A string no longer than a model column (``Text(column=Region.name)``) or ``max``."""

    def __init__(
        self,
        *,
        column: Any = None,
        max: int | None = None,
        min: int = 0,
        **kwargs: Any,
    ) -> None:
        limit = column_length(column) if column is not None else max
        validators = list(kwargs.pop("validate", None) or [])
        if limit is not None or min:
            validators.append(validate.Length(min=min, max=limit))
        super().__init__(validate=validators, **kwargs)


class Page(fields.Integer):
    """A page number from 1 to ``maximum`` (past it there is nothing to show anyway)."""

    def __init__(self, maximum: int = 1_000_000, **kwargs: Any) -> None:
        self.maximum = maximum
        super().__init__(validate=validate.Range(min=1, max=maximum), **kwargs)

    def deserialize(self, value: Any, attr: Any = None, data: Any = None, **kwargs: Any) -> Any:
        if value == "":  # an empty field of a form or link: as if absent
            return self.load_default
        return super().deserialize(value, attr, data, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, str) or not value.isascii() or not value.isdigit():
            raise ValidationError("Not a whole number.")
        if len(value) > len(str(self.maximum)):
            raise ValidationError(f"Must be at most {self.maximum}.")
        return int(value)


#: the longest cursor a page link carries (a few ids and a timestamp, base64)
CURSOR_MAX = 200


class Cursor(Text):
    """A page cursor as handed out in ``next_cursor``: short, URL-safe base64."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            max=CURSOR_MAX,
            validate=[validate.Regexp(r"^[A-Za-z0-9_=-]*$", error="Not a page cursor.")],
            **kwargs,
        )


class Limit(Page):
    """A page size: a whole number from 1 to ``maximum`` (digits only: no ``1e3``)."""

    def __init__(self, maximum: int, default: int) -> None:
        super().__init__(maximum, load_default=default)


class Before(Page):
    """An id to list from (``?before=``): a whole number within the database's range."""

    def __init__(self, **kwargs: Any) -> None:
        from fieldapp.db import DB_INT_MAX  # noqa: PLC0415

        super().__init__(DB_INT_MAX, **kwargs)
