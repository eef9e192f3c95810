"""ODK Collect's protocol, one test per rule of ODK-INTEROP §7 (cases 1-35) and §10.

Each test name says the rule; the number in brackets is the case in §7.
"""

from __future__ import annotations

import base64

import pytest
from lxml import etree
from sqlalchemy import select

from fieldapp.audit.models import AuditEvent
from fieldapp.auth import services as auth
from fieldapp.auth.models import User
from fieldapp.db import db
from fieldapp.forms import services as forms
from fieldapp.review import deletion
from fieldapp.submissions.models import Submission, SubmissionVersion
from tests.openrosa.helpers import (
    PNG,
    SIMPLE,
    WITH_FILES,
    Collect,
    attach,
    device_for,
    instance_xml,
    md5,
    publish_md,
)

LIST_NS = "{http://openrosa.org/xforms/xformsList}"
MANIFEST_NS = "{http://openrosa.org/xforms/xformsManifest}"
RESPONSE_NS = "{http://openrosa.org/http/response}"


@pytest.fixture
def worker(make_user) -> User:
    return make_user("field_worker", username="aigerim", regions=["north"])


@pytest.fixture
def phone(app, worker) -> Collect:
    """Collect set up by QR code: the device token is in the server URL."""
    publish_md(SIMPLE)
    return Collect(app, f"/collect/key/{device_for(worker)}")


@pytest.fixture
def password_phone(app, worker) -> Collect:
    publish_md(SIMPLE)
    return Collect(app, "/collect", auth=(worker.username, "correct horse battery"))


def xml_of(response) -> etree._Element:
    return etree.fromstring(response.data)


def message_of(response) -> str:
    root = xml_of(response)
    assert root.tag == f"{RESPONSE_NS}OpenRosaResponse"
    return root.findtext(f"{RESPONSE_NS}message") or ""


def stored(instance_id: str) -> SubmissionVersion:
    db.session.expire_all()
    return db.session.scalars(
        select(SubmissionVersion).where(SubmissionVersion.instance_id == instance_id)
    ).one()


def stored_submission(instance_id: str) -> Submission:
    return stored(instance_id).submission


# -- discovery -------------------------------------------------------------------------------


def test_form_list_is_openrosa_xml_with_its_headers(phone):  # [1]
    response = phone.get("/formList")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/xml; charset=utf-8"
    assert response.headers["X-OpenRosa-Version"] == "1.0"
    assert "Date" in response.headers
    assert xml_of(response).tag == f"{LIST_NS}xforms"


def test_form_list_without_openrosa_header_is_400_openrosa_xml(phone):  # [2]
    response = phone.get("/formList", openrosa=False)
    assert response.status_code == 400
    root = xml_of(response)
    assert root.find(f"{RESPONSE_NS}message").get("nature") == "error"
    assert "X-OpenRosa-Version" in message_of(response)


def test_form_list_without_credentials_is_401_with_a_basic_challenge(app):  # [3] + §10
    response = Collect(app, "/collect").get("/formList")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith('Basic realm="fieldapp"')
    assert message_of(response)


def test_user_who_may_not_collect_gets_an_empty_list(app, make_user):  # [4]
    publish_md(SIMPLE)
    designer = make_user("designer", username="des")
    response = Collect(app, "/collect", auth=(designer.username, "correct horse battery")).get(
        "/formList"
    )
    assert response.status_code == 200
    assert xml_of(response).findall(f"{LIST_NS}xform") == []


def test_every_form_has_its_elements_and_the_hash_of_the_download(phone):  # [5]
    entries = xml_of(phone.get("/formList")).findall(f"{LIST_NS}xform")
    assert entries
    for entry in entries:
        for tag in ("formID", "name", "version", "hash", "downloadUrl"):
            assert len(entry.findall(f"{LIST_NS}{tag}")) == 1, tag
        body = phone.get(entry.findtext(f"{LIST_NS}downloadUrl"), openrosa=False).data
        assert entry.findtext(f"{LIST_NS}hash") == f"md5:{md5(body)}"


