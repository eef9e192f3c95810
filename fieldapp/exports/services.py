"""Exports as use cases: what a reader may export, the rows in keyset-paged batches, and the
streams of bytes (a zip of CSVs, an XLSX workbook, a case list as CSV or XLSX).

Who may export: administrators (every region) and coordinators (their regions). Field workers
and designers may not: a worker's phone carries only their own cases and designers never see
answers (DOMAIN.md, "Why privacy is not optional"); the views refuse both like any other page
they may not see.

Every export is audited twice: ``export.started`` (who, what, filters) in the request's own
transaction, committed before the first byte, and ``export.finished`` (rows written) or
``export.aborted`` (rows so far, the client went away) in a short transaction of its own when
the stream ends. A dropped connection therefore still leaves the started row, and costs
nothing more: the generator is closed, its read transaction ended and its session removed.

The streams read in batches of :data:`BATCH` submissions by id, each batch its own short read
transaction (no snapshot or lock is held between batches, SQLite's write lock never), and stop
at the highest id that existed when the export began, so that the top table and its repeat
tables describe the same submissions.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from sqlalchemy import Select, func, select

from fieldapp.audit.services import record
from fieldapp.auth.models import Region, Role, User
from fieldapp.blobs import BlobStorage
from fieldapp.cases.models import Case, CaseList
from fieldapp.db import db, utcnow
from fieldapp.errors import NotFound
from fieldapp.exports import tables as t
from fieldapp.exports import writers as w
from fieldapp.forms.models import Form, FormVersion, VersionStatus
from fieldapp.forms.xform import fields_from_json
from fieldapp.submissions.models import Submission, SubmissionAttachment, SubmissionVersion

__all__ = [
    "BATCH",
    "CaseExport",
    "FormExport",
    "SubmissionFilters",
    "case_csv",
    "case_xlsx",
    "count_rows",
    "prepare_case_export",
    "prepare_form_export",
    "submissions_csv_zip",
    "submissions_xlsx",
]

log = logging.getLogger(__name__)

#: submissions read per query (and per chunk sent)
BATCH = 2000
#: rows of PostgreSQL's COPY between two progress reports (see ``FormExport.progress``)
PROGRESS_EVERY = 1000
#: the top table's columns before the answers, and after them
LEADING = ("SubmissionDate",)
TRAILING = ("KEY", "SubmitterName", "Region", "ReviewState", "Urgent", "FormVersion", "Encrypted")
REPEAT_TRAILING = ("PARENT_KEY", "KEY")
_UNSAFE_PATH = re.compile(r"[^A-Za-z0-9._@+=-]")


@dataclass(frozen=True, slots=True)
class SubmissionFilters:
    """Which submissions of the form: every field narrows, ``None``/empty means any."""

    received_from: datetime | None = None
    received_to: datetime | None = None
    review_states: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    versions: tuple[str, ...] = ()
    urgent: bool | None = None

    def describe(self) -> dict[str, Any]:
        """The filters for the audit log (no answers, no names)."""
        return {
            "from": self.received_from.isoformat() if self.received_from else None,
            "to": self.received_to.isoformat() if self.received_to else None,
            "review_state": list(self.review_states),
            "region": list(self.regions),
            "version": list(self.versions),
            "urgent": self.urgent,
        }


@dataclass(frozen=True, slots=True)
class Reader:
    """Who exports, as the stream needs it after the request ended."""

    user: User
    all_regions: bool
    region_ids: frozenset[int]
    ip: str | None


def may_export(actor: User) -> bool:
    """Administrators and coordinators export; nobody else."""
    return actor.has_role(Role.ADMIN, Role.COORDINATOR)


def _reader(actor: User, ip: str | None) -> Reader:
    if not may_export(actor):
        raise NotFound("No such export.", code="export.not_found")
    return Reader(actor, actor.has_role(Role.ADMIN), actor.region_ids, ip)


@dataclass(slots=True)
class FormExport:
    """One export of a form's submissions, ready to stream."""

    form_pk: int
    form_id: str
    root: t.Table
    filters: SubmissionFilters
    reader: Reader
    format: str
    attachments: bool
    max_id: int
    rows: int = 0
    done: bool = field(default=False)
    #: told the rows written so far, now and then while the export runs (a prepared export's
    #: page shows them); whatever it raises ends the export (recorded as aborted)
    progress: Callable[[int], None] | None = None

    def report(self) -> None:
        if self.progress is not None:
            self.progress(self.rows)


