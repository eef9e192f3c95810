"""Device tokens: how a phone running ODK Collect is set up with one QR scan.

The token travels in the Collect server URL (``{site}/collect/key/{token}``), like ODK Central's
app-user keys. Only its SHA-256 is stored, so the URL and QR code can be shown once, at creation.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import secrets
import zlib
from collections.abc import Sequence
from datetime import datetime, timedelta

import qrcode
import qrcode.image.svg
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from fieldapp.audit.services import record
from fieldapp.auth.models import CollectSync, Device, Role, User
from fieldapp.db import db, utcnow
from fieldapp.errors import Invalid, NotFound

#: a well-formed token: 64 URL-safe characters (48 random bytes)
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{64}$")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def may_manage(actor: User, worker: User) -> bool:
    """Administrators manage every device; coordinators those of users in their regions."""
    if actor.has_role(Role.ADMIN):
        return True
    if actor.has_role(Role.COORDINATOR):
        return bool(worker.region_ids & actor.region_ids)
    return False


def create_device(worker: User, *, actor: User | None, label: str = "") -> tuple[str, Device]:
    """Make a device token for a field worker (or coordinator).

    :param actor: who does it; ``None`` from the command line.
    :raises Invalid: the user cannot collect data (role) or is deactivated.
    :raises NotFound: a coordinator asked for a worker outside their regions.
    :return: the token (shown once) and the device row.
    """
    if actor is not None and not may_manage(actor, worker):
        raise NotFound("No such user.", code="user.not_found")
    if not worker.has_role(Role.FIELD_WORKER, Role.COORDINATOR):
        raise Invalid(
            "%(worker)s is a %(role)s; phones are set up for field workers and coordinators.",
            code="device.role_invalid",
            params={"worker": worker.username, "role": worker.role_enum.label.lower()},
        )
    if not worker.active:
        raise Invalid(
            "%(worker)s is deactivated.",
            code="device.user_inactive",
            params={"worker": worker.username},
        )
    token = secrets.token_urlsafe(48)
    device = Device(
        user_id=worker.id,
        token_hash=_hash(token),
        label=label.strip()[:200],
        created_by_id=actor.id if actor else None,
    )
    db.session.add(device)
    db.session.flush()
    region_id = min(worker.region_ids) if worker.region_ids else None
    record(
        "device.created",
        actor=actor,
        subject_type="device",
        subject_id=device.id,
        region_id=region_id,
        user_id=worker.id,
    )
    return token, device


def device_for_token(token: str) -> Device | None:
    """The live device with this token (not revoked, its user active), or ``None``."""
    # one round trip: the device, its user and the user's regions (every phone request asks)
    device = (
        db.session.scalars(
            select(Device)
            .where(Device.token_hash == _hash(token))
            .options(joinedload(Device.user).joinedload(User.regions))
        )
        .unique()
        .one_or_none()
    )
    if device is None or device.revoked_at is not None or not device.user.active:
        return None
    now = utcnow()
    if device.last_seen_at is None or now - device.last_seen_at > timedelta(minutes=5):
        device.last_seen_at = now
    return device


#: a phone syncing with a password is noted at most this often
SYNC_NOTE_EVERY = timedelta(minutes=5)


def note_password_sync(
    user: User, *, user_agent: str, ip: str | None, now: datetime | None = None
) -> None:
    """Note that ``user`` synced with their password from this app (one row per user agent).

    Not a login per request: the row's last-seen time moves at most every five minutes, and
    only the first sync from a new app is audited.
    """
    now = now or utcnow()
    agent_hash = hashlib.sha256(user_agent.encode("utf-8", "replace")).hexdigest()
    row = db.session.scalars(
        select(CollectSync).where(
            CollectSync.user_id == user.id, CollectSync.agent_hash == agent_hash
        )
    ).one_or_none()
    if row is not None:
        if now - row.last_seen_at > SYNC_NOTE_EVERY:
            row.last_seen_at = now
            row.ip = ip
        return
    try:
        with db.session.begin_nested():
            db.session.add(
                CollectSync(
                    user_id=user.id,
                    agent_hash=agent_hash,
                    user_agent=user_agent[:200],
                    first_seen_at=now,
                    last_seen_at=now,
                    ip=ip,
                )
            )
    except IntegrityError:
        return  # a concurrent first sync of the same app noted it
    record(
        "auth.collect_app_seen",
        actor=user,
        subject_type="user",
        subject_id=user.id,
        user_agent=user_agent[:200],
    )


def password_syncs(user: User) -> Sequence[CollectSync]:
    """The apps that synced with this user's password, most recent first."""
    return db.session.scalars(
        select(CollectSync)
        .where(CollectSync.user_id == user.id)
        .order_by(CollectSync.last_seen_at.desc())
    ).all()


def list_devices(actor: User) -> Sequence[Device]:
    """Devices the actor may manage, newest first."""
    devices = db.session.scalars(select(Device).order_by(Device.id.desc())).all()
    return [d for d in devices if may_manage(actor, d.user)]


def get_device(device_id: int, *, actor: User) -> Device:
    """:raises NotFound: no such device, or not the actor's to manage."""
    device = db.session.get(Device, device_id)
    if device is None or not may_manage(actor, device.user):
        raise NotFound("No such device.", code="device.not_found")
    return device


def revoke_device(device: Device, *, actor: User) -> None:
    """Stop the device's token from working."""
    if device.revoked_at is None:
        device.revoked_at = utcnow()
        db.session.flush()
        record(
            "device.revoked",
            actor=actor,
            subject_type="device",
            subject_id=device.id,
            user_id=device.user_id,
        )


def collect_url(site: str, token: str) -> str:
    """The server URL to type into ODK Collect."""
    return f"{site.rstrip('/')}/collect/key/{token}"


def collect_settings(site: str, token: str, *, project_name: str) -> dict[str, object]:
    """ODK Collect's settings for this device: server, form updates, project name."""
    return {
        "general": {
            "server_url": collect_url(site, token),
            "form_update_mode": "match_exactly",
            "autosend": "wifi_and_cellular",
        },
        "project": {"name": project_name, "icon": "F", "color": "#1f5fbf"},
        "admin": {"change_server": False},
    }


def settings_qr_text(settings: dict[str, object]) -> str:
    """What the QR code holds: JSON, zlib-deflated, base64 (as Collect decodes it)."""
    return base64.b64encode(zlib.compress(json.dumps(settings).encode())).decode()


def qr_svg_data_url(text: str) -> str:
    """An SVG QR code of ``text`` as a ``data:`` URL (nothing to store, nothing in logs)."""
    image = qrcode.make(
        text,
        image_factory=qrcode.image.svg.SvgPathImage,
        error_correction=qrcode.constants.ERROR_CORRECT_L,
        box_size=8,
    )
    buffer = io.BytesIO()
    image.save(buffer)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()
