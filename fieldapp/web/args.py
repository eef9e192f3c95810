"""The one place request data meets marshmallow."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import Schema, ValidationError

from fieldapp.errors import Invalid


def load(schema: Schema, data: Mapping[str, Any]) -> dict[str, Any]:
    """Validate ``data`` with ``schema``.

    :raises Invalid: 422 with the field messages as details.
    """
    try:
        result = schema.load(data)
    except ValidationError as exc:
        messages = exc.normalized_messages()  # type: ignore[no-untyped-call]
        summary = "; ".join(
            f"{field}: {' '.join(m) if isinstance(m, list) else m}" for field, m in messages.items()
        )
        raise Invalid(f"Please correct: {summary}", code="validation", details=messages) from None
    assert isinstance(result, dict)
    return result
