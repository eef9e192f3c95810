"""Administrators' webhook pages (``/admin/webhooks``) and API (``/api/v1/webhooks``)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext

from fieldapp.auth.models import Role
from fieldapp.db import unit_of_work
from fieldapp.errors import DomainError
from fieldapp.web.args import load, load_json
from fieldapp.web.i18n import translated_error
from fieldapp.web.permissions import current_actor, require
from fieldapp.webhooks import services
from fieldapp.webhooks.catalogue import EVENT_TYPES
from fieldapp.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from fieldapp.webhooks.schemas import EndpointCreateSchema, EndpointUpdateSchema

admin_bp = Blueprint("webhooks", __name__, url_prefix="/admin/webhooks")
api = Blueprint("webhooks_api", __name__, url_prefix="/api/v1/webhooks")


def _allow_private() -> bool:
    return bool(current_app.config.get("WEBHOOKS_ALLOW_PRIVATE_URLS"))


def _endpoint_json(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "description": endpoint.description,
        "events": list(endpoint.events or []),
        "include_answers": endpoint.include_answers,
        "active": endpoint.active,
        "created_at": endpoint.created_at.isoformat(),
        "rotating_until": endpoint.previous_secret_until.isoformat()
        if endpoint.previous_secret and endpoint.previous_secret_until
        else None,
    }


def _attempt_json(attempt: WebhookAttempt) -> dict[str, Any]:
    return {
        "at": attempt.at.isoformat(),
        "status": attempt.status_code,
        "duration_ms": attempt.duration_ms,
        "error": attempt.error,
        "response_excerpt": attempt.response_excerpt,
    }


def _delivery_json(delivery: WebhookDelivery) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "msg_id": delivery.msg_id,
        "event": delivery.event,
        "subject": delivery.subject,
        "state": delivery.state,
        "attempts": [_attempt_json(a) for a in delivery.attempt_log],
        "next_attempt_at": delivery.next_attempt_at.isoformat()
        if delivery.state == "pending"
        else None,
        "created_at": delivery.created_at.isoformat(),
    }


# -- pages -----------------------------------------------------------------------------------


@admin_bp.route("", methods=["GET", "POST"])
@require(Role.ADMIN)
def endpoints_page() -> Any:
    """Registered endpoints; register one (its secret is shown once)."""
    actor = current_actor()
    created = None
    if request.method == "POST":
        try:
            data = load(
                EndpointCreateSchema(),
                {
                    "url": request.form.get("url", ""),
                    "events": request.form.getlist("events"),
                    "description": request.form.get("description", ""),
                    "include_answers": request.form.get("include_answers") == "1",
                },
            )
            with unit_of_work():
                endpoint, secret = services.create_endpoint(
                    actor=actor, allow_private=_allow_private(), **data
                )
            created = {"endpoint": endpoint, "secret": secret}
        except DomainError as exc:
            flash(translated_error(exc), "error")
            return redirect(url_for("webhooks.endpoints_page"))
    return render_template(
        "admin/webhooks.html",
        endpoints=services.list_endpoints(actor),
        event_types=EVENT_TYPES,
        created=created,
    )


@admin_bp.get("/<int:endpoint_id>")
@require(Role.ADMIN)
def endpoint_page(endpoint_id: int) -> Any:
    """One endpoint: its settings and its recent deliveries with every attempt."""
    endpoint = services.get_endpoint(endpoint_id, actor=current_actor())
    return render_template(
        "admin/webhook.html",
        endpoint=endpoint,
        deliveries=services.recent_deliveries(endpoint),
        event_types=EVENT_TYPES,
        secret=None,
    )


@admin_bp.post("/<int:endpoint_id>/rotate")
@require(Role.ADMIN)
def rotate_page(endpoint_id: int) -> Any:
    """A new secret, shown once; the old one signs too for a day."""
    actor = current_actor()
    with unit_of_work():
        endpoint = services.get_endpoint(endpoint_id, actor=actor)
        secret = services.rotate_secret(endpoint, actor=actor)
    return render_template(
        "admin/webhook.html",
        endpoint=endpoint,
        deliveries=services.recent_deliveries(endpoint),
        event_types=EVENT_TYPES,
        secret=secret,
    )


@admin_bp.post("/<int:endpoint_id>/active")
@require(Role.ADMIN)
def toggle_page(endpoint_id: int) -> Any:
    """Pause or resume an endpoint."""
    actor = current_actor()
    with unit_of_work():
        endpoint = services.get_endpoint(endpoint_id, actor=actor)
        services.update_endpoint(endpoint, actor=actor, active=not endpoint.active)
    return redirect(url_for("webhooks.endpoint_page", endpoint_id=endpoint_id))


@admin_bp.post("/<int:endpoint_id>/delete")
@require(Role.ADMIN)
def delete_page(endpoint_id: int) -> Any:
    """Remove an endpoint and its deliveries."""
    actor = current_actor()
    with unit_of_work():
        services.delete_endpoint(services.get_endpoint(endpoint_id, actor=actor), actor=actor)
    flash(gettext("The webhook was removed."))
    return redirect(url_for("webhooks.endpoints_page"))


@admin_bp.post("/<int:endpoint_id>/deliveries/<int:delivery_id>/resend")
@require(Role.ADMIN)
def resend_page(endpoint_id: int, delivery_id: int) -> Any:
    """Send a delivered or failed message again."""
    actor = current_actor()
    try:
        with unit_of_work():
            endpoint = services.get_endpoint(endpoint_id, actor=actor)
            services.send_again(services.get_delivery(endpoint, delivery_id), actor=actor)
        flash(gettext("It will be sent again."))
    except DomainError as exc:
        if exc.http_status == 404:
            raise
        flash(translated_error(exc), "error")
    return redirect(url_for("webhooks.endpoint_page", endpoint_id=endpoint_id))


# -- API -------------------------------------------------------------------------------------


@api.get("")
@require(Role.ADMIN)
def api_endpoints() -> Any:
    """Registered endpoints (never their secrets)."""
    return {"items": [_endpoint_json(e) for e in services.list_endpoints(current_actor())]}


@api.post("")
@require(Role.ADMIN)
def api_create_endpoint() -> Any:
    """``{"url", "events": [...], "description", "include_answers"}`` → 201 with the
    ``secret``, shown this once."""
    body = load_json(EndpointCreateSchema())
    with unit_of_work():
        endpoint, secret = services.create_endpoint(
            actor=current_actor(), allow_private=_allow_private(), **body
        )
    return _endpoint_json(endpoint) | {"secret": secret}, 201


@api.get("/<int:endpoint_id>")
@require(Role.ADMIN)
def api_endpoint(endpoint_id: int) -> Any:
    """One endpoint with its recent deliveries and their attempts."""
    endpoint = services.get_endpoint(endpoint_id, actor=current_actor())
    return _endpoint_json(endpoint) | {
        "deliveries": [_delivery_json(d) for d in services.recent_deliveries(endpoint)]
    }


@api.patch("/<int:endpoint_id>")
@require(Role.ADMIN)
def api_update_endpoint(endpoint_id: int) -> Any:
    """Change url, events, description, include_answers or active."""
    body = load_json(EndpointUpdateSchema())
    actor = current_actor()
    with unit_of_work():
        endpoint = services.get_endpoint(endpoint_id, actor=actor)
        services.update_endpoint(endpoint, actor=actor, allow_private=_allow_private(), **body)
    return _endpoint_json(endpoint)


@api.delete("/<int:endpoint_id>")
@require(Role.ADMIN)
def api_delete_endpoint(endpoint_id: int) -> Any:
    """Remove an endpoint with its deliveries."""
    actor = current_actor()
    with unit_of_work():
        services.delete_endpoint(services.get_endpoint(endpoint_id, actor=actor), actor=actor)
    return "", 204


@api.post("/<int:endpoint_id>/rotate")
@require(Role.ADMIN)
def api_rotate(endpoint_id: int) -> Any:
    """A new ``secret`` (shown once); the old one also signs until ``rotating_until``."""
    actor = current_actor()
    with unit_of_work():
        endpoint = services.get_endpoint(endpoint_id, actor=actor)
        secret = services.rotate_secret(endpoint, actor=actor)
    return _endpoint_json(endpoint) | {"secret": secret}


@api.post("/<int:endpoint_id>/deliveries/<int:delivery_id>/resend")
@require(Role.ADMIN)
def api_resend(endpoint_id: int, delivery_id: int) -> Any:
    """Queue a delivered or failed message again (409 while it is still pending)."""
    actor = current_actor()
    with unit_of_work():
        endpoint = services.get_endpoint(endpoint_id, actor=actor)
        delivery = services.send_again(services.get_delivery(endpoint, delivery_id), actor=actor)
    return _delivery_json(delivery)
