"""OData ``$filter`` expressions: a small, strict parser that compiles to SQLAlchemy.

Only what the ODK data tools send is understood: comparisons (``eq ne lt le gt ge``) of one
of the allowed system properties with a literal (a quoted string, an integer, ``null``, a date
or a date-time), combined with ``and``, ``or``, ``not`` and parentheses. Anything else is a
:class:`FilterInvalid` (400), never a database error.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, not_, or_

from fieldapp.errors import BadRequest

#: the longest ``$filter`` accepted, and the deepest nesting
MAX_LENGTH = 2000
MAX_DEPTH = 20

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<paren>[()])|(?P<dt>\d{4}-\d{2}-\d{2}(?:T[0-9:.]+"
    r"(?:Z|[+-]\d{2}:\d{2})?)?)|(?P<num>-?\d+)|(?P<word>[A-Za-z_][A-Za-z0-9_/]*))",
    re.ASCII,
)
_OPS = {"eq", "ne", "lt", "le", "gt", "ge"}


class FilterInvalid(BadRequest):
    """A ``$filter`` this server does not understand (400)."""

    code = "odata.filter_invalid"


@dataclass(frozen=True, slots=True)
class Property:
    """A property a filter may name: its column and how to read a literal for it."""

    column: Any
    convert: Callable[[Any], Any]
    #: what ``null`` stands for (Central's null review state is fieldapp's ``received``)
    null_means: Any = None


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    at = 0
    while at < len(text):
        if text[at:].strip() == "":
            break
        found = _TOKEN.match(text, at)
        if found is None or found.end() == at:
            raise FilterInvalid(
                "The $filter cannot be read at character %(at)s.", params={"at": at + 1}
            )
        kind = found.lastgroup or ""
        out.append((kind, found.group(kind)))
        at = found.end()
    return out


def as_datetime(value: Any) -> datetime:
    """A date or date-time literal as an aware datetime (UTC when no offset is given)."""
    if not isinstance(value, str):
        raise FilterInvalid("Compare dates with a date or date-time, such as 2024-05-01.")
    try:
        if "T" not in value:
            return datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC)
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise FilterInvalid(
            "%(value)s is not a date or date-time.", params={"value": repr(value)}
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


class _Parser:
    def __init__(self, text: str, properties: Mapping[str, Property]) -> None:
        self.tokens = _tokens(text)
        self.at = 0
        self.properties = properties
        self.depth = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise FilterInvalid("The $filter ends too early.")
        self.at += 1
        return token

    def word(self, value: str) -> bool:
        token = self.peek()
        if token is not None and token[0] == "word" and token[1].lower() == value:
            self.at += 1
            return True
        return False

    def parse(self) -> ColumnElement[bool]:
        expr = self.or_()
        if self.peek() is not None:
            token = self.peek()[1]  # type: ignore[index]
            raise FilterInvalid(
                "Unexpected %(token)s in the $filter.", params={"token": repr(token)}
            )
        return expr

    def or_(self) -> ColumnElement[bool]:
        parts = [self.and_()]
        while self.word("or"):
            parts.append(self.and_())
        return parts[0] if len(parts) == 1 else or_(*parts)

    def and_(self) -> ColumnElement[bool]:
        parts = [self.unary()]
        while self.word("and"):
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else and_(*parts)

    def unary(self) -> ColumnElement[bool]:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise FilterInvalid("The $filter is nested too deeply.")
        try:
            if self.word("not"):
                return not_(self.unary())
            token = self.peek()
            if token == ("paren", "("):
                self.at += 1
                inner = self.or_()
                if self.take() != ("paren", ")"):
                    raise FilterInvalid("A parenthesis of the $filter is not closed.")
                return inner
            return self.comparison()
        finally:
            self.depth -= 1

    def literal(self) -> Any:
        kind, value = self.take()
        if kind == "str":
            return value[1:-1].replace("''", "'")
        if kind == "num":
            return int(value)
        if kind == "dt":
            return value
        if kind == "word" and value.lower() == "null":
            return None
        raise FilterInvalid(
            "%(value)s is not a value the $filter can compare with.", params={"value": repr(value)}
        )

    def comparison(self) -> ColumnElement[bool]:
        kind, name = self.take()
        if kind != "word" or name not in self.properties:
            known = ", ".join(sorted(self.properties))
            raise FilterInvalid(
                "The $filter can only use %(known)s; not %(name)s.",
                params={"known": known, "name": repr(name)},
            )
        kind, op = self.take()
        if kind != "word" or op.lower() not in _OPS:
            raise FilterInvalid(
                "%(op)s is not a comparison (eq, ne, lt, le, gt, ge).", params={"op": repr(op)}
            )
        op = op.lower()
        raw = self.literal()
        prop = self.properties[name]
        column = prop.column
        if raw is None and prop.null_means is not None:
            raw = prop.null_means
        if raw is None:
            if op == "eq":
                return column.is_(None)  # type: ignore[no-any-return]
            if op == "ne":
                return column.is_not(None)  # type: ignore[no-any-return]
            raise FilterInvalid("Only eq and ne compare with null.")
        value = prop.convert(raw)
        if value is None:
            return column.is_(None) if op == "eq" else column.is_not(None)  # type: ignore[no-any-return]
        ops: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
            "eq": lambda c, v: c == v,
            "ne": lambda c, v: c != v,
            "lt": lambda c, v: c < v,
            "le": lambda c, v: c <= v,
            "gt": lambda c, v: c > v,
            "ge": lambda c, v: c >= v,
        }
        return ops[op](column, value)


def compile_filter(text: str, properties: Mapping[str, Property]) -> ColumnElement[bool]:
    """The SQL condition of a ``$filter``.

    :param properties: the names a filter may use, with their columns.
    :raises FilterInvalid: anything this server does not understand.
    """
    if len(text) > MAX_LENGTH:
        raise FilterInvalid(
            "The $filter is longer than %(max)s characters.",
            params={"max": MAX_LENGTH},
        )
    if not text.strip():
        raise FilterInvalid("The $filter is empty.")
    return _Parser(text, properties).parse()
