"""A test submission crafted to reach real data: the try's case logic sees test cases only,
and ids that real data already uses are refused there as they are in real ingest."""

from __future__ import annotations

import re

from sqlalchemy import select

from fieldapp.cases.models import Case, CaseWork
from fieldapp.db import db
from fieldapp.sandbox.scope import INCLUDE_SANDBOX
from fieldapp.submissions.models import Submission
from tests.cases.support import Programme, household_of, instance_of, registration
from tests.sandbox.support import as_draft, make_sandbox_data


def _all_cases(case_uuid: str) -> list[Case]:
    return list(
        db.session.scalars(
            select(Case).where(Case.uuid == case_uuid).execution_options(**{INCLUDE_SANDBOX: True})
        )
    )


def test_a_test_registration_reusing_a_real_case_id_creates_nothing(app, make_user, login_as):
    world = Programme(app, make_user)
    worker = world.person("worker", "field_worker", ["north"])
    coordinator = world.person("coord", "coordinator", ["north"])
    designer = login_as("designer")
    data = make_sandbox_data(app, designer)
    real_xml, files = registration(fresh=True)
    assert worker.phone.submit(real_xml, files).status_code == 201
    coordinator.api.review(instance_of(real_xml), "approved")
    real_household = household_of(real_xml)
    (real,) = _all_cases(real_household)
    assert real.sandbox is False
    before = (real.version, dict(real.properties), real.label)

    # the same entity id, in a new test registration sent through the try's URL
    crafted, _ = registration(fresh=True)
    crafted = crafted.replace(household_of(crafted).encode(), real_household.encode())
    crafted = as_draft(crafted, data.drafts["family_registration"])
    response = data.collect.submit(crafted, files)
    assert response.status_code == 201, response.data  # stored as test data, as Central would
    db.session.expire_all()
    (still,) = _all_cases(real_household)  # no second case, test or real
    assert (still.version, dict(still.properties), still.label) == before
    assert still.sandbox is False
    submission = db.session.scalars(
        select(Submission)
        .where(Submission.instance_id == instance_of(crafted))
        .execution_options(**{INCLUDE_SANDBOX: True})
    ).one()
    assert submission.sandbox is True
    work = db.session.scalars(
        select(CaseWork).where(
            CaseWork.submission_id == submission.id, CaseWork.case_uuid == real_household
        )
    ).one()
    assert work.state == "error"
    assert re.search("already", work.error or "")
