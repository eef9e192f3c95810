"""The pyxform adapter: XLSForm file in, XForm out, every problem as a designer-facing message.

This is the only module of fieldapp that imports pyxform. It does three things pyxform does not:

1. **Checks the file before pyxform sees it.** The real type comes from the bytes, not the name:
   an ``.xlsx`` is a zip holding ``[Content_Types].xml`` and ``xl/...``; an ``.xls`` is an OLE2
   compound file with a ``Workbook`` stream; a password-protected workbook is an OLE2 file with an
   ``EncryptedPackage`` stream whatever its name; ``.csv`` and ``.md`` are UTF-8 text. Zip entries
   are checked against zip bombs (entry count, total size, compression ratio) before openpyxl
   opens anything. Each refusal is an :class:`UnreadableFormFile` with its own ``file.*`` code.
   Then the content is bounded before pyxform reads it (``MAX_SHEET_ROWS``, ``MAX_CELLS``,
   ``MAX_CELL_CHARS``, ``MAX_TEXT_CHARS``): an ``.xlsx`` by streaming through its sheets with
   lxml, ``.md`` and ``.csv`` by a scan of their lines, ``.xls`` (at most 65,536 rows a sheet)
   after reading. A form over a limit is refused with 413 and a problem naming sheet and row.
2. **Turns every pyxform error into** :class:`FormProblem` **s** with sheet, row and column. pyxform
   4.5 raises some errors with an ``ErrorCode`` and a context dict, and many more as preformatted
   strings (``"[row : 5] On the 'survey' sheet, ..."``); the strings are matched against pyxform's
   own message templates to recover the code and the context. Anything else pyxform lets escape
   is caught and reported as a problem, never as a crash.
3. **Adds fieldapp's rules**, each one a warning or a failure ODK Collect / Web Forms would have
   (forms/README.md, "fieldapp's own checks and why"): every expression cell must parse as
   XPath once typographic quotes are replaced as pyxform replaces them (pyxform does not look
   inside expressions; without this check a stray bracket is only found by ODK Validate), and
   a form id fieldapp cannot put in a URL path is replaced by a derived one, with a note. A
   missing ``version`` is no problem here: the catalogue generates one (forms.services).

Macro-enabled workbooks (``.xlsm``, or an ``.xlsx`` holding ``xl/vbaProject.bin``) are refused:
the uploaded file is kept and handed back to staff, and a server should not redistribute macros.
"""

from __future__ import annotations

import csv
import dataclasses
import difflib
import functools
import io
import re
import shutil
import string
import struct
import subprocess
import tempfile
import warnings
import zipfile
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Final

from lxml import etree
from openpyxl.reader.excel import ExcelReader
from openpyxl.xml.constants import SHARED_STRINGS
from pyxform import aliases as px_aliases
from pyxform.constants import SUPPORTED_SHEET_NAMES
from pyxform.errors import ErrorCode, PyXFormError
from pyxform.parsing.expression import RE_PYXFORM_REF, is_xml_tag
from pyxform.parsing.sheet_headers import clean_text_values
from pyxform.question_type_dictionary import QUESTION_TYPE_DICT
from pyxform.validators.odk_validate import ODK_VALIDATE_PATH
from pyxform.xls2json_backends import DefinitionData, SupportedFileTypes
from pyxform.xls2xform import convert

from fieldapp.errors import BadRequest, ErrorMessage, Invalid
from fieldapp.xmlsafe import XmlError, XmlTooLarge, iterparse_xml, parse_xml

__all__ = [
    "SUPPORTED_EXTENSIONS",
    "CompiledForm",
    "FormCompileError",
    "FormProblem",
    "UnreadableFormFile",
    "ValidateResult",
    "compile_xlsform",
    "java_available",
    "odk_validate",
    "set_form_version",
]

SUPPORTED_EXTENSIONS: Final = (".xlsx", ".xls", ".csv", ".md")

#: zip-bomb limits, checked on the zip's central directory before anything is decompressed.
#: Python's zipfile never inflates an entry past its declared size, so these bounds hold.
MAX_ZIP_ENTRIES: Final = 1000
MAX_UNZIPPED_BYTES: Final = 50 * 1024 * 1024
MAX_COMPRESSION_RATIO: Final = 100
RATIO_CHECK_MIN_BYTES: Final = 1024 * 1024

#: Content limits, checked while streaming through the workbook before pyxform reads it (pyxform
#: and openpyxl take seconds per ten thousand rows and hold it all in memory). Programme forms
#: have hundreds of rows and large public forms a few thousand questions and some ten thousand
#: choices; these leave several times that. Rows are data rows (below the header) with a value.
MAX_SHEET_ROWS: Final = {"survey": 10_000, "choices": 50_000, "external_choices": 50_000}
#: rows of any other sheet pyxform reads (settings, entities, osm)
MAX_OTHER_SHEET_ROWS: Final = 1_000
#: non-empty cells in all the sheets pyxform reads
MAX_CELLS: Final = 300_000
#: characters in one cell: the most Excel itself can hold
MAX_CELL_CHARS: Final = 32_767
#: characters in all cells together (one long shared string can fill many cells)
MAX_TEXT_CHARS: Final = 10_000_000

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_UTF8_BOM = b"\xef\xbb\xbf"
_ROW_PREFIX = re.compile(r"^\s*\[row\s*:\s*(\d+)\]\s*")
_SHEET_PHRASE = re.compile(r"On the '([^']+)' sheet")
_HEADERS_PHRASE = re.compile(r"headers provided for sheet: '([^']+)'")
_COLUMN_PHRASE = re.compile(r"the '([^']+)' value(?: '[^']*')? (?:is|was)")
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_REF = re.compile(r"\$\{[^}]*\}")
#: what fieldapp changes in a form id: "/" (the id is one segment of fieldapp's URL paths) and
#: characters an XML attribute or a URL cannot carry; see forms/README.md
_FORM_ID_UNSAFE = re.compile(r"[/\x00-\x1f\x7f]")
#: the form id column of the database
MAX_FORM_ID_CHARS: Final = 255
_XPATH_NAMESPACES: Final = {
    "jr": "http://openrosa.org/javarosa",
    "odk": "http://www.opendatakit.org/xforms",
    "orx": "http://openrosa.org/xforms",
    "entities": "http://www.opendatakit.org/xforms/entities",
    "h": "http://www.w3.org/1999/xhtml",
    "xsd": "http://www.w3.org/2001/XMLSchema",
    "ev": "http://www.w3.org/2001/xml-events",
}


def _words(text: str, **params: Any) -> ErrorMessage:
    """A piece of fieldapp's own wording that a message quotes (a hint, the kind of a file): a
    nested message, English in the message's text and translated where a page shows it.
    ``scripts/i18n.py`` extracts ``text``; like a message, it is never built from values."""
    return ErrorMessage(text, params)


_EXTENSION_HINTS: Final = {
    ".ods": _words("Open it in LibreOffice or Excel and save it as an Excel workbook (.xlsx)."),
    ".numbers": _words("In Numbers, use File > Export To > Excel and upload the .xlsx."),
    ".xlsb": _words("In Excel, use File > Save As > Excel Workbook (.xlsx)."),
    ".docx": _words("That is a Word document. Upload the XLSForm spreadsheet instead."),
    ".doc": _words("That is a Word document. Upload the XLSForm spreadsheet instead."),
    ".pdf": _words("That is a PDF. Upload the XLSForm spreadsheet itself, not a printout of it."),
    ".txt": _words("If it is a CSV export of the XLSForm, name it .csv."),
    ".xml": _words("This server takes XLSForm spreadsheets, not XForm XML."),
}


# -- results and errors ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FormProblem:
    """One thing wrong with an XLSForm, located as the designer sees it in Excel.

    :param message: what is wrong and what to change.
    :param code: stable code: ``xlsform.<pyxform ErrorCode name>`` (``xlsform.PYREF_003``),
        ``xlsform.<rule>`` for fieldapp's own rules and the commonest uncoded pyxform errors,
        ``xlsform.error`` / ``xlsform.warning`` otherwise, ``validate.*`` from ODK Validate.
    :param sheet: the sheet name (``survey``, ``choices``, ``settings``, ``entities``...).
    :param row: the spreadsheet row number (the header row is row 1).
    :param column: the column header, such as ``relevant``.
    :param note: for a warning, that it only informs (what fieldapp did for the designer) and
        need not be acknowledged before publishing.
    """

    message: str
    code: str
    sheet: str | None = None
    row: int | None = None
    column: str | None = None
    note: bool = False

    def to_dict(self) -> dict[str, object]:
        """The problem as JSON: ``message``, ``code``, ``sheet``, ``row``, ``column``, and
        ``note: true`` for a note."""
        shape: dict[str, object] = {
            "message": self.message,
            "code": self.code,
            "sheet": self.sheet,
            "row": self.row,
            "column": self.column,
        }
        if self.note:
            shape["note"] = True
        return shape

    def stored(self) -> dict[str, object]:
        """:meth:`to_dict` with, for a message of fieldapp's own (:func:`_words`), its template
        and params under ``i18n``, so that a page can still translate the stored problem (the
        API leaves ``i18n`` out: ``fieldapp.forms.models.public_problems``)."""
        shape = self.to_dict()
        message = self.message
        if isinstance(message, ErrorMessage):
            shape["i18n"] = {
                "template": message.template,
                "params": {k: str(v) for k, v in message.params.items()},
            }
        return shape

    def location(self) -> str:
        """Where the problem is, for a one-line summary ("survey sheet, row 5, column relevant")."""
        parts = []
        if self.sheet:
            parts.append(f"{self.sheet} sheet")
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.column:
            parts.append(f"column {self.column}")
        return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class CompiledForm:
    """A successfully compiled XLSForm.

    :param xform: the XForm XML exactly as pyxform produced it.
    :param warnings: pyxform's (and fieldapp's) warnings; they do not block the upload.
    :param itemsets: CSV of external choices (``select_one_external``), if any.
    :param file_type: the detected file type: ``.xlsx``, ``.xls``, ``.csv`` or ``.md``.
    """

    xform: str
    warnings: tuple[FormProblem, ...]
    itemsets: str | None
    file_type: str


