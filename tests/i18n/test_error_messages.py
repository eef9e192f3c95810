"""Domain errors that quote values are translated on pages with the values inside the sentence;
the JSON API keeps the English message and its code; no raise site builds its message with an
f-string, ``+`` or ``.format`` (so every message reaches the catalogue as a template)."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

import fieldapp
from fieldapp import errors
from fieldapp.auth import services as auth
from fieldapp.auth import throttle
from fieldapp.db import db
from fieldapp.errors import DomainError, ErrorMessage, Invalid, NotFound
from fieldapp.web import i18n
from tests.conftest import Browser
from tests.i18n.test_catalogues import tool

PACKAGE = Path(fieldapp.__file__).parent

#: the sentence for a form that does not exist, per language
NO_FORM = {
    "ru": "Формы «nosuch» нет.",
    "kk": "«nosuch» нысаны жоқ.",
}
NO_FORM_TO_FILL = {
    "ru": "Формы «nosuch», которую вы могли бы заполнить, нет.",
    "kk": "Сіз толтыра алатын «nosuch» нысаны жоқ.",
}


def _signed_in(app: Flask, make_user: Any, role: str, language: str) -> Browser:
    user = make_user(role)
    user.language = language
    db.session.commit()
    browser = Browser(app.test_client())
    assert browser.login(user.username).status_code == 302
    return browser


@pytest.mark.parametrize("language", ["ru", "kk"])
def test_a_missing_form_is_named_inside_the_translated_sentence(
    app: Flask, make_user: Any, language: str
):
    designer = _signed_in(app, make_user, "designer", language)
    page = designer.get("/forms/nosuch")
    body = page.data.decode()
    assert page.status_code == 404
    assert 'data-error-code="form.not_found"' in body or "form.not_found" in body
    assert NO_FORM[language] in body
    assert "There is no form" not in body


@pytest.mark.parametrize("language", ["ru", "kk"])
def test_filling_a_missing_form_says_so_in_the_language(app: Flask, make_user: Any, language):
    worker = _signed_in(app, make_user, "field_worker", language)
    page = worker.get("/fill/nosuch")
    assert page.status_code == 404
    assert NO_FORM_TO_FILL[language] in page.data.decode()


def test_the_api_keeps_the_english_message_and_its_code(app: Flask, make_user: Any):
    user = make_user("designer")
    user.language = "ru"
    token, _ = auth.issue_api_token(user, actor=None)
    db.session.commit()
    answer = app.test_client().get(
        "/api/v1/forms/nosuch",
        headers={"Authorization": f"Bearer {token}", "Accept-Language": "ru"},
    )
    assert answer.status_code == 404
    assert answer.get_json() == {
        "error": {"code": "form.not_found", "message": "There is no form 'nosuch'."}
    }


def test_the_message_is_the_template_with_its_values():
    exc = NotFound("There is no form '%(form)s'.", code="form.not_found", params={"form": "x"})
    assert exc.message == str(exc) == "There is no form 'x'."
    assert exc.template == "There is no form '%(form)s'."
    assert dict(exc.params) == {"form": "x"}
    assert exc.to_dict() == {
        "error": {"code": "form.not_found", "message": "There is no form 'x'."}
    }
    constant = Invalid("Give 100% or less.")  # no params: a literal % stays as written
    assert constant.message == "Give 100% or less." and constant.template == constant.message
    assert not constant.params


def test_a_translation_that_lost_a_placeholder_falls_back_to_english(app: Flask, monkeypatch):
    exc = NotFound("There is no form '%(form)s'.", params={"form": "nosuch"})
    with app.test_request_context(headers={"Accept-Language": "ru"}):
        assert i18n.translated_error(exc) == NO_FORM["ru"]
        for broken in ("Формы нет.", "Формы %(other)s нет.", "Формы %(form)d нет.", "Формы %(form"):
            monkeypatch.setattr(i18n, "gettext", lambda _text, broken=broken: broken)
            assert i18n.translated_error(exc) == "There is no form 'nosuch'."
            assert i18n._error_message(exc.message) == "There is no form 'nosuch'."


def test_nested_messages_are_translated_where_shown(app: Flask):
    exc = DomainError("Try again in %(wait)s.", params={"wait": throttle.wait_minutes(5)})
    assert exc.message == "Try again in 5 minutes."
    wait = exc.params["wait"]
    assert isinstance(wait, ErrorMessage)
    with app.test_request_context(headers={"Accept-Language": "kk"}):
        assert i18n._shown_value(wait) == "5 минут"


# -- every raise site --------------------------------------------------------------------------


def _error_classes() -> set[str]:
    for module in pkgutil.walk_packages([str(PACKAGE)], "fieldapp."):
        if ".tests" not in module.name:
            importlib.import_module(module.name)
    found: set[str] = set()
    todo = [DomainError]
    while todo:
        cls = todo.pop()
        found.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return found


def _built(node: ast.expr) -> bool:
    """Whether a message is built from values rather than written as a constant."""
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mod):
        return True
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.attr == "format"
    if isinstance(node, ast.IfExp):
        return _built(node.body) or _built(node.orelse)
    return False


#: functions that make a domain error's message (or a piece it quotes) out of one of their
#: arguments, and that argument's position: the XLSForm checks' refusals and their fragments
HELPERS = {"_unreadable": 1, "_words": 0}


def test_no_domain_error_is_raised_with_a_built_message():
    classes = _error_classes()
    assert {"DomainError", "NotFound", "TooManyAttempts", "XmlTooManyElements"} <= classes
    assert len(classes) > 25, classes
    offenders, calls = [], 0
    helpers: dict[str, int] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name not in classes and name not in HELPERS:
                continue
            calls += 1
            helpers[str(name)] = helpers.get(str(name), 0) + 1
            position = HELPERS.get(str(name), 0)
            message = node.args[position] if len(node.args) > position else None
            for keyword in node.keywords:
                if keyword.arg == "message":
                    message = keyword.value
            if message is not None and _built(message):
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {name}")
    assert calls > 300, calls  # the walk really saw the raise sites
    assert helpers["_unreadable"] > 25, helpers  # every refusal of an uploaded form file
    assert helpers["_words"] > 15, helpers
    assert not offenders, "messages built from values (use a template and params=):\n" + "\n".join(
        offenders
    )


def test_the_checker_notices_an_f_string_message():
    tree = ast.parse('raise NotFound(f"There is no form {form_id!r}.")')
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call))
    assert _built(call.args[0])
    for source in ('"a" + b', '"{}".format(b)', '"%s" % b', 'f"{a}" if b else "c"'):
        assert _built(ast.parse(source, mode="eval").body), source
    assert not _built(ast.parse('"There is no form %(form)s."', mode="eval").body)


def test_the_extraction_knows_every_error_class():
    assert set(tool.ERROR_CLASSES) == _error_classes()
    assert errors.DomainError.__name__ in tool.ERROR_CLASSES