def test_name_is_the_title_and_version_the_forms_version(phone):  # [6]
    entry = xml_of(phone.get("/formList")).find(f"{LIST_NS}xform")
    assert entry.findtext(f"{LIST_NS}name") == "Simple form"
    assert entry.findtext(f"{LIST_NS}version") == "1"


def test_urls_keep_the_device_token_prefix(phone):  # [7]
    entry = xml_of(phone.get("/formList")).find(f"{LIST_NS}xform")
    assert f"{phone.base}/forms/simple.xml" in entry.findtext(f"{LIST_NS}downloadUrl")


def test_urls_keep_the_password_prefix(password_phone):  # [7]
    entry = xml_of(password_phone.get("/formList")).find(f"{LIST_NS}xform")
    url = entry.findtext(f"{LIST_NS}downloadUrl")
    assert url.endswith("/collect/forms/simple.xml")
    assert "/key/" not in url


def test_form_id_parameter_narrows_the_list(phone):  # [8]
    publish_md(WITH_FILES)
    only = xml_of(phone.get("/formList?formID=simple")).findall(f"{LIST_NS}xform")
    assert [e.findtext(f"{LIST_NS}formID") for e in only] == ["simple"]
    assert xml_of(phone.get("/formList?formID=nope")).findall(f"{LIST_NS}xform") == []


@pytest.mark.parametrize("state", ["closing", "closed"])
def test_closing_and_closed_forms_leave_the_list(phone, state):  # [9]
    forms.set_state(forms.get_form("simple"), state, actor=None)
    db.session.commit()
    assert xml_of(phone.get("/formList")).findall(f"{LIST_NS}xform") == []


def test_manifest_url_only_for_forms_that_use_files(phone):  # [10]
    publish_md(WITH_FILES)
    entries = {
        e.findtext(f"{LIST_NS}formID"): e
        for e in xml_of(phone.get("/formList")).findall(f"{LIST_NS}xform")
    }
    assert entries["simple"].find(f"{LIST_NS}manifestUrl") is None
    assert (
        entries["withfiles"].findtext(f"{LIST_NS}manifestUrl").endswith("/forms/withfiles/manifest")
    )


def test_manifest_lists_only_uploaded_files_with_their_md5(phone):  # [11]
    publish_md(WITH_FILES)
    assert xml_of(phone.get("/forms/withfiles/manifest")).findall(f"{MANIFEST_NS}mediaFile") == []
    attach("withfiles", "logo.png", PNG)
    response = phone.get("/forms/withfiles/manifest")
    assert response.headers["Content-Type"] == "text/xml; charset=utf-8"
    files = xml_of(response).findall(f"{MANIFEST_NS}mediaFile")
    assert [f.findtext(f"{MANIFEST_NS}filename") for f in files] == ["logo.png"]
    body = phone.get(files[0].findtext(f"{MANIFEST_NS}downloadUrl"), openrosa=False).data
    assert body == PNG
    assert files[0].findtext(f"{MANIFEST_NS}hash") == f"md5:{md5(PNG)}"


CASE_LIST_FORMS = (
    """
| survey   |           |        |        |           |
|          | type      | name   | label  | save_to   |
|          | text      | family | Family | surname   |
| entities |           |        |        |           |
|          | list_name | label  |        |           |
|          | households | ${family} |     |           |
| settings |           |        |        |           |
|          | form_id   | version |       |           |
|          | reg       | 1      |        |           |
""",
    """
| survey   |                                     |           |           |             |
|          | type                                | name      | label     | calculation |
|          | select_one_from_file households.csv | household | Household |             |
|          | calculate                           | surname   |           | instance('households')/root/item[name=${household}]/surname |
| settings |                                     |           |           |             |
|          | form_id                             | version   |           |             |
|          | visit                               | 1         |           |             |
""",
)


