"""Pure: the case work a submission asks for, read from its structured data.

For every entity declaration of the form (``EntityDecl``: list, container, properties), every
instance of its container in the submission (the survey, a group, or each repeat entry) that
carries a ``meta/entity`` block becomes one :class:`EntityBlock`. Property values are the typed
answers of the ``save_to`` fields. An answer that is absent or empty proposes nothing: a question
that was not relevant must not wipe what the case already holds. Nor does an answer flagged as
not of its field's type (``submissions.parsing.invalid_answers``): a date answered with a formula
must not become a case property that every phone of the case list receives.
"""

from __future__ import annotations

import re
import uuid as uuidlib
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

_TRUE = {"1", "true", "yes"}


@dataclass(frozen=True, slots=True)
class EntityBlock:
    """One ``meta/entity`` block of a submission, with its proposed properties."""

    dataset: str
    raw_id: str
    case_uuid: str | None  # normalised UUID, or None when the id is not a UUID
    create: bool
    update: bool
    label: str | None
    base_version: int | None
    trunk_version: int | None
    branch_id: str | None
    properties: dict[str, Any] = field(default_factory=dict)
    #: properties left out because their answer was flagged as not of its type
    invalid: tuple[str, ...] = ()


def normalise_uuid(raw: str | None) -> str | None:
    """``uuid:ABC…`` or ``abc…`` → lower-case canonical UUID; anything else → None."""
    if not raw:
        return None
    text = raw.strip()
    if text.lower().startswith("uuid:"):
        text = text[5:]
    try:
        return str(uuidlib.UUID(text))
    except ValueError:
        return None


def _flag(value: Any) -> bool:
    return str(value or "").strip().lower() in _TRUE


def _int(value: Any) -> int | None:
    text = str(value or "").strip()
    return int(text) if re.fullmatch(r"\d{1,9}", text) else None


def as_date(value: Any) -> date | None:
    """A case property read as a date (``YYYY-MM-DD``, or a timestamp starting with one)."""
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _segments(path: str) -> list[str]:
    """``/data/a/b`` → ``["a", "b"]`` (the root element is not part of the data)."""
    return [s for s in path.split("/") if s][1:]


def _containers(
    data: Any, segments: Sequence[str], at: str
) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every dict at ``segments`` below ``data``, descending into each repeat entry, with its
    path: ``at`` and the segments, repeat positions counted from 1 (``/data/children[2]``)."""
    if isinstance(data, list):
        for position, item in enumerate(data, start=1):
            yield from _containers(item, segments, f"{at}[{position}]")
        return
    if not isinstance(data, Mapping):
        return
    if not segments:
        yield at, data
        return
    yield from _containers(data.get(segments[0]), segments[1:], f"{at}/{segments[0]}")


def _value_at(container: Mapping[str, Any], segments: Sequence[str]) -> Any:
    node: Any = container
    for segment in segments:
        if not isinstance(node, Mapping):
            return None
        node = node.get(segment)
    return node


def _proposed(value: Any) -> bool:
    return value is not None and value not in ("", [])


def entity_blocks(
    data: Mapping[str, Any],
    declarations: Sequence[Mapping[str, Any]],
    *,
    invalid: Collection[str] = (),
) -> list[EntityBlock]:
    """The case work of a submission.

    :param data: the submission's structured data (``submission_data``).
    :param declarations: the form version's entity declarations as stored (``dataset``,
        ``container_path``, ``properties`` as ``[property, field path]`` pairs).
    :param invalid: paths of flagged answers, with repeat positions (the ``path`` of
        ``submissions.parsing.invalid_answers``); they propose nothing.
    :return: one block per container instance with an entity block, in document order.
    """
    blocks: list[EntityBlock] = []
    for decl in declarations:
        container_path = str(decl["container_path"])
        container_segments = _segments(container_path)
        root = "/" + container_path.strip("/").split("/")[0]
        for at, container in _containers(data, container_segments, root):
            meta = container.get("meta")
            entity = meta.get("entity") if isinstance(meta, Mapping) else None
            if not isinstance(entity, Mapping) or not entity.get("dataset"):
                continue
            properties: dict[str, Any] = {}
            left: list[str] = []
            for prop, field_path in decl.get("properties", []):
                relative = str(field_path)[len(container_path) :].strip("/")
                value = _value_at(container, relative.split("/")) if relative else None
                if not _proposed(value):
                    continue
                if f"{at}/{relative}" in invalid:
                    left.append(str(prop))
                else:
                    properties[str(prop)] = value
            raw_id = str(entity.get("id") or "").strip()
            label = entity.get("label")
            blocks.append(
                EntityBlock(
                    # no list name is longer than its column (255): a longer one names no list
                    # and is kept short enough to be stored with the error it causes
                    dataset=str(entity.get("dataset"))[:255],
                    raw_id=raw_id,
                    case_uuid=normalise_uuid(raw_id),
                    create=_flag(entity.get("create")),
                    update=_flag(entity.get("update")),
                    label=str(label).strip() if label not in (None, "") else None,
                    base_version=_int(entity.get("baseVersion")),
                    trunk_version=_int(entity.get("trunkVersion")),
                    branch_id=str(entity.get("branchId") or "").strip() or None,
                    properties=properties,
                    invalid=tuple(left),
                )
            )
    return blocks


_INSTANCE_REF = r"instance\(\s*'{name}'\s*\)/root/item(\[[^\]]*\])?(/[A-Za-z_][\w.-]*)?"
_IDENT = re.compile(r"(?<![\w/$.@-])([A-Za-z_][\w.-]*)(?![\w(])")
_RESERVED = {
    "name",
    "label",
    "__version",
    "__trunkVersion",
    "__branchId",
    "and",
    "or",
    "div",
    "mod",
    "true",
    "false",
}


def referenced_properties(xforms: Sequence[str], dataset: str) -> set[str]:
    """Properties of ``dataset`` that any of ``xforms`` reads from the case list.

    Phones receive only these columns (and ``name``, ``label``, ``__version``): a form that
    never reads a property has no reason to carry it.
    """
    pattern = re.compile(_INSTANCE_REF.format(name=re.escape(dataset)))
    found: set[str] = set()
    for xform in xforms:
        for match in pattern.finditer(xform):
            predicate, tail = match.group(1), match.group(2)
            if tail:
                found.add(tail[1:])
            if predicate:
                found.update(m.group(1) for m in _IDENT.finditer(predicate[1:-1]))
    return found - _RESERVED
