"""Trying drafts through the try's Collect URL (like Central's draft testing)."""

from __future__ import annotations

import csv
import io

from tests.cases.support import Programme
from tests.sandbox.support import make_sandbox_data


def test_registration_then_follow_up_in_a_try(app, make_user, login_as):
    world = Programme(app, make_user)
    world.person("worker", "field_worker", ["north"])
    designer = login_as("designer")
    data = make_sandbox_data(app, designer)
    phone = data.collect
    listed = phone.get("/formList")
    assert listed.status_code == 200
    body = listed.data.decode()
    assert "family_registration" in body and "home_visit" in body
    for version in data.drafts.values():
        assert f"<version>{version}</version>" in body
    rows = list(
        csv.DictReader(
            io.StringIO(
                phone.get(
                    "/forms/home_visit/attachments/households.csv", openrosa=False
                ).data.decode()
            )
        )
    )
    assert [r["name"] for r in rows] == data.case_uuids[:1]
    assert rows[0]["__version"] == "2"  # the test visit updated the test household
