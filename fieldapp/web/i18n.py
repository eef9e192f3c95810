"""The interface's language: Flask-Babel, the locale of each request, dates and numbers.

Pages speak Russian, Kazakh or English. A request's language is the signed-in person's own
setting (``users.language``), else the one chosen on the login page (kept in the signed
session), else the browser's ``Accept-Language``, else English. Catalogues live in
``fieldapp/translations`` (``messages.pot`` extracted by ``scripts/i18n.py extract``, one
``.po`` per language, their compiled ``.mo`` committed beside them and checked by
``tests/i18n/test_catalogues.py``).

Dates are day-month-year everywhere (``dd.MM.yyyy``, as Kazakhstan reads them), times in UTC.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from flask import Flask, g, has_request_context, request, session
from flask_babel import (
    Babel,
    LazyString,
    format_date,
    format_datetime,
    format_decimal,
    get_locale,
    get_timezone,
    gettext,
    lazy_pgettext,
)
from flask_babel import lazy_gettext as _l

from fieldapp.errors import ErrorMessage

#: the interface's languages, in the order a person is offered them
LANGUAGES = ("ru", "kk", "en")
#: each language's name in itself (never translated: a person finds their own)
LANGUAGE_NAMES = {"ru": "Русский", "kk": "Қазақша", "en": "English"}
DEFAULT_LANGUAGE = "en"
#: the signed session's key for the language chosen before logging in
SESSION_KEY = "lang"

TRANSLATIONS_DIR = Path(__file__).resolve().parent.parent / "translations"

DATE_PATTERN = "dd.MM.yyyy"
DATETIME_PATTERN = "dd.MM.yyyy HH:mm"

babel = Babel()

#: the roles' names on pages (``Role.label`` stays English for the API and the CLI)
ROLE_LABELS = {
    "admin": _l("Administrator"),
    "designer": _l("Programme designer"),
    "coordinator": _l("Regional coordinator"),
    "field_worker": _l("Field worker"),
}


def _role_label(value: Any) -> str:
    key = getattr(value, "value", value)
    return str(ROLE_LABELS.get(str(key), key))


#: a form's state (Russian agrees the adjective with the word for a form)
FORM_STATES = {
    "draft": lazy_pgettext("form state", "draft"),
    "open": lazy_pgettext("form state", "open"),
    "closing": lazy_pgettext("form state", "closing"),
    "closed": lazy_pgettext("form state", "closed"),
}
#: a case's status (agreed in gender with the words for a case)
CASE_STATUSES = {
    "open": lazy_pgettext("case status", "open"),
    "closed": lazy_pgettext("case status", "closed"),
    "merged": lazy_pgettext("case status", "merged"),
    "all": lazy_pgettext("case status", "all"),
}
#: every other state word a page shows: review states, versions, transfers, case work,
#: webhook deliveries, export jobs, changes between versions, ODK Validate, case versions
STATES = {
    "received": _l("received"),
    "has_issues": _l("has issues"),
    "edited": _l("edited"),
    "approved": _l("approved"),
    "rejected": _l("rejected"),
    "draft": _l("draft"),
    "published": _l("published"),
    "pending": _l("pending"),
    "accepted": _l("accepted"),
    "declined": _l("declined"),
    "cancelled": _l("cancelled"),
    "applied": _l("applied"),
    "superseded": _l("superseded"),
    "error": _l("error"),
    "held": _l("held"),
    "delivered": _l("delivered"),
    "failed": _l("failed"),
    "queued": _l("queued"),
    "running": _l("running"),
    "ready": _l("ready"),
    "deleted": _l("deleted"),
    "expired": _l("expired"),
    "added": _l("added"),
    "removed": _l("removed"),
    "changed": _l("changed"),
    "moved": _l("moved"),
    "relabelled": _l("relabelled"),
    "passed": _l("passed"),
    "skipped": _l("skipped"),
    "submission": _l("submission"),
    "staff": _l("staff"),
    "merge": _l("merge"),
}
#: what each webhook event means, for the administrator choosing (``webhooks.catalogue``)
EVENT_LABELS = {
    "submission.received": _l("A submission arrived"),
    "submission.edited": _l("A submission was edited (a new version)"),
    "submission.reviewed": _l("A submission was reviewed (approved, has issues, rejected)"),
    "submission.deleted": _l("A submission was deleted"),
    "case.created": _l("A case was opened"),
    "case.updated": _l("A case changed"),
    "case.transferred": _l("A case moved to another region"),
    "case.closed": _l("A case was closed"),
    "case.followup_overdue": _l("A case's follow-up became overdue"),
}

#: the kinds of record the audit page names (``fieldapp.web.audit_names``)
RECORD_KINDS = {
    "user": _l("person"),
    "case": _l("case"),
    "form": _l("form"),
    "submission": _l("submission"),
    "case list": _l("case list"),
    "region": _l("region"),
    "phone": _l("phone"),
    "device": _l("phone"),
    "webhook": _l("webhook"),
    "case transfer requests": _l("transfer request"),
    "retention": _l("retention"),
    "try": _l("try of a draft"),
    "care screen": _l("Monday screen"),
}
CONFLICTS = {"soft": _l("soft conflict"), "hard": _l("hard conflict")}


def state_label(value: Any, kind: str | None = None) -> str:
    """A stored state word in the page's language (unknown words as they are)."""
    if value is None:
        return ""
    key = str(getattr(value, "value", value))
    table: dict[str, Any] = {"form": FORM_STATES, "case": CASE_STATUSES}.get(kind or "", STATES)
    found = table.get(key, STATES.get(key))
    return str(found) if found is not None else key.replace("_", " ")


