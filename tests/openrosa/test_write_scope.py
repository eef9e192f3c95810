"""Who may change a submission by sending XML, instanceIDs unique on the server, and XML kept
as the exact bytes received (Trust issue items 1, 2, 3 and 11).

The victim is always ``victim``'s submission in region *north*. Edits and files for an
identical resubmission are accepted only from its submitter or a coordinator of *north*; for
anyone else an edit names a submission "not on this server" (the answer for an unknown
deprecatedID) and a resubmission is a 409 that names no region or person. Every refused write
leaves the victim's rows as they were.
"""

from __future__ import annotations

import hashlib
import io
import re
from typing import Any

import pytest
from flask import Flask
from lxml import etree
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from fieldapp.auth import services as auth
from fieldapp.auth.models import User
from fieldapp.db import db
from fieldapp.errors import DomainError
from fieldapp.submissions.models import Submission, SubmissionAttachment, SubmissionVersion
from fieldapp.submissions.services import receive_submission
from tests.conftest import TEST_PASSWORD, Browser
from tests.openrosa.helpers import (
    OPENROSA,
    SIMPLE,
    WITH_FILES,
    Collect,
    device_for,
    instance_xml,
    publish_md,
)

RESPONSE_NS = "{http://openrosa.org/http/response}"
VICTIM_ID = "uuid:victim-1"
FILES_XML = instance_xml(
    "withfiles",
    body="<village>v1</village><photo>a.jpg</photo><child><doc>b.pdf</doc></child>",
    instance_id=VICTIM_ID,
)


def message_of(response: Any) -> str:
    root = etree.fromstring(response.data)
    assert root.tag == f"{RESPONSE_NS}OpenRosaResponse"
    return root.findtext(f"{RESPONSE_NS}message") or ""


@pytest.fixture
def people(app: Flask, make_user) -> dict[str, User]:
    publish_md(SIMPLE)
    publish_md(WITH_FILES)
    publish_md(SIMPLE.replace("| simple  |", "| other   |"))
    return {
        "victim": make_user("field_worker", username="victim", regions=["north"]),
        "neighbour": make_user("field_worker", username="neighbour", regions=["north"]),
        "coord_n": make_user("coordinator", username="coord_n", regions=["north"]),
        "worker_s": make_user("field_worker", username="worker_s", regions=["south"]),
        "coord_s": make_user("coordinator", username="coord_s", regions=["south"]),
    }


def by_token(app: Flask, user: User) -> Collect:
    return Collect(app, f"/collect/key/{device_for(user)}")


def by_password(app: Flask, user: User) -> Collect:
    return Collect(app, "/collect", auth=(user.username, TEST_PASSWORD))


class WebSession:
    """The /fill page's way of sending: the web session, the CSRF token, /fill/collect."""

    def __init__(self, app: Flask, user: User) -> None:
        self.browser = Browser(app.test_client())
        assert self.browser.login(user.username).status_code == 302
        page = self.browser.get("/fill")
        match = re.search(rb'data-csrf="([^"]+)"', page.data)
        assert match is not None, page.status_code
        self.token = match.group(1).decode()

    def submit(self, xml: bytes, files: list[tuple[str, bytes]] = ()) -> Any:  # type: ignore[assignment]
        data: dict[str, Any] = {
            "xml_submission_file": (io.BytesIO(xml), "submission.xml", "text/xml")
        }
        for name, content in files:
            data[name] = (io.BytesIO(content), name, "application/octet-stream")
        return self.browser.client.post(
            "/fill/collect/submission",
            data=data,
            headers=OPENROSA | {"X-CSRF-Token": self.token},
            content_type="multipart/form-data",
        )


#: how each intruder sends: device token, Basic auth or the /fill web session
INTRUDERS = {
    "worker_s by device token": ("worker_s", by_token),
    "coord_s by password": ("coord_s", by_password),
    "neighbour by device token": ("neighbour", by_token),
    "neighbour by password": ("neighbour", by_password),
    "neighbour by web session": ("neighbour", WebSession),
    "worker_s by web session": ("worker_s", WebSession),
}


def snapshot(instance_id: str = VICTIM_ID) -> dict[str, Any]:
    """Everything about a submission that a write could change."""
    db.session.expire_all()
    submission = db.session.scalars(
        select(Submission).where(Submission.instance_id == instance_id)
    ).one()
    return {
        "state": submission.review_state,
        "urgent": submission.urgent,
        "current": submission.current_version_id,
        "updated_at": submission.updated_at,
        "form": submission.form_pk,
        "versions": [
            (v.id, v.instance_id, v.xml_sha256, v.data)
            for v in db.session.scalars(
                select(SubmissionVersion).where(SubmissionVersion.submission_id == submission.id)
            )
        ],
        "attachments": [
            (a.version_id, a.name, a.blob_sha256, a.content_type)
            for a in db.session.scalars(
                select(SubmissionAttachment)
                .join(SubmissionVersion, SubmissionVersion.id == SubmissionAttachment.version_id)
                .where(SubmissionVersion.submission_id == submission.id)
                .order_by(SubmissionAttachment.id)
            )
        ],
    }


