"""Input and output shapes for people and places."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from fieldapp.auth.models import ROLE_VALUES, ApiToken, Device, Region, User
from fieldapp.web.args import Before, Text


class LoginSchema(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = fields.String(
        required=True, load_only=True, validate=validate.Length(min=1, max=1024)
    )


#: the longest password accepted (argon2 takes any length; this bounds the work per login)
PASSWORD_MAX = 1024


class UserCreateSchema(Schema):
    username = Text(column=User.username, required=True)
    display_name = Text(column=User.display_name, load_default="")
    role = fields.String(required=True, validate=validate.OneOf(ROLE_VALUES))
    regions = fields.List(Text(column=Region.code), load_default=list)
    password = Text(max=PASSWORD_MAX, required=True, load_only=True)


class UserUpdateSchema(Schema):
    display_name = Text(column=User.display_name)
    role = fields.String(validate=validate.OneOf(ROLE_VALUES))
    regions = fields.List(Text(column=Region.code))
    active = fields.Boolean()


class RegionSchema(Schema):
    code = Text(column=Region.code, required=True)
    name = Text(column=Region.name, required=True)


class RegionRenameSchema(Schema):
    code = Text(column=Region.code, required=True)
    name = Text(column=Region.name, required=True)


class DeviceCreateSchema(Schema):
    user = Text(column=User.username, load_default="")
    label = Text(column=Device.label, load_default="")


class TokenLabelSchema(Schema):
    label = Text(column=ApiToken.label, load_default="")


class AuditArgs(Schema):
    before = Before(load_default=None)


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


class CodeSchema(Schema):
    """A code of an authenticator app (6 digits) or a recovery code (``abcde-fghjk``)."""

    code = Text(max=32, min=1, required=True)