def prepare_form_export(
    form_id: str,
    *,
    actor: User,
    filters: SubmissionFilters,
    options: t.Options,
    language: str | None,
    export_format: str,
    attachments: bool = False,
    ip: str | None = None,
) -> FormExport:
    """Check the reader, lay out the tables from every published version, and add the
    ``export.started`` audit event to the caller's transaction (which it must commit before
    streaming).

    :param language: the label language asked for (a name or a code), if any.
    :param export_format: ``csv.zip`` or ``xlsx``.
    :raises NotFound: no such form, or the actor may not export.
    """
    reader = _reader(actor, ip)
    form = db.session.scalars(select(Form).where(Form.form_id == form_id)).one_or_none()
    if form is None:
        raise NotFound(
            "There is no form '%(form)s'.", code="form.not_found", params={"form": form_id}
        )
    versions = db.session.scalars(
        select(FormVersion)
        .where(FormVersion.form_pk == form.id, FormVersion.status == VersionStatus.PUBLISHED)
        .order_by(FormVersion.id.desc())
    ).all()
    tree = t.merge_trees([fields_from_json(v.fields) for v in versions])
    languages: list[str] = []
    for v in versions:
        languages.extend(x for x in v.languages if x not in languages)
    chosen = t.pick_language(
        languages, language, versions[0].default_language if versions else None
    )
    options = t.Options(
        language=chosen,
        labels=options.labels,
        choice_labels=options.choice_labels,
        split_select_multiples=options.split_select_multiples,
    )
    max_id = db.session.scalar(select(func.max(Submission.id))) or 0
    record(
        "export.started",
        actor=actor,
        subject_type="form",
        subject_id=form_id,
        ip=ip,
        format=export_format,
        attachments=attachments,
        headers="labels" if options.labels else "names",
        choices="labels" if options.choice_labels else "names",
        language=chosen,
        filters=filters.describe(),
    )
    return FormExport(
        form_pk=form.id,
        form_id=form_id,
        root=t.build_tables(form_id, tree, options),
        filters=filters,
        reader=reader,
        format=export_format,
        attachments=attachments,
        max_id=max_id,
    )


def _scoped(query: Select[Any], export: FormExport) -> Select[Any]:
    # test data stays out explicitly: the PostgreSQL COPY path compiles this WHERE into SQL
    # text, which the ORM's sandbox filter (fieldapp.sandbox.scope) never sees
    query = query.where(
        Submission.sandbox.is_(False),
        Submission.form_pk == export.form_pk,
        Submission.deleted_at.is_(None),
        Submission.id <= export.max_id,
    )
    if not export.reader.all_regions:
        query = query.where(Submission.region_id.in_(export.reader.region_ids or {-1}))
    f = export.filters
    if f.received_from is not None:
        query = query.where(Submission.received_at >= f.received_from)
    if f.received_to is not None:
        query = query.where(Submission.received_at < f.received_to)
    if f.review_states:
        query = query.where(Submission.review_state.in_(f.review_states))
    if f.regions:
        query = query.where(Region.code.in_(f.regions))
    if f.urgent is not None:
        query = query.where(Submission.urgent.is_(f.urgent))
    if f.versions:
        query = query.where(FormVersion.version.in_(f.versions))
    return query


def count_rows(export: FormExport) -> int:
    """How many submissions the export will write (its top table's rows)."""
    from fieldapp.exports import pgcopy  # noqa: PLC0415

    matching = pgcopy.scoped_select(lambda q: _scoped(q, export)).subquery()
    return int(db.session.scalar(select(func.count()).select_from(matching)) or 0)