def names_nobody(message: str) -> bool:
    words = ("north", "south", "victim", "neighbour", "coord_n", "coord_s", "worker_s", "region")
    return not any(word in message.lower() for word in words)


# -- item 1: edits ----------------------------------------------------------------------------


@pytest.mark.parametrize("intruder", sorted(INTRUDERS))
def test_an_edit_by_anyone_but_the_submitter_or_its_coordinator_is_not_on_this_server(
    app: Flask, people, intruder
):
    assert (
        by_token(app, people["victim"]).submit(FILES_XML, [("a.jpg", b"photo")]).status_code == 201
    )
    before = snapshot()
    username, channel = INTRUDERS[intruder]
    sender = channel(app, people[username])
    edit = instance_xml(
        "withfiles",
        body="<village>taken over</village><photo>a.jpg</photo><child><doc>b.pdf</doc></child>",
        instance_id="uuid:intruder-edit",
        deprecated_id=VICTIM_ID,
    )
    refused = sender.submit(edit)
    unknown = sender.submit(
        instance_xml(instance_id="uuid:intruder-edit-2", deprecated_id="uuid:no-such-thing")
    )
    assert (refused.status_code, unknown.status_code) == (404, 404)
    # the same answer as for a submission that does not exist: existence is not revealed
    assert message_of(refused) == message_of(unknown).replace("uuid:no-such-thing", VICTIM_ID)
    assert snapshot() == before
    assert (
        db.session.scalars(
            select(SubmissionVersion).where(SubmissionVersion.instance_id == "uuid:intruder-edit")
        ).all()
        == []
    )


@pytest.mark.parametrize("editor", ["victim", "coord_n"])
def test_the_submitter_and_a_coordinator_of_its_region_may_edit(app: Flask, people, editor):
    assert (
        by_token(app, people["victim"]).submit(FILES_XML, [("a.jpg", b"photo")]).status_code == 201
    )
    edit = instance_xml(
        "withfiles",
        body="<village>v2</village><photo>a.jpg</photo><child><doc>b.pdf</doc></child>",
        instance_id="uuid:victim-2",
        deprecated_id=VICTIM_ID,
    )
    assert by_password(app, people[editor]).submit(edit).status_code == 201
    after = snapshot()
    assert after["state"] == "edited"
    carried = {
        name: blob
        for version, name, blob, _ in after["attachments"]
        if version != after["versions"][0][0]
    }
    assert carried["a.jpg"] == hashlib.sha256(b"photo").hexdigest()


# -- item 2: files added to someone else's submission ----------------------------------------


@pytest.mark.parametrize("intruder", sorted(INTRUDERS))
def test_identical_xml_with_files_from_anyone_else_adds_nothing_and_is_409(
    app: Flask, people, intruder
):
    assert (
        by_token(app, people["victim"]).submit(FILES_XML, [("a.jpg", b"photo")]).status_code == 201
    )
    before = snapshot()
    username, channel = INTRUDERS[intruder]
    response = channel(app, people[username]).submit(
        FILES_XML, [("b.pdf", b"%PDF planted"), ("a.jpg", b"other photo")]
    )
    assert response.status_code == 409
    assert names_nobody(message_of(response))
    assert snapshot() == before


def test_the_owners_retry_with_files_still_adds_them(app: Flask, people):
    phone = by_token(app, people["victim"])
    assert phone.submit(FILES_XML, [("a.jpg", b"photo")]).status_code == 201
    assert phone.submit(FILES_XML, [("b.pdf", b"%PDF")]).status_code == 201
    assert phone.submit(FILES_XML).status_code == 201  # nothing new: still 201
    received = {name: blob is not None for _, name, blob, _ in snapshot()["attachments"]}
    assert received == {"a.jpg": True, "b.pdf": True}


# -- item 3: instanceID shadowing ------------------------------------------------------------


@pytest.mark.parametrize("intruder", ["worker_s", "coord_s", "neighbour", "victim"])
def test_an_instance_id_of_another_form_is_409_and_the_first_stays_visible(
    app: Flask, people, intruder
):
    assert (
        by_token(app, people["victim"])
        .submit(instance_xml(instance_id=VICTIM_ID, body="<name>First</name><age>3</age>"))
        .status_code
        == 201
    )
    before = snapshot()
    response = by_token(app, people[intruder]).submit(
        instance_xml("other", instance_id=VICTIM_ID, body="<name>Intruder</name><age>9</age>")
    )
    assert response.status_code == 409
    message = message_of(response)
    assert "instanceID" in message and names_nobody(message)
    assert snapshot() == before
    assert db.session.query(Submission).count() == 1

    # the first one can still be opened, and approving it approves it
    token, _ = auth.issue_api_token(people["coord_n"], actor=None)
    db.session.commit()
    api = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    shown = api.get(f"/api/v1/submissions/{VICTIM_ID}", headers=headers)
    assert shown.status_code == 200
    assert (shown.json["form_id"], shown.json["data"]["name"]) == ("simple", "First")
    approved = api.post(
        f"/api/v1/submissions/{VICTIM_ID}/review", json={"state": "approved"}, headers=headers
    )
    assert approved.status_code == 200
    assert approved.json["form_id"] == "simple"


