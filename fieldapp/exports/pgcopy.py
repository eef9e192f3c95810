"""The CSV tables built by PostgreSQL itself: one ``COPY (SELECT …) TO STDOUT`` per table, the
answers taken out of the JSONB ``data`` with ``#>>``, repeats unnested with
``jsonb_array_elements … WITH ORDINALITY`` (one ``LATERAL`` per level), and every cell
neutralised in SQL by the same rule as :func:`fieldapp.spreadsheet.neutralise`.

This is the CSV zip's path on PostgreSQL: the rows never become Python objects, so the server
only compresses what the database sends (the portable path in :mod:`fieldapp.exports.services`
serves SQLite and the XLSX). ``tests/exports`` checks both paths give the same files, and the
SQL neutraliser against :func:`fieldapp.spreadsheet.neutralise` on its own cases.

Literals (field names, choice values and labels) are quoted here by doubling quotes, which is
exact with ``standard_conforming_strings`` on (PostgreSQL's default since 9.1; checked before
use); the filters are bound by psycopg's client-side binding.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql

from fieldapp.auth.models import Region
from fieldapp.exports import tables as t
from fieldapp.forms.models import FormVersion
from fieldapp.spreadsheet import _PLAIN_NUMBER, FORMULA_TRIGGERS
from fieldapp.submissions.models import Submission, SubmissionVersion

__all__ = ["copy_sql", "neutral_sql", "quote"]


def quote(text: str) -> str:
    """A PostgreSQL string literal (standard conforming strings)."""
    if "\x00" in text:
        raise ValueError("NUL in a literal")
    return "'" + text.replace("'", "''") + "'"


def neutral_sql(expr: str) -> str:
    """``expr`` (text) as :func:`fieldapp.spreadsheet.neutralise` would leave it."""
    # a first-character test before any regular expression: most cells end there
    firsts = ", ".join(quote(c) for c in sorted(FORMULA_TRIGGERS))
    return (
        f"CASE WHEN left({expr}, 1) IN ({firsts}) "
        f"AND ({expr}) !~ {quote('^(?:' + _PLAIN_NUMBER.pattern + ')$')} "
        f"THEN '''' || ({expr}) ELSE ({expr}) END"
    )


def _path(path: Sequence[str]) -> str:
    return quote("{" + ",".join('"' + p.replace('"', '\\"') + '"' for p in path) + "}")


def _labels_case(expr: str, labels: dict[str, str] | Any) -> str:
    whens = " ".join(f"WHEN {quote(k)} THEN {quote(v)}" for k, v in labels.items())
    return f"CASE {expr} {whens} ELSE {expr} END" if whens else expr


def cell_sql(column: t.Column, src: str) -> str:
    """The text of ``column`` in the JSON row ``src``, as the portable path writes it."""
    node = f"({src} #> {_path(column.path)})"
    text = f"({src} #>> {_path(column.path)})"
    if column.kind == "geo":
        assert column.part is not None
        return f"({src} #>> {_path((*column.path, column.part))})"
    if column.kind == "split":
        assert column.part is not None
        return (
            f"CASE WHEN jsonb_typeof({node}) IS NULL OR jsonb_typeof({node}) = 'null' THEN NULL "
            f"WHEN {node} ? {quote(column.part)} THEN '1' ELSE '0' END"
        )
    if column.kind == "multi":
        element = "e" if column.choice_labels is None else _labels_case("e", column.choice_labels)
        return (
            # every part is quoted by quote() or made here from column names: no outside text
            f"CASE WHEN jsonb_typeof({node}) = 'array' THEN (SELECT string_agg({element}, ' ') "  # noqa: S608
            f"FROM jsonb_array_elements_text({node}) AS e) ELSE {text} END"
        )
    if column.choice_labels is not None:
        return _labels_case(text, column.choice_labels)
    return text


def _where(scoped: Any) -> tuple[str, dict[str, Any]]:
    compiled = scoped.whereclause.compile(
        dialect=postgresql.dialect(),  # type: ignore[no-untyped-call]
        compile_kwargs={"render_postcompile": True},
    )
    return str(compiled), dict(compiled.params)


_FROM = (
    "submissions JOIN submission_versions ON submission_versions.id = "
    "submissions.current_version_id JOIN form_versions ON form_versions.id = "
    "submission_versions.form_version_id JOIN regions ON regions.id = submissions.region_id "
    "LEFT OUTER JOIN users ON users.id = submissions.submitted_by_id"
)


def copy_sql(chain: Sequence[t.Table], scoped: Any) -> tuple[str, dict[str, Any]]:
    """``COPY … TO STDOUT`` of one table: ``chain`` is the tables from the top level down to
    it; ``scoped`` a select whose WHERE clause holds the export's scope and filters.

    :return: the statement (with psycopg ``%(name)s`` placeholders) and its parameters.
    """
    where, params = _where(scoped)
    table = chain[-1]
    src = "submission_versions.data"
    laterals = []
    key = "submissions.instance_id"
    parent = key
    orders = ["submissions.id"]
    for depth, level in enumerate(chain[1:], 1):
        alias = f"r{depth}"
        node = f"({src} #> {_path(level.rel_path)})"
        laterals.append(
            f"CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof({node}) = 'array' "
            f"THEN {node} ELSE '[]'::jsonb END) WITH ORDINALITY AS {alias}(item, n)"
        )
        groups = "".join(f"{g}/" for g in level.rel_path[:-1])
        parent = key
        key = f"{key} || {quote('/' + groups + level.name + '[')} || {alias}.n || ']'"
        src = f"{alias}.item"
        orders.append(f"{alias}.n")
    cells = [cell_sql(c, src) for c in table.columns]
    # geopoint parts (numbers once parsed, else empty) and 0/1 columns cannot hold a formula
    safe = [c.kind in ("geo", "split") for c in table.columns]
    if len(chain) == 1:
        received = (
            "to_char(submissions.received_at AT TIME ZONE 'UTC', "
            '\'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"\')'
        )
        data = [f"CASE WHEN submission_versions.encrypted THEN NULL ELSE {c} END" for c in cells]
        columns = [
            received,
            *data,
            "submissions.instance_id",
            "users.username",
            "regions.code",
            "submissions.review_state",
            "CASE WHEN submissions.urgent THEN 'true' ELSE 'false' END",
            "form_versions.version",
            "CASE WHEN submission_versions.encrypted THEN 'true' ELSE 'false' END",
        ]
        # the date, urgent, review state and encrypted columns are written here
        safe = [True, *safe, False, False, False, True, True, False, True]
    else:
        columns = [*cells, parent, key]
        safe = [*safe, False, False]
        where = f"({where}) AND NOT submission_versions.encrypted"
    # the cells are computed once in a LATERAL subquery (OFFSET 0 keeps the planner from
    # pulling it up and computing each cell once per use), then neutralised
    inner = ", ".join(f"{c} AS c{i}" for i, c in enumerate(columns))
    select_list = ", ".join(
        f"cells.c{i}" if safe[i] else neutral_sql(f"cells.c{i}") for i in range(len(columns))
    )
    body = (  # literals through quote(), filters bound by psycopg: no outside text inline
        f"SELECT {select_list} FROM {_FROM} {' '.join(laterals)} "  # noqa: S608
        f"CROSS JOIN LATERAL (SELECT {inner} OFFSET 0) AS cells WHERE {where} "
        f"ORDER BY {', '.join(orders)}"
    )
    return f"COPY ({body}) TO STDOUT WITH (FORMAT csv)", params


def scoped_select(scope: Any) -> Any:
    """The export's filters applied to a select over the tables of :data:`_FROM`."""
    return scope(
        select(Submission.id)
        .join(SubmissionVersion, SubmissionVersion.id == Submission.current_version_id)
        .join(FormVersion, FormVersion.id == SubmissionVersion.form_version_id)
        .join(Region, Region.id == Submission.region_id)
    )


def chains(root: t.Table) -> Iterator[list[t.Table]]:
    """Each table with the tables above it, depth first (the files' order)."""

    def walk(table: t.Table, above: list[t.Table]) -> Iterator[list[t.Table]]:
        chain = [*above, table]
        yield chain
        for child in table.children:
            yield from walk(child, chain)

    yield from walk(root, [])
