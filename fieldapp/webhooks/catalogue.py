"""The events an endpoint can choose (the ``type`` of its payloads)."""

from __future__ import annotations

#: event name → what an administrator reads when choosing it
EVENT_TYPES: dict[str, str] = {
    "submission.received": "A submission arrived",
    "submission.edited": "A submission was edited (a new version)",
    "submission.reviewed": "A submission was reviewed (approved, has issues, rejected)",
    "submission.deleted": "A submission was deleted",
    "case.created": "A case was opened",
    "case.updated": "A case changed",
    "case.transferred": "A case moved to another region",
    "case.closed": "A case was closed",
    "case.followup_overdue": "A case's follow-up became overdue",
}
