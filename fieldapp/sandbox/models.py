"""Tries: one or more drafts a designer tries together, from a browser or from ODK Collect."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, ForeignKey, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fieldapp.db import Base, utcnow

#: the forms (their drafts) a try covers
draft_try_forms = Table(
    "draft_try_forms",
    Base.metadata,
    Column("try_id", ForeignKey("draft_tries.id", ondelete="CASCADE"), primary_key=True),
    Column("form_pk", ForeignKey("forms.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class DraftTry(Base):
    """A try of drafts: a registration draft and its follow-up draft can be tried together.

    Collect reaches it at ``/collect/test/<token>`` (only a SHA-256 of the token is stored, as for
    device tokens); the designer's browser through their session. Its test submissions and test
    cases are ``sandbox`` rows (``fieldapp.sandbox.scope``).
    """

    __tablename__ = "draft_tries"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: SHA-256 (hex) of the token in the Collect URL
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    #: the designer who started it: test submissions are sent in their name
    created_by_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    #: the region test rows carry (a column every submission and case needs; nobody sees them)
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id", ondelete="CASCADE"))
    #: test case work is applied at once; otherwise it waits for the designer's approval
    skip_review: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: the Collect URL stops working (the browser page too)
    revoked_at: Mapped[datetime | None]

    created_by: Mapped[Any] = relationship("User")
    forms: Mapped[list[Any]] = relationship(
        "Form", secondary=draft_try_forms, order_by="Form.form_id"
    )
