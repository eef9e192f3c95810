"""How long a form keeps its deleted submissions (the case lists' own setting is in
:func:`fieldapp.cases.services.update_case_list`)."""

from __future__ import annotations

from fieldapp.audit.services import record
from fieldapp.auth.models import Role, User
from fieldapp.db import db
from fieldapp.errors import NotFound
from fieldapp.forms.models import Form

#: the longest retention one may set, in days (a hundred years)
MAX_DAYS = 36500


def may_set(actor: User) -> bool:
    """Whoever edits forms: designers and administrators."""
    return actor.has_role(Role.ADMIN, Role.DESIGNER)


def set_deleted_retention(form: Form, days: int | None, *, actor: User) -> None:
    """Keep the form's deleted submissions ``days`` days before the purge (None: keep them).

    The value is checked at the boundary (:class:`fieldapp.retention.views.RetentionForm`).

    :raises NotFound: the actor may not edit forms.
    """
    if not may_set(actor):
        raise NotFound("No such form.", code="form.not_found")
    old = form.deleted_retention_days
    if old == days:
        return
    form.deleted_retention_days = days
    db.session.flush()
    record(
        "form.retention_changed",
        actor=actor,
        subject_type="form",
        subject_id=form.form_id,
        old=old,
        new=days,
    )
