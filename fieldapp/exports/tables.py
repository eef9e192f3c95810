"""Pure: how a form's field tree becomes export tables, and a submission becomes their rows.

The layout follows ODK Central's CSV convention: one table for the top level and one for each
repeat (nested repeats too), columns named by their group path joined with ``-``
(``household-head_age``), geopoints as four columns (``-Latitude``, ``-Longitude``,
``-Altitude``, ``-Accuracy``). The top level's ``KEY`` is the instanceID; a repeat row's
``KEY`` is its parent's ``KEY``, ``/``, the group names on the way and ``repeat[n]``
(``uuid:…/household/member[2]``), and ``PARENT_KEY`` is the parent's ``KEY``.

Every version of a form is merged into one column set: the newest version's tree in its order,
fields only older versions have inserted after the sibling they followed there.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from fieldapp.forms.xform import Choice, Field

__all__ = ["Column", "Table", "build_tables", "flatten", "merge_trees", "pick_language"]

#: field kinds that hold no answer
_NO_DATA = frozenset({"note", "trigger"})
_GEO_PARTS: tuple[tuple[str, str], ...] = (
    ("latitude", "Latitude"),
    ("longitude", "Longitude"),
    ("altitude", "Altitude"),
    ("accuracy", "Accuracy"),
)


def _merge_choices(
    first: tuple[Choice, ...] | None, second: tuple[Choice, ...] | None
) -> tuple[Choice, ...] | None:
    if first is None or second is None:
        return first if second is None else second
    known = {c.value for c in first}
    return first + tuple(c for c in second if c.value not in known)


def _merge(primary: Sequence[Field], other: Sequence[Field]) -> tuple[Field, ...]:
    out = list(primary)
    names = {f.name for f in primary}
    for index, item in enumerate(other):
        position = next((i for i, f in enumerate(out) if f.name == item.name), None)
        if position is not None:
            kept = out[position]
            if kept.kind == item.kind:
                out[position] = replace(
                    kept,
                    children=_merge(kept.children, item.children),
                    choices=_merge_choices(kept.choices, item.choices),
                )
            continue
        # a field only the older version has: just before the next sibling both versions have
        following = next((f.name for f in other[index + 1 :] if f.name in names), None)
        at = next((i for i, f in enumerate(out) if f.name == following), len(out))
        out.insert(at, item)
    return tuple(out)


def merge_trees(trees: Sequence[Sequence[Field]]) -> tuple[Field, ...]:
    """One field tree for several versions of a form.

    :param trees: the versions' trees, newest first (its order wins).
    :return: the union, in form order; a field whose kind changed keeps the newest kind.
    """
    merged: tuple[Field, ...] = ()
    for tree in trees:
        merged = _merge(merged, tree) if merged else tuple(tree)
    return merged


def pick_language(available: Sequence[str], wanted: str | None, default: str | None) -> str | None:
    """The label language to use: ``wanted`` as given or by its code (``en`` finds
    ``English (en)``), else the form's default, else the first; ``None`` when untranslated."""
    if wanted:
        for name in available:
            if name == wanted or name.endswith(f"({wanted})"):
                return name
    if default and default in available:
        return default
    return available[0] if available else None