#: the computed parts of a phone's case label (the others are the form's own questions)
PHONE_PARTS = {
    "next_due": _l("next follow-up date"),
    "member_ages": _l("members' ages"),
}
#: the export page's choices, as the preparing page lists them
EXPORT_CHOICES = {
    "from": _l("Received from"),
    "to": _l("Received to"),
    "review_state": _l("Review state"),
    "region": _l("Region"),
    "version": _l("Form version"),
    "urgent": _l("Urgent"),
    "headers": _l("Column names"),
    "choices": _l("Answers of choice questions"),
    "lang": _l("Label language"),
    "split_select_multiples": _l("a 0/1 column per choice of multiple-choice questions"),
    "attachments": _l("include photos and files (CSV zip only)"),
}


def _phone_part_label(value: Any) -> str:
    found = PHONE_PARTS.get(str(value))
    return str(found) if found is not None else str(value).replace("_", " ")


def _export_choice_label(value: Any) -> str:
    found = EXPORT_CHOICES.get(str(value))
    return str(found) if found is not None else str(value).replace("_", " ")


def translated_error(exc: Any) -> str:
    """A domain error's message in the page's language.

    Constant messages (``Invalid("...")``) are in the catalogues (``scripts/i18n.py`` extracts
    the error classes' first argument); a message with ``params`` is translated as its template
    and the values are inserted into the translation.
    """
    return _error_message(getattr(exc, "message", exc))


#: a %-style named placeholder (``%(form)s``)
_PLACEHOLDER = re.compile(r"%\((\w+)\)")


def _translated_template(template: str, params: Any, english: str) -> str:
    """``template`` translated with ``params`` inserted; the English message when the
    translation lost or broke a placeholder (an error must show whatever the catalogue says)."""
    values = {name: _shown_value(value) for name, value in params.items()}
    translated = str(gettext(template))
    if set(_PLACEHOLDER.findall(translated)) != set(_PLACEHOLDER.findall(template)):
        return english
    try:
        return translated % values
    except (KeyError, TypeError, ValueError):
        return english


def _shown_value(value: Any) -> Any:
    """A value as a page shows it: nested messages and lazy strings in the page's language."""
    if isinstance(value, ErrorMessage):
        return _error_message(value)
    if isinstance(value, LazyString):
        return str(value)
    return value


def _error_message(message: Any, code: str | None = None) -> str:
    if isinstance(message, ErrorMessage) and message.params:
        return _translated_template(message.template, message.params, str.__str__(message))
    text = str(message or "")
    return str(gettext(text)) if text else ""


def _problem_message(problem: Any) -> str:
    """A form problem's message (a dict of ``problem_rows``) in the page's language: fieldapp's
    own wording is translated, from the message itself (a problem just found) or from the
    template and params stored with it (a draft's warnings); the texts pyxform and ODK Validate
    write themselves are shown as they give them (they have no translation)."""
    message = problem.get("message") if isinstance(problem, Mapping) else problem
    stored = problem.get("i18n") if isinstance(problem, Mapping) else None
    if isinstance(stored, Mapping):
        template, params = stored.get("template"), stored.get("params")
        if isinstance(template, str) and isinstance(params, Mapping):
            return _translated_template(template, params, str(message or ""))
    if isinstance(message, ErrorMessage):
        return _translated_template(message.template, message.params, str.__str__(message))
    return str(message or "")


def _event_label(name: Any, text: Any = "") -> str:
    found = EVENT_LABELS.get(str(name))
    return str(found) if found is not None else str(text or name)


def _record_kind(value: Any) -> str:
    found = RECORD_KINDS.get(str(value))
    return str(found) if found is not None else str(value)


def _conflict_label(value: Any) -> str:
    found = CONFLICTS.get(str(value))
    return str(found) if found is not None else f"{value} conflict"


def valid_language(value: Any) -> str | None:
    """``value`` if it names an interface language, else ``None``."""
    return value if isinstance(value, str) and value in LANGUAGES else None


