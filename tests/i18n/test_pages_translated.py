"""Every page, rendered in Russian and in Kazakh through the test client, shows no English string
of the catalogue (``tests/i18n/untranslated.py``).

The routes come from the URL map and the people who may open them from the table of
``tests/test_authorization.py`` (the same world: two regions, a case, a submission, a transfer,
a webhook, an export); a page nobody in that world may open is listed below with why. Error
pages are checked too: a 404, a refused form, the login page's wrong password.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from fieldapp.auth.models import Region
from fieldapp.cases.models import CaseList
from fieldapp.db import db
from tests.conftest import Browser
from tests.i18n.untranslated import english_patterns, english_runs, untranslated
from tests.test_authorization import ALLOWED, _url, _username

#: who opens a page, first of those the table allows
ORDER = ("coord_n", "worker_n", "designer", "admin", "anonymous")
#: pages with no one to open them in this world, and where they are checked instead
NOT_HERE = {
    "auth.second_factor",  # needs a password entered a moment ago: tests/browser walk
    "tries.fill",  # needs a try of one's own: tests/browser walk (designer)
    "tries.test_submission",
    "fill.submission_xml",  # XML and files, not pages
    "fill.submission_attachment",
    "fill.service_worker",  # a script
}
#: the world's own data: the test forms' made-up names (NATO words), and the instance name
#: the registration form composes in English ("Registration: ...")
DATA_WORDS = (
    "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november "
    "oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu Registration"
).split()
#: endpoints that answer with something other than a page
NOT_PAGES = ("api.", "_api.", "openrosa", "odata.", "static", "forms.xform", "forms.source")


def _pages(app: Flask) -> list[tuple[str, str]]:
    found = []
    for rule in app.url_map.iter_rules():
        endpoint = rule.endpoint
        if "GET" not in (rule.methods or ()) or endpoint in NOT_HERE:
            continue
        if any(part in endpoint for part in NOT_PAGES) or endpoint.startswith("exports.job_"):
            continue
        if rule.rule.startswith(("/api/", "/v1/", "/collect")):
            continue
        found.append((endpoint, rule.rule))
    return sorted(set(found))


def _who(endpoint: str) -> str | None:
    allowed = ALLOWED.get(endpoint, set())
    return next((who for who in ORDER if who in allowed), None)


def _client(app: Flask, who: str, language: str) -> Browser:
    browser = Browser(app.test_client())
    browser.client.environ_base["HTTP_ACCEPT_LANGUAGE"] = language
    if who != "anonymous":
        assert browser.login(_username(who)).status_code == 302
    return browser


@pytest.mark.parametrize("language", ["ru", "kk"])
def test_every_page_speaks_the_language(app: Flask, world: dict[str, Any], language: str):
    checked, problems, unknown = [], {}, {}
    rules = {rule.endpoint: rule for rule in app.url_map.iter_rules()}
    data = [*DATA_WORDS, *db.session.scalars(select(CaseList.title))]
    data += list(db.session.scalars(select(Region.name)))
    data_words = re.compile("|".join(rf"\b{re.escape(word)}\b" for word in data))
    clients: dict[str, Browser] = {}
    for endpoint, _ in _pages(app):
        who = _who(endpoint)
        assert who is not None, f"{endpoint}: nobody may open it here; list it in NOT_HERE"
        if who not in clients:
            clients[who] = _client(app, who, language)
        url = _url(app, rules[endpoint], world["values"])
        page = clients[who].get(url)
        if page.status_code in (301, 302, 303):
            page = clients[who].get(page.headers["Location"])
        assert page.status_code < 500, (endpoint, page.status_code)
        if not page.content_type.startswith("text/html"):
            continue
        body = page.data.decode()
        assert f'<html lang="{language}">' in body, endpoint
        left = untranslated(body)
        if left:
            problems[endpoint] = left
        # and no English the catalogue does not know (a string never wrapped)
        runs = english_runs(data_words.sub(" ", body))
        if runs:
            unknown[endpoint] = runs
        checked.append(endpoint)
    assert not problems, problems
    assert not unknown, unknown
    # the walk really saw the pages of every role (and the check has something to look for)
    for must in (
        "review.queue",
        "case_pages.case_page",
        "forms.detail",
        "admin.users",
        "fill.index",
        "auth.login",
        "exports.index",
    ):
        assert must in checked, must
    assert len(checked) >= 30 and len(english_patterns()) > 700


@pytest.mark.parametrize("language", ["ru", "kk"])
def test_error_pages_and_refusals_speak_the_language(app: Flask, world: dict[str, Any], language):
    anonymous = _client(app, "anonymous", language)
    wrong = anonymous.post("/login", {"username": "coord_n", "password": "not it"})
    assert wrong.status_code == 401
    assert not untranslated(wrong.data.decode())
    coordinator = _client(app, "coord_n", language)
    missing = coordinator.get("/cases/NO-SUCH-CASE")
    assert missing.status_code == 404 and 'data-error-code="' in missing.data.decode()
    assert not untranslated(missing.data.decode())
    nowhere = coordinator.get("/no/such/page")
    assert nowhere.status_code == 404 and not untranslated(nowhere.data.decode())
    assert {"ru": "По этому адресу ничего нет", "kk": "Бұл мекенжайда ештеңе жоқ"}[
        language
    ] in nowhere.data.decode()
    refused = coordinator.post("/language", {"language": "de"})
    assert refused.status_code == 422
    assert not untranslated(refused.data.decode())
    # a flash after an action, on the page it leads to
    coordinator.post("/review/bulk-approve", {})
    queue = coordinator.get("/review").data.decode()
    assert "flash-error" in queue and not untranslated(queue)


def test_the_check_finds_english_on_a_page(app: Flask):
    """The check can fail: an English page is full of catalogue strings; data values are not."""
    client = app.test_client()
    english = client.get("/login").data.decode()
    found = {msgid for _, msgid in untranslated(english)}
    assert {"Log in", "Username", "Password"} <= found
    assert untranslated("<p>Welcome, Aigerim</p>") == [("Welcome, Aigerim", "Welcome, %(name)s")]
    assert untranslated('<p dir="auto">Review queue</p><code>Save</code>') == []
