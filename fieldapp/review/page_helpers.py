"""Template helpers of the review pages that need the reader (not routes: no URL of their own).

``case_refs_for(version, items)`` gives the submission page the cases its answers choose, as the
logged-in reader may see them (:mod:`fieldapp.review.case_refs`). It is a template global so
that the submission page's view need not change for it.
"""

from __future__ import annotations

from collections.abc import Sequence

from flask import Blueprint
from flask_login import current_user

from fieldapp.forms.xform import fields_from_json
from fieldapp.review.case_refs import CaseRefs, case_refs
from fieldapp.submissions.models import SubmissionVersion
from fieldapp.submissions.parsing import DisplayItem
from fieldapp.web.permissions import current_actor

bp = Blueprint("review_helpers", __name__)


@bp.app_template_global("case_refs_for")
def case_refs_for(version: SubmissionVersion, items: Sequence[DisplayItem]) -> CaseRefs:
    """The cases ``items`` (answers of ``version``) choose that the reader may see."""
    if not current_user.is_authenticated:
        return CaseRefs()
    fields = fields_from_json(version.form_version.fields or [])
    return case_refs(fields, items, current_actor())