@dataclass(frozen=True, slots=True)
class ValidateResult:
    """What ODK Validate said about an XForm.

    :param ran: ``False`` when Java (or the bundled jar) is not available; nothing was checked.
    :param problems: errors that must block publishing.
    :param warnings: cleaned warning lines from a form that passed.
    """

    ran: bool
    problems: tuple[FormProblem, ...]
    warnings: tuple[str, ...]


class UnreadableFormFile(BadRequest):
    """The upload is not a readable XLSForm file: wrong type, damaged, too large, encrypted.

    The code is ``file.<reason>``; the status is 400, or 413 (too large) or 415 (unsupported type).
    """

    code = "file.unreadable"


class FormCompileError(Invalid):
    """The XLSForm was read but has errors (422).

    :param problems: every problem found; ``details`` holds them as dicts.
    """

    code = "form.invalid"

    def __init__(
        self,
        problems: Sequence[FormProblem],
        *,
        code: str | None = None,
        http_status: int | None = None,
    ) -> None:
        self.problems: tuple[FormProblem, ...] = tuple(problems)
        super().__init__(
            _summary(self.problems),
            code=code,
            http_status=http_status,
            details=[p.to_dict() for p in self.problems],
        )


def _too_big(problem: FormProblem) -> FormCompileError:
    """A form over one of the content limits: 413 with the problem's own code."""
    return FormCompileError([problem], code=problem.code, http_status=413)


def _summary(problems: Sequence[FormProblem]) -> str:
    def one(p: FormProblem) -> str:
        where = p.location()
        return f"{p.message} ({where})" if where else p.message

    if len(problems) == 1:
        return f"The form has a problem: {one(problems[0])}"
    shown = "; ".join(one(p) for p in problems[:3])
    more = f"; and {len(problems) - 3} more" if len(problems) > 3 else ""
    return f"The form has {len(problems)} problems: {shown}{more}"


def _unreadable(
    code: str,
    message: str,
    *,
    http_status: int | None = None,
    params: Mapping[str, Any] | None = None,
) -> UnreadableFormFile:
    """The refusal ``file.<code>``: ``message`` is a constant or a %-style template of
    ``params`` (values, or :func:`_words` translated where shown), as for every domain error:
    the API says the English ``template % params``, pages the translated template."""
    return UnreadableFormFile(message, code=f"file.{code}", http_status=http_status, params=params)


# -- compile ---------------------------------------------------------------------------------


def compile_xlsform(
    data: bytes, *, filename: str, max_bytes: int = 10 * 1024 * 1024
) -> CompiledForm:
    """Check an uploaded XLSForm file and compile it to an XForm with pyxform.

    :param data: the file's bytes.
    :param filename: the uploaded name; its extension must agree with the content.
    :param max_bytes: the largest file accepted.
    :return: the XForm, warnings, external itemsets and the detected file type.
    :raises UnreadableFormFile: the file is empty, too large (413), of an unsupported type (415),
        of another type than its name says, damaged, a zip bomb or password-protected.
    :raises FormCompileError: the workbook was read but the form has errors (422); each
        :class:`FormProblem` carries sheet, row and column where known. A form over the content
        limits (``MAX_SHEET_ROWS`` ...) is refused with 413 and the limit's code
        (``xlsform.too_many_rows``, ``xlsform.too_many_cells``, ``xlsform.cell_too_long``,
        ``xlsform.too_much_text``) before pyxform reads it.
    """
    file_type, payload = _check_file(data, filename=filename, max_bytes=max_bytes)
    if file_type == ".xlsx":
        _check_xlsx_content(payload)
    elif file_type in {".md", ".csv"}:
        _check_text_content(payload.decode("utf-8"), file_type)
    sheets = _read_workbook(payload, file_type)
    _check_content(sheets)
    stem = PurePosixPath(filename.replace("\\", "/")).stem
    # Only the sheets pyxform knows: its CSV reader keeps every sheet name it finds, and an
    # unknown one would crash convert() with a TypeError.
    known = {f.name for f in dataclasses.fields(DefinitionData)}
    workbook: dict[str, Any] = {k: v for k, v in sheets.items() if k in known}
    workbook["fallback_form_name"] = stem or None
    survey_rows = _rows(sheets.get("survey"))
    settings = _first_row(sheets.get("settings"))

    problems: list[FormProblem] = []
    notes: list[FormProblem] = []

    # Read before convert(): pyxform may rework the row dicts it is given.
    expression_problems = list(_check_expressions(sheets))
    # pyxform stops at its first error; these find the other independent ones it would have
    # reported next, so that one upload lists them all (used only when pyxform fails).
    independent = [*expression_problems, *_independent_problems(sheets)]
    pyxform_warnings: list[str] = []
    result: Any = None
    try:
        result = convert(xlsform=workbook, warnings=pyxform_warnings, validate=False)
    except PyXFormError as err:
        problems.extend(_combine(_problems_from_pyxform_error(err, survey_rows), independent))
    except MemoryError:
        raise  # not a problem in the form: the caller's memory limit (see forms.sandbox)
    except Exception as err:  # pyxform lets some bad content escape as other exceptions
        problems.extend(_combine([_unexpected_problem(err)], independent))

    if result is not None:
        xform = str(result.xform)
        problems.extend(expression_problems)
        xform, id_problems, id_notes = _check_form_id(xform, settings, stem)
        if any(p.code == "xlsform.unexpected" for p in id_problems):
            # pyxform wrote choice columns as XML elements: name the columns at fault
            id_problems = list(_check_choice_columns(sheets)) or id_problems
        problems.extend(id_problems)
        notes.extend(id_notes)
        if not _settings_form_id(settings):
            notes.append(
                FormProblem(
                    _words(
                        "The settings sheet has no form_id, so the file name '%(name)s' is used "
                        "as the form id. Add a 'form_id' column to the settings sheet so that a "
                        "renamed file still updates the same form.",
                        name=stem,
                    ),
                    code="xlsform.form_id_from_filename",
                    sheet="settings",
                    row=2,
                    column="form_id",
                )
            )
    if problems:
        raise FormCompileError(problems)
    assert result is not None
    for text in pyxform_warnings:
        notes.extend(_problems_from_text(str(text), survey_rows, default_code="xlsform.warning"))
    itemsets = result.itemsets
    return CompiledForm(
        xform=xform,
        warnings=tuple(notes),
        itemsets=str(itemsets) if itemsets is not None else None,
        file_type=file_type,
    )


def _rows(sheet: object) -> list[dict[str, str]]:
    """Rows of a sheet as read by pyxform, with header names trimmed and lower-cased."""
    if not isinstance(sheet, list):
        return []
    rows: list[dict[str, str]] = []
    for row in sheet:
        if isinstance(row, dict):
            rows.append({str(k).strip().lower(): str(v) for k, v in row.items() if v is not None})
        else:
            rows.append({})
    return rows


def _settings_form_id(settings: Mapping[str, str]) -> str:
    for key in ("form_id", "id_string", "set_form_id"):
        value = settings.get(key, "").strip()
        if value:
            return value
    return ""


def _first_row(sheet: object) -> dict[str, str]:
    rows = _rows(sheet)
    return rows[0] if rows else {}


# -- the file itself -------------------------------------------------------------------------


