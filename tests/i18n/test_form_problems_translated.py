"""The problems listed for a form that does not convert, and the notes stored with a draft, are
in the designer's language where fieldapp wrote them (with the sheet's values inside the
sentence); what pyxform says itself stays as pyxform gives it; the API keeps every English
message and leaves the stored translation data out."""

from __future__ import annotations

import io
import textwrap
from typing import Any

import pytest
from flask import Flask

from fieldapp.auth import services as auth
from fieldapp.db import db
from tests.forms.several_problems import SEVERAL_PROBLEMS
from tests.i18n.test_error_messages import _signed_in

#: fieldapp's own sentences for SEVERAL_PROBLEMS, per language
OURS = {
    "ru": [
        "Списка вариантов «nolist» нет на листе choices. Добавьте туда его варианты с "
        "list_name «nolist» или исправьте имя списка в столбце type.",
        "На листе «survey» значение «label» ссылается на ${zzz}, но вопроса с именем «zzz» "
        "нет. Исправьте имя или добавьте вопрос.",
        "Для значения «save_to» нужен лист entities",
        "На листе «survey» значение «relevant» — не правильное выражение (",
    ],
    "kk": [
        "«nolist» таңдау тізімі choices парағында жоқ. Оның таңдауларын сол параққа list_name "
        "«nolist» деп қосыңыз немесе type бағанындағы тізім атауын түзетіңіз.",
        "«survey» парағындағы «label» мәні ${zzz} сілтейді, бірақ «zzz» деп аталатын сұрақ "
        "жоқ. Атауын түзетіңіз немесе сұрақты қосыңыз.",
        "«save_to» мәніне entities парағы керек",
        "«survey» парағындағы «relevant» мәні дұрыс өрнек емес (",
    ],
}

NO_FORM_ID = textwrap.dedent("""
    | survey |         |          |          |
    |        | type    | name     | label    |
    |        | text    | q        | Q        |
""").encode()

NOTE = {
    "ru": "На листе settings нет form_id, поэтому идентификатором формы стало имя файла "
    "«visit_notes».",
    "kk": "settings парағында form_id жоқ, сондықтан нысан идентификаторы ретінде "
    "«visit_notes» файл атауы алынды.",
}
NOTE_ENGLISH = (
    "The settings sheet has no form_id, so the file name 'visit_notes' is used as the form id. "
    "Add a 'form_id' column to the settings sheet so that a renamed file still updates the "
    "same form."
)


def _upload(browser: Any, content: bytes, filename: str) -> Any:
    return browser.post(
        "/forms/upload",
        {"file": (io.BytesIO(content), filename)},
        content_type="multipart/form-data",
    )


@pytest.mark.parametrize("language", ["ru", "kk"])
def test_the_upload_page_lists_our_problems_in_the_language(
    app: Flask, make_user: Any, language: str
):
    designer = _signed_in(app, make_user, "designer", language)
    page = _upload(designer, SEVERAL_PROBLEMS, "several.md")
    body = page.data.decode()
    assert page.status_code == 422
    for sentence in OURS[language]:
        assert sentence in body
    assert "is not on the choices sheet" not in body
    assert "but no question has the name" not in body
    # pyxform's own message for the invalid name stays as pyxform gives it
    assert "Names must begin with a letter or underscore." in body


@pytest.mark.parametrize("language", ["ru", "kk"])
def test_a_stored_note_is_shown_in_the_language_on_the_form_page(
    app: Flask, make_user: Any, language: str
):
    designer = _signed_in(app, make_user, "designer", language)
    uploaded = _upload(designer, NO_FORM_ID, "visit_notes.md")
    assert uploaded.status_code == 302, uploaded.data.decode()[:2000]
    page = designer.get("/forms/visit_notes")
    body = page.data.decode()
    assert page.status_code == 200
    assert NOTE[language] in body
    assert "is used as the form id" not in body


def test_the_api_keeps_english_problems_and_notes(app: Flask, make_user: Any):
    user = make_user("designer")
    user.language = "ru"
    token, _ = auth.issue_api_token(user, actor=None)
    db.session.commit()
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}", "Accept-Language": "ru"}

    def post(content: bytes, filename: str) -> Any:
        return client.post(
            "/api/v1/forms",
            data={"file": (io.BytesIO(content), filename)},
            content_type="multipart/form-data",
            headers=headers,
        )

    refused = post(SEVERAL_PROBLEMS, "several.md")
    assert refused.status_code == 422
    messages = [d["message"] for d in refused.get_json()["error"]["details"]]
    assert (
        "The choice list 'nolist' is not on the choices sheet. Add its choices there with "
        "list_name 'nolist', or correct the list name in the type column."
    ) in messages
    assert not any("Списка" in m for m in messages)

    accepted = post(NO_FORM_ID, "visit_notes.md")
    assert accepted.status_code == 201
    note = next(
        w for w in accepted.get_json()["warnings"] if w["code"] == "xlsform.form_id_from_filename"
    )
    assert note == {
        "message": NOTE_ENGLISH,
        "code": "xlsform.form_id_from_filename",
        "sheet": "settings",
        "row": 2,
        "column": "form_id",
    }
    shown = client.get("/api/v1/forms/visit_notes", headers=headers).get_json()
    assert "i18n" not in str(shown)
    assert NOTE_ENGLISH in str(shown)