def _submission_rows(export: FormExport) -> Iterator[Sequence[Any]]:
    """The visible current versions in id order, one short read transaction per batch."""
    base = _scoped(
        select(
            Submission.id,
            Submission.instance_id,
            Submission.received_at,
            Submission.review_state,
            Submission.urgent,
            Region.code,
            User.username,
            FormVersion.version,
            SubmissionVersion.encrypted,
            SubmissionVersion.data,
        )
        .join(SubmissionVersion, SubmissionVersion.id == Submission.current_version_id)
        .join(FormVersion, FormVersion.id == SubmissionVersion.form_version_id)
        .join(Region, Region.id == Submission.region_id)
        .outerjoin(User, User.id == Submission.submitted_by_id),
        export,
    ).order_by(Submission.id)
    last = 0
    while True:
        batch = db.session.execute(base.where(Submission.id > last).limit(BATCH)).all()
        db.session.commit()  # ends the read: nothing is held between batches
        if not batch:
            return
        yield batch
        last = batch[-1][0]


def _attachment_rows(export: FormExport) -> Iterator[Sequence[Any]]:
    base = _scoped(
        select(
            SubmissionAttachment.id,
            Submission.instance_id,
            SubmissionAttachment.name,
            SubmissionAttachment.blob_sha256,
        )
        .join(SubmissionVersion, SubmissionVersion.id == Submission.current_version_id)
        .join(SubmissionAttachment, SubmissionAttachment.version_id == SubmissionVersion.id)
        .join(FormVersion, FormVersion.id == SubmissionVersion.form_version_id)
        .join(Region, Region.id == Submission.region_id)
        .where(SubmissionAttachment.blob_sha256.is_not(None)),
        export,
    ).order_by(SubmissionAttachment.id)
    last = 0
    while True:
        batch = db.session.execute(base.where(SubmissionAttachment.id > last).limit(BATCH)).all()
        db.session.commit()
        if not batch:
            return
        yield batch
        last = batch[-1][0]


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _top_row(root: t.Table, row: Sequence[Any]) -> list[Any]:
    _, instance_id, received, state, urgent, region, username, version, encrypted, data = row
    cells = [None] * len(root.columns) if encrypted else t.flatten(root, data)
    return [
        _iso(received),
        *cells,
        instance_id,
        username,
        region,
        state,
        "true" if urgent else "false",
        version,
        "true" if encrypted else "false",
    ]


def headers(table: t.Table, *, top: bool) -> list[str]:
    """A table's header row."""
    names = [c.header for c in table.columns]
    return [*LEADING, *names, *TRAILING] if top else [*names, *REPEAT_TRAILING]


def file_names(root: t.Table) -> dict[int, str]:
    """Each table's base name: the form id, then ``form-repeat`` (``~n`` when two repeats share
    a name, as Central does)."""
    tables = list(root.walk())
    totals: dict[str, int] = {}
    for table in tables[1:]:
        totals[table.name] = totals.get(table.name, 0) + 1
    seen: dict[str, int] = {}
    names = {id(root): root.name}
    for table in tables[1:]:
        base = f"{root.name}-{table.name}"
        if totals[table.name] > 1:
            seen[table.name] = seen.get(table.name, 0) + 1
            base += f"~{seen[table.name]}"
        names[id(table)] = base
    return names


def _safe(part: str) -> str:
    cleaned = _UNSAFE_PATH.sub("_", part).strip(".")
    return cleaned or "_"


def _finish(export: FormExport | CaseExport, what: str) -> None:
    """Record how the stream ended, in a short transaction of its own; never raises."""
    try:
        db.session.rollback()
        record(
            "export.finished" if export.done else "export.aborted",
            actor=export.reader.user,
            subject_type=what,
            subject_id=export.form_id,
            ip=export.reader.ip,
            format=export.format,
            rows=export.rows,
        )
        db.session.commit()
    except Exception as exc:  # the stream is over either way; the started event stays
        log.warning("recording the end of an export failed with %s", type(exc).__name__)
        db.rollback_quietly()
    finally:
        db.remove_session()


