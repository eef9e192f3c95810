"""Input and output shapes for people and places."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from fieldapp.auth.models import ROLE_VALUES


class LoginSchema(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = fields.String(
        required=True, load_only=True, validate=validate.Length(min=1, max=1024)
    )


class UserCreateSchema(Schema):
    username = fields.String(required=True)
    display_name = fields.String(load_default="")
    role = fields.String(required=True, validate=validate.OneOf(ROLE_VALUES))
    regions = fields.List(fields.String(), load_default=list)
    password = fields.String(required=True, load_only=True)


class UserUpdateSchema(Schema):
    display_name = fields.String()
    role = fields.String(validate=validate.OneOf(ROLE_VALUES))
    regions = fields.List(fields.String())
    active = fields.Boolean()


class RegionSchema(Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)


class UserOutSchema(Schema):
    id = fields.Integer()
    username = fields.String()
    display_name = fields.String()
    role = fields.String()
    active = fields.Boolean()
    regions = fields.Method("_regions")
    locked = fields.Method("_locked")
    last_login_at = fields.DateTime()

    def _regions(self, user: object) -> list[str]:
        return [r.code for r in getattr(user, "regions", [])]

    def _locked(self, user: object) -> bool:
        from fieldapp.db import utcnow  # noqa: PLC0415

        until = getattr(user, "locked_until", None)
        return until is not None and until > utcnow()
