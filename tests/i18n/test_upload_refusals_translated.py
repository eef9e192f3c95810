"""An uploaded form file that is refused (empty, not a workbook, a zip bomb, an unsupported
type) is explained on the forms page in the designer's language, with the values (the file
extension, the counts) inside the translated sentence; the JSON API keeps the English message
and its ``file.*`` code."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import pytest
from flask import Flask

from fieldapp.auth import services as auth
from fieldapp.db import db
from tests.i18n.test_error_messages import _signed_in

PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n"


def _zip_of_many_parts(count: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for index in range(count):
            archive.writestr(f"xl/part{index}.xml", b"")
    return buffer.getvalue()


#: (file name, content) -> the sentence shown, per language
REFUSALS: dict[str, tuple[str, bytes, dict[str, str]]] = {
    "empty": (
        "form.xlsx",
        b"",
        {
            "ru": "Файл пустой. Выберите файл XLSForm и загрузите его снова.",
            "kk": "Файл бос. XLSForm файлын таңдап, қайта жүктеңіз.",
        },
    ),
    "pdf_named_xlsx": (
        "form.xlsx",
        PDF,
        {
            "ru": "Этот файл — PDF, а не книга Excel. Имя файла оканчивается на .xlsx, но по "
            "содержимому это не книга Excel.",
            "kk": "Бұл файл — Excel кітабы емес, PDF. Файл атауы .xlsx деп аяқталады, бірақ "
            "мазмұны бойынша ол Excel кітабы емес.",
        },
    ),
    "ods": (
        "form.ods",
        b"anything",
        {
            "ru": "Файлы «.ods» не принимаются. Загрузите книгу Excel (.xlsx или .xls), файл "
            ".csv или .md. Откройте его в LibreOffice или Excel и сохраните как книгу Excel "
            "(.xlsx).",
            "kk": "«.ods» файлдары қабылданбайды. Excel кітабын (.xlsx немесе .xls), .csv "
            "немесе .md файлын жүктеңіз. Оны LibreOffice немесе Excel бағдарламасында ашып, "
            "Excel кітабы (.xlsx) ретінде сақтаңыз.",
        },
    ),
    "zip_bomb": (
        "form.xlsx",
        _zip_of_many_parts(1001),
        {
            "ru": "(частей: 1001, допускается не больше 1000)",
            "kk": "(бөліктер саны: 1001, шегі — 1000)",
        },
    ),
    "not_utf8": (
        "form.csv",
        b"survey,type\n\xff\xfe",
        {
            "ru": "(байт в позиции 12 не читается)",
            "kk": "(12 орнындағы байт оқылмайды)",
        },
    ),
}

#: what the API says for the same files, as it said before the messages were translatable
ENGLISH = {
    "empty": ("file.empty", "The file is empty. Choose the XLSForm file and upload again."),
    "pdf_named_xlsx": (
        "file.not_a_workbook",
        "This file is a PDF, not an Excel workbook. The file name ends in .xlsx but the content "
        "is not a workbook.",
    ),
    "ods": (
        "file.unsupported_type",
        "'.ods' files are not accepted. Upload an Excel workbook (.xlsx or .xls), a .csv or a "
        ".md file. Open it in LibreOffice or Excel and save it as an Excel workbook (.xlsx).",
    ),
    "zip_bomb": (
        "file.zip_bomb",
        "The workbook unpacks to far more data than an XLSForm holds (1001 parts, the limit is "
        "1000); it is refused for safety. Remove pictures, unused sheets and formatting, save, "
        "and upload again.",
    ),
    "not_utf8": (
        "file.not_utf8",
        "The file is not UTF-8 text (the byte at position 12 cannot be read). In Excel use "
        "File > Save As > 'CSV UTF-8 (Comma delimited)'.",
    ),
}


@pytest.mark.parametrize("language", ["ru", "kk"])
@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_the_forms_page_explains_a_refused_file_in_the_language(
    app: Flask, make_user: Any, language: str, case: str
):
    filename, content, shown = REFUSALS[case]
    designer = _signed_in(app, make_user, "designer", language)
    page = designer.post(
        "/forms/upload",
        {"file": (io.BytesIO(content), filename)},
        content_type="multipart/form-data",
    )
    body = page.data.decode()
    assert page.status_code in (400, 413, 415), page.status_code
    assert shown[language] in body
    english = ENGLISH[case][1]
    assert english not in body
    assert english.split(" (")[0].split(".")[0] not in body  # not even its first words


@pytest.mark.parametrize("case", sorted(ENGLISH))
def test_the_api_keeps_the_english_refusal_and_its_code(app: Flask, make_user: Any, case: str):
    filename, content, _shown = REFUSALS[case]
    user = make_user("designer")
    user.language = "ru"
    token, _ = auth.issue_api_token(user, actor=None)
    db.session.commit()
    answer = app.test_client().post(
        "/api/v1/forms",
        data={"file": (io.BytesIO(content), filename)},
        content_type="multipart/form-data",
        headers={"Authorization": f"Bearer {token}", "Accept-Language": "ru"},
    )
    code, message = ENGLISH[case]
    assert answer.status_code in (400, 413, 415)
    assert answer.get_json() == {"error": {"code": code, "message": message}}


def test_a_file_name_in_the_message_stays_escaped(app: Flask, make_user: Any):
    designer = _signed_in(app, make_user, "designer", "ru")
    page = designer.post(
        "/forms/upload",
        {"file": (io.BytesIO(b"x"), "<b>form</b>.<i>")},
        content_type="multipart/form-data",
    )
    body = page.data.decode()
    assert page.status_code == 415
    assert "Файлы «.&lt;i&gt;» не принимаются." in body
    assert "<i>" not in body
