"""The designer's pages for trying drafts.

* ``/forms/<form_id>/try`` — start a try (this draft, and other drafts to try with it; review
  skipped or not), the live tries with their Web Forms links, the test submissions and cases.
* ``/forms/tries/<try_id>/fill/<form_id>`` — one draft of a try in ODK Web Forms (the /fill
  bundle, talking OpenRosa to ``/forms/tries/<try_id>/collect``).
* ``/forms/<form_id>/test-data/<instance_id>`` — one test submission's answers and case work,
  and its approval when the try asked for review.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext

from fieldapp.auth import devices
from fieldapp.auth.models import Role
from fieldapp.db import unit_of_work
from fieldapp.fill.views import locale_data
from fieldapp.forms import services as forms
from fieldapp.forms.models import Form
from fieldapp.sandbox import services
from fieldapp.sandbox.scope import sandbox_mode
from fieldapp.web.assets import static_url
from fieldapp.web.permissions import current_actor, require
from fieldapp.web.security import FILL_CSP, csrf_token

bp = Blueprint("tries", __name__, url_prefix="/forms")

DESIGNERS = (Role.DESIGNER, Role.ADMIN)


def _other_drafts(form: Form) -> list[Form]:
    return [f for f in forms.list_forms() if f.draft is not None and f.id != form.id]


def _try_page(form: Form, *, new: dict[str, Any] | None = None, status: int = 200) -> Any:
    actor = current_actor()
    submissions = services.test_submissions(form)
    datasets = sorted(
        {str(d["dataset"]) for f, v in [(form, form.draft)] if v for d in v.entities or []}
        | {
            a.dataset
            for v in [form.draft]
            if v is not None
            for a in v.attachments
            if a.dataset is not None
        }
    )
    with sandbox_mode():
        work = {s.id: services.work_of(s) for s in submissions}
    return render_template(
        "sandbox/try.html",
        form=form,
        others=_other_drafts(form),
        tries=services.tries_of(form, actor=actor),
        submissions=submissions,
        work=work,
        cases={d: services.test_cases(d) for d in datasets},
        new=new,
    ), status


@bp.get("/<form_id>/try")
@require(*DESIGNERS)
def try_page(form_id: str) -> Any:
    """Trying the draft: start a try, the live tries, the test data."""
    return _try_page(forms.get_form(form_id))


@bp.post("/<form_id>/try")
@require(*DESIGNERS)
def start(form_id: str) -> Any:
    """Start a try of this draft (and the other drafts ticked); shows Collect's QR code once."""
    form = forms.get_form(form_id)
    wanted = set(request.form.getlist("with"))
    chosen = [form] + [f for f in _other_drafts(form) if f.form_id in wanted]
    skip_review = request.form.get("review", "skip") != "review"
    actor = current_actor()
    with unit_of_work():
        token, draft_try = services.start_try(chosen, actor=actor, skip_review=skip_review)
    site = request.host_url.rstrip("/")
    settings = devices.collect_settings(site, token, project_name=f"Try {form.form_id}")
    url = f"{site}/collect/test/{token}"
    settings["general"]["server_url"] = url  # type: ignore[index]
    new = {
        "try": draft_try,
        "url": url,
        "qr_url": devices.qr_svg_data_url(devices.settings_qr_text(settings)),
    }
    return _try_page(form, new=new)


@bp.post("/tries/<int:try_id>/end")
@require(*DESIGNERS)
def end(try_id: str | int) -> Any:
    """End a try: its Collect URL and pages stop working."""
    actor = current_actor()
    draft_try = services.get_try(int(try_id), actor=actor)
    form_id = draft_try.forms[0].form_id if draft_try.forms else None
    with unit_of_work():
        services.end_try(draft_try, actor=actor)
    flash(gettext("The try has ended; its address no longer works."))
    if form_id is None:
        return redirect(url_for("forms.catalogue"))
    return redirect(url_for("tries.try_page", form_id=form_id))


@bp.get("/tries/<int:try_id>/fill/<form_id>")
@require(*DESIGNERS)
def fill(try_id: int, form_id: str) -> Any:
    """One draft of a try in ODK Web Forms; what it sends is test data."""
    actor = current_actor()
    draft_try = services.get_try(try_id, actor=actor)
    form, draft = services.draft_in_try(draft_try, form_id)
    prefix = url_for("openrosa_try.form_list", try_id=try_id).rsplit("/", 1)[0]
    page = locale_data() | {
        # drafts and the outbox are kept per try in the browser
        "user": f"{actor.username}|try-{draft_try.id}",
        "csrf": csrf_token(),
        "index": url_for("tries.fill", try_id=try_id, form_id=form_id),
        "collect": prefix,
        "sw": url_for("fill.service_worker"),
        "scope": url_for("fill.index"),
        "bundle": static_url("fill/fill.js"),
        "form-id": form.form_id,
        "form-title": draft.title or form.form_id,
        "form-url": url_for("openrosa_try.form_download", try_id=try_id, form_id=form.form_id),
        "attachments": url_for(
            "openrosa_try.attachment", try_id=try_id, form_id=form.form_id, name="_"
        )[:-1],
    }
    response = render_template(
        "sandbox/fill.html", form=form, draft=draft, draft_try=draft_try, page=page
    )
    from flask import make_response  # noqa: PLC0415

    out = make_response(response)
    out.headers["Content-Security-Policy"] = FILL_CSP  # Web Forms, as on /fill
    return out


@bp.get("/<form_id>/test-data/<path:instance_id>")
@require(*DESIGNERS)
def test_submission(form_id: str, instance_id: str) -> Any:
    """One test submission: its answers and what it did (or would do) to test cases."""
    from fieldapp.review.views import _answers  # noqa: PLC0415

    form = forms.get_form(form_id)
    submission = services.test_submission(form, instance_id)
    version = submission.current_version
    if version is None:
        abort(404)
    items, media = _answers(version, None)
    with sandbox_mode():
        work = services.work_of(submission)
        pending = bool(services.pending_work(submission))
    return render_template(
        "sandbox/submission.html",
        form=form,
        submission=submission,
        version=version,
        items=items,
        media=media,
        work=work,
        pending=pending,
    )


@bp.post("/<form_id>/test-data/<path:instance_id>/approve")
@require(*DESIGNERS)
def approve(form_id: str, instance_id: str) -> Any:
    """Approve a test submission: its case work reaches the test cases."""
    form = forms.get_form(form_id)
    submission = services.test_submission(form, instance_id)
    with unit_of_work():
        services.approve(submission, actor=current_actor())
    flash(gettext("Approved: its case work reached the test cases."))
    return redirect(url_for("tries.test_submission", form_id=form_id, instance_id=instance_id))
