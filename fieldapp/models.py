"""Imports every model so that ``Base.metadata`` is complete (Alembic, tests)."""

from fieldapp.audit.models import AuditEvent
from fieldapp.auth.models import (
    ApiToken,
    AuthThrottle,
    CollectSync,
    Device,
    RecoveryCode,
    Region,
    SiteSetting,
    User,
    WebSession,
    user_regions,
)
from fieldapp.blobs import Blob
from fieldapp.cases.models import (
    Case,
    CaseLink,
    CaseList,
    CaseVersion,
    CaseWork,
    OverdueNotice,
    TransferRequest,
)
from fieldapp.db import Base
from fieldapp.exports.models import ExportJob
from fieldapp.forms.models import Form, FormAttachment, FormFetch, FormVersion
from fieldapp.review.models import ReviewAction
from fieldapp.sandbox.models import DraftTry, draft_try_forms
from fieldapp.submissions.models import (
    Submission,
    SubmissionAttachment,
    SubmissionStateCount,
    SubmissionVersion,
)
from fieldapp.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WorkerLease

__all__ = [
    "ApiToken",
    "AuditEvent",
    "AuthThrottle",
    "Base",
    "Blob",
    "Case",
    "CaseLink",
    "CaseList",
    "CaseVersion",
    "CaseWork",
    "CollectSync",
    "Device",
    "DraftTry",
    "ExportJob",
    "Form",
    "FormAttachment",
    "FormFetch",
    "FormVersion",
    "OverdueNotice",
    "RecoveryCode",
    "Region",
    "ReviewAction",
    "SiteSetting",
    "Submission",
    "SubmissionAttachment",
    "SubmissionStateCount",
    "SubmissionVersion",
    "TransferRequest",
    "User",
    "WebSession",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WorkerLease",
    "draft_try_forms",
    "user_regions",
]
