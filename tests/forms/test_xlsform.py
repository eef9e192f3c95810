"""fieldapp.forms.xlsform: XLSForm files in, XForms or precise problems out.

Forms are markdown tables compiled with ``filename="x.md"``, the pyxform way. Binary files
(.xlsx, .xls, zips, OLE2 containers) are built in memory by the helpers at the end of the module.
"""

# XLSForms are markdown tables here; their rows are as wide as the form needs.

from __future__ import annotations

import io
import re
import shutil
import struct
import zipfile

import pytest
from openpyxl import Workbook

from fieldapp.forms import xlsform
from fieldapp.forms.xlsform import (
    SUPPORTED_EXTENSIONS,
    CompiledForm,
    FormCompileError,
    FormProblem,
    UnreadableFormFile,
    ValidateResult,
    compile_xlsform,
    java_available,
    odk_validate,
)

SETTINGS = """
| settings |
|          | form_id | version    |
|          | visit   | 2026112101 |
"""

SIMPLE = (
    """
| survey |
|        | type    | name | label |
|        | integer | age  | Age   |
"""
    + SETTINGS
)

SIMPLE_ROWS = {
    "survey": [["type", "name", "label"], ["integer", "age", "Age"]],
    "settings": [["form_id", "version"], ["visit", "2026112101"]],
}

requires_java = pytest.mark.skipif(not java_available(), reason="Java not found")


def compile_md(text: str, filename: str = "x.md") -> CompiledForm:
    return compile_xlsform(text.encode("utf-8"), filename=filename)


def problems(text: str) -> tuple[FormProblem, ...]:
    with pytest.raises(FormCompileError) as info:
        compile_md(text)
    err = info.value
    assert err.code == "form.invalid"
    assert err.http_status == 422
    assert err.details == [p.to_dict() for p in err.problems]
    return err.problems


def only_problem(text: str) -> FormProblem:
    found = problems(text)
    assert len(found) == 1, found
    assert "[row" not in found[0].message
    return found[0]


def unreadable(data: bytes, filename: str, **kwargs: int) -> UnreadableFormFile:
    with pytest.raises(UnreadableFormFile) as info:
        compile_xlsform(data, filename=filename, **kwargs)
    return info.value


# -- happy paths -----------------------------------------------------------------------------


def test_markdown_form_compiles() -> None:
    compiled = compile_md(SIMPLE)
    assert compiled.file_type == ".md"
    assert compiled.warnings == ()
    assert compiled.itemsets is None
    assert '<data id="visit" version="2026112101">' in compiled.xform
    assert compiled.xform.startswith('<?xml version="1.0"?><h:html')


def test_xlsx_compiles_to_the_same_xform_as_markdown() -> None:
    compiled = compile_xlsform(xlsx_bytes(SIMPLE_ROWS), filename="Visit.XLSX")
    assert compiled.file_type == ".xlsx"
    assert compiled.xform == compile_md(SIMPLE).xform


def test_xls_compiles() -> None:
    compiled = compile_xlsform(xls_bytes(SIMPLE_ROWS), filename="visit.xls")
    assert compiled.file_type == ".xls"
    assert compiled.xform == compile_md(SIMPLE).xform


def test_xlsx_from_another_tool_with_excel_dropdowns() -> None:
    # No styles part, inline strings and a data-validation extension: openpyxl warns that it
    # drops the extension, which must not fail the upload (the suite turns warnings into errors).
    data = handmade_xlsx(SIMPLE_ROWS, sheet_extra=DATA_VALIDATION_EXTENSION)
    compiled = compile_xlsform(data, filename="visit.xlsx")
    assert compiled.xform == compile_md(SIMPLE).xform


def test_csv_with_byte_order_mark_compiles() -> None:
    text = "survey,,,\n,type,name,label\n,integer,age,Age\nsettings,,\n,form_id,version\n,visit,2026112101\n"
    compiled = compile_xlsform(b"\xef\xbb\xbf" + text.encode(), filename="visit.csv")
    assert compiled.file_type == ".csv"
    assert compiled.xform == compile_md(SIMPLE).xform


def test_csv_with_an_extra_sheet_compiles() -> None:
    # pyxform's CSV reader passes unknown sheets on and convert() then fails with a TypeError.
    text = (
        "survey,,,\n,type,name,label\n,integer,age,Age\n"
        "settings,,\n,form_id,version\n,visit,2026112101\nnotes,,\n,who,when\n,me,today\n"
    )
    assert compile_xlsform(text.encode(), filename="visit.csv").xform == compile_md(SIMPLE).xform


def test_markdown_with_byte_order_mark_and_cyrillic_compiles() -> None:
    text = SIMPLE.replace("| Age   |", "| Возраст |")
    compiled = compile_xlsform(b"\xef\xbb\xbf" + text.encode(), filename="x.md")
    assert "Возраст" in compiled.xform


def test_warnings_become_located_problems() -> None:
    compiled = compile_md(
        """
| survey |
|        | type    | name  | label::English (en) | label::Русский (ru) | hint::English (en) |
|        | integer | age   | Age                 | Возраст             | In years           |
|        | image   | photo | Photo               | Фото                |                    |
"""
        + SETTINGS
    )
    assert len(compiled.warnings) == 2, compiled.warnings
    photo = next(w for w in compiled.warnings if "max-pixels" in w.message)
    assert (photo.sheet, photo.row, photo.code) == ("survey", 3, "xlsform.warning")
    assert not photo.message.startswith("[row")
    language = next(w for w in compiled.warnings if "Русский" in w.message)
    assert language.code == "xlsform.translation_missing"
    assert (language.sheet, language.row, language.column) == ("survey", 1, "hint::Русский (ru)")


