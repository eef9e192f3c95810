"""Words for the audit log: who acted and which record, instead of ids.

An audit row keeps ids (a user's number, a case's UUID, a form's id, a submission's instanceID),
which stay true when names change. The audit page shows what a person recognises instead: the
actor's name and username, a case's code (never its label, which may hold a family's name), a
form's title, a submission's form and short instanceID, a case list's title, a region's name, a
phone's label, a Monday screen's title (in the reader's language). Each page of events is
resolved with one query per kind of record, whatever the number of rows. A record that no longer
exists (an erased case) keeps its kind and short id.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from flask import url_for
from sqlalchemy import select

from fieldapp.audit.models import AuditEvent
from fieldapp.auth.models import Device, Region, User
from fieldapp.care import screens as care_screens
from fieldapp.cases.models import Case, CaseList
from fieldapp.db import db
from fieldapp.forms.models import Form
from fieldapp.submissions.models import Submission
from fieldapp.webhooks.models import WebhookEndpoint

#: characters of an id kept when the record has no better name
SHORT_ID = 8


@dataclass(frozen=True)
class Named:
    """How a record or a person is shown: words, an optional link and a plain hint."""

    text: str
    url: str | None = None
    #: the kind of record, in words (``case``, ``form``...), shown before the text
    kind: str = ""


def short_id(value: str) -> str:
    """``89585e20-…`` for a long id; short ones as they are."""
    value = value.removeprefix("uuid:")
    return value if len(value) <= SHORT_ID + 1 else value[:SHORT_ID] + "…"


def person(user: User | None) -> str:
    """``Dana Seitova (dana)``, or the username alone when that is all there is."""
    if user is None:
        return "—"
    if user.display_name and user.display_name != user.username:
        return f"{user.display_name} ({user.username})"
    return user.username


def _ints(values: Iterable[str]) -> list[int]:
    return [int(v) for v in values if v.isdigit() and len(v) < 10]


def resolve(events: Sequence[AuditEvent]) -> tuple[dict[int, str], dict[tuple[str, str], Named]]:
    """The people and records of ``events``.

    :return: ``(actor id -> name, (subject type, subject id) -> Named)``.
    """
    wanted: dict[str, set[str]] = defaultdict(set)
    actor_ids = {e.actor_id for e in events if e.actor_id is not None}
    for e in events:
        if e.subject_type and e.subject_id:
            wanted[e.subject_type].add(e.subject_id)
    user_ids = actor_ids | set(_ints(wanted.get("user", ())))
    users = (
        {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(user_ids)))}
        if user_ids
        else {}
    )
    names: dict[tuple[str, str], Named] = {}
    for key in wanted.get("user", ()):
        found = users.get(int(key)) if key.isdigit() and len(key) < 10 else None
        if found is not None:
            names["user", key] = Named(
                person(found), url_for("admin.user", user_id=found.id), "user"
            )
    if wanted.get("case"):
        rows = db.session.execute(
            select(Case.uuid, Case.code, CaseList.title)
            .join(CaseList, CaseList.id == Case.case_list_id)
            .where(Case.uuid.in_(wanted["case"]))
        ).all()
        for uuid, code, title in rows:
            names["case", uuid] = Named(
                f"{code} · {title}", url_for("case_pages.case_page", case_id=code), "case"
            )
    if wanted.get("form"):
        for form_id, title in db.session.execute(
            select(Form.form_id, Form.title).where(Form.form_id.in_(wanted["form"]))
        ).all():
            names["form", form_id] = Named(title, url_for("forms.detail", form_id=form_id), "form")
    if wanted.get("submission"):
        for instance_id, title in db.session.execute(
            select(Submission.instance_id, Form.title)
            .join(Form, Form.id == Submission.form_pk)
            .where(Submission.instance_id.in_(wanted["submission"]))
        ).all():
            names["submission", instance_id] = Named(
                f"{title} · {short_id(instance_id)}",
                url_for("review.submission_page", instance_id=instance_id),
                "submission",
            )
    if wanted.get("case_list"):
        for name, title in db.session.execute(
            select(CaseList.name, CaseList.title).where(CaseList.name.in_(wanted["case_list"]))
        ).all():
            names["case_list", name] = Named(title, None, "case list")
    for name in wanted.get("care_screen", ()):
        screen = care_screens.SCREENS.get(name)
        if screen is not None:
            names["care_screen", name] = Named(
                str(screen.title), url_for("care.screen_page", screen=name), "care screen"
            )
    for subject_type, kind in (("region", "region"), ("device", "phone"), ("webhook", "webhook")):
        ids = _ints(wanted.get(subject_type, ()))
        if not ids:
            continue
        for row_id, label in _labels(subject_type, ids):
            names[subject_type, str(row_id)] = Named(label, None, kind)
    return {i: person(u) for i, u in users.items()}, names


def _labels(subject_type: str, ids: list[int]) -> list[tuple[int, str]]:
    """``(id, label)`` of the regions, phones or webhooks with these ids."""
    if subject_type == "region":
        return [
            (r.id, r.name) for r in db.session.scalars(select(Region).where(Region.id.in_(ids)))
        ]
    if subject_type == "device":
        found = db.session.scalars(select(Device).where(Device.id.in_(ids)))
        return [(d.id, d.label or f"phone {d.id}") for d in found]
    hooks = db.session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.id.in_(ids)))
    return [(h.id, h.description or f"webhook {h.id}") for h in hooks]


def fallback(subject_type: str | None, subject_id: str | None) -> Named:
    """A record that could not be named (gone, or an id that names nothing)."""
    if not subject_type and not subject_id:
        return Named("")
    kind = (subject_type or "").replace("_", " ")
    return Named(short_id(subject_id or ""), None, kind)
