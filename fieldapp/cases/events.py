"""Events the cases package publishes (see :mod:`fieldapp.events`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import ClassVar

from fieldapp.cases.models import Case
from fieldapp.events import Event


@dataclass(frozen=True, kw_only=True)
class CaseEvent(Event):
    """Something happened to a case."""

    case: Case


@dataclass(frozen=True, kw_only=True)
class CaseCreated(CaseEvent):
    """A case was opened (from a submission's case work or by staff)."""

    name: ClassVar[str] = "case.created"
    submission_instance_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class CaseUpdated(CaseEvent):
    """A case changed: a new version, an assignment, a reopening, a merge."""

    name: ClassVar[str] = "case.updated"
    changed: Sequence[str] = field(default_factory=tuple)
    submission_instance_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class CaseTransferred(CaseEvent):
    """A case moved to another region (``from_region_id`` is the old one)."""

    name: ClassVar[str] = "case.transferred"
    from_region_id: int


@dataclass(frozen=True, kw_only=True)
class CaseClosed(CaseEvent):
    """A case was closed (follow-up ended)."""

    name: ClassVar[str] = "case.closed"


@dataclass(frozen=True, kw_only=True)
class FollowUpOverdue(CaseEvent):
    """An open case's next follow-up date (``due``) has passed without a visit."""

    name: ClassVar[str] = "case.followup_overdue"
    due: date