def test_missing_form_id_uses_the_file_name_with_a_warning() -> None:
    compiled = compile_md(
        "| survey |\n| | type | name | label |\n| | text | a | A |\n"
        "| settings |\n| | version |\n| | 7 |\n",
        filename="home_visit.md",
    )
    assert 'id="home_visit"' in compiled.xform
    (warning,) = compiled.warnings
    assert warning.code == "xlsform.form_id_from_filename"
    assert (warning.sheet, warning.row, warning.column) == ("settings", 2, "form_id")


def test_external_choices_give_itemsets() -> None:
    compiled = compile_md(
        """
| survey |
|        | type                        | name    | label   | choice_filter      |
|        | select_one region           | region  | Region  |                    |
|        | select_one_external village | village | Village | region=${region}   |
| choices |
|         | list_name | name  | label |
|         | region    | north | North |
| external_choices |
|                  | list_name | name | label | region |
|                  | village   | v1   | V1    | north  |
"""
        + SETTINGS
    )
    assert compiled.itemsets is not None
    assert "v1" in compiled.itemsets


def test_entity_forms_compile() -> None:
    compiled = compile_md(
        """
| survey |
|        | type         | name      | label | save_to               |
|        | begin group  | mother    | Mother |                      |
|        | text         | full_name | Name   | mothers#full_name    |
|        | end group    | mother    |        |                      |
|        | begin repeat | child     | Child  |                      |
|        | text         | cname     | Name   | children#child_name  |
|        | end repeat   | child     |        |                      |
| entities |
|          | list_name | label        |
|          | mothers   | ${full_name} |
|          | children  | ${cname}     |
"""
        + SETTINGS
    )
    assert 'entities:entities-version="2025.1.0"' in compiled.xform


def test_supported_extensions() -> None:
    assert SUPPORTED_EXTENSIONS == (".xlsx", ".xls", ".csv", ".md")


def test_problem_to_dict() -> None:
    problem = FormProblem("m", code="c", sheet="survey", row=3, column="name")
    assert problem.to_dict() == {
        "message": "m",
        "code": "c",
        "sheet": "survey",
        "row": 3,
        "column": "name",
    }


# -- bad files -------------------------------------------------------------------------------


def test_empty_file() -> None:
    err = unreadable(b"", "form.xlsx")
    assert (err.code, err.http_status) == ("file.empty", 400)
    assert isinstance(err, xlsform.BadRequest)


def test_whitespace_only_markdown_is_empty() -> None:
    assert unreadable(b" \n\n ", "form.md").code == "file.empty"


def test_too_large() -> None:
    err = unreadable(SIMPLE.encode(), "form.md", max_bytes=100)
    assert (err.code, err.http_status) == ("file.too_large", 413)
    assert "limit" in err.message


@pytest.mark.parametrize("filename", ["form.pdf", "form.docx", "form.ods", "form", "form.xlsx.exe"])
def test_unsupported_extension(filename: str) -> None:
    err = unreadable(SIMPLE.encode(), filename)
    assert (err.code, err.http_status) == ("file.unsupported_type", 415)
    assert ".xlsx" in err.message


def test_ods_gets_a_hint() -> None:
    assert "save it as an Excel workbook" in unreadable(b"x", "form.ods").message


def test_xlsm_is_refused() -> None:
    err = unreadable(xlsx_bytes(SIMPLE_ROWS), "form.xlsm")
    assert (err.code, err.http_status) == ("file.macro_workbook", 415)


def test_xlsx_with_macros_inside_is_refused() -> None:
    data = add_zip_entries(xlsx_bytes(SIMPLE_ROWS), {"xl/vbaProject.bin": b"\0" * 64})
    err = unreadable(data, "form.xlsx")
    assert (err.code, err.http_status) == ("file.macro_workbook", 415)


def test_xls_renamed_xlsx() -> None:
    err = unreadable(xls_bytes(SIMPLE_ROWS), "form.xlsx")
    assert err.code == "file.xls_renamed"
    assert "Rename it to .xls" in err.message
    assert "save it as an Excel Workbook (.xlsx)" in err.message


def test_xlsx_renamed_xls() -> None:
    err = unreadable(xlsx_bytes(SIMPLE_ROWS), "form.xls")
    assert err.code == "file.xlsx_renamed"
    assert "Rename it to .xlsx" in err.message


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"type,name,label\ninteger,age,Age\n", "plain text"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "PDF"),
        (b"<!DOCTYPE html><html><body><table><tr><td>x</td></tr></table>", "web page"),
        (b"{\\rtf1\\ansi hello}", "Rich Text"),
    ],
    ids=["text", "pdf", "html", "rtf"],
)
def test_xlsx_that_is_something_else(content: bytes, says: str) -> None:
    err = unreadable(content, "form.xlsx")
    assert err.code == "file.not_a_workbook"
    assert says in err.message


def test_html_named_xls() -> None:
    err = unreadable(b"<html><body><table></table></body></html>", "export.xls")
    assert err.code == "file.not_a_workbook"
    assert "web page" in err.message


def test_corrupt_zip() -> None:
    err = unreadable(b"PK\x03\x04" + bytes(range(256)) * 4, "form.xlsx")
    assert err.code == "file.corrupt"
    assert "damaged" in err.message


