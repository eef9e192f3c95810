"""The query strings of the export routes, checked at the boundary."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from fieldapp.auth.models import Region
from fieldapp.cases.models import CaseList, CaseStatus
from fieldapp.forms.models import FormVersion
from fieldapp.submissions.models import ReviewState
from fieldapp.web.args import Text

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")
#: values a list argument may hold at most
LIST_MAX = 50


class Flag(fields.Field[bool]):
    """A yes/no switch: ``true``/``false``, ``1``/``0``, ``yes``/``no``, ``on``/``off``;
    empty is no."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bool:
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValidationError("Not true or false.")


class OptionalFlag(Flag):
    """Like :class:`Flag`, but empty means "either" (``None``)."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if str(value).strip() == "":
            return None
        return super()._deserialize(value, attr, data, **kwargs)


class Received(fields.Field[datetime | None]):
    """A date (``2026-12-03``) or a date and time with a zone (``2026-12-03T10:00:00Z``), as a
    UTC datetime; ``end=True`` makes a plain date cover its whole day."""

    def __init__(self, *, end: bool = False, **kwargs: Any) -> None:
        self.end = end
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        text = str(value).strip()
        if not text:
            return None
        if len(text) > 40 or not text.isascii():
            raise ValidationError("Not a date.")
        try:
            if len(text) == 10:
                day = date.fromisoformat(text)
                moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
                return moment + timedelta(days=1) if self.end else moment
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ValidationError("Not a date (YYYY-MM-DD) or date and time.") from None
        if moment.tzinfo is None:
            raise ValidationError("Give the time zone (for example Z or +05:00).")
        return moment.astimezone(UTC)


class Words(fields.Field[tuple[str, ...]]):
    """A comma-separated list, each item checked by ``item`` (repeated arguments join it)."""

    def __init__(self, item: fields.Field[str], **kwargs: Any) -> None:
        self.item = item
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> tuple[str, ...]:
        parts = [p.strip() for p in str(value).split(",") if p.strip()]
        if len(parts) > LIST_MAX:
            raise ValidationError(f"At most {LIST_MAX} values.")
        return tuple(self.item.deserialize(p) for p in parts)


class SubmissionExportArgs(Schema):
    """``?from=&to=&review_state=&region=&version=&urgent=&headers=&lang=&choices=
    &split_select_multiples=&attachments=``"""

    received_from = Received(data_key="from", load_default=None)
    received_to = Received(data_key="to", end=True, load_default=None)
    review_state = Words(
        fields.String(validate=validate.OneOf([s.value for s in ReviewState])), load_default=()
    )
    region = Words(Text(column=Region.code), load_default=())
    version = Words(Text(column=FormVersion.version), load_default=())
    urgent = OptionalFlag(load_default=None)
    headers = fields.String(validate=validate.OneOf(["", "names", "labels"]), load_default="")
    lang = Text(max=100, load_default="")
    choices = fields.String(validate=validate.OneOf(["", "names", "labels"]), load_default="")
    split_select_multiples = Flag(load_default=False)
    attachments = Flag(load_default=False)


class CaseExportArgs(Schema):
    """``?dataset=&region=&status=``"""

    dataset = Text(column=CaseList.name, min=1, required=True)
    region = Text(column=Region.code, load_default="")
    status = fields.String(
        validate=validate.OneOf(["", *(s.value for s in CaseStatus)]), load_default=""
    )
