"""Input shapes of the submissions API (lengths from the model's columns)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from fieldapp.auth.models import Region
from fieldapp.forms.models import Form
from fieldapp.submissions.models import ReviewState
from fieldapp.web.args import Cursor, Limit, Text


class SubmissionListArgs(Schema):
    review_state = fields.String(
        validate=validate.OneOf(["", *(s.value for s in ReviewState)]), load_default=""
    )
    form_id = Text(column=Form.form_id, load_default="")
    region = Text(column=Region.code, load_default="")
    urgent = fields.String(load_default="")
    cursor = Cursor(load_default="")
    limit = Limit(maximum=500, default=50)


class ReviewBody(Schema):
    state = fields.String(load_default="")
    note = fields.String(load_default="", allow_none=True)
    take = fields.Dict(
        keys=fields.String(),
        values=fields.Boolean(truthy={True}, falsy={False}),
        load_default=dict,
        allow_none=True,
        error_messages={"invalid": "Maps property names to true (take) or false (leave)."},
    )


class DeleteBody(Schema):
    reason = fields.String(load_default="", allow_none=True)