def test_truncated_xlsx() -> None:
    data = xlsx_bytes(SIMPLE_ROWS)
    err = unreadable(data[: len(data) // 2], "form.xlsx")
    assert err.code == "file.corrupt"


def test_zip_with_damaged_entry() -> None:
    # The central directory is fine but a compressed entry is garbage: openpyxl fails inside
    # pyxform, which must still come out as a clear file error.
    data = bytearray(xlsx_bytes(SIMPLE_ROWS))
    start = data.find(b"xl/worksheets/sheet1.xml") + len("xl/worksheets/sheet1.xml")
    data[start : start + 40] = b"\xff" * 40
    err = unreadable(bytes(data), "form.xlsx")
    assert err.code == "file.corrupt"


def test_zip_bomb_by_compression_ratio() -> None:
    data = make_zip(
        {
            "[Content_Types].xml": b"<Types/>",
            "xl/workbook.xml": b"<workbook/>",
            "xl/worksheets/sheet1.xml": b"\0" * (3 * 1024 * 1024),
        }
    )
    assert len(data) < 50_000
    err = unreadable(data, "form.xlsx")
    assert (err.code, err.http_status) == ("file.zip_bomb", 413)
    assert "sheet1.xml" in err.message


def test_zip_bomb_by_entry_count() -> None:
    entries = {f"xl/media/{n}.bin": b"x" for n in range(1001)}
    entries["[Content_Types].xml"] = b"<Types/>"
    err = unreadable(make_zip(entries), "form.xlsx")
    assert err.code == "file.zip_bomb"
    assert "1002 parts" in err.message


def test_zip_bomb_by_total_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xlsform, "MAX_UNZIPPED_BYTES", 1000)
    err = unreadable(xlsx_bytes(SIMPLE_ROWS), "form.xlsx")
    assert err.code == "file.zip_bomb"
    assert "unpacked" in err.message


def test_docx_renamed_xlsx() -> None:
    data = make_zip({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>"})
    err = unreadable(data, "form.xlsx")
    assert err.code == "file.not_a_workbook"
    assert "Word document" in err.message


def test_ods_renamed_xlsx() -> None:
    data = make_zip(
        {"mimetype": b"application/vnd.oasis.opendocument.spreadsheet", "content.xml": b"<x/>"}
    )
    err = unreadable(data, "form.xlsx")
    assert err.code == "file.not_a_workbook"
    assert "OpenDocument spreadsheet" in err.message


def test_plain_zip_renamed_xlsx() -> None:
    err = unreadable(make_zip({"notes.txt": b"hello"}), "form.xlsx")
    assert err.code == "file.not_a_workbook"
    assert "zip archive" in err.message


def test_workbook_zip_without_a_workbook_part() -> None:
    data = make_zip({"[Content_Types].xml": b"<Types/>", "xl/styles.xml": b"<styleSheet/>"})
    assert unreadable(data, "form.xlsx").code == "file.corrupt"


@pytest.mark.parametrize("filename", ["form.xlsx", "form.xls"])
def test_password_protected_workbook(filename: str) -> None:
    data = ole2({"EncryptionInfo": b"\x04\x00\x04\x00", "EncryptedPackage": b"\x01" * 600})
    err = unreadable(data, filename)
    assert err.code == "file.encrypted"
    assert "password" in err.message


def test_legacy_encrypted_xls() -> None:
    # BIFF8 with a FILEPASS record (RC4): xlrd refuses it as encrypted.
    stream = biff_record(0x0809, struct.pack("<HHHHII", 0x0600, 5, 0, 0, 0, 6))
    stream += biff_record(0x002F, b"\x01\x00" + b"\0" * 52) + biff_record(0x000A)
    err = unreadable(ole2({"Workbook": stream}), "form.xls")
    assert err.code == "file.encrypted"


def test_word97_document_named_xls() -> None:
    err = unreadable(ole2({"WordDocument": b"\0" * 10}), "form.xls")
    assert err.code == "file.not_a_workbook"
    assert "Word 97-2003" in err.message


def test_damaged_xls() -> None:
    err = unreadable(ole2({"Workbook": b"\x99" * 700}), "form.xls")
    assert err.code == "file.corrupt"


def test_damaged_ole2_header() -> None:
    err = unreadable(ole2({"Workbook": b"x"})[:600], "form.xlsx")
    assert err.code == "file.corrupt"


def test_csv_not_utf8() -> None:
    text = "survey,,,\n,type,name,label\n,text,nom,Prénom\n"
    err = unreadable(text.encode("cp1252"), "form.csv")
    assert err.code == "file.not_utf8"
    assert "CSV UTF-8" in err.message


def test_markdown_not_utf8() -> None:
    err = unreadable(SIMPLE.replace("Age", "Âge").encode("latin-1"), "form.md")
    assert err.code == "file.not_utf8"


@pytest.mark.parametrize(
    "content",
    [b"\x00\x01\x02\x03binary", b"| survey |\x07\x08\x1b", bytes(range(200, 256)) * 10],
    ids=["nul", "control", "high-bytes"],
)
def test_binary_garbage_named_markdown(content: bytes) -> None:
    assert unreadable(content, "form.md").code in {"file.not_text", "file.not_utf8"}


def test_workbook_named_csv() -> None:
    err = unreadable(xlsx_bytes(SIMPLE_ROWS), "form.csv")
    assert err.code == "file.not_text"
    assert ".xlsx" in err.message


def test_markdown_without_a_table() -> None:
    err = unreadable(b"# My form\n\nJust some notes, no table.\n", "form.md")
    assert err.code == "file.not_xlsform"


# -- bad forms -------------------------------------------------------------------------------


def test_missing_survey_sheet() -> None:
    found = only_problem(
        "| choices |\n| | list_name | name | label |\n| | yn | y | Yes |\n" + SETTINGS
    )
    assert found.code == "xlsform.survey_sheet_missing"
    assert found.sheet == "survey"


def test_misspelt_survey_sheet() -> None:
    found = only_problem(SIMPLE.replace("| survey |", "| surveys |") + "| choices |\n| | a |\n")
    assert found.code == "xlsform.survey_sheet_missing"
    assert "surveys" in found.message


def test_missing_type_column() -> None:
    found = only_problem("| survey |\n| | name | label |\n| | age | Age |\n" + SETTINGS)
    assert found.code == "xlsform.HEADER_003"
    assert (found.sheet, found.row, found.column) == ("survey", 1, "type")


def test_unknown_question_type() -> None:
    found = only_problem(
        "| survey |\n| | type | name | label |\n| | text | a | A |\n| | intger | age | Age |\n"
        + SETTINGS
    )
    assert found.code == "xlsform.unknown_type"
    assert (found.sheet, found.row, found.column) == ("survey", 3, "type")
    assert "Did you mean 'integer'?" in found.message


def test_duplicate_names() -> None:
    found = only_problem(
        "| survey |\n| | type | name | label |\n| | text | a | A |\n| | integer | a | B |\n"
        + SETTINGS
    )
    assert found.code == "xlsform.NAMES_001"
    assert (found.sheet, found.row, found.column) == ("survey", 3, "name")
    assert found.message.startswith("On the 'survey' sheet, the 'name' value 'a' is invalid.")


def test_invalid_name() -> None:
    found = only_problem("| survey |\n| | type | name | label |\n| | text | 1st | A |\n" + SETTINGS)
    assert found.code == "xlsform.NAMES_008"
    assert (found.sheet, found.row, found.column) == ("survey", 2, "name")


def test_undefined_reference() -> None:
    found = only_problem(
        """
| survey |
|        | type    | name | label | relevant   |
|        | integer | a    | A     |            |
|        | integer | b    | B     | ${c} > 1   |
"""
        + SETTINGS
    )
    assert found.code == "xlsform.PYREF_003"
    assert (found.sheet, found.row, found.column) == ("survey", 3, "relevant")
    assert "'c'" in found.message


def test_select_with_missing_choice_list() -> None:
    found = only_problem(
        """
| survey |
|        | type          | name | label |
|        | text          | a    | A     |
|        | select_one yn | b    | B     |
| choices |
|         | list_name | name | label |
|         | colours   | red  | Red   |
"""
        + SETTINGS
    )
    assert found.code == "xlsform.choice_list_missing"
    assert (found.sheet, found.row, found.column) == ("survey", 3, "type")
    assert "'yn'" in found.message


def test_select_without_choices_sheet() -> None:
    found = only_problem(
        "| survey |\n| | type | name | label |\n| | text | a | A |\n| | select_one yn | b | B |\n"
        + SETTINGS
    )
    assert found.code == "xlsform.choices_sheet_missing"
    assert (found.sheet, found.row, found.column) == ("survey", 3, "type")


def test_duplicate_choices_give_one_problem_each() -> None:
    found = problems(
        """
| survey |
|        | type          | name | label |
|        | select_one yn | a    | A     |
|        | select_one c  | b    | B     |
| choices |
|         | list_name | name | label |
|         | yn        | y    | Yes   |
|         | yn        | y    | Yes!  |
|         | yn        | n    | No    |
|         | yn        | n    | No!   |
|         | c         | r    | Red   |
"""
        + SETTINGS
    )
    assert [(p.code, p.sheet, p.row, p.column) for p in found] == [
        ("xlsform.NAMES_007", "choices", 3, "name"),
        ("xlsform.NAMES_007", "choices", 5, "name"),
    ]


@pytest.mark.parametrize(
    ("column", "expression"),
    [
        ("relevant", "${a} > > 1"),
        ("constraint", ". > 1 and (. < 5"),
        ("calculation", "concat('x, ${a})"),
        ("choice_filter", "name = = ${a}"),
    ],
)
def test_bad_expression(column: str, expression: str) -> None:
    qtype = "calculate" if column == "calculation" else "integer"
    found = only_problem(
        f"""
| survey |
|        | type    | name | label | {column}      |
|        | integer | a    | A     |               |
|        | {qtype} | b    | B     | {expression}  |
"""
        + SETTINGS
    )
    assert found.code == "xlsform.expression_invalid"
    assert (found.sheet, found.row, found.column) == ("survey", 3, column)
    assert expression in found.message


def test_good_expressions_are_not_flagged() -> None:
    compile_md(
        """
| survey |
|        | type      | name | label | relevant                        | calculation                                      | required | constraint |
|        | integer   | a    | A     |                                 |                                                  | yes      | . >= 0 and . < 150 |
|        | calculate | b    |       | not(selected(${a}, 'x'))        | if(${a} > 1, format-date(today(), '%Y'), 'n')    |          |            |
|        | calculate | c    |       | ${a} != ''                      | jr:choice-name(${a}, '${a}')                     |          |            |
|        | calculate | d    |       |                                 | coalesce(${a}, 0) * 2 div 3 mod 4                |          |            |
"""
        + SETTINGS
    )


def test_bad_expression_on_entities_sheet() -> None:
    found = only_problem(
        """
| survey |
|        | type | name | label | save_to |
|        | text | a    | A     | name_p  |
| entities |
|          | list_name | label              |
|          | people    | concat(${a}, ' ')) |
"""
        + SETTINGS
    )
    assert found.code == "xlsform.expression_invalid"
    assert (found.sheet, found.row, found.column) == ("entities", 2, "label")


def test_entity_without_label_on_create() -> None:
    found = only_problem(
        """
| survey |
|        | type | name | label | save_to |
|        | text | a    | A     | name_p  |
| entities |
|          | list_name |
|          | people    |
"""
        + SETTINGS
    )
    assert found.code == "xlsform.ENTITY_005"
    assert (found.sheet, found.row, found.column) == ("entities", 2, "label")


def test_save_to_without_entities_sheet() -> None:
    found = only_problem(
        "| survey |\n| | type | name | label | save_to |\n| | text | a | A | p |\n" + SETTINGS
    )
    assert found.code == "xlsform.ENTITY_001"
    assert (found.sheet, found.row, found.column) == ("survey", 2, "save_to")


def test_unclosed_group() -> None:
    found = only_problem(
        "| survey |\n| | type | name | label |\n| | begin group | g | G |\n| | text | a | A |\n"
        + SETTINGS
    )
    assert found.code == "xlsform.SURVEY_002"
    assert (found.sheet, found.row, found.column) == ("survey", 2, "type")


def test_question_without_label() -> None:
    found = only_problem(
        "| survey |\n| | type | name | label |\n| | text | a | A |\n| | integer | b | |\n"
        + SETTINGS
    )
    assert found.code == "xlsform.label_missing"
    assert (found.sheet, found.row, found.column) == ("survey", 3, "label")
    assert "'b'" in found.message


def test_calculate_without_calculation() -> None:
    found = only_problem(
        "| survey |\n| | type | name | label |\n| | text | a | A |\n| | calculate | c | |\n"
        + SETTINGS
    )
    assert found.code == "xlsform.calculation_missing"
    assert (found.sheet, found.row, found.column) == ("survey", 3, "calculation")


def test_missing_version_is_not_a_problem_and_leaves_the_version_to_the_server() -> None:
    # issue 11: most real forms have no version; pyxform does not need one
    compiled = compile_md(
        "| survey |\n| | type | name | label |\n| | text | a | A |\n"
        "| settings |\n| | form_id |\n| | visit |\n"
    )
    assert 'version="' not in compiled.xform.split("<instance>", 1)[1].split(">", 1)[0]
    assert compiled.warnings == ()


def test_missing_settings_sheet_compiles() -> None:
    compiled = compile_md("| survey |\n| | type | name | label |\n| | text | a | A |\n")
    assert [w.code for w in compiled.warnings] == ["xlsform.form_id_from_filename"]


def test_set_form_version_writes_the_version_where_phones_read_it() -> None:
    compiled = compile_md(SIMPLE.replace("2026112101", "1"))
    stamped = xlsform.set_form_version(compiled.xform, "202612031425")
    assert '<data id="visit" version="202612031425">' in stamped
    assert stamped.replace(' version="202612031425"', ' version="1"') == compiled.xform


def instance_id(xform: str) -> str:
    match = re.search(r"<instance>\s*<[^ >]+ id=\"([^\"]*)\"", xform)
    assert match is not None
    return match.group(1)


@pytest.mark.parametrize("form_id", ["1visit", "Spec test", "визит", "home visit (2)"])
def test_form_ids_collect_and_web_forms_accept_are_kept(form_id: str) -> None:
    # JavaRosa and Web Forms read the id as any attribute string (see forms/README.md)
    compiled = compile_md(SIMPLE.replace("| visit   |", f"| {form_id} |"))
    assert instance_id(compiled.xform) == form_id
    assert compiled.warnings == ()


@pytest.mark.parametrize(
    ("form_id", "derived"), [("visit/2", "visit_2"), ("..", "form__"), ("a" * 300, "a" * 255)]
)
def test_form_ids_fieldapp_cannot_serve_are_derived_with_a_note(form_id: str, derived: str) -> None:
    compiled = compile_md(SIMPLE.replace("| visit   |", f"| {form_id} |"))
    assert instance_id(compiled.xform) == derived
    (note,) = compiled.warnings
    assert note.code == "xlsform.form_id_changed"
    assert note.note is True and note.to_dict()["note"] is True
    assert (note.sheet, note.row, note.column) == ("settings", 2, "form_id")
    assert f"'{derived}'" in note.message


def test_file_name_with_spaces_is_a_form_id() -> None:
    text = "| survey |\n| | type | name | label |\n| | text | a | A |\n| settings |\n| | version |\n| | 1 |\n"
    compiled = compile_md(text, filename="My form (2).md")
    assert instance_id(compiled.xform) == "My form (2)"
    assert [w.code for w in compiled.warnings] == ["xlsform.form_id_from_filename"]


@pytest.mark.parametrize("column", ["relevant", "required", "constraint", "calculation"])
def test_typographic_quotes_in_expressions_are_compiled_as_plain_quotes(column: str) -> None:
    # issue 11: pyxform replaces typographic quotes before compiling; fieldapp must not refuse them
    qtype = "calculate" if column == "calculation" else "text"
    compiled = compile_md(
        f"""
| survey |
|        | type    | name | label | {column}                      |
|        | text    | a    | A     |                               |
|        | {qtype} | b    | B     | ${{a}} = \u2018other\u2019 or ${{a}} = \u201cx\u201d |
"""
        + SETTINGS
    )
    attribute = {"calculation": "calculate"}.get(column, column)
    assert f"{attribute}=\" /data/a  = 'other' or  /data/a  = &quot;x&quot;\"" in compiled.xform


def test_typographic_quotes_in_choice_filter_are_accepted() -> None:
    compiled = compile_md(
        """
| survey |
|        | type          | name | label | choice_filter          |
|        | text          | a    | A     |                        |
|        | select_one c  | b    | B     | name != \u2018other\u2019 |
| choices |
|         | list_name | name  | label |
|         | c         | one   | One   |
|         | c         | other | Other |
"""
        + SETTINGS
    )
    assert "name != 'other'" in compiled.xform


def test_a_typographic_quote_does_not_hide_a_real_expression_error() -> None:
    found = only_problem(
        "| survey |\n| | type | name | label | relevant |\n| | text | a | A | |\n"
        "| | text | b | B | (${a} = \u2018other\u2019 |\n" + SETTINGS
    )
    assert found.code == "xlsform.expression_invalid"


def test_a_form_without_version_reports_only_its_real_problem() -> None:
    # before issue 11 the missing version was reported too, as an error
    found = only_problem("| survey |\n| | type | name | label |\n| | intger | a | A |\n")
    assert found.code == "xlsform.unknown_type"
    assert (found.sheet, found.row, found.column) == ("survey", 2, "type")


def test_unexpected_pyxform_exception_becomes_a_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(**_: object) -> None:
        raise KeyError("list_name")

    monkeypatch.setattr(xlsform, "convert", broken)
    found = only_problem(SIMPLE)
    assert found.code == "xlsform.unexpected"
    assert "KeyError" in found.message


# -- content limits --------------------------------------------------------------------------


def survey_rows(count: int) -> list[list[str]]:
    return [["type", "name", "label"]] + [["text", f"q{i}", f"Question {i}"] for i in range(count)]


def streamed_xlsx(sheets: dict[str, list[list[str]]]) -> bytes:
    """A large .xlsx quickly (openpyxl's write-only mode: inline strings, no dimensions)."""
    book = Workbook(write_only=True)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def too_big(data: bytes, filename: str) -> FormProblem:
    with pytest.raises(FormCompileError) as info:
        compile_xlsform(data, filename=filename)
    err = info.value
    assert err.http_status == 413
    (problem,) = err.problems
    assert err.code == problem.code
    assert problem.sheet, "a limit names its sheet"
    return problem


def never_read(*_args: object) -> None:
    raise AssertionError("pyxform's reader ran on a form over the limits")


def test_a_survey_over_ten_thousand_rows_is_refused_before_pyxform_reads_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(xlsform, "_read_workbook", never_read)
    data = streamed_xlsx({"survey": survey_rows(10_001), "settings": SIMPLE_ROWS["settings"]})
    problem = too_big(data, "big.xlsx")
    assert problem.code == "xlsform.too_many_rows"
    assert (problem.sheet, problem.row) == ("survey", 10_002)
    assert "10,000" in problem.message


@pytest.mark.parametrize("maker_name", ["xlsx_bytes", "handmade_xlsx", "streamed_xlsx"])
def test_row_limits_per_sheet_in_every_kind_of_xlsx(
    monkeypatch: pytest.MonkeyPatch, maker_name: str
) -> None:
    # Shared strings (openpyxl, Excel), inline strings (other tools), no <dimension> at all.
    monkeypatch.setitem(xlsform.MAX_SHEET_ROWS, "choices", 3)
    sheets = {
        "survey": [["type", "name", "label"], ["select_one yn", "a", "A"]],
        "choices": [["list_name", "name", "label"]] + [["yn", f"c{i}", f"C {i}"] for i in range(3)],
        "settings": SIMPLE_ROWS["settings"],
    }
    maker = globals()[maker_name]
    compile_xlsform(maker(sheets), filename="f.xlsx")  # exactly at the limit
    sheets["choices"].append(["yn", "c3", "C 3"])
    monkeypatch.setattr(xlsform, "_read_workbook", never_read)
    problem = too_big(maker(sheets), "f.xlsx")
    assert (problem.code, problem.sheet, problem.row) == ("xlsform.too_many_rows", "choices", 5)
    assert "select_one_from_file" in problem.message


def test_sheets_pyxform_does_not_read_are_not_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xlsform, "MAX_OTHER_SHEET_ROWS", 2)
    sheets = dict(SIMPLE_ROWS, notes=[["note"]] + [[f"line {i}"] for i in range(10)])
    compile_xlsform(xlsx_bytes(sheets), filename="f.xlsx")
    sheets["entities"] = [["list_name", "label"]] + [["x", "y"]] * 3
    assert too_big(xlsx_bytes(sheets), "f.xlsx").sheet == "entities"


def test_empty_rows_and_cells_are_not_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(xlsform.MAX_SHEET_ROWS, "survey", 1)
    rows = [*SIMPLE_ROWS["survey"], ["", "", ""], ["  ", "", ""]]
    compile_xlsform(xlsx_bytes(dict(SIMPLE_ROWS, survey=rows)), filename="f.xlsx")


@pytest.mark.parametrize("filename", ["f.xlsx", "f.md", "f.csv", "f.xls"])
def test_a_cell_over_the_character_limit(monkeypatch: pytest.MonkeyPatch, filename: str) -> None:
    monkeypatch.setattr(xlsform, "MAX_CELL_CHARS", 100)
    sheets = dict(SIMPLE_ROWS, survey=[*SIMPLE_ROWS["survey"], ["note", "n", "x" * 101]])
    problem = too_big(file_of(sheets, filename), filename)
    assert (problem.code, problem.sheet, problem.row) == ("xlsform.cell_too_long", "survey", 3)
    assert "101" in problem.message and "100" in problem.message
    if filename == "f.xlsx":
        assert problem.column == "label"


def test_a_cell_at_excels_own_limit_is_accepted() -> None:
    long_label = "Consent. " * (xlsform.MAX_CELL_CHARS // 9)
    sheets = dict(SIMPLE_ROWS, survey=[*SIMPLE_ROWS["survey"], ["note", "n", long_label]])
    assert long_label.strip() in compile_xlsform(xlsx_bytes(sheets), filename="f.xlsx").xform


@pytest.mark.parametrize("filename", ["f.xlsx", "f.md", "f.csv", "f.xls"])
def test_too_many_cells(monkeypatch: pytest.MonkeyPatch, filename: str) -> None:
    monkeypatch.setattr(xlsform, "MAX_CELLS", 12)
    sheets = dict(SIMPLE_ROWS, survey=survey_rows(5))
    problem = too_big(file_of(sheets, filename), filename)
    assert (problem.code, problem.sheet) == ("xlsform.too_many_cells", "survey")
    assert "12" in problem.message


def test_too_much_text_in_one_shared_string(monkeypatch: pytest.MonkeyPatch) -> None:
    # Excel keeps one copy of a repeated text: the file stays small, the text does not.
    monkeypatch.setattr(xlsform, "MAX_TEXT_CHARS", 5_000)
    label = "x" * 1_000
    rows = [["type", "name", "label"]] + [["note", f"n{i}", label] for i in range(6)]
    data = xlsx_bytes(dict(SIMPLE_ROWS, survey=rows))
    assert len(data) < 10_000
    assert too_big(data, "f.xlsx").code == "xlsform.too_much_text"


@pytest.mark.parametrize("filename", ["big.md", "big.csv"])
def test_text_forms_over_the_row_limit_are_refused_before_pyxform_reads_them(
    monkeypatch: pytest.MonkeyPatch, filename: str
) -> None:
    monkeypatch.setattr(xlsform, "_read_workbook", never_read)
    sheets = {"survey": survey_rows(10_001), "settings": SIMPLE_ROWS["settings"]}
    problem = too_big(file_of(sheets, filename), filename)
    assert (problem.code, problem.sheet, problem.row) == ("xlsform.too_many_rows", "survey", 10_002)


def test_a_doctype_inside_a_workbook_part_is_refused() -> None:
    data = replace_zip_entry(
        xlsx_bytes(SIMPLE_ROWS),
        "xl/worksheets/sheet1.xml",
        lambda xml: xml.replace(b"<worksheet", b'<!DOCTYPE x [<!ENTITY e "e">]><worksheet', 1),
    )
    assert unreadable(data, "f.xlsx").code == "file.corrupt"


def test_an_xform_too_large_for_phones_gets_its_own_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = xlsform.parse_xml
    monkeypatch.setattr(xlsform, "parse_xml", lambda xml: real(xml, max_bytes=500))
    found = only_problem(SIMPLE)
    assert found.code == "xlsform.xform_too_large"
    assert "10 MB" in found.message


def file_of(sheets: dict[str, list[list[str]]], filename: str) -> bytes:
    """The same sheets as .xlsx, .xls, .md or .csv."""
    if filename.endswith(".xlsx"):
        return xlsx_bytes(sheets)
    if filename.endswith(".xls"):
        return xls_bytes(sheets)
    lines: list[str] = []
    for name, rows in sheets.items():
        width = max(len(r) for r in rows)
        if filename.endswith(".csv"):
            lines.append(name + "," * width)
            lines.extend("," + ",".join(r) + "," * (width - len(r)) for r in rows)
        else:
            lines.append(f"| {name} |")
            lines.extend("| | " + " | ".join(r) + " |" for r in rows)
    return ("\n".join(lines) + "\n").encode()


def replace_zip_entry(data: bytes, name: str, change: object) -> bytes:
    assert callable(change)
    source = zipfile.ZipFile(io.BytesIO(data))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info.filename)
            target.writestr(info.filename, change(content) if info.filename == name else content)
    return buffer.getvalue()


# -- ODK Validate ----------------------------------------------------------------------------

LOOP = (
    """
| survey |
|        | type      | name | label | calculation |
|        | integer   | x    | X     |             |
|        | calculate | a    |       | ${b} + 1    |
|        | calculate | b    |       | ${a} + 1    |
"""
    + SETTINGS
)

UNKNOWN_FUNCTION = (
    """
| survey |
|        | type      | name | label | calculation |
|        | integer   | a    | A     |             |
|        | calculate | b    |       | foo(${a})   |
"""
    + SETTINGS
)


def test_pyxform_itself_accepts_loops_and_unknown_functions() -> None:
    # Both reach ODK Validate: pyxform does not evaluate expressions.
    compile_md(LOOP)
    compile_md(UNKNOWN_FUNCTION)


@pytest.mark.java
@requires_java
def test_validate_passes_a_good_form() -> None:
    result = odk_validate(compile_md(SIMPLE).xform)
    assert result == ValidateResult(ran=True, problems=(), warnings=())


@pytest.mark.java
@requires_java
def test_validate_finds_a_calculation_loop() -> None:
    result = odk_validate(compile_md(LOOP).xform)
    assert result.ran
    (problem,) = result.problems
    assert problem.code == "validate.cycle"
    assert "${a}" in problem.message and "${b}" in problem.message
    assert "java" not in problem.message.lower()
    assert "/data/" not in problem.message


@pytest.mark.java
@requires_java
def test_validate_finds_an_unknown_function() -> None:
    result = odk_validate(compile_md(UNKNOWN_FUNCTION).xform)
    (problem,) = result.problems
    assert problem.code == "validate.unknown_function"
    assert "'foo()'" in problem.message
    assert "${b}" in problem.message
    assert "Exception" not in problem.message and "\tat " not in problem.message


@pytest.mark.java
@requires_java
def test_validate_timeout_is_a_problem() -> None:
    result = odk_validate(compile_md(SIMPLE).xform, timeout=0.01)
    assert result.ran
    (problem,) = result.problems
    assert problem.code == "validate.timeout"
    assert "0.01 seconds" in problem.message


def test_validate_without_java(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    assert not java_available()
    assert odk_validate("<x/>") == ValidateResult(ran=False, problems=(), warnings=())


def test_validate_output_is_cleaned() -> None:
    stderr = (
        "\n\n>> XForm is invalid.\n"
        "org.javarosa.xform.parse.XFormParseException: Encountered a problem with display "
        "condition for node [/data/b] at line:  /data/a  > 1 (, mismatched brackets!\n"
        "\tat org.javarosa.xform.parse.XFormParser.parse(XFormParser.java:418)\n"
        "Caused by: java.lang.RuntimeException: mismatched brackets!\n"
        "\t... 10 more\n\nThe following files failed validation:\n/tmp/x/form.xml\n\n"
        "Result: Invalid\n"
    )
    assert xlsform._clean_validate_output(stderr, "/tmp/x/form.xml") == [
        "Encountered a problem with display condition for node [${b}] at line: ${a} > 1 (, "
        "mismatched brackets!"
    ]


# -- helpers: files built in memory ----------------------------------------------------------


def xlsx_bytes(sheets: dict[str, list[list[str]]]) -> bytes:
    book = Workbook()
    first = True
    for name, rows in sheets.items():
        sheet = book.active if first else book.create_sheet()
        assert sheet is not None
        sheet.title = name
        first = False
        for row in rows:
            sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


DATA_VALIDATION_EXTENSION = (
    '<extLst><ext uri="{CCE6A557-97BC-4b89-ADB6-D9C93CAAB3DF}" '
    'xmlns:x14="http://schemas.microsoft.com/office/spreadsheetml/2009/9/main">'
    '<x14:dataValidations count="0"/></ext></extLst>'
)
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_CT = "application/vnd.openxmlformats-officedocument.spreadsheetml"


def handmade_xlsx(sheets: dict[str, list[list[str]]], sheet_extra: str = "") -> bytes:
    """A bare .xlsx as other tools write it: no styles, inline strings."""
    types = [
        f'<Override PartName="/xl/workbook.xml" ContentType="{_CT}.sheet.main+xml"/>',
    ]
    entries: dict[str, bytes] = {}
    sheet_list, rels = "", ""
    for i, (name, rows) in enumerate(sheets.items(), 1):
        types.append(
            f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="{_CT}.worksheet+xml"/>'
        )
        sheet_list += f'<sheet name="{name}" sheetId="{i}" r:id="rId{i}"/>'
        rels += (
            f'<Relationship Id="rId{i}" Type="{_REL}/worksheet" Target="worksheets/sheet{i}.xml"/>'
        )
        cells = "".join(
            f'<row r="{r}">'
            + "".join(
                f'<c r="{chr(65 + c)}{r}" t="inlineStr"><is><t>{v}</t></is></c>'
                for c, v in enumerate(row)
            )
            + "</row>"
            for r, row in enumerate(rows, 1)
        )
        entries[f"xl/worksheets/sheet{i}.xml"] = (
            f'<worksheet xmlns="{_MAIN}"><sheetData>{cells}</sheetData>{sheet_extra}</worksheet>'
        ).encode()
    entries["[Content_Types].xml"] = (
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
        + "".join(types)
        + "</Types>"
    ).encode()
    entries["_rels/.rels"] = (
        f'<Relationships xmlns="{_PKG_REL}"><Relationship Id="rId1" '
        f'Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
    ).encode()
    entries["xl/workbook.xml"] = (
        f'<workbook xmlns="{_MAIN}" xmlns:r="{_REL}"><sheets>{sheet_list}</sheets></workbook>'
    ).encode()
    entries["xl/_rels/workbook.xml.rels"] = (
        f'<Relationships xmlns="{_PKG_REL}">{rels}</Relationships>'
    ).encode()
    return make_zip(entries)


def make_zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def add_zip_entries(data: bytes, entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO(data)
    with zipfile.ZipFile(buffer, "a") as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return buffer.getvalue()


_FREESECT, _ENDOFCHAIN, _FATSECT, _NOSTREAM = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF


def ole2(streams: dict[str, bytes]) -> bytes:
    """A minimal OLE2 compound file: 512-byte sectors, one FAT sector, one directory sector.

    Streams are padded to 4096 bytes so none lives in the mini stream.
    """
    assert len(streams) <= 3
    data_sectors: list[bytes] = []
    fat = [_FATSECT, _ENDOFCHAIN]
    entries = [("Root Entry", 5, _ENDOFCHAIN, 0)]
    for name, content in streams.items():
        padded = content.ljust(max(4096, -(-len(content) // 512) * 512), b"\0")
        first = 2 + len(data_sectors)
        count = len(padded) // 512
        for i in range(count):
            data_sectors.append(padded[i * 512 : (i + 1) * 512])
            fat.append(first + i + 1 if i < count - 1 else _ENDOFCHAIN)
        entries.append((name, 2, first, len(padded)))
    assert len(fat) <= 128
    directory = b""
    for i, (name, kind, start, size) in enumerate(entries):
        encoded = (name + "\0").encode("utf-16-le")
        child = 1 if i == 0 else _NOSTREAM
        right = i + 1 if 0 < i < len(entries) - 1 else _NOSTREAM
        directory += struct.pack(
            "<64sHBBIII16sIQQIII",
            encoded,
            len(encoded),
            kind,
            1,
            _NOSTREAM,
            right,
            child,
            b"\0" * 16,
            0,
            0,
            0,
            start,
            size,
            0,
        )
    header = struct.pack(
        "<8s16sHHHHH6sIIIIIIIII",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        b"\0" * 16,
        0x3E,
        3,
        0xFFFE,
        9,
        6,
        b"\0" * 6,
        0,
        1,
        1,
        0,
        4096,
        _ENDOFCHAIN,
        0,
        _ENDOFCHAIN,
        0,
    )
    header += struct.pack("<109I", 0, *([_FREESECT] * 108))
    fat_sector = struct.pack("<128I", *(fat + [_FREESECT] * (128 - len(fat))))
    return header + fat_sector + directory.ljust(512, b"\0") + b"".join(data_sectors)


def biff_record(kind: int, payload: bytes = b"") -> bytes:
    return struct.pack("<HH", kind, len(payload)) + payload


def xls_bytes(sheets: dict[str, list[list[str]]]) -> bytes:
    """A minimal real .xls (BIFF8 in OLE2) with text cells only, readable by xlrd."""

    def bof(kind: int) -> bytes:
        return biff_record(0x0809, struct.pack("<HHHHII", 0x0600, kind, 0x0DBB, 0x07CC, 0, 6))

    def label(row: int, col: int, text: str) -> bytes:
        payload = struct.pack("<HHHHB", row, col, 0, len(text), 1) + text.encode("utf-16-le")
        return biff_record(0x0204, payload)

    def boundsheet(offset: int, name: str) -> bytes:
        payload = struct.pack("<IBBBB", offset, 0, 0, len(name), 1) + name.encode("utf-16-le")
        return biff_record(0x0085, payload)

    bodies = []
    for rows in sheets.values():
        body = bof(0x10)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if value:
                    body += label(r, c, value)
        bodies.append(body + biff_record(0x000A))
    codepage = biff_record(0x0042, struct.pack("<H", 1200))
    head = len(bof(5)) + len(codepage) + sum(len(boundsheet(0, n)) for n in sheets) + 4
    stream = bof(5) + codepage
    offset = head
    for name, body in zip(sheets, bodies, strict=True):
        stream += boundsheet(offset, name)
        offset += len(body)
    stream += biff_record(0x000A)
    return ole2({"Workbook": stream + b"".join(bodies)})
