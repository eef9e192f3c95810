"""The OData shape of a form (pure): its merged field tree, its EDMX and its JSON rows.

Types follow ODK Central's mapping (``int`` → ``Edm.Int64``, ``decimal`` → ``Edm.Decimal``,
``date`` → ``Edm.Date``, ``dateTime`` → ``Edm.DateTimeOffset``, ``geopoint`` →
``Edm.GeographyPoint``, ``boolean`` → ``Edm.Boolean``, everything else ``Edm.String``). Groups
are complex types; each repeat is an entity type and an entity set named by its path
(``Submissions.children``), whose rows carry ``__id`` and the key of their parent
(``__Submissions-id``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import quoteattr

from fieldapp.forms.xform import Field

_EDM = {
    "int": "Edm.Int64",
    "integer": "Edm.Int64",
    "long": "Edm.Int64",
    "short": "Edm.Int64",
    "decimal": "Edm.Decimal",
    "double": "Edm.Decimal",
    "float": "Edm.Decimal",
    "date": "Edm.Date",
    "dateTime": "Edm.DateTimeOffset",
    "boolean": "Edm.Boolean",
    "geopoint": "Edm.GeographyPoint",
    "geotrace": "Edm.GeographyLineString",
    "geoshape": "Edm.GeographyPolygon",
}
SYSTEM_TYPE = "org.opendatakit.submission.metadata"
ENTITY_SYSTEM_TYPE = "org.opendatakit.entity.metadata"
_SYSTEM_PROPS = (
    ("submissionDate", "Edm.DateTimeOffset"),
    ("updatedAt", "Edm.DateTimeOffset"),
    ("submitterId", "Edm.String"),
    ("submitterName", "Edm.String"),
    ("attachmentsPresent", "Edm.Int64"),
    ("attachmentsExpected", "Edm.Int64"),
    ("status", "Edm.String"),
    ("reviewState", "Edm.String"),
    ("deviceId", "Edm.String"),
    ("edits", "Edm.Int64"),
    ("formVersion", "Edm.String"),
)
_ENTITY_SYSTEM_PROPS = (
    ("createdAt", "Edm.DateTimeOffset"),
    ("creatorId", "Edm.String"),
    ("creatorName", "Edm.String"),
    ("updates", "Edm.Int64"),
    ("updatedAt", "Edm.DateTimeOffset"),
    ("version", "Edm.Int64"),
    ("conflict", "Edm.String"),
)


@dataclass
class Node:
    """One field of the merged tree: leaves have an EDM type, groups and repeats children."""

    name: str
    kind: str
    data_type: str | None
    children: list[Node] = field(default_factory=list)

    @property
    def edm(self) -> str:
        return _EDM.get(self.data_type or "", "Edm.String")


def merge_trees(trees: Iterable[Sequence[Field]]) -> list[Node]:
    """One tree of every version's fields (newest first: a field keeps its newest type)."""
    root: list[Node] = []

    def add(into: list[Node], fields: Sequence[Field]) -> None:
        by_name = {n.name: n for n in into}
        for item in fields:
            if item.kind == "note" or item.name == "entity":
                continue
            kind = (
                "repeat"
                if item.kind == "repeat"
                else ("group" if item.kind == "group" or item.children else "leaf")
            )
            node = by_name.get(item.name)
            if node is None:
                node = Node(item.name, kind, item.data_type)
                into.append(node)
                by_name[item.name] = node
            if kind != "leaf" and node.kind != "leaf":
                add(node.children, item.children)

    for tree in trees:
        add(root, tree)
    return root


@dataclass(frozen=True, slots=True)
class Table:
    """An entity set: ``Submissions`` or a repeat's, with the path of the repeat."""

    name: str
    path: tuple[str, ...]
    node: Node | None


def tables(tree: list[Node]) -> list[Table]:
    """``Submissions`` and one table per repeat, parents before children."""
    out = [Table("Submissions", (), None)]

    def walk(nodes: list[Node], path: tuple[str, ...]) -> None:
        for node in nodes:
            if node.kind == "repeat":
                out.append(
                    Table(".".join(("Submissions", *path, node.name)), (*path, node.name), node)
                )
            if node.children:
                walk(node.children, (*path, node.name))

    walk(tree, ())
    return out