def _check_file(data: bytes, *, filename: str, max_bytes: int) -> tuple[str, bytes]:
    """Decide the file type from name and content; return it with the bytes to hand pyxform."""
    if not data:
        raise _unreadable("empty", "The file is empty. Choose the XLSForm file and upload again.")
    if len(data) > max_bytes:
        raise _unreadable(
            "too_large",
            "The file is %(size)s; the limit is %(limit)s. An XLSForm is usually much smaller: "
            "remove pictures and unused sheets, then save and upload again.",
            http_status=413,
            params={"size": _mb(len(data)), "limit": _mb(max_bytes)},
        )
    name = PurePosixPath(filename.replace("\\", "/")).name
    suffix = PurePosixPath(name).suffix.lower()
    if suffix == ".xlsm":
        raise _unreadable(
            "macro_workbook",
            "Macro-enabled workbooks (.xlsm) are not accepted. In Excel use File > Save As > "
            "Excel Workbook (.xlsx), then upload the .xlsx.",
            http_status=415,
        )
    if suffix not in SUPPORTED_EXTENSIONS:
        hint = _EXTENSION_HINTS.get(suffix)
        if not suffix:
            raise _unreadable(
                "unsupported_type",
                "Files without an extension are not accepted. Upload an Excel workbook (.xlsx "
                "or .xls), a .csv or a .md file.",
                http_status=415,
            )
        if hint is None:
            raise _unreadable(
                "unsupported_type",
                "'%(extension)s' files are not accepted. Upload an Excel workbook (.xlsx or "
                ".xls), a .csv or a .md file.",
                http_status=415,
                params={"extension": suffix},
            )
        raise _unreadable(
            "unsupported_type",
            "'%(extension)s' files are not accepted. Upload an Excel workbook (.xlsx or .xls), "
            "a .csv or a .md file. %(hint)s",
            http_status=415,
            params={"extension": suffix, "hint": hint},
        )
    if suffix == ".xlsx":
        _check_xlsx(data)
        return ".xlsx", data
    if suffix == ".xls":
        _check_xls(data)
        return ".xls", data
    return suffix, _check_text(data, suffix)


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def _sniff(data: bytes) -> str:
    """A rough content type: zip, ole2, pdf, html, xml, rtf, binary or text."""
    head = data[:8192]
    if head.startswith(_ZIP_MAGIC):
        return "zip"
    if head.startswith(_OLE2_MAGIC):
        return "ole2"
    if head.startswith(b"%PDF"):
        return "pdf"
    if head.startswith(b"{\\rtf"):
        return "rtf"
    if b"\x00" in head:
        return "binary"
    text = head.removeprefix(_UTF8_BOM).lstrip().lower()
    if text.startswith((b"<!doctype html", b"<html")) or b"<table" in text[:2048]:
        return "html"
    if text.startswith(b"<"):
        return "xml"
    return "text"


_WRONG_CONTENT = {
    "pdf": _words("This file is a PDF, not an Excel workbook."),
    "rtf": _words("This file is a Rich Text (RTF) document, not an Excel workbook."),
    "html": _words(
        "This file is a web page (HTML) with a spreadsheet name, as some programs export it. "
        "Open it in Excel and save it as an Excel Workbook (.xlsx)."
    ),
    "xml": _words(
        "This file is XML, not an Excel workbook (perhaps an 'XML Spreadsheet 2003'). "
        "Open it in Excel and save it as an Excel Workbook (.xlsx)."
    ),
    "text": _words(
        "This file is plain text, not an Excel workbook. If it is a CSV export of the form, "
        "name it .csv; otherwise upload the .xlsx itself."
    ),
    "binary": _words("This file is not an Excel workbook."),
}


def _wrong_content(kind: str, extension: str) -> UnreadableFormFile:
    return _unreadable(
        "not_a_workbook",
        "%(what)s The file name ends in %(extension)s but the content is not a workbook.",
        params={"what": _WRONG_CONTENT[kind], "extension": extension},
    )


def _check_xlsx(data: bytes) -> None:
    kind = _sniff(data)
    if kind == "zip":
        _check_ooxml_zip(data, expected=".xlsx")
        return
    if kind == "ole2":
        streams = _ole2_streams_or_raise(data)
        if "EncryptedPackage" in streams:
            raise _encrypted()
        if streams & {"Workbook", "Book"}:
            raise _unreadable(
                "xls_renamed",
                "This file is an old-style Excel 97-2003 workbook (.xls), but its name ends in "
                ".xlsx. Rename it to .xls, or better, open it in Excel and save it as an Excel "
                "Workbook (.xlsx).",
            )
        raise _not_a_workbook_ole2(streams)
    raise _wrong_content(kind, ".xlsx")


def _check_xls(data: bytes) -> None:
    kind = _sniff(data)
    if kind == "ole2":
        streams = _ole2_streams_or_raise(data)
        if "EncryptedPackage" in streams:
            raise _encrypted()
        if not streams & {"Workbook", "Book"}:
            raise _not_a_workbook_ole2(streams)
        return
    if kind == "zip":
        _check_ooxml_zip(data, expected=".xls")
        raise _unreadable(
            "xlsx_renamed",
            "This file is a modern Excel workbook (.xlsx), but its name ends in .xls. "
            "Rename it to .xlsx and upload it again.",
        )
    raise _wrong_content(kind, ".xls")


def _encrypted() -> UnreadableFormFile:
    return _unreadable(
        "encrypted",
        "The workbook is password-protected, so it cannot be read. In Excel open File > Info > "
        "Protect Workbook > Encrypt with Password, clear the password, save, and upload again.",
    )


def _not_a_workbook_ole2(streams: set[str]) -> UnreadableFormFile:
    if "WordDocument" in streams:
        what = _words("a Word 97-2003 document")
    elif "PowerPoint Document" in streams:
        what = _words("a PowerPoint 97-2003 presentation")
    else:
        what = _words("an Office file of some other kind")
    return _unreadable(
        "not_a_workbook",
        "This file is %(what)s, not an Excel workbook. Upload the XLSForm spreadsheet.",
        params={"what": what},
    )


def _check_ooxml_zip(data: bytes, *, expected: str) -> None:
    """Refuse damaged zips, zip bombs and zips that are not Excel workbooks."""
    damaged = _words(
        "The workbook is damaged or incomplete (perhaps the upload or download was cut "
        "short). Open it in Excel, save it again and upload the new copy."
    )
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            names = {info.filename for info in infos}
            mimetype = b""
            if "mimetype" in names and archive.getinfo("mimetype").file_size < 200:
                mimetype = archive.read("mimetype")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as err:
        raise _unreadable("corrupt", damaged) from err
    except NotImplementedError as err:  # compression method zipfile cannot read
        raise _unreadable("corrupt", damaged) from err
    _check_zip_bomb(infos)
    if "[Content_Types].xml" in names and any(n.startswith("xl/") for n in names):
        if "xl/vbaProject.bin" in names:
            raise _unreadable(
                "macro_workbook",
                "This workbook contains macros. In Excel use File > Save As > Excel Workbook "
                "(.xlsx), which removes them, and upload that file.",
                http_status=415,
            )
        return
    if "word/document.xml" in names:
        what = _words("a Word document (.docx)")
    elif "ppt/presentation.xml" in names:
        what = _words("a PowerPoint presentation (.pptx)")
    elif mimetype.startswith(b"application/vnd.oasis.opendocument.spreadsheet"):
        what = _words("an OpenDocument spreadsheet (.ods); save it as an Excel Workbook (.xlsx)")
    elif mimetype.startswith(b"application/vnd.oasis.opendocument"):
        what = _words("an OpenDocument file")
    else:
        what = _words("a zip archive")
    raise _unreadable(
        "not_a_workbook",
        "This file is %(what)s, not an Excel workbook, although its name ends in %(extension)s. "
        "Upload the XLSForm spreadsheet.",
        params={"what": what, "extension": expected},
    )


def _check_zip_bomb(infos: Sequence[zipfile.ZipInfo]) -> None:

    def bomb(why: ErrorMessage) -> UnreadableFormFile:
        return _unreadable(
            "zip_bomb",
            "The workbook unpacks to far more data than an XLSForm holds (%(why)s); it is "
            "refused for safety. Remove pictures, unused sheets and formatting, save, and upload "
            "again.",
            http_status=413,
            params={"why": why},
        )

    if len(infos) > MAX_ZIP_ENTRIES:
        raise bomb(
            _words(
                "%(parts)s parts, the limit is %(limit)s", parts=len(infos), limit=MAX_ZIP_ENTRIES
            )
        )
    total = sum(info.file_size for info in infos)
    if total > MAX_UNZIPPED_BYTES:
        raise bomb(
            _words(
                "%(size)s unpacked, the limit is %(limit)s",
                size=_mb(total),
                limit=_mb(MAX_UNZIPPED_BYTES),
            )
        )
    for info in infos:
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > RATIO_CHECK_MIN_BYTES and ratio > MAX_COMPRESSION_RATIO:
            raise bomb(
                _words(
                    "part %(part)s is compressed %(ratio)s to 1",
                    part=repr(info.filename),
                    ratio=f"{ratio:.0f}",
                )
            )