def test_case_list_files_are_entity_lists_in_the_manifest(phone):  # [12]
    for md in CASE_LIST_FORMS:
        publish_md(md)
    files = xml_of(phone.get("/forms/visit/manifest")).findall(f"{MANIFEST_NS}mediaFile")
    # case lists require approval by default
    assert [(f.get("type"), f.findtext(f"{MANIFEST_NS}filename")) for f in files] == [
        ("approvalEntityList", "households.csv")
    ]
    from fieldapp.cases import services as cases

    cases.get_case_list("households").approval_required = False
    db.session.commit()
    files = xml_of(phone.get("/forms/visit/manifest")).findall(f"{MANIFEST_NS}mediaFile")
    assert [f.get("type") for f in files] == ["entityList"]


def test_case_list_csv_has_odk_columns_and_its_hash_is_the_etag(phone):  # [13]
    for md in CASE_LIST_FORMS:
        publish_md(md)
    entry = xml_of(phone.get("/forms/visit/manifest")).find(f"{MANIFEST_NS}mediaFile")
    url = entry.findtext(f"{MANIFEST_NS}downloadUrl")
    response = phone.get(url, openrosa=False)
    assert response.status_code == 200
    # only what the form reads (surname), plus the follow-up columns
    assert response.data.decode().splitlines()[0] == "name,label,__version,surname,next_due,overdue"
    assert entry.findtext(f"{MANIFEST_NS}hash") == f"md5:{response.headers['ETag'].strip(chr(34))}"
    again = phone.get(url, openrosa=False, headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


def test_unknown_well_formed_token_is_403_and_malformed_is_401(app):  # [15]
    publish_md(SIMPLE)
    unknown = Collect(app, "/collect/key/" + "A" * 64).get("/formList")
    assert unknown.status_code == 403
    assert "WWW-Authenticate" not in unknown.headers
    assert Collect(app, "/collect/key/short").get("/formList").status_code == 401


def test_revoked_device_and_deactivated_user_lose_access(app, worker, make_user):  # §10
    publish_md(SIMPLE)
    from fieldapp.auth import devices as device_services

    token, device = device_services.create_device(worker, actor=None)
    db.session.commit()
    phone = Collect(app, f"/collect/key/{token}")
    assert phone.get("/formList").status_code == 200
    admin = make_user("admin")
    admin_id = admin.id
    from fieldapp.auth.models import Device

    device_services.revoke_device(db.session.get(Device, device.id), actor=admin)
    db.session.commit()
    assert phone.get("/formList").status_code == 403
    token2, _ = device_services.create_device(db.session.get(User, worker.id), actor=None)
    db.session.commit()
    auth.update_user(
        db.session.get(User, worker.id), actor=db.session.get(User, admin_id), active=False
    )
    db.session.commit()
    assert Collect(app, f"/collect/key/{token2}").get("/formList").status_code == 403


def test_form_list_answers_304_when_unchanged(phone):
    first = phone.get("/formList")
    again = phone.get("/formList", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304


def test_wrong_password_gets_the_challenge_again(app, worker):
    publish_md(SIMPLE)
    response = Collect(app, "/collect", auth=(worker.username, "wrong")).get("/formList")
    assert response.status_code == 401
    assert "WWW-Authenticate" in response.headers


# -- submission ------------------------------------------------------------------------------


def test_head_submission_is_204_with_accepted_length(phone):  # [16]
    response = phone.head_submission()
    assert response.status_code == 204
    assert response.data == b""
    assert int(response.headers["X-OpenRosa-Accept-Content-Length"]) > 1_000_000


def test_head_without_header_is_400_and_without_credentials_401(app, phone):  # [17]
    assert phone.head_submission(openrosa=False).status_code == 400
    assert Collect(app, "/collect").head_submission().status_code == 401


def test_submission_is_stored_and_answered_201(phone, worker):  # [18]
    xml = instance_xml(instance_id="uuid:one")
    response = phone.submit(xml)
    assert response.status_code == 201
    assert message_of(response) == "full submission upload was successful!"
    version = stored("uuid:one")
    assert version.xml == xml
    assert version.data["name"] == "Amina"
    assert version.data["age"] == 7
    assert version.submitter_id == worker.id
    submission = db.session.get(Submission, version.submission_id)
    assert submission.review_state == "received"
    assert submission.region_id == worker.regions[0].id


def test_raw_xml_body_without_multipart_is_400(phone):  # [19]
    response = phone.client.post(
        phone.base + "/submission",
        data=instance_xml(),
        content_type="text/xml",
        headers=phone._headers(),
    )
    assert response.status_code == 400
    assert message_of(response) == "Required multipart POST field xml_submission_file missing."


def test_unparseable_xml_is_400_naming_the_form_id_attribute(phone):  # [20]
    response = phone.submit(b"<test")
    assert response.status_code == 400
    no_id = phone.submit(b"<data><orx:meta xmlns:orx='http://openrosa.org/xforms'/></data>")
    assert no_id.status_code == 400
    assert "form ID xml attribute" in message_of(no_id)


def test_unknown_form_and_unknown_version_are_404(phone):  # [21]
    assert phone.submit(instance_xml("nope")).status_code == 404
    response = phone.submit(instance_xml(version="99"))
    assert response.status_code == 404
    assert "The form version specified in this submission" in message_of(response)


def test_old_published_version_is_accepted_against_it(phone):  # [22]
    publish_md(SIMPLE, version="2")
    response = phone.submit(instance_xml(version="1", instance_id="uuid:old"))
    assert response.status_code == 201
    assert stored("uuid:old").form_version.version == "1"


def test_closed_form_refuses_and_closing_form_accepts(phone):  # [23]
    form = forms.get_form("simple")
    forms.set_state(form, "closing", actor=None)
    db.session.commit()
    assert phone.submit(instance_xml()).status_code == 201
    forms.set_state(forms.get_form("simple"), "closed", actor=None)
    db.session.commit()
    response = phone.submit(instance_xml())
    assert response.status_code == 409
    assert "closed" in message_of(response)


def test_post_without_credentials_is_401(app, phone):  # [24]
    response = Collect(app, "/collect").submit(instance_xml())
    assert response.status_code == 401
    assert db.session.scalars(select(Submission)).all() == []


def test_identical_resubmission_adds_the_attachment_it_brings(phone):  # [25] + §10
    publish_md(WITH_FILES)
    xml = instance_xml(
        "withfiles",
        body="<village>v1</village><photo>a.jpg</photo><child><doc>b.pdf</doc></child>",
        instance_id="uuid:f",
    )
    assert phone.submit(xml, [("a.jpg", b"jpeg-bytes")]).status_code == 201
    assert [(a.name, a.blob_sha256 is not None) for a in stored("uuid:f").attachments] == [
        ("a.jpg", True),
        ("b.pdf", False),
    ]
    again = phone.submit(xml, [("b.pdf", b"%PDF")])
    assert again.status_code == 201
    assert all(a.blob_sha256 for a in stored("uuid:f").attachments)
    assert len(db.session.scalars(select(Submission)).all()) == 1


def test_same_instance_id_with_changed_xml_is_409(phone):  # [26]
    phone.submit(instance_xml(instance_id="uuid:x"))
    response = phone.submit(instance_xml(instance_id="uuid:x", body="<name>Other</name>"))
    assert response.status_code == 409
    assert "different XML" in message_of(response)


def test_unknown_parts_are_ignored_and_missing_ones_recorded(phone):  # [27]
    publish_md(WITH_FILES)
    xml = instance_xml("withfiles", body="<photo>a.jpg</photo>", instance_id="uuid:u")
    assert phone.submit(xml, [("stray.txt", b"x")]).status_code == 201
    assert [(a.name, a.blob_sha256) for a in stored("uuid:u").attachments] == [("a.jpg", None)]


def test_split_upload_marked_incomplete_arrives_whole(phone):  # [28]
    publish_md(WITH_FILES)
    xml = instance_xml(
        "withfiles",
        body="<photo>a.jpg</photo><child><doc>b.pdf</doc></child><child><doc>c.pdf</doc></child>",
        instance_id="uuid:s",
    )
    assert phone.submit(xml, [("a.jpg", b"1")], incomplete=True).status_code == 201
    assert phone.submit(xml, [("b.pdf", b"2")], incomplete=True).status_code == 201
    assert phone.submit(xml, [("c.pdf", b"3")]).status_code == 201
    assert {a.name: a.blob_sha256 is not None for a in stored("uuid:s").attachments} == {
        "a.jpg": True,
        "b.pdf": True,
        "c.pdf": True,
    }


def test_resubmission_after_soft_delete_is_409_until_restored(phone, make_user):  # [29]
    coordinator = make_user("coordinator", username="coord29", regions=["north"])
    xml = instance_xml(instance_id="uuid:d")
    assert phone.submit(xml).status_code == 201
    deletion.delete_submission(stored_submission("uuid:d"), actor=coordinator, reason="a test")
    db.session.commit()

    for attempt in (
        xml,  # the phone retries
        instance_xml(instance_id="uuid:d", body="<name>Other</name>"),  # changed XML
        instance_xml(instance_id="uuid:d2", deprecated_id="uuid:d"),  # an edit of it
    ):
        response = phone.submit(attempt)
        assert response.status_code == 409
        assert message_of(response) == "This submission has been deleted. You may not resubmit it."
    assert db.session.scalars(select(SubmissionVersion)).all() == [stored("uuid:d")]

    deletion.restore_submission(stored_submission("uuid:d"), actor=coordinator)
    db.session.commit()
    assert phone.submit(xml).status_code == 201  # an identical resubmission again


def test_edit_replaces_data_marks_edited_and_carries_attachments(phone):  # [30]
    publish_md(WITH_FILES)
    first = instance_xml(
        "withfiles",
        body="<village>v1</village><photo>a.jpg</photo><child><doc>b.pdf</doc></child>",
        instance_id="uuid:e1",
    )
    phone.submit(first, [("a.jpg", b"old photo"), ("b.pdf", b"doc")])
    edit = instance_xml(
        "withfiles",
        body="<village>v2</village><photo>a.jpg</photo><child><doc>b.pdf</doc></child>",
        instance_id="uuid:e2",
        deprecated_id="uuid:e1",
    )
    response = phone.submit(edit, [("a.jpg", b"new photo")])
    assert response.status_code == 201
    version = stored("uuid:e2")
    submission = db.session.get(Submission, version.submission_id)
    assert submission.instance_id == "uuid:e1"
    assert submission.current_version_id == version.id
    assert submission.review_state == "edited"
    assert version.data["village"] == "v2"
    blobs = {a.name: a.blob_sha256 for a in version.attachments}
    previous = {a.name: a.blob_sha256 for a in stored("uuid:e1").attachments}
    assert blobs["b.pdf"] == previous["b.pdf"]
    assert blobs["a.jpg"] != previous["a.jpg"]


def test_edit_of_unknown_stale_or_colliding_ids(phone):  # [31]
    phone.submit(instance_xml(instance_id="uuid:a1"))
    unknown = phone.submit(instance_xml(instance_id="uuid:a9", deprecated_id="uuid:nope"))
    assert unknown.status_code == 404
    assert (
        phone.submit(instance_xml(instance_id="uuid:a2", deprecated_id="uuid:a1")).status_code
        == 201
    )
    stale = phone.submit(instance_xml(instance_id="uuid:a3", deprecated_id="uuid:a1"))
    assert stale.status_code == 409
    assert "out of date" in message_of(stale)
    phone.submit(instance_xml(instance_id="uuid:b1"))
    colliding = phone.submit(
        instance_xml(instance_id="uuid:b1", deprecated_id="uuid:a2", body="<name>Z</name>")
    )
    assert colliding.status_code == 409


def test_same_instance_id_in_another_form_is_409(phone):  # [32], where fieldapp departs
    # Central keeps instanceIDs unique per form; fieldapp on the whole server, so that no page
    # that finds a submission by its instanceID can be shown another form's (tests/openrosa/
    # test_write_scope.py has the shadowing this stops)
    publish_md(SIMPLE.replace("| simple  |", "| simple2 |"))
    assert phone.submit(instance_xml(instance_id="uuid:same")).status_code == 201
    response = phone.submit(instance_xml("simple2", instance_id="uuid:same"))
    assert response.status_code == 409
    assert "already uses this instanceID" in message_of(response)
    assert [v.form_pk for v in db.session.scalars(select(SubmissionVersion))] == [
        stored("uuid:same").form_pk
    ]


def test_device_id_user_agent_and_odk_client_are_stored(phone):  # [33]
    phone.submit(
        instance_xml(instance_id="uuid:meta"),
        device_id="imei:123",
        headers={"ODK-Client": "Collect/2025"},
    )
    version = stored("uuid:meta")
    assert version.device_id == "imei:123"
    assert version.user_agent == "Collect/2025 org.odk.collect.android/v2025.2.0 test"
    assert version.device_pk is not None


ENCRYPTED = """
| survey   |         |      |       |
|          | type    | name | label |
|          | text    | name | Name  |
| settings |         |      |       |
|          | form_id | version | public_key |
|          | secret  | 1    | MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxKLxoS2tFczGkPLPgizskuemMghRniWaoLcyehkd3qqGElvW/VDL5AaWTg0nLVkjRo9z+40RQzuVaE8AkAFmxZzow3x+VJYKdjykkJ0iT9wCS0DRTXu269V264Vf/3jvredZiKRkgwlL9xNAwxXFg0x/XFw005UWVRIkdgcKWTjpBP2dPwVZ4WWC+9aGVd+Gyn1o0CLelf4rEjGoXbAAEgAqeGUxrcIlbjXfbcmwIDAQAB |
"""


def test_encrypted_submission_is_stored_as_sent(phone):  # [34]
    publish_md(ENCRYPTED)
    envelope = (
        b'<data xmlns="http://www.opendatakit.org/xforms/encrypted" id="secret" version="1" '
        b'encrypted="yes"><base64EncryptedKey>a2V5</base64EncryptedKey>'
        b'<orx:meta xmlns:orx="http://openrosa.org/xforms"><orx:instanceID>uuid:enc</orx:instanceID>'
        b"</orx:meta><media><file>1.jpg.enc</file></media>"
        b"<encryptedXmlFile>submission.xml.enc</encryptedXmlFile>"
        b"<base64EncryptedElementSignature>c2ln</base64EncryptedElementSignature></data>"
    )
    response = phone.submit(
        envelope,
        [("1.jpg.enc", b"\x01\x02"), ("submission.xml.enc", b"\x03"), ("extra.enc", b"\x04")],
    )
    assert response.status_code == 201
    version = stored("uuid:enc")
    assert version.encrypted
    assert version.xml == envelope
    assert [(a.name, a.blob_sha256 is not None) for a in version.attachments] == [
        ("1.jpg.enc", True),
        ("submission.xml.enc", True),
    ]


def test_encrypted_envelope_without_instance_id_is_400(phone):  # [35]
    publish_md(ENCRYPTED)
    envelope = (
        b'<data xmlns="http://www.opendatakit.org/xforms/encrypted" id="secret" '
        b'version="1" encrypted="yes"><base64EncryptedKey>a2V5</base64EncryptedKey></data>'
    )
    assert phone.submit(envelope).status_code == 400


def test_missing_instance_id_is_400_not_an_invented_id(phone):  # §10
    response = phone.submit(b'<data id="simple" version="1"><name>x</name></data>')
    assert response.status_code == 400
    assert "instanceID" in message_of(response)


def test_body_over_the_advertised_limit_is_413(app, phone):  # §2.2
    app.config["OPENROSA_MAX_BYTES"] = 10_000
    try:
        response = phone.submit(instance_xml(), [("big.jpg", b"0" * 20_000)])
    finally:
        app.config["OPENROSA_MAX_BYTES"] = 50 * 1024 * 1024
    assert response.status_code == 413
    assert message_of(response)


def test_billion_laughs_and_xxe_get_400_quickly(phone):  # non-negotiable
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
        b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
        b'<data id="simple" version="1"><name>&lol3;</name></data>'
    )
    xxe = (
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<data id="simple" version="1"><name>&x;</name></data>'
    )
    for body in (laughs, xxe):
        response = phone.submit(body)
        assert response.status_code == 400
        assert b"root:" not in response.data


def test_password_mode_submission_works_over_basic(password_phone, worker):  # §10
    response = password_phone.submit(instance_xml(instance_id="uuid:pw"))
    assert response.status_code == 201
    assert stored("uuid:pw").submitter_id == worker.id


def test_designer_may_not_submit(app, make_user):
    publish_md(SIMPLE)
    designer = make_user("designer", username="des2")
    response = Collect(app, "/collect", auth=(designer.username, "correct horse battery")).submit(
        instance_xml()
    )
    assert response.status_code == 403


def test_submission_is_audited_without_answers(phone):
    phone.submit(instance_xml(instance_id="uuid:aud", body="<name>Secret Name</name>"))
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "submission.created")
    ).all()
    assert len(events) == 1
    assert "Secret Name" not in str(events[0].details)