def _parent_table(table: Table, all_tables: Sequence[Table]) -> Table:
    best = all_tables[0]
    for other in all_tables:
        shorter = other.node is not None and len(other.path) < len(table.path)
        if shorter and table.path[: len(other.path)] == other.path:
            best = other
    return best


def _ns(form_id: str) -> str:
    return "org.opendatakit.user." + "".join(c if c.isalnum() or c == "_" else "_" for c in form_id)


def _type_name(table_name: str) -> str:
    return table_name


def metadata_xml(form_id: str, tree: list[Node]) -> str:
    """The CSDL (EDMX 4.0) document of a form."""
    ns = _ns(form_id)
    all_tables = tables(tree)
    entity_types: list[str] = []
    complex_types: list[str] = []

    def props(nodes: list[Node], path: tuple[str, ...], table: Table) -> list[str]:
        out = []
        for node in nodes:
            here = (*path, node.name)
            if node.kind == "repeat":
                child = ".".join(("Submissions", *here))
                out.append(
                    f"<NavigationProperty Name={quoteattr(node.name)} "
                    f"Type={quoteattr(f'Collection({ns}.{child})')}/>"
                )
            elif node.kind == "group":
                type_name = ".".join((table.name, *here[len(table.path) :]))
                complex_types.append(
                    f"<ComplexType Name={quoteattr(type_name)}>"
                    + "".join(props(node.children, here, table))
                    + "</ComplexType>"
                )
                full = quoteattr(f"{ns}.{type_name}")
                out.append(f"<Property Name={quoteattr(node.name)} Type={full}/>")
            else:
                out.append(f"<Property Name={quoteattr(node.name)} Type={quoteattr(node.edm)}/>")
        return out

    for table in all_tables:
        nodes = tree if table.node is None else table.node.children
        head = [
            '<Key><PropertyRef Name="__id"/></Key>',
            '<Property Name="__id" Type="Edm.String"/>',
        ]
        if table.node is None:
            head.append(f'<Property Name="__system" Type="{ns}.{SYSTEM_TYPE.rsplit(".", 1)[-1]}"/>')
        else:
            parent = _parent_table(table, all_tables)
            head.append(f'<Property Name={quoteattr(f"__{parent.name}-id")} Type="Edm.String"/>')
        body = props(nodes, table.path, table)
        entity_types.append(
            f"<EntityType Name={quoteattr(_type_name(table.name))}>"
            + "".join(head + body)
            + "</EntityType>"
        )
    system = (
        '<ComplexType Name="metadata">'
        + "".join(f'<Property Name="{n}" Type="{t}"/>' for n, t in _SYSTEM_PROPS)
        + "</ComplexType>"
    )
    sets = "".join(
        f"<EntitySet Name={quoteattr(t.name)} EntityType={quoteattr(ns + '.' + t.name)}/>"
        for t in all_tables
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<edmx:Edmx xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx" Version="4.0">'
        "<edmx:DataServices>"
        f'<Schema xmlns="http://docs.oasis-open.org/odata/ns/edm" Namespace="{ns}">'
        + "".join(entity_types)
        + "".join(complex_types)
        + system
        + f'<EntityContainer Name="{ns.rsplit(".", 1)[-1]}">{sets}</EntityContainer>'
        "</Schema></edmx:DataServices></edmx:Edmx>"
    )


def entity_metadata_xml(name: str, properties: Sequence[str]) -> str:
    """The CSDL document of a case list (``Entities``)."""
    ns = "org.opendatakit.user." + "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    props = "".join(f'<Property Name={quoteattr(p)} Type="Edm.String"/>' for p in properties)
    system = "".join(f'<Property Name="{n}" Type="{t}"/>' for n, t in _ENTITY_SYSTEM_PROPS)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<edmx:Edmx xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx" Version="4.0">'
        "<edmx:DataServices>"
        f'<Schema xmlns="http://docs.oasis-open.org/odata/ns/edm" Namespace="{ns}">'
        '<EntityType Name="Entities"><Key><PropertyRef Name="__id"/></Key>'
        '<Property Name="__id" Type="Edm.String"/>'
        f'<Property Name="__system" Type="{ns}.metadata"/>'
        '<Property Name="label" Type="Edm.String"/>'
        f"{props}</EntityType>"
        f'<ComplexType Name="metadata">{system}</ComplexType>'
        f'<EntityContainer Name="{ns.rsplit(".", 1)[-1]}">'
        f'<EntitySet Name="Entities" EntityType="{ns}.Entities"/></EntityContainer>'
        "</Schema></edmx:DataServices></edmx:Edmx>"
    )