def _media(
    export: FormExport, archive: Any, sink: w.Sink, store: BlobStorage | None
) -> Iterator[bytes]:
    if store is None:
        return
    for batch in _attachment_rows(export):
        for _, instance_id, name, sha256 in batch:
            path = f"media/{_safe(instance_id)}/{_safe(name.rsplit('/', 1)[-1])}"
            with store.open(sha256) as source:
                yield from w.copy_into(archive, path, source, sink)


def submissions_csv_zip(
    export: FormExport, store: BlobStorage | None = None
) -> Generator[bytes, None, None]:
    """The export as a zip of CSVs: the top level streamed as it is read, the repeats spooled
    to temporary files and added after it, then the media files when asked for."""
    with ExitStack() as spooled_files:
        yield from _csv_zip(export, store, spooled_files)


def _on_postgresql() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def _copy_tables(export: FormExport, archive: Any, sink: w.Sink) -> Iterator[bytes]:
    """The CSVs made by PostgreSQL's COPY (see :mod:`fieldapp.exports.pgcopy`)."""
    from psycopg import ClientCursor  # noqa: PLC0415

    from fieldapp.exports import pgcopy  # noqa: PLC0415

    names = file_names(export.root)
    scoped = pgcopy.scoped_select(lambda q: _scoped(q, export))
    checked = False
    for chain in pgcopy.chains(export.root):
        table = chain[-1]
        statement, params = pgcopy.copy_sql(chain, scoped)
        # the connection is asked of the session for every table: each table ends with a
        # commit, which gives the connection back to the pool, and a COPY on a connection the
        # pool holds would leave it in a transaction for whoever takes it next
        connection = db.session.connection().connection.driver_connection
        assert connection is not None
        with ClientCursor(connection) as cursor:
            if not checked:
                cursor.execute("SHOW standard_conforming_strings")
                assert cursor.fetchone() == ("on",), "pgcopy quotes literals for standard strings"
                checked = True
            with archive.open(f"{names[id(table)]}.csv", "w", force_zip64=True) as entry:
                w.CsvTable(entry, headers(table, top=len(chain) == 1)).flush()
                yield sink.drain()  # the first bytes before the database has sorted anything
                top = len(chain) == 1
                with cursor.copy(statement, params) as copy:
                    for data in copy:  # one row per message (PostgreSQL's COPY TO protocol)
                        entry.write(data)
                        if top:
                            export.rows += 1
                            if export.rows % PROGRESS_EVERY == 0:
                                export.report()
                        if sink.size >= w.FLUSH_BYTES:
                            yield sink.drain()
                if top:
                    export.rows = max(cursor.rowcount, 0)
        db.session.commit()
        yield sink.drain()


def _csv_zip(export: FormExport, store: BlobStorage | None, files: ExitStack) -> Iterator[bytes]:
    if _on_postgresql():
        try:
            sink = w.Sink()
            archive = w.new_zip(sink)
            yield from _copy_tables(export, archive, sink)
            if export.attachments:
                yield from _media(export, archive, sink, store)
            archive.close()
            export.done = True
            yield sink.drain()
        finally:
            _finish(export, "form")
        return
    yield from _portable_csv_zip(export, store, files)


def _portable_csv_zip(
    export: FormExport, store: BlobStorage | None, files: ExitStack
) -> Iterator[bytes]:
    try:
        sink = w.Sink()
        archive = w.new_zip(sink)
        root = export.root
        names = file_names(root)
        repeats = list(root.walk())[1:]
        spools: dict[int, tuple[IO[bytes], w.CsvTable]] = {}
        for table in repeats:
            spooled = files.enter_context(w.spool())
            spools[id(table)] = (spooled, w.CsvTable(spooled, headers(table, top=False)))
        with archive.open(f"{names[id(root)]}.csv", "w", force_zip64=True) as entry:
            top = w.CsvTable(entry, headers(root, top=True))
            top.flush()
            yield sink.drain()
            for batch in _submission_rows(export):
                for row in batch:
                    top.write(_top_row(root, row))
                    if row[8]:  # encrypted: no repeats to read
                        continue
                    for table, cells, parent, key in t.repeat_rows(root, row[9], row[1]):
                        spools[id(table)][1].write([*cells, parent, key])
                export.rows += len(batch)
                export.report()
                top.flush()
                for _, table_writer in spools.values():
                    table_writer.flush()
                yield sink.drain()
        for table in repeats:
            spooled, _ = spools[id(table)]
            spooled.seek(0)
            yield from w.copy_into(archive, f"{names[id(table)]}.csv", spooled, sink)
            spooled.close()
        if export.attachments:
            yield from _media(export, archive, sink, store)
        archive.close()
        export.done = True
        yield sink.drain()
    finally:
        _finish(export, "form")


