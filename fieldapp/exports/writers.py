"""Streaming writers: a zip archive that yields its bytes as they are made, the CSV tables in
it, and an XLSX workbook (itself a zip of XML parts) written row by row.

Nothing here holds more than a batch of rows: the zip is written to a sink that is drained
after every batch, and the tables other than the one being streamed go to temporary files
(on disk, not in memory) that are copied into the archive at the end.

Every cell goes through :func:`fieldapp.spreadsheet.neutral_row` before it is written.

The XLSX is written by hand rather than with xlsxwriter: xlsxwriter (even in
``constant_memory`` mode) must finish the whole workbook before its first byte can be sent,
while a workbook's parts are just zip entries that can stream like the CSVs do. Cells are
inline strings and numbers; no formulas are ever written.
"""

from __future__ import annotations

import csv
import io
import math
import re
import tempfile
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from typing import IO, Any, Protocol
from xml.sax.saxutils import escape

from fieldapp.spreadsheet import neutral_row

__all__ = ["CsvTable", "Sink", "XlsxSheet", "xlsx_parts_after", "xlsx_parts_before"]

#: deflate level: the fastest; CSV text still shrinks about five-fold
COMPRESSLEVEL = 1
#: bytes gathered in the sink before the caller is asked to send them
FLUSH_BYTES = 256 * 1024
#: rows of one XLSX sheet at most (Excel's limit, header included); more go to a next sheet
XLSX_MAX_ROWS = 1_048_576


class Target(Protocol):
    """Where a table's bytes go: a zip entry, a temporary file or a :class:`Sink`."""

    def write(self, data: bytes, /) -> int: ...


class Sink(io.RawIOBase):
    """A write-only, unseekable file the zip writes into; :meth:`drain` takes what came."""

    def __init__(self) -> None:
        super().__init__()
        self._chunks: list[bytes] = []
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._chunks.append(chunk)
        self.size += len(chunk)
        return len(chunk)

    def drain(self) -> bytes:
        """Everything written since the last drain."""
        out = b"".join(self._chunks)
        self._chunks.clear()
        self.size = 0
        return out


def new_zip(sink: Sink) -> zipfile.ZipFile:
    """A zip archive writing into ``sink`` (data descriptors, since the sink cannot seek)."""
    return zipfile.ZipFile(
        sink, mode="w", compression=zipfile.ZIP_DEFLATED, compresslevel=COMPRESSLEVEL
    )


def copy_into(
    archive: zipfile.ZipFile, name: str, source: IO[bytes], sink: Sink
) -> Iterator[bytes]:
    """Copy a file into the archive in chunks, yielding the archive's bytes as they come."""
    with archive.open(name, "w", force_zip64=True) as entry:
        while chunk := source.read(FLUSH_BYTES):
            entry.write(chunk)
            if sink.size >= FLUSH_BYTES:
                yield sink.drain()


class CsvTable:
    """One CSV of the archive, written through a text buffer into ``target`` (a zip entry or
    a temporary file), header first, UTF-8 with a byte-order mark so Excel reads Cyrillic."""

    def __init__(self, target: Target, header: Sequence[str]) -> None:
        self.target = target
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer, lineterminator="\n")
        self.buffer.write("\ufeff")
        self.writer.writerow(neutral_row(header))
        self.rows = 0

    def write(self, row: Iterable[Any]) -> None:
        self.writer.writerow(neutral_row(row))
        self.rows += 1

    def flush(self) -> None:
        text = self.buffer.getvalue()
        if text:
            self.target.write(text.encode("utf-8"))
            self.buffer.seek(0)
            self.buffer.truncate()


# -- XLSX ------------------------------------------------------------------------------------

#: characters XML 1.0 cannot hold at all
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_SHEET_BAD = re.compile(r"[\[\]:*?/\\]")


