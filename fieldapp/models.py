"""Imports every model so that ``Base.metadata`` is complete (Alembic, tests)."""

from fieldapp.audit.models import AuditEvent
from fieldapp.auth.models import ApiToken, Region, User, user_regions
from fieldapp.blobs import Blob
from fieldapp.db import Base
from fieldapp.forms.models import Form, FormAttachment, FormVersion

__all__ = [
    "ApiToken",
    "AuditEvent",
    "Base",
    "Blob",
    "Form",
    "FormAttachment",
    "FormVersion",
    "Region",
    "User",
    "user_regions",
]