def test_a_taken_instance_id_has_its_own_code(app: Flask, people):
    store = app.extensions["fieldapp.blobs"]
    receive_submission(
        xml=instance_xml(instance_id=VICTIM_ID), uploads=[], actor=people["victim"], store=store
    )
    db.session.commit()
    for actor, xml in (
        (people["worker_s"], instance_xml("other", instance_id=VICTIM_ID)),
        (people["victim"], instance_xml("other", instance_id=VICTIM_ID)),
        (people["worker_s"], instance_xml(instance_id=VICTIM_ID)),  # identical, someone else's
    ):
        with pytest.raises(DomainError) as raised:
            receive_submission(xml=xml, uploads=[], actor=actor, store=store)
        db.session.rollback()
        assert (raised.value.code, raised.value.http_status) == (
            "submission.instance_id_taken",
            409,
        )


def test_an_edit_may_not_take_an_instance_id_of_another_form(app: Flask, people):
    phone = by_token(app, people["victim"])
    assert phone.submit(instance_xml(instance_id=VICTIM_ID)).status_code == 201
    assert phone.submit(instance_xml("other", instance_id="uuid:o1")).status_code == 201
    before = snapshot()
    edit = instance_xml("other", instance_id=VICTIM_ID, deprecated_id="uuid:o1")
    assert phone.submit(edit).status_code == 409
    assert snapshot() == before


def test_the_database_refuses_a_second_use_of_an_instance_id(app: Flask, people):
    assert (
        by_token(app, people["victim"]).submit(instance_xml(instance_id=VICTIM_ID)).status_code
        == 201
    )
    version = db.session.scalars(select(SubmissionVersion)).one()
    other_form = db.session.execute(text("SELECT id FROM forms WHERE form_id = 'other'")).scalar()
    for statement in (
        "INSERT INTO submissions (form_pk, instance_id, region_id, review_state, urgent, "
        "received_at, updated_at) SELECT :form, instance_id, region_id, review_state, urgent, "
        "received_at, updated_at FROM submissions WHERE id = :sub",
        "INSERT INTO submission_versions (submission_id, form_pk, form_version_id, instance_id, "
        "xml, xml_sha256, encrypted, data, received_at) SELECT submission_id, :form, "
        "form_version_id, instance_id, xml, xml_sha256, encrypted, data, received_at "
        "FROM submission_versions WHERE submission_id = :sub",
    ):
        with pytest.raises(IntegrityError), db.session.begin_nested():
            db.session.execute(text(statement), {"form": other_form, "sub": version.submission_id})


# -- item 11: the exact bytes ----------------------------------------------------------------

CYRILLIC = "Айгерим Жанибекова"


def _encoded(encoding: str, declared: str) -> bytes:
    document = instance_xml(instance_id="uuid:enc-1", body=f"<name>{CYRILLIC}</name><age>7</age>")
    return (f'<?xml version="1.0" encoding="{declared}"?>' + document.decode()).encode(encoding)


ENCODINGS = {
    "windows-1251": _encoded("cp1251", "windows-1251"),
    "UTF-16 with BOM": _encoded("utf-16", "UTF-16"),
}


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_non_utf8_xml_is_stored_byte_for_byte_and_read_correctly(app: Flask, people, encoding):
    xml = ENCODINGS[encoding]
    phone = by_token(app, people["victim"])
    assert phone.submit(xml).status_code == 201
    version = db.session.scalars(select(SubmissionVersion)).one()
    assert bytes(version.xml) == xml
    assert version.xml_sha256 == hashlib.sha256(xml).hexdigest()
    assert version.data["name"] == CYRILLIC
    # the phone's retry is the same bytes: recognised, not a conflict
    assert phone.submit(xml).status_code == 201
    assert db.session.query(SubmissionVersion).count() == 1

    token, _ = auth.issue_api_token(people["coord_n"], actor=None)
    db.session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    client = app.test_client()
    assert (
        client.get("/api/v1/submissions/uuid:enc-1", headers=headers).json["data"]["name"]
        == CYRILLIC
    )
    coordinator = Browser(app.test_client())
    assert coordinator.login("coord_n").status_code == 302
    page = coordinator.get("/submissions/uuid:enc-1")
    assert page.status_code == 200
    assert CYRILLIC in page.data.decode()

    # sent back: /fill serves the worker exactly what was received, to correct it
    sent_back = client.post(
        "/api/v1/submissions/uuid:enc-1/review",
        json={"state": "has_issues", "note": "check the age"},
        headers=headers,
    )
    assert sent_back.status_code == 200
    worker = Browser(app.test_client())
    assert worker.login("victim").status_code == 302
    served = worker.get("/fill/simple/returned/uuid:enc-1.xml")
    assert served.status_code == 200
    assert served.data == xml
    # no charset that would contradict the document's own declaration
    assert "charset" not in served.headers["Content-Type"]
    assert etree.fromstring(served.data).findtext("name") == CYRILLIC
