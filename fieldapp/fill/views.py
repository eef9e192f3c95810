"""The field workers' web form pages.

* ``/fill`` — the worker's index: "My visits" (their caseload, overdue first, each case with
  buttons opening its follow-up forms with the case chosen: ``/fill/<form_id>?case=&list=``,
  see :mod:`fieldapp.fill.visits`), the open referrals of those cases with the step each may
  take next (the worker moves them on: ``cases.referrals``), open forms, submissions sent back
  to correct (with the coordinator's note), and (drawn by the page script from the browser's
  storage) drafts and submissions waiting to be sent.
* ``/fill/<form_id>`` — one form in ODK Web Forms; ``?edit=<instance_id>`` loads a sent-back
  submission, whose correction is sent as an edit (``deprecatedID``).
* ``/fill/sw.js`` — the service worker that keeps the pages, the bundle, the forms and their
  files for offline use (scope ``/fill``).

The page fetches forms and sends submissions through ``/fill/collect`` (the OpenRosa blueprint
under the web session, see :func:`fieldapp.openrosa.views.register`), so the same decision
table applies as for ODK Collect. The page script lives in ``webforms/`` and is built into
``static/fill/``.
"""

from __future__ import annotations

import json
from typing import Any

from babel.dates import get_day_names, get_month_names
from flask import Blueprint, Response, current_app, render_template, request, url_for
from flask_babel import get_locale, gettext

from fieldapp.audit.services import record
from fieldapp.auth.models import Role
from fieldapp.cases import referrals
from fieldapp.db import unit_of_work, utcnow
from fieldapp.errors import NotFound
from fieldapp.fill import services, visits
from fieldapp.forms import services as forms
from fieldapp.forms.models import FormState
from fieldapp.web.assets import static_url
from fieldapp.web.files import blob_body, blob_store, file_response
from fieldapp.web.i18n import current_language
from fieldapp.web.permissions import current_actor, require
from fieldapp.web.security import csrf_token

bp = Blueprint("fill", __name__, url_prefix="/fill")

#: where the page script and the service worker are built (``webforms/``, ``npm run build``)
BUNDLE_DIR = "fill"


def _messages() -> dict[str, str]:
    """The page script's words in the page's language (``webforms/src/i18n.js``); ``{name}``
    marks what the script puts in."""
    return {
        "loadFailed": gettext("The form could not be loaded. Connect to the network and reload."),
        "draftSaved": gettext("Draft saved on this device at {time}."),
        "draftRestored": gettext("Draft from {time} restored."),
        "sending": gettext("Saved on this device; sending…"),
        "waitingNetwork": gettext(
            "Saved on this device. It will be sent when the network is back."
        ),
        "correctionSent": gettext("Correction sent."),
        "sent": gettext("Sent. You can fill the form again."),
        "backToForms": gettext("Back to your forms"),
        "backToVisits": gettext("Back to your visits"),
        "caseGone": gettext("This case is not in your list any more; choose it in the form."),
        "saveFailed": gettext(
            "This could not be saved on the device; nothing was sent. Try “Send” again."
        ),
        "discardConfirm": gettext("Discard this draft? What you typed will be lost."),
        "resume": gettext("Resume"),
        "draftSavedAt": gettext("saved {time}"),
        "correctionSaved": gettext("correction, saved {time}"),
        "offlineSome": gettext(
            "Some forms could not be prepared for offline use; open this page again with a "
            "connection."
        ),
        "offlineReady": gettext("These forms are ready to use without a connection."),
        "loginAgain": gettext("Log in again to send what is waiting."),
        "serverAnswered": gettext("The server answered {status}."),
        "noConnection": gettext("No connection: it will be sent when the network is back."),
        "waiting": gettext("{count} waiting to send."),
        "refused": gettext("The server refused {count}: {problem}"),
    }


def _datepicker() -> dict[str, Any]:
    """The Web Forms date picker's (PrimeVue's) locale: names from the CLDR via Babel, Monday
    first, and day.month.year (ISO year-month-day in English), never month/day/year."""
    locale = get_locale()
    # Babel counts weekdays from Monday (0); PrimeVue's lists start on Sunday
    order = [6, 0, 1, 2, 3, 4, 5]
    wide = get_day_names("wide", locale=locale)
    short = get_day_names("abbreviated", locale=locale)
    narrow = get_day_names("short", locale=locale)
    months = get_month_names("wide", context="stand-alone", locale=locale)
    months_short = get_month_names("abbreviated", context="stand-alone", locale=locale)
    return {
        "dayNames": [wide[i] for i in order],
        "dayNamesShort": [short[i] for i in order],
        "dayNamesMin": [narrow[i] for i in order],
        "monthNames": [months[i] for i in range(1, 13)],
        "monthNamesShort": [months_short[i] for i in range(1, 13)],
        "firstDayOfWeek": 1,
        "dateFormat": "yy-mm-dd" if current_language() == "en" else "dd.mm.yy",
        "today": gettext("Today"),
        "clear": gettext("Clear"),
        "weekHeader": gettext("Wk"),
    }


def locale_data() -> dict[str, str]:
    """The page script's language, words and date picker: what every page running Web Forms
    passes (``/fill`` and the designers' tries)."""
    return {
        "lang": current_language(),
        "messages": json.dumps(_messages(), ensure_ascii=False),
        "datepicker": json.dumps(_datepicker(), ensure_ascii=False),
    }


def _page_data() -> dict[str, str]:
    """What every /fill page passes to its script (as data- attributes; no inline script)."""
    actor = current_actor()
    return locale_data() | {
        "user": actor.username,
        "csrf": csrf_token(),
        "index": url_for("fill.index"),
        "collect": url_for("openrosa_web.form_list").rsplit("/", 1)[0],
        "sw": url_for("fill.service_worker"),
        "scope": url_for("fill.index"),
        "bundle": static_url(f"{BUNDLE_DIR}/fill.js"),
    }


