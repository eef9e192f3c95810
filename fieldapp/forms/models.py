"""The form catalogue: forms, their versions, and the files each version needs."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fieldapp.db import Base, utcnow


def public_problems(problems: list[Any]) -> list[Any]:
    """Stored problems (a draft's warnings) as the API shows them: without the ``i18n`` key a
    page translates them with (``fieldapp.forms.xlsform.FormProblem.stored``)."""
    return [
        {k: v for k, v in p.items() if k != "i18n"} if isinstance(p, dict) else p for p in problems
    ]


class FormState(enum.StrEnum):
    """Life of a form as phones see it.

    ``draft``: never published, invisible to phones. ``open``: listed and accepting submissions.
    ``closing``: no longer listed, still accepting submissions from phones that have it.
    ``closed``: not listed, submissions refused.
    """

    DRAFT = "draft"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


class VersionStatus(enum.StrEnum):
    """A version is a draft until published; published versions stay valid for phones."""

    DRAFT = "draft"
    PUBLISHED = "published"


class Form(Base):
    """One form, identified by its XForm id (the ``form_id`` of the settings sheet)."""

    __tablename__ = "forms"
    __table_args__ = (
        CheckConstraint("state IN ('draft', 'open', 'closing', 'closed')", name="state_valid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: the XForm id (``<data id="...">``); what phones and submissions name
    form_id: Mapped[str] = mapped_column(String(255), unique=True)
    #: title of the current (or only) version
    title: Mapped[str] = mapped_column(String(500))
    #: one of :class:`FormState`
    state: Mapped[str] = mapped_column(String(16), default=FormState.DRAFT.value)
    #: the published version phones get; NULL until first published
    current_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("form_versions.id", use_alter=True, ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    #: days a deleted submission of this form is kept before the purge removes it for good
    #: (``fieldapp.retention``); NULL keeps deleted submissions until someone restores them
    deleted_retention_days: Mapped[int | None] = mapped_column(default=30, server_default="30")

    versions: Mapped[list[FormVersion]] = relationship(
        back_populates="form",
        foreign_keys="FormVersion.form_pk",
        order_by="FormVersion.id.desc()",
        cascade="all, delete-orphan",
    )
    current_version: Mapped[FormVersion | None] = relationship(
        foreign_keys=[current_version_id], post_update=True
    )

    @property
    def draft(self) -> FormVersion | None:
        """The unpublished version, if one was uploaded since the last publish."""
        for version in self.versions:
            if version.status == VersionStatus.DRAFT:
                return version
        return None

    @property
    def published_versions(self) -> list[FormVersion]:
        """Published versions, newest first."""
        return [v for v in self.versions if v.status == VersionStatus.PUBLISHED]


class FormVersion(Base):
    """One compiled upload of a form: its source file, XForm and what was learnt from it."""

    __tablename__ = "form_versions"
    __table_args__ = (
        UniqueConstraint("form_pk", "version"),
        CheckConstraint("status IN ('draft', 'published')", name="status_valid"),
        CheckConstraint(
            "(status = 'published') = (published_at IS NOT NULL)", name="published_has_time"
        ),
        # what a form list reads of a version: on SQLite a row's columns after the XForm text
        # are read by walking its overflow pages, which made a list of 100 forms 2 ms of
        # database work; this index answers the list by itself (0.1 ms)
        Index("ix_form_versions_listing", "id", "title", "version", "xform_md5"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    form_pk: Mapped[int] = mapped_column(ForeignKey("forms.id", ondelete="CASCADE"), index=True)
    #: the ``version`` of the settings sheet; unique per form among kept versions
    version: Mapped[str] = mapped_column(String(255))
    #: one of :class:`VersionStatus`
    status: Mapped[str] = mapped_column(String(16), default=VersionStatus.DRAFT.value)
    #: the form title of this version
    title: Mapped[str] = mapped_column(String(500))
    #: the uploaded file's name, as given
    source_filename: Mapped[str] = mapped_column(String(255))
    #: ``.xlsx``, ``.xls``, ``.csv`` or ``.md``
    source_type: Mapped[str] = mapped_column(String(8))
    #: the uploaded file itself
    source_sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"))
    #: the XForm pyxform produced; the truth about the form from here on (loaded on use)
    xform: Mapped[str] = mapped_column(Text, deferred=True)
    #: MD5 of the XForm bytes served to phones (``md5:`` hash in the form list)
    xform_md5: Mapped[str] = mapped_column(String(32))
    #: itext languages, e.g. ``["English (en)", "Русский (ru)"]``
    languages: Mapped[list[Any]] = mapped_column(default=list)
    default_language: Mapped[str | None] = mapped_column(String(100))
    #: the field tree (groups, repeats, questions with labels, types and choices) as JSON
    #: (loaded on use: it is large)
    fields: Mapped[list[Any]] = mapped_column(default=list, deferred=True)
    #: entity declarations: ``[{"dataset", "container_path", "create", "update", ...}]``
    entities: Mapped[list[Any]] = mapped_column(default=list)
    #: pyxform's and fieldapp's warnings as problem dicts (``message``, ``code``, ``sheet``,
    #: ``row``, ``column``); ``note: true`` marks one that only informs
    warnings: Mapped[list[Any]] = mapped_column(default=list)
    #: when someone confirmed they read the warnings (required before publishing, notes aside)
    warnings_acknowledged_at: Mapped[datetime | None]
    #: ``passed``, ``skipped`` (no Java) or NULL (not run yet)
    validation: Mapped[str | None] = mapped_column(String(16))
    #: whether submissions are encrypted with a public key
    encrypted: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    published_at: Mapped[datetime | None]
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    #: what the designer wrote when publishing (why, what changed), shown with the version
    publish_note: Mapped[str | None] = mapped_column(Text)

    form: Mapped[Form] = relationship(back_populates="versions", foreign_keys=[form_pk])
    attachments: Mapped[list[FormAttachment]] = relationship(
        back_populates="form_version",
        order_by="FormAttachment.name",
        cascade="all, delete-orphan",
    )

    @property
    def blocking_warnings(self) -> list[Any]:
        """The warnings to acknowledge before publishing: all but the notes."""
        return [w for w in self.warnings if not (isinstance(w, dict) and w.get("note"))]

    @property
    def missing_attachments(self) -> list[FormAttachment]:
        """Files the form needs that nobody has uploaded (case lists are served, not missing)."""
        return [a for a in self.attachments if a.blob_sha256 is None and a.dataset is None]


class FormAttachment(Base):
    """A file a form version references: image, audio, CSV or XML choices, a case list."""

    __tablename__ = "form_attachments"
    __table_args__ = (UniqueConstraint("form_version_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    form_version_id: Mapped[int] = mapped_column(
        ForeignKey("form_versions.id", ondelete="CASCADE"), index=True
    )
    #: file name as the form references it (``jr://images/logo.png`` → ``logo.png``)
    name: Mapped[str] = mapped_column(String(255))
    #: ``image``, ``audio``, ``video``, ``big-image``, ``file`` or ``file-csv``
    kind: Mapped[str] = mapped_column(String(16))
    #: when set, the server builds this CSV from the named case list; no upload needed
    dataset: Mapped[str | None] = mapped_column(String(255))
    #: the uploaded content; NULL while missing
    blob_sha256: Mapped[str | None] = mapped_column(ForeignKey("blobs.sha256"))
    content_type: Mapped[str | None] = mapped_column(String(100))
    uploaded_at: Mapped[datetime | None]
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    form_version: Mapped[FormVersion] = relationship(back_populates="attachments")


class FormFetch(Base):
    """A phone (or web form browser) that downloaded a form version: its XForm or manifest.

    One row per version and client: a device token's phone (``device:<id>``), a phone syncing
    with a username and password (``password:<SHA-256 of its User-Agent>``, 16 hex digits) or
    the worker's browser (``web``). ``last_fetched_at`` moves at most every few minutes
    (``fieldapp.forms.fetches``). Which phone has which version: the newest row per client.
    """

    __tablename__ = "form_fetches"
    __table_args__ = (
        UniqueConstraint("form_version_id", "user_id", "client_key"),
        Index("ix_form_fetches_form_pk", "form_pk", "last_fetched_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    form_pk: Mapped[int] = mapped_column(ForeignKey("forms.id", ondelete="CASCADE"))
    form_version_id: Mapped[int] = mapped_column(ForeignKey("form_versions.id", ondelete="CASCADE"))
    #: the worker whose credential fetched it
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    #: the device token's device, if that was the credential (never the token itself)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    #: which client of the user: ``device:<id>``, ``password:<hash>`` or ``web``
    client_key: Mapped[str] = mapped_column(String(40))
    #: the client's User-Agent, shortened (the Collect version)
    user_agent: Mapped[str] = mapped_column(String(200), default="")
    #: ``xform`` or ``manifest``: what was fetched last
    last_kind: Mapped[str] = mapped_column(String(16))
    first_fetched_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_fetched_at: Mapped[datetime] = mapped_column(default=utcnow)