# -- values ----------------------------------------------------------------------------------


def _geo(value: Any, wkt: bool) -> Any:
    if not isinstance(value, dict) or "longitude" not in value:
        return value
    coords = [value["longitude"], value["latitude"]]
    if value.get("altitude") is not None:
        coords.append(value["altitude"])
    if wkt:
        return "POINT (" + " ".join(str(c) for c in coords) + ")"
    point: dict[str, Any] = {"type": "Point", "coordinates": coords}
    if value.get("accuracy") is not None:
        point["properties"] = {"accuracy": value["accuracy"]}
    return point


def _leaf(node: Node, value: Any, wkt: bool) -> Any:
    if value is None:
        return None
    if isinstance(value, list):  # select_multiple
        return " ".join(str(v) for v in value)
    if node.data_type == "geopoint":
        return _geo(value, wkt)
    if node.edm == "Edm.String" and not isinstance(value, str):
        return str(value)
    if node.edm == "Edm.Int64" and not isinstance(value, int):
        return None  # an answer that did not parse as its type (kept as sent elsewhere)
    if node.edm == "Edm.Decimal" and not isinstance(value, (int, float)):
        return None
    return value


def row_id(parent_id: str, name: str, index: int) -> str:
    """A repeat row's stable ``__id``: a hash of its parent's id, name and position."""
    return hashlib.sha1(f"{parent_id}/{name}[{index}]".encode()).hexdigest()  # noqa: S324


def _quote(value: str) -> str:
    from urllib.parse import quote  # noqa: PLC0415

    return quote(value.replace("'", "''"), safe="")


def shape(
    nodes: list[Node],
    data: Any,
    *,
    table: str,
    row: str,
    expand: bool,
    wkt: bool,
    link: str,
) -> dict[str, Any]:
    """The JSON of one row's fields (groups nested, repeats expanded or linked)."""
    data = data if isinstance(data, dict) else {}
    out: dict[str, Any] = {}
    for node in nodes:
        value = data.get(node.name)
        if node.kind == "repeat":
            child_table = f"{table}.{node.name}"
            if expand:
                items = value if isinstance(value, list) else []
                out[node.name] = [
                    {
                        **shape(
                            node.children,
                            item,
                            table=child_table,
                            row=row_id(row, node.name, i),
                            expand=True,
                            wkt=wkt,
                            link=f"{link}/{node.name}",
                        ),
                        "__id": row_id(row, node.name, i),
                    }
                    for i, item in enumerate(items)
                ]
            else:
                out[f"{node.name}@odata.navigationLink"] = f"{link}/{node.name}"
        elif node.kind == "group":
            out[node.name] = shape(
                node.children, value, table=table, row=row, expand=expand, wkt=wkt, link=link
            )
        else:
            out[node.name] = _leaf(node, value, wkt)
    return out


def repeat_rows(
    tree: list[Node], data: Any, instance_id: str, path: tuple[str, ...], *, wkt: bool
) -> Iterator[dict[str, Any]]:
    """The rows of the repeat at ``path`` (group and repeat names) in one submission."""

    def walk(  # noqa: PLR0917
        nodes: list[Node], value: Any, depth: int, table_path: str, owner: str, parent_id: str
    ) -> Iterator[dict[str, Any]]:
        name = path[depth]
        node = next((n for n in nodes if n.name == name), None)
        if node is None:
            return
        value = value if isinstance(value, dict) else {}
        inner = value.get(name)
        table = f"{table_path}.{name}"
        if node.kind != "repeat":
            yield from walk(node.children, inner, depth + 1, table, owner, parent_id)
            return
        items = inner if isinstance(inner, list) else []
        for i, item in enumerate(items):
            rid = row_id(parent_id, name, i)
            if depth == len(path) - 1:
                row = shape(
                    node.children,
                    item,
                    table=table,
                    row=rid,
                    expand=False,
                    wkt=wkt,
                    link=f"{table}('{_quote(rid)}')",
                )
                row["__id"] = rid
                row[f"__{owner}-id"] = parent_id
                yield row
            else:
                yield from walk(node.children, item, depth + 1, table, table, rid)

    yield from walk(tree, data, 0, "Submissions", "Submissions", instance_id)


def submission_link(instance_id: str) -> str:
    return f"Submissions('{_quote(instance_id)}')"
