"""Review decisions on submissions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from fieldapp.db import Base, utcnow


class ReviewAction(Base):
    """One decision or comment on a submission."""

    __tablename__ = "review_actions"

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE"), index=True
    )
    #: state before and after (equal for a comment)
    from_state: Mapped[str] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    #: the reviewer's note (the reason for a rejection, what to fix for has_issues)
    note: Mapped[str] = mapped_column(Text, default="")
    #: the take/leave choices of an approval
    take: Mapped[dict[str, Any]] = mapped_column(default=dict)
    at: Mapped[datetime] = mapped_column(default=utcnow)