def _label(labels: Mapping[str, str], language: str | None, fallback: str) -> str:
    if language is not None and labels.get(language):
        return labels[language]
    if labels.get(""):
        return labels[""]
    return next((v for v in labels.values() if v), fallback)


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a table.

    :param header: the column's name in the file.
    :param path: where its value sits, relative to the table's row (group names, then name).
    :param kind: ``value``, ``multi`` (select_multiple, values joined by spaces), ``split``
        (1/0 for one choice of a select_multiple), ``geo`` (one part of a geopoint) or
        ``number`` (numbers stay numbers in XLSX).
    :param part: the geopoint part or the choice value of a ``split`` column.
    :param choice_labels: choice value → label, when choices are exported as labels.
    """

    header: str
    path: tuple[str, ...]
    kind: str = "value"
    part: str | None = None
    choice_labels: Mapping[str, str] | None = None


@dataclass(slots=True)
class Table:
    """The top level or one repeat: its columns and the repeats inside it.

    :param name: the repeat's name (the form id for the top level).
    :param rel_path: group names from the parent table's row down to the repeat, then its name.
    """

    name: str
    rel_path: tuple[str, ...]
    columns: list[Column] = field(default_factory=list)
    children: list[Table] = field(default_factory=list)

    def walk(self) -> Iterator[Table]:
        """This table and every table inside it, depth first (the files' order)."""
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass(frozen=True, slots=True)
class Options:
    """How headers and choices are written.

    :param labels: headers are labels (in ``language``) instead of group-path names.
    :param choice_labels: select answers are choice labels instead of choice names.
    :param split_select_multiples: add a 1/0 column per choice after each select_multiple.
    """

    language: str | None = None
    labels: bool = False
    choice_labels: bool = False
    split_select_multiples: bool = False


def _leaf_columns(item: Field, prefix: tuple[str, ...], options: Options) -> list[Column]:
    path = (*prefix, item.name)
    name = "-".join(path)
    header = _label(item.labels, options.language, name) if options.labels else name
    if item.data_type == "geopoint":
        return [Column(f"{header}-{suffix}", path, "geo", part) for part, suffix in _GEO_PARTS]
    labels = None
    if options.choice_labels and item.choices:
        labels = {c.value: _label(c.labels, options.language, c.value) for c in item.choices}
    if item.kind == "select_multiple":
        columns = [Column(header, path, "multi", choice_labels=labels)]
        if options.split_select_multiples:
            for choice in item.choices or ():
                shown = labels[choice.value] if labels else choice.value
                columns.append(Column(f"{header}/{shown}", path, "split", choice.value))
        return columns
    if item.kind == "select_one":
        return [Column(header, path, "value", choice_labels=labels)]
    if item.data_type in ("int", "decimal"):
        return [Column(header, path, "number")]
    return [Column(header, path)]


def _fill(table: Table, fields: Sequence[Field], prefix: tuple[str, ...], options: Options) -> None:
    for item in fields:
        if item.kind == "repeat":
            child = Table(item.name, (*prefix, item.name))
            _fill(child, item.children, (), options)
            table.children.append(child)
        elif item.kind == "group":
            _fill(table, item.children, (*prefix, item.name), options)
        elif item.kind not in _NO_DATA:
            table.columns.extend(_leaf_columns(item, prefix, options))


def build_tables(form_id: str, fields: Sequence[Field], options: Options) -> Table:
    """The export tables of a (merged) field tree; the root is the top level.

    :param form_id: names the top-level table.
    :param fields: the field tree.
    :param options: header and choice options.
    :return: the top-level table, repeats under ``children``.
    """
    root = Table(form_id, ())
    _fill(root, fields, (), options)
    return root


def _lookup(data: Any, path: tuple[str, ...]) -> Any:
    for name in path:
        if not isinstance(data, dict):
            return None
        data = data.get(name)
    return data


def _text(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return value
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value)


def cell(column: Column, row: Any) -> Any:
    """The value of ``column`` in a row's data: text, a number, or ``None`` when empty."""
    value = _lookup(row, column.path)
    kind = column.kind
    if kind == "geo":
        return value.get(column.part) if isinstance(value, dict) else None
    if kind == "split":
        if value is None:
            return None
        chosen = value if isinstance(value, list) else str(value).split()
        return 1 if column.part in chosen else 0
    if column.choice_labels is not None and value is not None:
        labels = column.choice_labels
        if kind == "multi":
            values = value if isinstance(value, list) else str(value).split()
            return " ".join(labels.get(str(v), str(v)) for v in values)
        return labels.get(str(value), _text(value))
    if kind == "number" and isinstance(value, str):
        return value  # an answer kept as sent that does not parse: as text
    return _text(value)


def repeat_rows(
    table: Table, data: Any, parent_key: str
) -> Iterator[tuple[Table, list[Any], str, str]]:
    """Every row of the repeats inside ``table``'s row ``data``, depth first.

    :return: (repeat table, its data cells, PARENT_KEY, KEY) per instance.
    """
    for child in table.children:
        items = _lookup(data, child.rel_path)
        if not isinstance(items, list):
            continue
        groups = "".join(f"{g}/" for g in child.rel_path[:-1])
        for n, item in enumerate(items, 1):
            key = f"{parent_key}/{groups}{child.name}[{n}]"
            yield child, [cell(c, item) for c in child.columns], parent_key, key
            yield from repeat_rows(child, item, key)


def flatten(table: Table, data: Any) -> list[Any]:
    """The data cells of one row of ``table``."""
    return [cell(c, data) for c in table.columns]