@bp.get("")
@require(Role.FIELD_WORKER)
def index() -> Any:
    """The worker's open forms and the submissions sent back to them."""
    actor = current_actor()
    today = utcnow().date()
    open_referrals = referrals.of_caseload(actor)
    return render_template(
        "fill/index.html",
        forms=services.open_forms(actor),
        returned=services.returned_submissions(actor),
        visits=visits.my_visits(actor, today),
        referrals=open_referrals,
        referral_words=referrals.words([r for r, _case in open_referrals], today),
        today=today,
        page=_page_data(),
    )


@bp.get("/<form_id>")
@require(Role.FIELD_WORKER)
def fill(form_id: str) -> Any:
    """One form to fill, or a sent-back submission to correct (``?edit=<instance_id>``)."""
    actor = current_actor()
    form = forms.find_form(form_id)
    edit_id = request.args.get("edit", "")
    correction = services.correction(form_id, edit_id, actor=actor) if edit_id else None
    allowed = {FormState.OPEN} if correction is None else {FormState.OPEN, FormState.CLOSING}
    if form is None or form.current_version is None or form.state not in allowed:
        raise NotFound(
            "There is no form '%(form)s' for you to fill.",
            code="form.not_found",
            params={"form": form_id},
        )
    if correction is None and not any(f.form_id == form_id for f in services.open_forms(actor)):
        raise NotFound(
            "There is no form '%(form)s' for you to fill.",
            code="form.not_found",
            params={"form": form_id},
        )
    page = _page_data() | {
        "form-id": form.form_id,
        "form-title": form.current_version.title or form.form_id,
        "form-url": url_for("openrosa_web.form_download", form_id=form.form_id),
        "attachments": url_for("openrosa_web.attachment", form_id=form.form_id, name="_")[:-1],
        # the questions that choose a case of each list (the page reads ?case= and ?list=)
        "case-fields": json.dumps(visits.case_fields(form.current_version)),
    }
    if correction is not None:
        page |= {
            "edit": correction.submission.instance_id,
            "edit-current": correction.version.instance_id,
            "edit-url": url_for(
                "fill.submission_xml",
                form_id=form_id,
                instance_id=correction.submission.instance_id,
            ),
            "edit-attachments": url_for(
                "fill.submission_attachment",
                form_id=form_id,
                instance_id=correction.submission.instance_id,
                name="_",
            )[:-1],
        }
    return render_template(
        "fill/form.html",
        form=form,
        title=page["form-title"],
        correction=correction,
        page=page,
        edit_files=list(correction.attachment_names) if correction else [],
    )


@bp.get("/<form_id>/returned/<path:instance_id>.xml")
@require(Role.FIELD_WORKER)
def submission_xml(form_id: str, instance_id: str) -> Response:
    """The current XML of the worker's own sent-back submission, to load for correcting."""
    found = services.correction(form_id, instance_id, actor=current_actor())
    with unit_of_work():
        record(
            "submission.viewed",
            actor=current_actor(),
            subject_type="submission",
            subject_id=found.submission.instance_id,
            region_id=found.submission.region_id,
            purpose="correction",
        )
    # the bytes as the phone or browser sent them, in their own encoding: no charset here, so
    # the document's byte order mark or XML declaration says how to read it (RFC 7303)
    response = Response(found.version.xml, content_type="application/xml")
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@bp.get("/<form_id>/returned/<path:instance_id>/files/<name>")
@require(Role.FIELD_WORKER)
def submission_attachment(form_id: str, instance_id: str, name: str) -> Response:
    """One file of the worker's own sent-back submission (a photo it already carries)."""
    found = services.correction(form_id, instance_id, actor=current_actor())
    attachment = next(
        (a for a in found.version.attachments if a.name == name and a.blob_sha256), None
    )
    if attachment is None or attachment.blob_sha256 is None:
        raise NotFound("No such attachment.", code="submission.attachment_not_found")
    with unit_of_work():
        record(
            "submission.attachment_viewed",
            actor=current_actor(),
            subject_type="submission",
            subject_id=found.submission.instance_id,
            region_id=found.submission.region_id,
            name=name,
        )
    return file_response(
        blob_body(blob_store(), attachment.blob_sha256), name, attachment.content_type, inline=False
    )


@bp.get("/sw.js")
def service_worker() -> Response:
    """The service worker (built with the page script); its scope is all of ``/fill``."""
    folder = f"{current_app.static_folder}/{BUNDLE_DIR}"
    try:
        with open(f"{folder}/sw.js", "rb") as handle:
            body = handle.read()
        with open(f"{folder}/assets.json", "rb") as handle:
            files = json.load(handle)
    except (FileNotFoundError, ValueError):
        raise NotFound("The web form bundle is not built.", code="not_found") from None
    # the files it keeps for offline use, by their content-hashed URLs (a new build changes
    # these bytes, so browsers install the new worker and drop the old build's files)
    precache = [static_url("app.css"), static_url("favicon.svg")]
    precache += [static_url(f"{BUNDLE_DIR}/{name}") for name in files if isinstance(name, str)]
    head = f"self.FIELDAPP_PRECACHE = {json.dumps(precache)};\n"
    response = Response(head.encode() + body, content_type="text/javascript; charset=utf-8")
    response.headers["Service-Worker-Allowed"] = url_for("fill.index")
    response.headers["Cache-Control"] = "no-cache"
    response.add_etag()
    response.make_conditional(request)
    return response
