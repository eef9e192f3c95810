"""Boundary schemas of the webhook admin pages and API."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from fieldapp.web.args import Text
from fieldapp.webhooks.catalogue import EVENT_TYPES
from fieldapp.webhooks.models import WebhookEndpoint

_EVENT = Text(max=64, validate=[validate.OneOf(list(EVENT_TYPES))])


class EndpointCreateSchema(Schema):
    url = Text(column=WebhookEndpoint.url, required=True)
    events = fields.List(
        _EVENT, required=True, validate=validate.Length(min=1, max=len(EVENT_TYPES))
    )
    description = Text(column=WebhookEndpoint.description, load_default="")
    include_answers = fields.Boolean(load_default=False)


class EndpointUpdateSchema(Schema):
    url = Text(column=WebhookEndpoint.url)
    events = fields.List(_EVENT, validate=validate.Length(min=1, max=len(EVENT_TYPES)))
    description = Text(column=WebhookEndpoint.description)
    include_answers = fields.Boolean()
    active = fields.Boolean()