def _check_text(data: bytes, suffix: str) -> bytes:
    """Check a .csv or .md upload is UTF-8 text; return it without a byte order mark."""
    kind = _sniff(data)
    if kind in {"zip", "ole2"}:
        raise _unreadable(
            "not_text",
            "This file is an Excel workbook, not %(extension)s text. Give it the right name "
            "(.xlsx, or .xls for an Excel 97-2003 file) and upload it again.",
            params={"extension": suffix},
        )
    if kind in {"pdf", "rtf", "binary"}:
        raise _unreadable(
            "not_text",
            "This file is not a text file, although its name ends in %(extension)s.",
            params={"extension": suffix},
        )
    body = data.removeprefix(_UTF8_BOM)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as err:
        if suffix == ".csv":
            raise _unreadable(
                "not_utf8",
                "The file is not UTF-8 text (the byte at position %(position)s cannot be read). "
                "In Excel use File > Save As > 'CSV UTF-8 (Comma delimited)'.",
                params={"position": err.start},
            ) from None
        raise _unreadable(
            "not_utf8",
            "The file is not UTF-8 text (the byte at position %(position)s cannot be read). "
            "Save it with the UTF-8 encoding.",
            params={"position": err.start},
        ) from None
    if not text.strip():
        raise _unreadable("empty", "The file is empty. Choose the XLSForm file and upload again.")
    if _CONTROL_CHARS.search(text):
        raise _unreadable(
            "not_text",
            "The file contains control characters and is not a %(extension)s XLSForm.",
            params={"extension": suffix},
        )
    return body


# -- OLE2 (compound file) directory ----------------------------------------------------------

_FREESECT: Final = 0xFFFFFFFF
_ENDOFCHAIN: Final = 0xFFFFFFFE
_MAXREGSECT: Final = 0xFFFFFFFA


class _CorruptOle2(Exception):
    pass


def _ole2_streams_or_raise(data: bytes) -> set[str]:
    try:
        return _ole2_entry_names(data)
    except _CorruptOle2:
        raise _unreadable(
            "corrupt",
            "The workbook is damaged or incomplete. Open it in Excel, save it again as an "
            "Excel Workbook (.xlsx) and upload the new copy.",
        ) from None


