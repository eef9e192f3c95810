"""Which language a page speaks: the person's own setting, else the one chosen on the login
page, else the browser's ``Accept-Language``, else English; ``<html lang>`` says which.
Dates read day.month.year in Russian and Kazakh (never month/day/year)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from fieldapp.auth import services as auth
from fieldapp.auth.models import User
from fieldapp.db import db
from fieldapp.errors import Invalid
from tests.conftest import Browser


def _lang(page) -> str:
    match = re.search(r'<html lang="([a-z]+)"', page.data.decode())
    assert match is not None
    return match.group(1)


def _language_of(username: str) -> str | None:
    db.session.expire_all()
    return db.session.scalar(select(User.language).where(User.username == username))


def test_the_browser_decides_for_an_anonymous_visitor(client):
    assert _lang(client.get("/login")) == "en"  # nothing asked: English
    page = client.get("/login", headers={"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.5"})
    assert _lang(page) == "ru"
    assert "Войти" in page.data.decode() and "Log in" not in page.data.decode()
    page = client.get("/login", headers={"Accept-Language": "kk-KZ, ru;q=0.8"})
    assert _lang(page) == "kk" and "Кіру" in page.data.decode()
    # a language fieldapp does not speak falls to the next one asked, then English
    assert _lang(client.get("/login", headers={"Accept-Language": "de, kk;q=0.3"})) == "kk"
    assert _lang(client.get("/login", headers={"Accept-Language": "de, fr"})) == "en"


def test_the_login_page_offers_a_switch_kept_for_the_browser(client):
    browser = Browser(client)
    page = client.get("/login", headers={"Accept-Language": "ru"})
    assert 'lang="kk"' in page.data.decode() and "Қазақша" in page.data.decode()
    moved = browser.post("/language", {"language": "kk", "next": "/login"})
    assert moved.status_code == 302 and moved.headers["Location"] == "/login"
    # the choice wins over the browser's own wish, for this browser's session
    assert _lang(client.get("/login", headers={"Accept-Language": "ru"})) == "kk"
    browser.post("/language", {"language": "", "next": "/login"})
    assert _lang(client.get("/login", headers={"Accept-Language": "ru"})) == "ru"


def test_a_persons_setting_wins_and_follows_them_to_any_browser(app, make_user):
    make_user("coordinator", username="aliya")
    first = Browser(app.test_client())
    assert first.login("aliya").status_code == 302
    account = first.get("/account", headers={"Accept-Language": "ru"}).data.decode()
    assert 'id="language"' in account and "Язык страниц" in account
    assert first.post("/language", {"language": "kk", "next": "/account"}).status_code == 302
    assert _language_of("aliya") == "kk"
    # another browser, asking for Russian, still gets her Kazakh after logging in
    second = Browser(app.test_client())
    assert second.login("aliya").status_code == 302
    home = second.get("/", headers={"Accept-Language": "ru, en"})
    assert _lang(home) == "kk" and "Қош келдіңіз" in home.data.decode()
    # back to "as the browser asks"
    second.post("/language", {"language": "", "next": "/"})
    assert _language_of("aliya") is None
    assert _lang(second.get("/", headers={"Accept-Language": "ru"})) == "ru"


@pytest.mark.parametrize("bad", ["de", "RU", "ru-RU", "x" * 300, "<script>"])
def test_an_unknown_language_is_refused_with_a_code(app, make_user, bad):
    make_user("field_worker", username="daulet")
    browser = Browser(app.test_client())
    browser.login("daulet")
    refused = browser.post("/language", {"language": bad})
    assert refused.status_code == 422
    assert 'data-error-code="user.language_invalid"' in refused.data.decode()
    assert _language_of("daulet") is None


def test_the_next_address_stays_on_this_site(client):
    browser = Browser(client)
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil"):
        moved = browser.post("/language", {"language": "ru", "next": target})
        assert moved.status_code == 302 and moved.headers["Location"] == "/"


def test_only_the_three_languages_reach_the_column(app, make_user):
    user = make_user("designer", username="timur")
    with pytest.raises(Invalid) as refused:
        auth.set_language(user, "de")
    assert refused.value.code == "user.language_invalid"
    auth.set_language(user, "kk")
    assert user.language == "kk"
    if db.session.get_bind().dialect.name == "postgresql":
        # and the database itself refuses anything else (the migration's CHECK)
        with pytest.raises(IntegrityError), db.session.begin_nested():
            db.session.execute(
                text("UPDATE users SET language = 'de' WHERE id = :id"), {"id": user.id}
            )


def test_dates_read_day_month_year_in_russian_and_kazakh(app):
    from flask import render_template_string

    moment = datetime(2026, 3, 4, 9, 5, tzinfo=UTC)
    template = (
        "{{ moment|dt }}|{{ moment.date()|date }}|{{ '2026-03-04'|date }}|{{ 1234567|number }}"
    )
    out = {}
    for language in ("ru", "kk", "en"):
        with app.test_request_context("/", headers={"Accept-Language": language}):
            out[language] = render_template_string(template, moment=moment)
    assert out["ru"].startswith("04.03.2026 09:05 UTC|04.03.2026|04.03.2026|")
    assert out["kk"].startswith("04.03.2026 09:05 UTC|04.03.2026|04.03.2026|")
    # English keeps the unambiguous ISO order: never 3/4/2026
    assert out["en"] == "2026-03-04 09:05 UTC|2026-03-04|2026-03-04|1,234,567"
    assert out["ru"].endswith("1\xa0234\xa0567")


def test_times_show_in_the_programmes_time_zone_with_its_offset(app, monkeypatch):
    """``TIMEZONE`` (``FIELDAPP_TIMEZONE``): 09:05 UTC reads 14:05 UTC+5 in Asia/Almaty, and a
    moment late in the UTC day is the next local day; half-hour zones keep their minutes."""
    from flask import render_template_string
    from flask_babel import get_babel

    template = "{{ moment|dt }}|{{ moment|date }}"
    babel = get_babel(app)
    out = {}
    for zone in ("Asia/Almaty", "Asia/Kolkata", "America/Sao_Paulo", "UTC"):
        monkeypatch.setattr(babel, "default_timezone", zone)
        with app.test_request_context("/", headers={"Accept-Language": "ru"}):
            out[zone] = render_template_string(
                template, moment=datetime(2026, 3, 4, 21, 5, tzinfo=UTC)
            )
    assert out["Asia/Almaty"] == "05.03.2026 02:05 UTC+5|05.03.2026"
    assert out["Asia/Kolkata"] == "05.03.2026 02:35 UTC+5:30|05.03.2026"
    assert out["America/Sao_Paulo"] == "04.03.2026 18:05 UTC-3|04.03.2026"
    assert out["UTC"] == "04.03.2026 21:05 UTC|04.03.2026"


@pytest.mark.parametrize("zone", ["Mars/Olympus", "", "../../etc/passwd", "Asia"])
def test_an_unknown_time_zone_stops_the_server_with_a_clear_message(zone, monkeypatch, tmp_path):
    from fieldapp.config import load_config

    monkeypatch.setenv("FIELDAPP_TIMEZONE", zone)
    if not zone:
        # an empty variable means "not set": the default, UTC
        assert load_config({"DATA_DIR": str(tmp_path)})["TIMEZONE"] == "UTC"
        return
    with pytest.raises(ValueError, match=r"FIELDAPP_TIMEZONE: .* is not a time zone"):
        load_config({"DATA_DIR": str(tmp_path)})
    monkeypatch.setenv("FIELDAPP_TIMEZONE", "Asia/Almaty")
    assert load_config({"DATA_DIR": str(tmp_path)})["TIMEZONE"] == "Asia/Almaty"
