"""Input shapes of the cases API and pages (lengths from the model's columns)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from fieldapp.auth.models import Region, User
from fieldapp.cases.models import (
    Case,
    CaseLink,
    CaseList,
    ConsentChange,
    ConsentState,
    Referral,
    ReferralStatus,
    TransferRequest,
)
from fieldapp.cases.referrals import DUE_DAYS, SERVICES
from fieldapp.web.args import Cursor, Limit, Page, Text


class CasesArgs(Schema):
    dataset = Text(column=CaseList.name, load_default="")
    region = Text(column=Region.code, load_default="")
    status = fields.String(
        validate=validate.OneOf(["open", "closed", "merged", "all"]), load_default="open"
    )
    overdue = fields.String(load_default="")
    cursor = Cursor(load_default="")
    limit = Limit(maximum=1000, default=100)


class CasePageArgs(Schema):
    q = Text(max=255, load_default="")
    dataset = Text(column=CaseList.name, load_default="")
    region = Text(column=Region.code, load_default="")
    status = fields.String(load_default="open")
    overdue = fields.String(load_default="")
    page = Page(load_default=1)


class DuplicatesArgs(Schema):
    region = Text(column=Region.code, load_default="")
    keys = Text(max=2000, load_default="")


class AssignBody(Schema):
    user = Text(column=User.username, allow_none=True, load_default=None)


class TransferBody(Schema):
    region = Text(column=Region.code, load_default="")
    assign_to = Text(column=User.username, allow_none=True, load_default=None)
    note = Text(column=TransferRequest.note, allow_none=True, load_default="")


class CloseBody(Schema):
    reason = Text(column=Case.status_reason, allow_none=True, load_default="")


class LinkBody(Schema):
    to = Text(max=255, load_default="")
    relation = Text(column=CaseLink.relation, load_default="")


class MergeBody(Schema):
    other = Text(max=255, load_default="")
    choose = fields.Dict(
        keys=fields.String(),
        values=fields.String(validate=validate.OneOf(["keep", "drop"])),
        allow_none=True,
        load_default=dict,
    )


class ResolveBody(Schema):
    properties = fields.Dict(keys=fields.String(), allow_none=True, load_default=dict)
    note = fields.String(allow_none=True, load_default="")


class CaseListUpdateBody(Schema):
    cadence_days = fields.Integer(
        strict=True, allow_none=True, load_default=None, validate=validate.Range(0, 3650)
    )
    approval_required = fields.Boolean(allow_none=True, load_default=None)
    next_visit_property = Text(
        column=CaseList.next_visit_property, allow_none=True, load_default=None
    )
    phone_label = fields.List(
        Text(max=255), allow_none=True, load_default=None, validate=validate.Length(max=20)
    )
    phone_label_names = fields.Boolean(allow_none=True, load_default=None)
    #: days closed cases are kept before the purge erases them; null keeps them (left out:
    #: unchanged)
    closed_retention_days = fields.Integer(
        strict=True, allow_none=True, validate=validate.Range(1, 36500)
    )


class ConsentBody(Schema):
    """A consent change through the API: ``kind``, ``state``, ``reason`` (all required)."""

    kind = fields.String(required=True, validate=validate.OneOf(["consent", "assent"]))
    state = fields.String(required=True, validate=validate.OneOf([s.value for s in ConsentState]))
    reason = Text(column=ConsentChange.reason, min=1, required=True)


class ReferralBody(Schema):
    service = fields.String(required=True, validate=validate.OneOf(list(SERVICES)))
    urgency = fields.String(required=True, validate=validate.OneOf(list(DUE_DAYS)))
    note = Text(column=Referral.note, allow_none=True, load_default=None)


class ReferralMoveBody(Schema):
    to = fields.String(
        required=True,
        validate=validate.OneOf([s.value for s in ReferralStatus if s != ReferralStatus.MADE]),
    )
    note = Text(column=Referral.note, allow_none=True, load_default=None)