def _ole2_entry_names(data: bytes) -> set[str]:
    """Names of the streams and storages in an OLE2 compound file (MS-CFB), read defensively."""
    if len(data) < 512:
        raise _CorruptOle2
    (sector_shift,) = struct.unpack_from("<H", data, 0x1E)
    if sector_shift not in (9, 12):
        raise _CorruptOle2
    size = 1 << sector_shift
    n_sectors = max(0, (len(data) - size) // size)
    # 0x2C: FAT sector count, 0x30: first directory sector, 0x44: first DIFAT sector and count.
    n_fat, first_dir = struct.unpack_from("<II", data, 0x2C)
    first_difat, n_difat = struct.unpack_from("<II", data, 0x44)

    def sector(index: int) -> bytes:
        if index >= n_sectors:
            raise _CorruptOle2
        start = (index + 1) * size
        return data[start : start + size]

    fat_sectors = [s for s in struct.unpack_from("<109I", data, 0x4C) if s <= _MAXREGSECT]
    next_difat = first_difat
    for _ in range(min(n_difat, n_sectors)):
        if next_difat > _MAXREGSECT:
            break
        entries = struct.unpack(f"<{size // 4}I", sector(next_difat))
        fat_sectors.extend(s for s in entries[:-1] if s <= _MAXREGSECT)
        next_difat = entries[-1]
    fat: list[int] = []
    for index in fat_sectors[: max(n_fat, 0) or len(fat_sectors)]:
        fat.extend(struct.unpack(f"<{size // 4}I", sector(index)))

    names: set[str] = set()
    current, seen = first_dir, set()
    while current <= _MAXREGSECT:
        if current in seen or current >= len(fat):
            raise _CorruptOle2
        seen.add(current)
        block = sector(current)
        for offset in range(0, size, 128):
            entry = block[offset : offset + 128]
            (name_len,) = struct.unpack_from("<H", entry, 0x40)
            kind = entry[0x42]
            if kind in (1, 2) and 2 <= name_len <= 64:
                names.add(entry[: name_len - 2].decode("utf-16-le", errors="replace"))
        current = fat[current]
    if current not in (_ENDOFCHAIN, _FREESECT):
        raise _CorruptOle2
    return names


# -- content limits --------------------------------------------------------------------------

_SHEET_NS: Final = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_CELL_TAG: Final = f"{_SHEET_NS}c"
_TEXT_TAG: Final = f"{_SHEET_NS}t"
_VALUE_TAG: Final = f"{_SHEET_NS}v"
#: a row with a cell that has a value (possibly an empty shared string: rows count a little high)
_HAS_VALUE: Final = etree.XPath(
    "boolean(s:c/s:v[normalize-space()] | s:c/s:is[normalize-space()])",
    namespaces={"s": _SHEET_NS[1:-1]},
)
_MD_SEPARATOR = re.compile(r"[\s:\-]*-[\s:\-]*")
_CELL_REF = re.compile(r"([A-Za-z]{1,3})(\d*)")
_ROW_HINTS: Final = {
    "survey": _words("Split it into several smaller forms."),
    "choices": _words(
        "Move long choice lists into a CSV file attached to the form "
        "(select_one_from_file), which phones read without converting."
    ),
    "external_choices": _words("Move long choice lists into a CSV file attached to the form."),
}


class _Tally:
    """Counts a workbook's rows, cells and characters, refusing at the first limit passed."""

    def __init__(self) -> None:
        self.cells = 0
        self.chars = 0

    def data_row(self, sheet: str, kind: str, count: int, row: int) -> None:
        """Count one data row of ``sheet`` (pyxform reads it as ``kind``): the ``count``-th."""
        limit = MAX_SHEET_ROWS.get(kind, MAX_OTHER_SHEET_ROWS)
        if count <= limit:
            return
        hint = _ROW_HINTS.get(kind) or _words("Remove the rows the form does not need.")
        raise _too_big(
            FormProblem(
                _words(
                    "The '%(sheet)s' sheet has more than %(limit)s rows; the limit is %(limit)s "
                    "(this is row %(row)s). %(hint)s",
                    sheet=sheet,
                    limit=f"{limit:,}",
                    row=row,
                    hint=hint,
                ),
                code="xlsform.too_many_rows",
                sheet=sheet,
                row=row,
            )
        )

    def cell(self, sheet: str, row: int, column: str | None, length: int) -> None:
        """Count one non-empty cell of ``length`` characters."""
        if length > MAX_CELL_CHARS:
            raise _too_big(
                FormProblem(
                    _words(
                        "This cell holds %(length)s characters; the limit is %(limit)s, the "
                        "most Excel itself keeps in a cell. Shorten it, or split a long text "
                        "into several notes.",
                        length=f"{length:,}",
                        limit=f"{MAX_CELL_CHARS:,}",
                    ),
                    code="xlsform.cell_too_long",
                    sheet=sheet,
                    row=row,
                    column=column,
                )
            )
        self.cells += 1
        self.chars += length
        if self.cells > MAX_CELLS:
            raise _too_big(
                FormProblem(
                    _words(
                        "The form has more than %(limit)s filled-in cells; the limit is "
                        "%(limit)s (the count passes it on the '%(sheet)s' sheet, row %(row)s). "
                        "Remove unused rows and columns, split the form, or move long choice "
                        "lists into a CSV file attached to the form (select_one_from_file).",
                        limit=f"{MAX_CELLS:,}",
                        sheet=sheet,
                        row=row,
                    ),
                    code="xlsform.too_many_cells",
                    sheet=sheet,
                    row=row,
                )
            )
        if self.chars > MAX_TEXT_CHARS:
            raise _too_big(
                FormProblem(
                    _words(
                        "The form holds more than %(limit)s characters of text; the limit is "
                        "%(limit)s (the count passes it on the '%(sheet)s' sheet, row %(row)s). "
                        "Shorten long texts or split the form.",
                        limit=f"{MAX_TEXT_CHARS:,}",
                        sheet=sheet,
                        row=row,
                    ),
                    code="xlsform.too_much_text",
                    sheet=sheet,
                    row=row,
                )
            )


def _sheet_kind(name: str, only_sheet: bool) -> str | None:
    """What pyxform reads a sheet as (``survey``, ``choices`` ...), or ``None`` if it skips it."""
    kind = name.strip().lower() if name.lower() in SUPPORTED_SHEET_NAMES else None
    if kind is None and only_sheet:
        return "survey"  # pyxform reads the one sheet of a one-sheet workbook as the survey
    return kind


def _check_content(sheets: Mapping[str, Any]) -> None:
    """Apply the content limits to the sheets as pyxform read them (every file type)."""
    tally = _Tally()
    for kind in sorted(SUPPORTED_SHEET_NAMES):
        rows = sheets.get(kind)
        if not isinstance(rows, list):
            continue
        count = 0
        for index, row in enumerate(rows):
            if not isinstance(row, dict) or not row:
                continue
            count += 1
            tally.data_row(kind, kind, count, index + 2)
            for header, value in row.items():
                tally.cell(kind, index + 2, str(header), len(str(value)))


def _check_text_content(text: str, file_type: str) -> None:
    """Apply the content limits to a .md or .csv form before pyxform's reader (a regular
    expression per line, seconds for a hundred thousand lines) goes through it.

    A row whose first cell is filled starts a sheet, as pyxform reads these files; the first
    filled row of a sheet is its header. Counts can come out a little high (escaped ``|``,
    comment lines), never low.
    """
    rows: Iterator[Sequence[str]]
    if file_type == ".csv":
        rows = csv.reader(io.StringIO(text, newline=""))
    else:
        rows = (line.strip().strip("|").split("|") for line in text.split("\n") if "|" in line)
    tally = _Tally()
    sheet: str | None = None
    kind: str | None = None
    count = 0
    try:
        for cells in rows:
            if not cells or (file_type == ".md" and _MD_SEPARATOR.fullmatch("".join(cells))):
                continue  # (and the |---|---| line under a markdown header)
            first = cells[0].strip()
            if first:
                sheet, kind, count = first, _sheet_kind(first, only_sheet=False), 0
            if kind is None or sheet is None:
                continue
            filled = [(i, c.strip()) for i, c in enumerate(cells[1:]) if c.strip()]
            if not filled:
                continue
            count += 1
            if count > 1:
                tally.data_row(sheet, kind, count - 1, count)
            for index, value in filled:
                tally.cell(sheet, count, f"column {index + 1}", len(value))
    except csv.Error:
        return  # pyxform's reader refuses the file with its own message


def _check_xlsx_content(payload: bytes) -> None:
    """Apply the content limits to an .xlsx by streaming through its sheets, before openpyxl.

    openpyxl builds Python objects for every cell (and reads a whole sheet just to open it when
    the sheet does not state its size), so a huge sheet costs seconds before pyxform even
    starts; this pass counts with lxml and stops at the first limit passed. A workbook whose
    structure cannot be found is left to the full read, which reports it as damaged.
    """
    structure = _xlsx_structure(payload)
    if structure is None:
        return
    archive, sheets, strings_part = structure
    with archive:
        only_sheet = len(sheets) == 1
        wanted = [(n, p, k) for n, p in sheets if (k := _sheet_kind(n, only_sheet)) is not None]
        if not wanted:
            return
        try:
            tally = _Tally()
            for name, part, kind in wanted:
                _tally_sheet(archive, name, part=part, kind=kind, strings=None, tally=tally)
            strings = _shared_strings(archive, strings_part)
            for name, part, kind in wanted:
                _tally_sheet(archive, name, part=part, kind=kind, strings=strings, tally=tally)
        except (XmlError, zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError) as err:
            raise _unreadable(
                "corrupt",
                "The workbook could not be read; it is damaged or not a real Excel file. Open it "
                "in Excel, save it again as an Excel Workbook (.xlsx) and upload the new copy.",
            ) from err


def _xlsx_structure(
    payload: bytes,
) -> tuple[zipfile.ZipFile, list[tuple[str, str]], str | None] | None:
    """The archive, its worksheets (name, part) in workbook order and its shared-strings part.

    Found the way openpyxl finds them (content types, workbook part, its relationships), so the
    parts counted are the parts pyxform will read.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reader = ExcelReader(io.BytesIO(payload), read_only=True, data_only=True)
            reader.read_manifest()
            reader.read_workbook()
            names = set(reader.valid_files)
            sheets = [
                (str(sheet.name), str(rel.target))
                for sheet, rel in reader.parser.find_sheets()
                if "chartsheet" not in str(rel.Type) and rel.target in names
            ]
            part = reader.package.find(SHARED_STRINGS)  # type: ignore[no-untyped-call]
            strings = str(part.PartName)[1:] if part is not None else None
    except MemoryError:
        raise
    except Exception:  # any failure here is reported by the full read
        return None
    return reader.archive, sheets, strings if strings in names else None


def _shared_strings(archive: zipfile.ZipFile, part: str | None) -> list[str | int]:
    """The shared strings: short ones as text (header names), longer ones by their length."""
    strings: list[str | int] = []
    if part is None:
        return strings
    with archive.open(part) as source:
        for item in iterparse_xml(source, tag=f"{_SHEET_NS}si", max_bytes=MAX_UNZIPPED_BYTES):
            text = _text(item)
            strings.append(text if len(text) <= 64 else len(text))
    return strings


def _tally_sheet(
    archive: zipfile.ZipFile,
    name: str,
    *,
    part: str,
    kind: str,
    strings: Sequence[str | int] | None,
    tally: _Tally,
) -> None:
    """Count one worksheet's data rows, or (with ``strings``) its non-empty cells and text.

    Rows are counted in a first pass of their own, with a test that stays inside lxml, so a
    sheet of a hundred thousand rows is refused after reading a tenth of it quickly.
    """
    headers: dict[str, str] = {}
    count = 0
    next_row = 1
    with archive.open(part) as source:
        for row in iterparse_xml(source, tag=f"{_SHEET_NS}row", max_bytes=MAX_UNZIPPED_BYTES):
            number = _int(row.get("r")) or next_row
            next_row = number + 1
            if strings is None:
                if number > 1 and _HAS_VALUE(row):
                    count += 1
                    tally.data_row(name, kind, count, number)
                continue
            for position, cell in enumerate(row.iterchildren(_CELL_TAG), start=1):
                value = _cell_value(cell, strings)
                if value is None:
                    continue
                length = value if isinstance(value, int) else len(value)
                column = None
                if number == 1 or length > MAX_CELL_CHARS:  # only then is the name needed
                    found = _CELL_REF.match(cell.get("r") or "")
                    letters = found.group(1).upper() if found else _column_letters(position)
                    if number == 1 and isinstance(value, str):
                        headers[letters] = value.strip()
                    column = headers.get(letters) or letters
                tally.cell(name, number, column, length)


def _cell_value(cell: Any, strings: Sequence[str | int]) -> str | int | None:
    """A cell's value as openpyxl reads it (cached results, not formulas): text, or a length."""
    kind = cell.get("t", "n")
    if kind == "inlineStr":
        # (phonetic guides count too: a few characters too many at worst)
        text = _text(cell)
        return text if text.strip() else None
    value = cell.findtext(_VALUE_TAG)
    if value is None or not value.strip():
        return None
    if kind != "s":
        return str(value)
    index = _int(value.strip())
    if index is None or index >= len(strings):
        return None
    shared = strings[index]
    if isinstance(shared, str) and not shared.strip():
        return None
    return shared


def _text(element: Any) -> str:
    """The text of a shared or inline string: its ``t`` elements (rich-text runs included)."""
    return "".join(element.itertext(_TEXT_TAG))


def _column_letters(position: int) -> str:
    letters = ""
    while position > 0:
        position, rest = divmod(position - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


# -- reading the workbook through pyxform's readers ------------------------------------------


def _read_workbook(payload: bytes, file_type: str) -> dict[str, Any]:
    processor = SupportedFileTypes.get_processors()[SupportedFileTypes(file_type)]
    try:
        with warnings.catch_warnings():
            # openpyxl warns about Excel features it drops (data validation extensions, ...);
            # they do not matter for an XLSForm and must not fail the read where warnings are
            # errors (the test suite).
            warnings.filterwarnings("ignore", category=UserWarning, module=r"openpyxl(\.|$)")
            sheets = processor(payload)
    except MemoryError:
        raise
    except Exception as err:  # openpyxl, xlrd, zipfile and zlib errors all mean "damaged"
        detail = str(err)
        if "encrypted" in detail.lower():
            raise _encrypted() from None
        if file_type == ".csv":
            raise _unreadable(
                "not_xlsform",
                "No XLSForm table was found in this .csv file. It must hold the survey sheet as "
                "a comma-separated table, starting with a 'survey' row.",
            ) from None
        if file_type == ".md":
            raise _unreadable(
                "not_xlsform",
                "No XLSForm table was found in this .md file. It must hold the survey sheet as "
                "a Markdown table, starting with a 'survey' row.",
            ) from None
        raise _unreadable(
            "corrupt",
            "The workbook could not be read; it is damaged or not a real Excel file. Open it "
            "in Excel, save it again as an Excel Workbook (.xlsx) and upload the new copy.",
        ) from None
    if not isinstance(sheets, dict):
        raise _unreadable("corrupt", "The workbook could not be read.")
    return sheets


# -- pyxform errors and warnings -> FormProblems ---------------------------------------------


@functools.cache
def _templates() -> tuple[tuple[str, re.Pattern[str]], ...]:
    """pyxform's ErrorCode message templates as regexes, to recover code and context."""
    out: list[tuple[str, re.Pattern[str]]] = []
    for member in ErrorCode:
        pattern: list[str] = []
        seen: set[str] = set()
        for literal, field, _spec, _conv in string.Formatter().parse(str(member.value.msg)):
            pattern.append(re.escape(literal))
            if field is None:
                continue
            if not field.isidentifier():
                pattern.append(".*?")
            elif field in seen:
                pattern.append(f"(?P={field})")
            else:
                seen.add(field)
                pattern.append(f"(?P<{field}>.*?)")
        try:
            out.append((str(member.name), re.compile("".join(pattern) + r"\Z", re.DOTALL)))
        except re.error:  # pragma: no cover - a template we cannot turn into a regex
            continue
    return tuple(out)


def _problems_from_pyxform_error(
    err: PyXFormError, survey_rows: Sequence[Mapping[str, str]]
) -> list[FormProblem]:
    code = getattr(err, "code", None)
    context = getattr(err, "context", None) or {}
    text = str(err)
    if code is not None and isinstance(context, dict):
        lines = _split_messages(text)
        message = _ROW_PREFIX.sub("", lines[0]) if lines else str(code.name)
        row = _int(context.get("row")) or (1 if code.name.startswith("HEADER_") else None)
        sheet = context.get("sheet") or context.get("sheet_name") or _sheet_in(message, row)
        column = context.get("column") or _column_in(message) or _code_column(code.name, context)
        return [
            FormProblem(
                message=message,
                code=f"xlsform.{code.name}",
                sheet=str(sheet) if sheet else None,
                row=row,
                column=str(column) if column else None,
            )
        ]
    return _problems_from_text(text, survey_rows, default_code="xlsform.error")


def _split_messages(text: str) -> list[str]:
    """Split pyxform's joined messages; drop the Python dict dumps some of them append."""
    messages: list[str] = []
    for raw in text.strip().splitlines():
        line = raw.strip()
        if not line or line.startswith("{"):
            continue
        if messages and not _ROW_PREFIX.match(line) and raw[:1].isspace():
            messages[-1] = f"{messages[-1]} {line}"
        else:
            messages.append(line)
    return messages


def _problems_from_text(
    text: str, survey_rows: Sequence[Mapping[str, str]], *, default_code: str
) -> list[FormProblem]:
    lines = _split_messages(text) or [text.strip() or "Unknown problem."]
    return [_problem_from_line(line, survey_rows, default_code=default_code) for line in lines]


def _problem_from_line(
    line: str, survey_rows: Sequence[Mapping[str, str]], *, default_code: str
) -> FormProblem:
    match = _ROW_PREFIX.match(line)
    row = int(match.group(1)) if match else None
    message = _ROW_PREFIX.sub("", line).strip()
    special = _special_problem(message, row, survey_rows)
    if special is not None:
        return special
    code, sheet, column = default_code, None, None
    for name, pattern in _templates():
        found = pattern.match(line)
        if found is None:
            continue
        context = found.groupdict()
        code = f"xlsform.{name}"
        row = row if row is not None else _int(context.get("row"))
        sheet = context.get("sheet") or context.get("sheet_name")
        column = context.get("column") or _code_column(name, context)
        if row is None and name.startswith("HEADER_"):
            row = 1  # the header row
        break
    sheet = sheet or _sheet_in(message, row)
    column = column or _column_in(message)
    return FormProblem(message=message, code=code, sheet=sheet, row=row, column=column)


_CODE_COLUMNS: Final = {
    "SURVEY_001": "type",
    "SURVEY_002": "type",
    "ENTITY_005": "label",
    "ENTITY_006": "update_if",
    "ENTITY_007": "entity_id",
    "LABEL_001": "label",
    "NAMES_006": "name",
    "NAMES_007": "name",
    "NAMES_014": "list_name",
    "NAMES_015": "list_name",
}


def _code_column(name: str, context: Mapping[str, Any]) -> str | None:
    """The column an ErrorCode is about, when its message does not name it."""
    if name == "HEADER_003":
        missing = re.findall(r"'([^']+)'", str(context.get("missing", "")))
        return missing[0] if len(missing) == 1 else None
    return _CODE_COLUMNS.get(name)


def _sheet_in(message: str, row: int | None) -> str | None:
    for phrase in (_SHEET_PHRASE, _HEADERS_PHRASE):
        found = phrase.search(message)
        if found:
            return found.group(1)
    # pyxform's "[row : N]" messages without a sheet all come from the survey sheet.
    return "survey" if row is not None else None


def _column_in(message: str) -> str | None:
    found = _COLUMN_PHRASE.search(message)
    return found.group(1) if found else None


def _int(value: object) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _row_of(survey_rows: Sequence[Mapping[str, str]], predicate: Any) -> int | None:
    for index, row in enumerate(survey_rows):
        if predicate(row):
            return index + 2
    return None


def _special_problem(
    message: str, row: int | None, survey_rows: Sequence[Mapping[str, str]]
) -> FormProblem | None:
    """Better messages, codes and locations for the commonest uncoded pyxform errors."""
    if message.startswith("You must have a sheet named 'survey'"):
        # the rest of pyxform's message (its own words, as pyxform gives them)
        hint = message.removeprefix("You must have a sheet named 'survey'.").strip()
        return FormProblem(
            _words(
                "The workbook has no 'survey' sheet. The questions must be on a sheet named "
                "'survey' (lower case). %(pyxform)s",
                pyxform=hint,
            )
            if hint
            else _words(
                "The workbook has no 'survey' sheet. The questions must be on a sheet named "
                "'survey' (lower case)."
            ),
            code="xlsform.survey_sheet_missing",
            sheet="survey",
        )
    found = re.fullmatch(r"Unknown question type '(.*)'\.", message)
    if found:
        qtype = found.group(1)
        close = difflib.get_close_matches(qtype, [str(k) for k in QUESTION_TYPE_DICT], n=1)
        return FormProblem(
            _words(
                "'%(type)s' is not a question type. Did you mean '%(close)s'? See "
                "https://xlsform.org/en/#question-types for the list of types.",
                type=qtype,
                close=close[0],
            )
            if close
            else _words(
                "'%(type)s' is not a question type. See https://xlsform.org/en/#question-types "
                "for the list of types.",
                type=qtype,
            ),
            code="xlsform.unknown_type",
            sheet="survey",
            row=row or _row_of(survey_rows, lambda r: r.get("type", "").strip() == qtype),
            column="type",
        )
    found = re.fullmatch(r"List name not in choices sheet: (.*)", message)
    if found:
        list_name = found.group(1).strip()
        return FormProblem(
            _words(
                "The choice list '%(list)s' is not on the choices sheet. Add its choices there "
                "with list_name '%(list)s', or correct the list name in the type column.",
                list=list_name,
            ),
            code="xlsform.choice_list_missing",
            sheet="survey",
            row=row,
            column="type",
        )
    if message.startswith("There should be a choices sheet in this xlsform"):
        return FormProblem(
            _words(
                "A select question needs a 'choices' sheet, but the workbook has none (or it "
                "lacks the columns list_name, name and label). Add a choices sheet with those "
                "columns."
            ),
            code="xlsform.choices_sheet_missing",
            sheet="survey",
            row=_row_of(
                survey_rows,
                lambda r: r.get("type", "").startswith(("select_one ", "select_multiple ")),
            ),
            column="type",
        )
    found = re.fullmatch(r"The survey element named '(.*)' has no label or hint\.", message)
    if found:
        name = found.group(1)
        return FormProblem(
            _words(
                "The question '%(name)s' has no label. Questions shown on the phone need a "
                "label (or at least a hint); fill in the label column.",
                name=name,
            ),
            code="xlsform.label_missing",
            sheet="survey",
            row=row or _row_of(survey_rows, lambda r: r.get("name", "").strip() == name),
            column="label",
        )
    found = re.fullmatch(r"Language '(.*)' is missing the (\w+) (.+?) columns?\.", message)
    if found:
        lang, sheet, columns = found.groups()
        names = [c.strip() for c in columns.split(",")]
        column = None
        if len(names) == 1:
            column = names[0] if lang == "default" else f"{names[0]}::{lang}"
        return FormProblem(
            message, code="xlsform.translation_missing", sheet=sheet, row=1, column=column
        )
    if message.startswith("Question with no type."):
        return FormProblem(
            _words("This row has a name or label but no type. Fill in the type column."),
            code="xlsform.type_missing",
            sheet="survey",
            row=row,
            column="type",
        )
    if message.startswith("Question or group with no name."):
        return FormProblem(
            _words("This question or group has no name. Fill in the name column."),
            code="xlsform.name_missing",
            sheet="survey",
            row=row,
            column="name",
        )
    if message.startswith("Missing calculation."):
        return FormProblem(
            _words("This calculate row has no calculation. Fill in the calculation column."),
            code="xlsform.calculation_missing",
            sheet="survey",
            row=row,
            column="calculation",
        )
    return None


def _unexpected_problem(err: Exception) -> FormProblem:
    # the exception's name and text are Python's and pyxform's own, as they give them
    detail = str(err).strip()
    what = f"{type(err).__name__}: {detail[:200]}" if detail else type(err).__name__
    return FormProblem(
        _words(
            "The converter stopped on something in this form it did not expect (%(what)s). "
            "Check the rows you changed last, especially unusual types, parameters and "
            "expressions.",
            what=what,
        ),
        code="xlsform.unexpected",
    )


# -- fieldapp's own checks -------------------------------------------------------------------

_EXPRESSION_COLUMNS: Final = {
    "survey": {
        "relevant": "relevant",
        "relevance": "relevant",
        "bind::relevant": "relevant",
        "constraint": "constraint",
        "bind::constraint": "constraint",
        "calculation": "calculation",
        "calculate": "calculation",
        "bind::calculate": "calculation",
        "required": "required",
        "bind::required": "required",
        "read_only": "read_only",
        "readonly": "read_only",
        "bind::readonly": "read_only",
        "choice_filter": "choice_filter",
        "repeat_count": "repeat_count",
        "jr:count": "repeat_count",
        "count": "repeat_count",
    },
    "entities": {
        "label": "label",
        "entity_id": "entity_id",
        "create_if": "create_if",
        "update_if": "update_if",
    },
    "settings": {"instance_name": "instance_name"},
}


def _check_expressions(sheets: Mapping[str, Any]) -> Iterator[FormProblem]:
    """Every expression cell must parse as XPath once ``${name}`` references are filled in."""
    yes_no = set(px_aliases.yes_no)
    for sheet, columns in _EXPRESSION_COLUMNS.items():
        raw_rows = sheets.get(sheet)
        if not isinstance(raw_rows, list):
            continue
        for index, row in enumerate(raw_rows):
            if not isinstance(row, dict):
                continue
            for header, value in row.items():
                column = columns.get(str(header).strip().lower())
                if column is None or value is None:
                    continue
                # pyxform replaces typographic quotes before it compiles: check what it compiles.
                text = clean_text_values(str(value)).strip()
                if not text or text in yes_no:
                    continue
                error = _xpath_syntax_error(text)
                if error is not None:
                    yield FormProblem(
                        # (the error is lxml's own words, as it gives them)
                        _words(
                            "On the '%(sheet)s' sheet, the '%(column)s' value is not a valid "
                            "expression (%(error)s). Check brackets, quotes and operators: "
                            "%(expression)s",
                            sheet=sheet,
                            column=column,
                            error=error,
                            expression=_clip(text),
                        ),
                        code="xlsform.expression_invalid",
                        sheet=sheet,
                        row=index + 2,
                        column=str(header).strip(),
                    )


_SHEET_ORDER: Final = ("survey", "choices", "external_choices", "settings", "entities")


def _combine(first: Sequence[FormProblem], more: Sequence[FormProblem]) -> list[FormProblem]:
    """pyxform's problems, then fieldapp's independent ones it did not already report.

    A problem of ``more`` is the same as one of pyxform's when both name the same sheet and row
    and either the same code or the same column; pyxform's message is kept. A pyxform problem
    without a row is replaced by ``more``'s problems of its code, which have one.
    """
    located = [p for p in first if p.row is not None]
    kept = [p for p in first if p.row is not None or not any(m.code == p.code for m in more)]
    extra = [
        m
        for m in more
        if not any(
            p.sheet == m.sheet and p.row == m.row and (p.code == m.code or p.column == m.column)
            for p in located
        )
    ]

    def order(p: FormProblem) -> tuple[int, int]:
        sheet = _SHEET_ORDER.index(p.sheet) if p.sheet in _SHEET_ORDER else len(_SHEET_ORDER)
        return sheet, p.row or 0

    unique: list[FormProblem] = []
    for problem in sorted([*kept, *extra], key=order):
        if problem not in unique:
            unique.append(problem)
    return unique


_SELECT_TYPE = re.compile(
    r"^\s*(select_one|select_multiple|select one|select all that apply|select1|rank)\s+(\S+)"
    r"(?:\s+or_other)?\s*$"
)


def _independent_problems(sheets: Mapping[str, Any]) -> Iterator[FormProblem]:
    """Errors pyxform reports one at a time, found all at once: a reference to no question,
    a choice list not on the choices sheet, a question name that is not a valid name, a
    ``save_to`` without an entities sheet. Each has pyxform's own code, so that the one pyxform
    reported itself is not listed twice."""
    survey = [r if isinstance(r, dict) else {} for r in sheets.get("survey") or []]
    names = {str(r.get("name", "")).strip() for r in survey if r.get("name")}
    lists: set[str] = set()
    for sheet in ("choices", "external_choices"):
        for r in sheets.get(sheet) or []:
            if isinstance(r, dict):
                lists.add(str(r.get("list_name") or r.get("list name") or "").strip())
    has_entities = any(isinstance(r, dict) and r for r in sheets.get("entities") or [])
    for index, row in enumerate(survey):
        number = index + 2
        name = str(row.get("name", "")).strip()
        kind = str(row.get("type", "")).strip()
        if name and not kind.lower().startswith("end") and not is_xml_tag(name):
            # pyxform's own message for this code, as pyxform gives it
            pyxform_text = ErrorCode.NAMES_008.value.format(
                sheet="survey", row=number, column="name"
            )
            yield FormProblem(
                pyxform_text.split("] ", 1)[-1],
                code="xlsform.NAMES_008",
                sheet="survey",
                row=number,
                column="name",
            )
        select = _SELECT_TYPE.match(kind)
        if select and select.group(2) not in lists:
            list_name = select.group(2)
            yield FormProblem(
                _words(
                    "The choice list '%(list)s' is not on the choices sheet. Add its choices "
                    "there with list_name '%(list)s', or correct the list name in the type "
                    "column.",
                    list=list_name,
                ),
                code="xlsform.choice_list_missing",
                sheet="survey",
                row=number,
                column="type",
            )
        if row.get("save_to") and not has_entities:
            yield FormProblem(
                _words(
                    "The 'save_to' value needs an entities sheet: add one that declares the "
                    "entity list (list_name and label), or clear the save_to column."
                ),
                code="xlsform.ENTITY_001",
                sheet="survey",
                row=number,
                column="save_to",
            )
    for sheet in ("survey", "settings", "entities"):
        for index, row in enumerate(sheets.get(sheet) or []):
            if not isinstance(row, dict):
                continue
            for header, value in row.items():
                for ref in RE_PYXFORM_REF.finditer(str(value or "")):
                    if ref.group("ncname") in names:
                        continue
                    yield FormProblem(
                        _words(
                            "On the '%(sheet)s' sheet, the '%(column)s' value refers to "
                            "${%(name)s}, but no question has the name '%(name)s'. Correct the "
                            "name or add the question.",
                            sheet=sheet,
                            column=str(header).strip(),
                            name=ref.group("ncname"),
                        ),
                        code="xlsform.PYREF_003",
                        sheet=sheet,
                        row=index + 2,
                        column=str(header).strip(),
                    )
                    break


def _check_choice_columns(sheets: Mapping[str, Any]) -> Iterator[FormProblem]:
    """Choice-sheet columns that are not XML names (such as Kobo's ``$kuid``): pyxform writes
    every choice column as an element of the form, so the XForm would not be well-formed and
    neither ODK Collect nor Web Forms could open it."""
    seen: set[str] = set()
    for row in sheets.get("choices") or []:
        if not isinstance(row, dict):
            continue
        for header in row:
            column = str(header).strip()
            base = column.split("::", 1)[0]
            if column in seen or is_xml_tag(base):
                continue
            seen.add(column)
            yield FormProblem(
                _words(
                    "The choices sheet has a column '%(column)s', which is not a valid name: "
                    "pyxform copies every choices column into the form as an XML element, so "
                    "ODK Collect and Web Forms could not open the form. Delete or rename the "
                    "column (names start with a letter or underscore, without spaces or '$').",
                    column=column,
                ),
                code="xlsform.choice_column_invalid",
                sheet="choices",
                row=1,
                column=column,
            )


def _xpath_syntax_error(expression: str) -> str | None:
    filled = _REF.sub(" /data/x ", expression)
    if "${" in filled:
        return None  # a malformed reference; pyxform reports those itself
    try:
        etree.XPath(filled, namespaces=_XPATH_NAMESPACES)
    except etree.XPathSyntaxError as err:
        return (str(err) or "syntax error").strip().rstrip(".").lower()
    except etree.XPathError:
        return None  # not a syntax problem (an unknown prefix, say); ODK Validate judges
    return None


def _clip(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _check_form_id(
    xform: str, settings: Mapping[str, str], stem: str
) -> tuple[str, list[FormProblem], list[FormProblem]]:
    """Keep the form id pyxform wrote unless fieldapp cannot serve it; return the XForm (with a
    derived id if need be), the problems and the notes.

    JavaRosa (Collect) and ODK Web Forms read the id as a plain attribute string and accept any
    text, spaces included; fieldapp only has to change what would break its own URL paths.
    """
    try:
        root = parse_xml(xform)
    except XmlTooLarge:
        return (
            xform,
            [
                FormProblem(
                    _words(
                        "The converted form is larger than 10 MB, more than phones can load. "
                        "Split it into smaller forms, or move long choice lists into a CSV file "
                        "attached to the form (select_one_from_file)."
                    ),
                    code="xlsform.xform_too_large",
                )
            ],
            [],
        )
    except XmlError:  # pragma: no cover - pyxform always writes well-formed XML
        problem = FormProblem("pyxform produced an unreadable XForm.", code="xlsform.unexpected")
        return xform, [problem], []
    data = _instance_root(root)
    form_id = data.get("id", "") if data is not None else ""
    derived = _derive_form_id(form_id)
    if derived == form_id or data is None:
        return xform, [], []
    from_settings = bool(_settings_form_id(settings))
    source = (
        _words("The form_id '%(name)s'", name=form_id)
        if from_settings
        else _words("The file name '%(name)s'", name=stem)
    )
    note = FormProblem(
        _words(
            "%(source)s cannot be used as this server's form id as it is, so the form id is "
            "'%(derived)s'. ODK Collect and Web Forms would accept it, but fieldapp puts the form "
            "id in web addresses (one part of the path), where a '/' or a dot-only name does not "
            "fit, and keeps at most 255 characters. Set form_id on the settings sheet to choose "
            "the id yourself.",
            source=source,
            derived=derived,
        ),
        code="xlsform.form_id_changed",
        sheet="settings",
        row=2,
        column="form_id",
        note=True,
    )
    data.set("id", derived)
    return _serialise(root), [], [note]


def _derive_form_id(form_id: str) -> str:
    """The form id fieldapp serves for the id pyxform wrote (usually the same)."""
    derived = _FORM_ID_UNSAFE.sub("_", form_id)[:MAX_FORM_ID_CHARS]
    if derived.strip(".") == "":
        # "." and ".." are removed from URL paths by browsers and HTTP clients
        derived = "form" + derived.replace(".", "_")
    return derived


def _instance_root(root: Any) -> Any:
    ns = {"x": "http://www.w3.org/2002/xforms", "h": "http://www.w3.org/1999/xhtml"}
    return root.find("h:head/x:model/x:instance/*", ns)


def _serialise(root: Any) -> str:
    return '<?xml version="1.0"?>' + etree.tostring(root, encoding="unicode")


def set_form_version(xform: str, version: str) -> str:
    """The XForm with ``version`` on its instance root, where phones read the version.

    :param xform: an XForm compiled by :func:`compile_xlsform`.
    :param version: the version string to serve.
    """
    root = parse_xml(xform)
    data = _instance_root(root)
    if data is None:  # pragma: no cover - pyxform always writes a primary instance
        raise ValueError("the XForm has no primary instance")
    data.set("version", version)
    return _serialise(root)


# -- ODK Validate ----------------------------------------------------------------------------


def java_available() -> bool:
    """Whether ODK Validate can run: a ``java`` on the PATH and pyxform's bundled jar.

    :return: ``True`` when both are present.
    """
    return shutil.which("java") is not None and Path(ODK_VALIDATE_PATH).is_file()


def odk_validate(xform: str, *, timeout: float = 60.0) -> ValidateResult:
    """Check an XForm with ODK Validate (JavaRosa, the engine of ODK Collect).

    Runs pyxform's bundled ``ODK_Validate.jar`` with ``java -jar`` in a subprocess on a temporary
    copy of the form, which is removed afterwards. Java's exception names and stack traces are
    stripped; XPaths such as ``/data/a`` are shown as ``${a}``, as in the XLSForm.

    :param xform: the XForm XML.
    :param timeout: seconds before the run is killed; a timeout is reported as a problem.
    :return: ``ran=False`` (and nothing else) when Java is not available; otherwise the problems
        that must block publishing and the warnings of a valid form.
    """
    java = shutil.which("java")
    if java is None or not Path(ODK_VALIDATE_PATH).is_file():
        return ValidateResult(ran=False, problems=(), warnings=())
    with tempfile.TemporaryDirectory(prefix="fieldapp-validate-") as tmp:
        path = Path(tmp) / "form.xml"
        path.write_text(xform, encoding="utf-8")
        command = [java, "-Djava.awt.headless=true", "-jar", ODK_VALIDATE_PATH, str(path)]
        try:
            completed = subprocess.run(  # noqa: S603 - fixed command, our own temp file
                command, capture_output=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL
            )
        except subprocess.TimeoutExpired:
            return ValidateResult(
                ran=True,
                problems=(
                    FormProblem(
                        _words(
                            "ODK Validate did not finish within %(seconds)s seconds, so the form "
                            "could not be checked. Very large forms or choice lists can cause "
                            "this; try again, or make the form smaller.",
                            seconds=f"{timeout:g}",
                        ),
                        code="validate.timeout",
                    ),
                ),
                warnings=(),
            )
    stderr = completed.stderr.decode("utf-8", errors="replace")
    messages = _clean_validate_output(stderr, str(path))
    if completed.returncode == 0:
        return ValidateResult(ran=True, problems=(), warnings=tuple(messages))
    problems = tuple(_validate_problem(m) for m in messages) or (
        FormProblem(
            _words(
                "ODK Validate rejected the form without saying why (exit code %(code)s).",
                code=completed.returncode,
            ),
            code="validate.error",
        ),
    )
    return ValidateResult(ran=True, problems=problems, warnings=())


_JAVA_NOISE = re.compile(
    r"^(>> (XForm is invalid|Something broke the parser|Xform parsing completed|Xform is valid)"
    r"|The following files failed validation|Result: |Validating: |\.\.\. \d+ more"
    r"|Exception in thread )",
    re.IGNORECASE,
)
_JAVA_FRAME = re.compile(r"^at [\w$.<>]+\(")
_JAVA_EXCEPTION = re.compile(r"^(?:Caused by: )?(?:[a-z_$][\w$]*\.)+[A-Z][\w$]*(?::\s*|$)")
_XPATH_PATH = re.compile(r"(?<![\w'\"$])/[A-Za-z_][\w.\-]*(?:/[A-Za-z_][\w.\-]*)+(?:\[\d+\])?")


def _clean_validate_output(stderr: str, path: str = "") -> list[str]:
    """ODK Validate's stderr as designer-facing messages, one per Java exception.

    :param stderr: what the validator wrote.
    :param path: the temporary file it checked, which must not show up in messages.
    """
    blocks: list[list[str]] = []
    for raw in stderr.splitlines():
        stripped = raw.strip()
        if not stripped or _JAVA_FRAME.match(stripped) or ".java:" in stripped:
            continue
        if _JAVA_NOISE.match(stripped) or (path and stripped == path):
            continue
        if path:
            stripped = stripped.replace(path, "the form")
        if _JAVA_EXCEPTION.match(stripped):
            blocks.append([_JAVA_EXCEPTION.sub("", stripped)])
        elif blocks:
            blocks[-1].append(stripped)
        else:
            blocks.append([stripped])
    messages: list[str] = []
    for block in blocks:
        text = " ".join(part for part in block if part)
        text = re.sub(r"\s+", " ", _XPATH_PATH.sub(_xpath_to_reference, text)).strip()
        if text:
            messages.append(text)
    # "Caused by" repeats (part of) the message above it; keep each text once.
    unique: list[str] = []
    for text in messages:
        if any(text in other for other in messages if other is not text and other != text):
            continue
        if text not in unique:
            unique.append(text)
    return unique


def _xpath_to_reference(match: re.Match[str]) -> str:
    path = re.sub(r"\[\d+\]$", "", match.group(0))
    return "${" + path.rsplit("/", 1)[-1] + "}"


def _validate_problem(message: str) -> FormProblem:
    lowered = message.lower()
    if "cycle detected" in lowered:
        nodes = re.findall(r"\$\{[^}]+\}", message)
        return FormProblem(
            _words(
                "Some calculations or relevance conditions depend on each other in a loop "
                "(%(questions)s): each needs the other's value first. Break the loop.",
                questions=", ".join(nodes),
            )
            if nodes
            else _words(
                "Some calculations or relevance conditions depend on each other in a loop: "
                "each needs the other's value first. Break the loop."
            ),
            code="validate.cycle",
        )
    function = re.search(r"cannot handle function '([^']+)'", message)
    if function:
        field = re.search(r"field '([^']+)'|expression for \$\{([^}]+)\}", message)
        return FormProblem(
            _words(
                "The function '%(function)s()' used by ${%(question)s} does not exist in ODK "
                "forms. Check its spelling; the functions are listed at "
                "https://docs.getodk.org/form-operators-functions/.",
                function=function.group(1),
                question=field.group(1) or field.group(2),
            )
            if field
            else _words(
                "The function '%(function)s()' does not exist in ODK forms. Check its spelling; "
                "the functions are listed at https://docs.getodk.org/form-operators-functions/.",
                function=function.group(1),
            ),
            code="validate.unknown_function",
        )
    return FormProblem(message=message, code="validate.error")
