"""Events the submissions package publishes (see :mod:`fieldapp.events`).

They carry the rows themselves (subscribers run in the same unit of work) and the facts a
subscriber cannot read from the rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from fieldapp.auth.models import User
from fieldapp.events import Event
from fieldapp.submissions.models import Submission, SubmissionVersion


@dataclass(frozen=True, kw_only=True)
class SubmissionEvent(Event):
    """Something happened to a submission."""

    submission: Submission


@dataclass(frozen=True, kw_only=True)
class SubmissionStored(SubmissionEvent):
    """A submission version was stored (flushed, attachments written): new or an edit.

    ``entities`` are the form version's entity declarations; ``overdue_days`` is the rule that
    makes a submission urgent when it updates a case unseen that long (case work decides it,
    before its work moves the due date).
    """

    version: SubmissionVersion
    entities: Sequence[Mapping[str, Any]] = field(default_factory=tuple)
    actor: User | None = None
    overdue_days: int = 14


@dataclass(frozen=True, kw_only=True)
class SubmissionReceived(SubmissionStored):
    """A new submission was stored."""

    name: ClassVar[str] = "submission.received"


@dataclass(frozen=True, kw_only=True)
class SubmissionEdited(SubmissionStored):
    """A new version of a submission was stored through ``deprecatedID``."""

    name: ClassVar[str] = "submission.edited"
    replaces: str = ""


@dataclass(frozen=True, kw_only=True)
class SubmissionReviewed(SubmissionEvent):
    """A coordinator decided (``state`` is the new review state, ``previous`` the old)."""

    name: ClassVar[str] = "submission.reviewed"
    state: str
    previous: str
    actor: User | None = None


@dataclass(frozen=True, kw_only=True)
class SubmissionDeleted(SubmissionEvent):
    """A submission was deleted (softly)."""

    name: ClassVar[str] = "submission.deleted"
    actor: User | None = None