def submissions_xlsx(export: FormExport) -> Generator[bytes, None, None]:
    """The export as an XLSX workbook: one sheet for the top level (more when it passes Excel's
    row limit), one per repeat, streamed like the CSVs."""
    with ExitStack() as spooled_files:
        yield from _xlsx(export, spooled_files)


def _xlsx(export: FormExport, files: ExitStack) -> Iterator[bytes]:
    try:
        sink = w.Sink()
        archive = w.new_zip(sink)
        root = export.root
        taken: set[str] = set()
        titles: list[str] = []
        for name, data in w.xlsx_parts_before():
            archive.writestr(name, data)
        repeats = list(root.walk())[1:]
        segments: dict[int, list[tuple[IO[bytes], w.XlsxSheet]]] = {}
        for table in repeats:
            spooled = files.enter_context(w.spool())
            segments[id(table)] = [(spooled, w.XlsxSheet(spooled, headers(table, top=False)))]
        top_header = headers(root, top=True)
        entry = archive.open(f"xl/worksheets/sheet{len(titles) + 1}.xml", "w", force_zip64=True)
        titles.append(w.sheet_name(root.name, taken))
        sheet = w.XlsxSheet(entry, top_header)
        for batch in _submission_rows(export):
            for row in batch:
                if sheet.full:
                    sheet.close()
                    entry.close()
                    entry = archive.open(
                        f"xl/worksheets/sheet{len(titles) + 1}.xml", "w", force_zip64=True
                    )
                    titles.append(w.sheet_name(root.name, taken))
                    sheet = w.XlsxSheet(entry, top_header)
                sheet.write(_top_row(root, row))
                if row[8]:
                    continue
                for table, cells, parent, key in t.repeat_rows(root, row[9], row[1]):
                    parts = segments[id(table)]
                    if parts[-1][1].full:
                        spooled = files.enter_context(w.spool())
                        parts.append((spooled, w.XlsxSheet(spooled, headers(table, top=False))))
                    parts[-1][1].write([*cells, parent, key])
            export.rows += len(batch)
            export.report()
            sheet.flush()
            for parts in segments.values():
                parts[-1][1].flush()
            yield sink.drain()
        sheet.close()
        entry.close()
        for table in repeats:
            for spooled, part in segments[id(table)]:
                part.close()
                spooled.seek(0)
                name = f"xl/worksheets/sheet{len(titles) + 1}.xml"
                titles.append(w.sheet_name(table.name, taken))
                yield from w.copy_into(archive, name, spooled, sink)
                spooled.close()
        for name, data in w.xlsx_parts_after(titles):
            archive.writestr(name, data)
        archive.close()
        export.done = True
        yield sink.drain()
    finally:
        _finish(export, "form")


# -- case lists ------------------------------------------------------------------------------


@dataclass(slots=True)
class CaseExport:
    """One export of a case list, ready to stream."""

    case_list_id: int
    dataset: str
    properties: list[str]
    reader: Reader
    format: str
    names: bool
    region: str | None
    status: str | None
    rows: int = 0
    done: bool = False

    @property
    def form_id(self) -> str:  # the subject of the audit events
        return self.dataset