def _column_letters(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _cell_xml(ref: str, value: Any) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        value = "true" if value else "false"
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):  # NaN, infinities
            value = str(value)
        else:
            return f'<c r="{ref}"><v>{value!r}</v></c>'
    text = escape(_NOT_XML.sub("", str(value)))
    return f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{text}</t></is></c>'


def sheet_name(name: str, taken: set[str]) -> str:
    """A valid, unique worksheet name (at most 31 characters, none of ``[]:*?/\\``)."""
    base = _SHEET_BAD.sub("_", name)[:31] or "Sheet"
    candidate, n = base, 1
    while candidate.lower() in taken:
        n += 1
        suffix = f" ({n})"
        candidate = base[: 31 - len(suffix)] + suffix
    taken.add(candidate.lower())
    return candidate


class XlsxSheet:
    """The XML of one worksheet, written row by row into ``target``."""

    HEAD = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        "<sheetData>"
    )
    TAIL = "</sheetData></worksheet>"

    def __init__(self, target: Target, header: Sequence[str]) -> None:
        self.target = target
        self.parts: list[str] = [self.HEAD]
        self.line = 0
        self.rows = 0
        self.width = len(header)
        self._refs = [_column_letters(i) for i in range(self.width)]
        self._row(header)

    def _row(self, values: Sequence[Any]) -> None:
        self.line += 1
        n = self.line
        cells = "".join(
            _cell_xml(f"{ref}{n}", v) for ref, v in zip(self._refs, values, strict=False)
        )
        self.parts.append(f'<row r="{n}">{cells}</row>')

    @property
    def full(self) -> bool:
        return self.line >= XLSX_MAX_ROWS

    def write(self, row: Sequence[Any]) -> None:
        self._row(neutral_row(row))
        self.rows += 1

    def flush(self) -> None:
        if self.parts:
            self.target.write("".join(self.parts).encode("utf-8"))
            self.parts.clear()

    def close(self) -> None:
        self.parts.append(self.TAIL)
        self.flush()


def xlsx_parts_before() -> list[tuple[str, bytes]]:
    """The parts that do not depend on the sheets (written first)."""
    rels = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'
    )
    styles = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
        '<fills count="2"><fill><patternFill patternType="none"/></fill>'
        '<fill><patternFill patternType="gray125"/></fill></fills>'
        '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
        '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>'
        "</cellStyleXfs>"
        '<cellXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
        "</cellXfs>"
        '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
        "</styleSheet>"
    )
    return [("_rels/.rels", rels.encode()), ("xl/styles.xml", styles.encode())]


def xlsx_parts_after(sheets: Sequence[str]) -> list[tuple[str, bytes]]:
    """The parts that list the sheets (written last, once every sheet is known)."""
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    entries = "".join(
        f'<sheet name="{escape(name, {chr(34): "&quot;"})}" sheetId="{i}" r:id="rId{i}"/>'
        for i, name in enumerate(sheets, 1)
    )
    workbook = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<workbook xmlns="{main}" xmlns:r="{rel}"><sheets>{entries}</sheets></workbook>'
    )
    sheet_rels = "".join(
        f'<Relationship Id="rId{i}" Type="{rel}/worksheet" Target="worksheets/sheet{i}.xml"/>'
        for i in range(1, len(sheets) + 1)
    )
    n = len(sheets) + 1
    workbook_rels = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'{sheet_rels}<Relationship Id="rId{n}" Type="{rel}/styles" Target="styles.xml"/>'
        "</Relationships>"
    )
    overrides = "".join(
        f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        for i in range(1, len(sheets) + 1)
    )
    types = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/'
        'vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/styles.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
        f"{overrides}</Types>"
    )
    return [
        ("xl/workbook.xml", workbook.encode()),
        ("xl/_rels/workbook.xml.rels", workbook_rels.encode()),
        ("[Content_Types].xml", types.encode()),
    ]


def spool() -> IO[bytes]:
    """A temporary file for a table that waits its turn in the archive (on disk: memory stays
    flat however many rows it gets)."""
    return tempfile.TemporaryFile(prefix="fieldapp-export-")
