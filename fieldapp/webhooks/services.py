"""Administering webhook endpoints: register, change, rotate the secret, remove, send again.

Only administrators manage endpoints (the views check the role; these functions check it
again). A secret is returned once, by :func:`create_endpoint` and :func:`rotate_secret`, and
never logged or shown again.
"""

from __future__ import annotations

import base64
import ipaddress
import secrets
import socket
from collections.abc import Sequence
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import select

from fieldapp.audit.services import record
from fieldapp.auth.models import Role, User
from fieldapp.db import column_length, db, utcnow
from fieldapp.errors import Conflict, Forbidden, Invalid, NotFound
from fieldapp.webhooks.catalogue import EVENT_TYPES
from fieldapp.webhooks.models import DeliveryState, WebhookDelivery, WebhookEndpoint

#: how long the old secret still signs after a rotation (receivers switch in the meantime)
ROTATION_GRACE = timedelta(hours=24)

_URL_MAX = column_length(WebhookEndpoint.url)


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def _require_admin(actor: User) -> None:
    if not actor.has_role(Role.ADMIN):
        raise Forbidden("Only administrators manage webhooks.", code="webhook.forbidden")


def _blocked_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return bool(
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


def check_url(url: str, *, allow_private: bool) -> str:
    """``url`` if it may be sent to: http or https, a host, no credentials; unless
    ``allow_private``, every address the host resolves to must be public (no loopback,
    private, link-local ... network: the server must not be a way into its own network).

    Called at registration and again before every send (a name may resolve elsewhere later).

    :raises Invalid: ``webhook.url_invalid`` or ``webhook.url_private``.
    """
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        parts, port = None, None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.username is not None
        or parts.password is not None
        or len(url) > _URL_MAX
        or any(c.isspace() or ord(c) < 32 for c in url)
    ):
        raise Invalid(
            "The address must be an http:// or https:// URL with a host (no user or password).",
            code="webhook.url_invalid",
        )
    if allow_private:
        return url
    try:
        infos = socket.getaddrinfo(parts.hostname, port or 443, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        raise Invalid(
            "The address's host name does not resolve.", code="webhook.url_invalid"
        ) from exc
    if not infos or any(_blocked_address(str(info[4][0])) for info in infos):
        raise Invalid(
            "The address points into a private, loopback or reserved network; webhooks go only "
            "to public addresses (WEBHOOKS_ALLOW_PRIVATE_URLS allows others).",
            code="webhook.url_private",
        )
    return url


def _events(chosen: Sequence[str]) -> list[str]:
    unknown = sorted(set(chosen) - set(EVENT_TYPES))
    if unknown or not chosen:
        raise Invalid(
            "Choose one or more of: %(events)s.",
            params={"events": ", ".join(EVENT_TYPES)},
            code="webhook.events_invalid",
            details={"unknown": unknown},
        )
    return [e for e in EVENT_TYPES if e in set(chosen)]


def create_endpoint(
    *,
    url: str,
    events: Sequence[str],
    actor: User,
    description: str = "",
    include_answers: bool = False,
    allow_private: bool = False,
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint.

    :return: the endpoint and its secret (shown once).
    :raises Invalid: a bad URL or event list.
    """
    _require_admin(actor)
    endpoint = WebhookEndpoint(
        url=check_url(url, allow_private=allow_private),
        events=_events(events),
        description=description.strip()[: column_length(WebhookEndpoint.description)],
        include_answers=include_answers,
        active=True,
        secret=new_secret(),
        created_by_id=actor.id,
    )
    db.session.add(endpoint)
    db.session.flush()
    record(
        "webhook.created",
        actor=actor,
        subject_type="webhook",
        subject_id=endpoint.id,
        events=endpoint.events,
        include_answers=include_answers,
    )
    return endpoint, endpoint.secret


def update_endpoint(
    endpoint: WebhookEndpoint,
    *,
    actor: User,
    url: str | None = None,
    events: Sequence[str] | None = None,
    description: str | None = None,
    include_answers: bool | None = None,
    active: bool | None = None,
    allow_private: bool = False,
) -> WebhookEndpoint:
    """Change what is given; deliveries already in the outbox keep their payloads."""
    _require_admin(actor)
    if url is not None:
        endpoint.url = check_url(url, allow_private=allow_private)
    if events is not None:
        endpoint.events = _events(events)
    if description is not None:
        endpoint.description = description.strip()[: column_length(WebhookEndpoint.description)]
    if include_answers is not None:
        endpoint.include_answers = include_answers
    if active is not None:
        endpoint.active = active
    db.session.flush()
    record(
        "webhook.updated",
        actor=actor,
        subject_type="webhook",
        subject_id=endpoint.id,
        events=endpoint.events,
        include_answers=endpoint.include_answers,
        active=endpoint.active,
    )
    return endpoint


def rotate_secret(
    endpoint: WebhookEndpoint, *, actor: User, grace: timedelta = ROTATION_GRACE
) -> str:
    """A new secret; the old one keeps signing (as a second signature) for ``grace``.

    :return: the new secret (shown once).
    """
    _require_admin(actor)
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_until = utcnow() + grace
    endpoint.secret = new_secret()
    db.session.flush()
    record("webhook.secret_rotated", actor=actor, subject_type="webhook", subject_id=endpoint.id)
    return endpoint.secret


def signing_secrets(endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    """The secrets a message is signed with now: the current one, and the previous one
    during its grace period."""
    found = [endpoint.secret]
    until = endpoint.previous_secret_until
    if endpoint.previous_secret and until is not None and until > now:
        found.append(endpoint.previous_secret)
    return found


def delete_endpoint(endpoint: WebhookEndpoint, *, actor: User) -> None:
    """Remove an endpoint with its outbox rows and attempts."""
    _require_admin(actor)
    endpoint_id = endpoint.id
    db.session.delete(endpoint)
    db.session.flush()
    record("webhook.deleted", actor=actor, subject_type="webhook", subject_id=endpoint_id)


def list_endpoints(actor: User) -> Sequence[WebhookEndpoint]:
    _require_admin(actor)
    return db.session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)).all()


def get_endpoint(endpoint_id: int, *, actor: User) -> WebhookEndpoint:
    """:raises NotFound: no such endpoint (or the actor is no administrator)."""
    endpoint = db.session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or not actor.has_role(Role.ADMIN):
        raise NotFound("No such webhook.", code="webhook.not_found")
    return endpoint


def recent_deliveries(endpoint: WebhookEndpoint, *, limit: int = 50) -> Sequence[WebhookDelivery]:
    """The endpoint's newest deliveries, each with its attempts."""
    return db.session.scalars(
        select(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint.id)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
    ).all()


def get_delivery(endpoint: WebhookEndpoint, delivery_id: int) -> WebhookDelivery:
    delivery = db.session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.endpoint_id != endpoint.id:
        raise NotFound("No such delivery.", code="webhook.delivery_not_found")
    return delivery


def send_again(delivery: WebhookDelivery, *, actor: User) -> WebhookDelivery:
    """Queue a delivered or failed message again (same ``webhook-id``, so a receiver that
    deduplicates sees a repeat); its attempts start over.

    :raises Conflict: it is still waiting to be sent.
    """
    _require_admin(actor)
    if delivery.state == DeliveryState.PENDING:
        raise Conflict("This delivery is still waiting to be sent.", code="webhook.pending")
    delivery.state = DeliveryState.PENDING.value
    delivery.attempts = 0
    delivery.next_attempt_at = utcnow()
    delivery.claimed_until = None
    delivery.finished_at = None
    db.session.flush()
    record(
        "webhook.resent",
        actor=actor,
        subject_type="webhook",
        subject_id=delivery.endpoint_id,
        delivery=delivery.id,
    )
    return delivery