def select_locale() -> str:
    """The language of the current request (see the module's docstring).

    Reads the signed-in user only from flask-login's per-request cache, so choosing a language
    never queries the database (an error page for a database out of reach still renders).
    """
    if not has_request_context():
        return DEFAULT_LANGUAGE
    forced = g.get("i18n_locale")
    if forced:
        return str(forced)
    user = g.get("_login_user")
    if user is not None and getattr(user, "is_authenticated", False):
        try:
            loaded = user.__dict__
            # an expired row (a rolled-back unit of work): the language read when it was loaded
            own = valid_language(
                loaded["language"] if "language" in loaded else g.get("user_language")
            )
        except Exception:  # a detached row: fall back to the browser
            own = None
        if own:
            return own
    chosen = valid_language(session.get(SESSION_KEY))
    if chosen:
        return chosen
    return browser_language() or DEFAULT_LANGUAGE


def browser_language() -> str | None:
    """The first interface language the browser asks for, by its quality order.

    ``kk-KZ`` counts as ``kk`` where it stands (werkzeug's ``best_match`` would prefer a later
    exact ``ru`` to an earlier ``kk-KZ``).
    """
    for value, quality in request.accept_languages:
        primary = value.split("-")[0].split("_")[0].lower()
        if quality > 0 and primary in LANGUAGES:
            return primary
    return None


def current_language() -> str:
    """The language code pages are rendered in now (``ru``, ``kk`` or ``en``)."""
    locale = get_locale()
    return locale.language if locale is not None else DEFAULT_LANGUAGE


def _patterns() -> tuple[str, str]:
    """The day and moment patterns of the page's language: day.month.year in Russian and
    Kazakh; ISO (year-month-day) in English, for the national office. Never month/day/year."""
    if current_language() == "en":
        return "yyyy-MM-dd", "yyyy-MM-dd HH:mm"
    return DATE_PATTERN, DATETIME_PATTERN


def _datetime(value: datetime | None) -> str:
    """A moment as day.month.year hours:minutes in the programme's time zone, with its offset
    (``06.12.2026 09:41 UTC+5``; ISO in English; ``UTC`` alone when the zone is UTC)."""
    if value is None:
        return ""
    return f"{format_datetime(value, _patterns()[1])} {_offset(value)}"


def _offset(value: datetime) -> str:
    """``UTC``, ``UTC+5``, ``UTC+5:30`` or ``UTC-3``: the zone's offset at ``value``."""
    moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    offset = moment.astimezone(get_timezone()).utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset else 0
    if minutes == 0:
        return "UTC"
    sign = "+" if minutes > 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


def _date(value: date | datetime | str | None) -> str:
    """A day as day.month.year (ISO in English). A stored ISO date string is read as a day;
    any other text is shown as it is (a case property may hold anything)."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            day = date.fromisoformat(value[:10])
        except ValueError:
            return value
        return str(format_date(day, _patterns()[0]))
    if isinstance(value, datetime):
        return str(format_datetime(value, _patterns()[0]))
    return str(format_date(value, _patterns()[0]))


def format_day(value: date | datetime | str | None) -> str:
    """:func:`_date` for Python callers (a case page's date answers)."""
    return _date(value)


def _weekday(value: date | None) -> str:
    """A day's short weekday name in the page's language."""
    return "" if value is None else str(format_date(value, "EEE"))


def _number(value: Any) -> str:
    """A number with the locale's grouping and decimal sign."""
    if value is None or value == "":
        return ""
    return str(format_decimal(value))


def init_app(app: Flask) -> None:
    """Configure Flask-Babel, the Jinja filters and the template globals."""
    babel.init_app(
        app,
        default_locale=DEFAULT_LANGUAGE,
        default_translation_directories=str(TRANSLATIONS_DIR),
        default_timezone=str(app.config.get("TIMEZONE") or "UTC"),
        locale_selector=select_locale,
    )
    app.jinja_env.filters["dt"] = _datetime
    app.jinja_env.filters["date"] = _date
    app.jinja_env.filters["weekday"] = _weekday
    app.jinja_env.filters["number"] = _number
    app.jinja_env.filters["role_label"] = _role_label
    app.jinja_env.filters["state_label"] = state_label
    app.jinja_env.filters["conflict_label"] = _conflict_label
    app.jinja_env.filters["record_kind"] = _record_kind
    app.jinja_env.filters["event_label"] = _event_label
    app.jinja_env.filters["error_message"] = _error_message
    app.jinja_env.filters["problem_message"] = _problem_message
    app.jinja_env.filters["phone_part_label"] = _phone_part_label
    app.jinja_env.filters["export_choice_label"] = _export_choice_label
    app.jinja_env.globals["LANGUAGES"] = LANGUAGES
    app.jinja_env.globals["LANGUAGE_NAMES"] = LANGUAGE_NAMES
    app.jinja_env.globals["current_language"] = current_language