def test_tokens_in_basic_auth_headers_are_not_accepted_as_device_tokens(app, worker):
    publish_md(SIMPLE)
    token = device_for(worker)
    header = base64.b64encode(f"{token}:".encode()).decode()
    response = Collect(app, "/collect").get(
        "/formList", headers={"Authorization": f"Basic {header}"}
    )
    assert response.status_code == 401


def test_integrity_url_tells_phones_which_cases_to_drop(phone, worker, make_region):  # [14]
    from fieldapp.cases import services as cases

    for md in CASE_LIST_FORMS:
        publish_md(md)
    households = cases.get_case_list("households")
    kept = cases.create_case(
        households,
        label="A",
        properties={},
        region_id=worker.regions[0].id,
        assigned_to=db.session.get(User, worker.id),
        actor=None,
    )
    south = make_region("south")
    moved = cases.create_case(
        households, label="B", properties={}, region_id=south.id, assigned_to=None, actor=None
    )
    db.session.commit()
    entry = xml_of(phone.get("/forms/visit/manifest")).find(f"{MANIFEST_NS}mediaFile")
    url = entry.findtext(f"{MANIFEST_NS}integrityUrl")
    assert url.endswith("/datasets/households/integrity")
    unknown = "00000000-0000-4000-8000-000000000000"
    response = phone.get(f"{url}?id={kept.uuid},{moved.uuid},{unknown}")
    assert response.status_code == 200
    states = {e.get("id"): e.findtext("deleted") for e in xml_of(response).iter("entity")}
    assert states == {kept.uuid: "false", moved.uuid: "true", unknown: "true"}


def test_uploaded_files_cannot_run_as_pages(phone, api_token):
    """An attachment claiming to be HTML is served as a download, never inline."""
    publish_md(WITH_FILES)
    xml = instance_xml("withfiles", body="<photo>evil.jpg</photo>", instance_id="uuid:evil")
    assert phone.submit(xml, [("evil.jpg", b"<script>alert(1)</script>")]).status_code == 201
    from fieldapp.submissions.models import SubmissionAttachment

    row = db.session.scalars(select(SubmissionAttachment)).one()
    row.content_type = "text/html"  # whatever the phone claimed
    db.session.commit()
    headers = {"Authorization": f"Bearer {api_token('admin')}"}
    response = phone.client.get(
        "/api/v1/submissions/uuid:evil/attachments/evil.jpg", headers=headers
    )
    assert response.status_code == 200
    assert response.mimetype == "application/octet-stream"
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert "sandbox" in response.headers["Content-Security-Policy"]