def may_see_names(actor: User) -> bool:
    """Case labels (which may hold names) are shown on the case pages to administrators and
    coordinators (``fieldapp.cases.pages``); an export shows them to the same people."""
    return actor.has_role(Role.ADMIN, Role.COORDINATOR)


def prepare_case_export(
    dataset: str,
    *,
    actor: User,
    export_format: str,
    region: str | None = None,
    status: str | None = None,
    ip: str | None = None,
) -> CaseExport:
    """Check the reader and add ``export.started`` to the caller's transaction.

    :raises NotFound: no such case list, or the actor may not export.
    """
    reader = _reader(actor, ip)
    case_list = db.session.scalars(select(CaseList).where(CaseList.name == dataset)).one_or_none()
    if case_list is None:
        raise NotFound("There is no such case list.", code="case_list.not_found")
    record(
        "export.started",
        actor=actor,
        subject_type="case_list",
        subject_id=dataset,
        ip=ip,
        format=export_format,
        filters={"region": region, "status": status},
    )
    return CaseExport(
        case_list_id=case_list.id,
        dataset=dataset,
        properties=[str(p) for p in case_list.properties or []],
        reader=reader,
        format=export_format,
        names=may_see_names(actor),
        region=region,
        status=status,
    )


def _case_header(export: CaseExport) -> list[str]:
    head = ["code"]
    if export.names:
        head.append("label")
    head += ["region", "worker", "status", "next_due", "overdue", "version", "updated_at"]
    return head + [f"property-{p}" for p in export.properties]


def _case_rows(export: CaseExport) -> Iterator[list[Any]]:
    query = (
        select(Case, Region.code, User.username)
        .join(Region, Region.id == Case.region_id)
        .outerjoin(User, User.id == Case.assigned_to_id)
        .where(Case.case_list_id == export.case_list_id, Case.sandbox.is_(False))
    )
    if not export.reader.all_regions:
        query = query.where(Case.region_id.in_(export.reader.region_ids or {-1}))
    if export.region:
        query = query.where(Region.code == export.region)
    if export.status:
        query = query.where(Case.status == export.status)
    today = utcnow().date()
    last = 0
    while True:
        batch = db.session.execute(query.where(Case.id > last).order_by(Case.id).limit(BATCH)).all()
        rows = []
        for case, region, username in batch:
            row: list[Any] = [case.code]
            if export.names:
                row.append(case.label)
            row += [
                region,
                username,
                case.status,
                case.next_due.isoformat() if case.next_due else None,
                "true" if case.overdue(today) else "false",
                case.version,
                _iso(case.updated_at),
            ]
            props = case.properties or {}
            row += [t.cell(t.Column(p, (p,)), props) for p in export.properties]
            rows.append(row)
        db.session.commit()
        if not batch:
            return
        yield from rows
        export.rows += len(rows)
        last = batch[-1][0].id


def case_csv(export: CaseExport) -> Iterator[bytes]:
    """The case list as one CSV, streamed."""
    try:
        sink = w.Sink()
        table = w.CsvTable(sink, _case_header(export))
        for n, row in enumerate(_case_rows(export), 1):
            table.write(row)
            if n % BATCH == 0:
                table.flush()
                yield sink.drain()
        table.flush()
        export.done = True
        yield sink.drain()
    finally:
        _finish(export, "case_list")


def case_xlsx(export: CaseExport) -> Iterator[bytes]:
    """The case list as an XLSX workbook with one sheet, streamed."""
    try:
        sink = w.Sink()
        archive = w.new_zip(sink)
        for name, data in w.xlsx_parts_before():
            archive.writestr(name, data)
        titles = [w.sheet_name(export.dataset, set())]
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as entry:
            sheet = w.XlsxSheet(entry, _case_header(export))
            for n, row in enumerate(_case_rows(export), 1):
                sheet.write(row)
                if n % BATCH == 0:
                    sheet.flush()
                    yield sink.drain()
            sheet.close()
        for name, data in w.xlsx_parts_after(titles):
            archive.writestr(name, data)
        archive.close()
        export.done = True
        yield sink.drain()
    finally:
        _finish(export, "case_list")
