"""Which phones have which form version: noted when they download its XForm or manifest.

A phone holds the version whose XForm it last downloaded (Collect downloads it when the form
list's hash differs from its copy, and the manifest with it). Each download is noted per form
version and client in ``form_fetches`` (:class:`~fieldapp.forms.models.FormFetch`): a phone
with a device token, a phone syncing with a username and password (told apart by its
User-Agent, as ``collect_syncs`` does), or a worker's browser (``/fill``). The form list itself
writes nothing. A note already written in the last :data:`FETCH_NOTE_EVERY` is left as it is,
after one read by the unique key, so repeated manifest checks do not write (on SQLite every
write takes the database's write lock); a new note is one ``INSERT … ON CONFLICT`` statement, so
two concurrent downloads cannot collide.

Device tokens are never stored here (only the device's row id), nor shown.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from fieldapp.auth.models import Device, User
from fieldapp.db import db, utcnow
from fieldapp.forms.models import Form, FormFetch, FormVersion

#: a fetch is written again for the same version and client at most this often
FETCH_NOTE_EVERY = timedelta(minutes=5)

_AGENT_MAX = 200


def client_key(*, device: Device | None, user_agent: str, web: bool = False) -> str:
    """The client a request came from: its device, its User-Agent (password syncs) or the web.

    :param device: the device whose token was the credential, if any.
    :param user_agent: the request's User-Agent header.
    :param web: the request came from the worker's browser (``/fill``).
    :return: ``device:<id>``, ``web`` or ``password:<16 hex digits>``.
    """
    if device is not None:
        return f"device:{device.id}"
    if web:
        return "web"
    return "password:" + hashlib.sha256(user_agent.encode()).hexdigest()[:16]


def note_fetch(
    version: FormVersion,
    *,
    user: User,
    device: Device | None,
    user_agent: str,
    kind: str,
    web: bool = False,
    now: datetime | None = None,
) -> bool:
    """Note that a client downloaded the XForm (``kind`` ``xform``) or manifest of a version.

    :return: whether anything was written (nothing when noted in the last few minutes).
    """
    now = now or utcnow()
    key = client_key(device=device, user_agent=user_agent, web=web)
    last = db.session.scalar(
        select(FormFetch.last_fetched_at).where(
            FormFetch.form_version_id == version.id,
            FormFetch.user_id == user.id,
            FormFetch.client_key == key,
        )
    )
    if last is not None and now - last < FETCH_NOTE_EVERY:
        return False
    table = cast(Table, FormFetch.__table__)
    insert = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = (
        insert(table)
        .values(
            form_pk=version.form_pk,
            form_version_id=version.id,
            user_id=user.id,
            device_id=device.id if device is not None else None,
            client_key=key,
            user_agent=user_agent[:_AGENT_MAX],
            last_kind=kind,
            first_fetched_at=now,
            last_fetched_at=now,
        )
        .on_conflict_do_update(
            index_elements=[table.c.form_version_id, table.c.user_id, table.c.client_key],
            set_={
                "last_fetched_at": now,
                "last_kind": kind,
                "user_agent": user_agent[:_AGENT_MAX],
            },
            where=table.c.last_fetched_at < now - FETCH_NOTE_EVERY,
        )
    )
    db.session.execute(statement)
    return True


@dataclass(frozen=True, slots=True)
class ClientVersion:
    """The version a client last downloaded."""

    username: str
    display_name: str
    #: ``device`` (token), ``password`` or ``web``
    channel: str
    #: the coordinator's name for the device (``device`` only)
    device_label: str | None
    device_revoked: bool
    user_agent: str
    version: str
    current: bool
    fetched_at: datetime
    first_fetched_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "worker": self.username,
            "display_name": self.display_name,
            "channel": self.channel,
            "device": self.device_label,
            "device_revoked": self.device_revoked,
            "user_agent": self.user_agent,
            "version": self.version,
            "current": self.current,
            "fetched_at": self.fetched_at.isoformat(),
            "first_fetched_at": self.first_fetched_at.isoformat(),
        }


def clients_by_version(form: Form, *, limit: int = 1000) -> list[ClientVersion]:
    """Every client that downloaded some version of the form, with the newest it downloaded.

    :param limit: at most this many clients (the most recently seen first).
    :return: one entry per client, most recent download first.
    """
    rows = db.session.execute(
        select(FormFetch, FormVersion.version, User, Device)
        .join(FormVersion, FormVersion.id == FormFetch.form_version_id)
        .join(User, User.id == FormFetch.user_id)
        .outerjoin(Device, Device.id == FormFetch.device_id)
        .where(FormFetch.form_pk == form.id)
        .order_by(FormFetch.last_fetched_at.desc(), FormFetch.form_version_id.desc())
    ).all()
    seen: set[tuple[int, str]] = set()
    out: list[ClientVersion] = []
    for fetch, version, user, device in rows:
        key = (fetch.user_id, fetch.client_key)
        if key in seen:
            continue
        seen.add(key)
        channel = fetch.client_key.split(":", 1)[0]
        out.append(
            ClientVersion(
                username=user.username,
                display_name=user.display_name or "",
                channel=channel,
                device_label=(device.label or f"phone {device.id}") if device else None,
                device_revoked=bool(device is not None and device.revoked_at is not None),
                user_agent=fetch.user_agent,
                version=version,
                current=fetch.form_version_id == form.current_version_id,
                fetched_at=fetch.last_fetched_at,
                first_fetched_at=fetch.first_fetched_at,
            )
        )
        if len(out) >= limit:
            break
    return out
