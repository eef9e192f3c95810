"""Case lists as phones download them: ``<list>.csv`` attachments of follow-up forms.

The CSV has ODK's entity-list shape: ``name,label,__version`` and the list's properties. Its hash
is a change token that the manifest and the download's ETag share. Which cases a phone receives
(only its worker's caseload, in its region) is decided here and nowhere else.

Until case records exist (the Cases issue), a list has its header and no rows.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass

from sqlalchemy import select

from fieldapp.auth.models import User
from fieldapp.db import db
from fieldapp.forms.models import FormVersion


@dataclass(frozen=True, slots=True)
class CaseListFile:
    """A built case-list CSV and its change token (an MD5 hex digest)."""

    content: bytes
    token: str


def list_properties(dataset: str) -> list[str]:
    """Every property some published or draft form saves to ``dataset``, in first-seen order."""
    seen: dict[str, None] = {}
    for entities in db.session.scalars(select(FormVersion.entities).order_by(FormVersion.id)):
        for decl in entities or []:
            if decl.get("dataset") == dataset:
                for prop, _path in decl.get("properties", []):
                    seen.setdefault(str(prop), None)
    return list(seen)


def build_case_list(dataset: str, *, actor: User) -> CaseListFile:
    """The CSV of ``dataset`` for ``actor``'s phone."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["name", "label", "__version", *list_properties(dataset)])
    content = buffer.getvalue().encode()
    return CaseListFile(content, hashlib.md5(content, usedforsecurity=False).hexdigest())
