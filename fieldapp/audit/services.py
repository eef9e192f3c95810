"""Writing and reading the audit log."""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from fieldapp.audit.models import AuditEvent
from fieldapp.db import column_length, db
from fieldapp.sandbox.mode import in_sandbox

if TYPE_CHECKING:
    from fieldapp.auth.models import User

_SUBJECT_MAX = column_length(AuditEvent.subject_id)
_IP_MAX = column_length(AuditEvent.ip)

#: the client address of the request being served; set by the web layer, ``None`` in the CLI
client_ip: ContextVar[str | None] = ContextVar("client_ip", default=None)


def record(
    action: str,
    *,
    actor: User | None,
    subject_type: str | None = None,
    subject_id: object = None,
    region_id: int | None = None,
    ip: str | None = None,
    **details: Any,
) -> AuditEvent:
    """Add an audit event to the caller's transaction (written with the next flush or commit).

    :param action: dotted verb such as ``form.published``.
    :param actor: who acted, or ``None`` when nobody is logged in.
    :param details: facts about the act; callers must never pass secrets or form answers.
    :return: the new event.
    """
    address = ip if ip is not None else client_ip.get()
    if in_sandbox():
        # test data of a tried draft: marked, and in no region's listings
        details = {**details, "sandbox": True}
        region_id = None
    event = AuditEvent(
        action=action,
        actor_id=actor.id if actor is not None else None,
        subject_type=subject_type,
        # an id (an instanceID may be longer than the column) or address is kept as far as fits
        subject_id=None if subject_id is None else str(subject_id)[:_SUBJECT_MAX],
        region_id=region_id,
        ip=None if address is None else address[:_IP_MAX],
        details=details,
    )
    db.session.add(event)
    return event
