"""A designer's new version, end to end: real XLSForm uploads (pyxform), publish with a note,
phones downloading and submitting through OpenRosa, then the diff with its submission counts,
the versions with their phones, and the publish confirmation page."""

from __future__ import annotations

import io
import textwrap
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from fieldapp.audit.models import AuditEvent
from fieldapp.auth.models import Device, User
from fieldapp.db import db
from fieldapp.forms import fetches, services
from fieldapp.forms.models import FormFetch
from tests.conftest import TEST_PASSWORD
from tests.openrosa.helpers import Collect, device_for

V1 = """
| survey |
|        | type                 | name      | label::English (en) | label::Русский (ru) | save_to    |
|        | text                 | family    | Family code         | Код семьи           |            |
|        | integer              | age       | Age                 | Возраст             | age        |
|        | select_one condition | condition | Condition           | Состояние           | risk_level |
|        | text                 | notes     | Notes               | Заметки             |            |
| choices |
|         | list_name | name   | label::English (en) | label::Русский (ru) |
|         | condition | good   | Good                | Хорошо              |
|         | condition | partly | Partly              | Частично            |
|         | condition | bad    | Bad                 | Плохо               |
| entities |
|          | list_name  | label     |
|          | households | ${family} |
| settings |
|          | form_id | version | form_title | default_language |
|          | visit   | {v}     | Home visit | English (en)     |
"""

# version 2: `partly` is gone, age becomes text and is no longer saved to the case, notes go,
# a question is added
V2 = (
    V1.replace("|         | condition | partly | Partly              | Частично            |\n", "")
    .replace(
        "|        | integer              | age       | Age                 | Возраст             | age        |",
        "|        | text                 | age       | Age                 | Возраст             |            |",
    )
    .replace(
        "|        | text                 | notes     | Notes               | Заметки             |            |",
        "|        | date                 | next_date | Next visit          | Следующий визит     |            |",
    )
)


def md(text: str, version: str) -> bytes:
    return textwrap.dedent(text.replace("{v}", version)).encode()


def upload(client: Any, data: bytes, headers: dict[str, str]) -> Any:
    return client.post(
        "/api/v1/forms",
        data={"file": (io.BytesIO(data), "visit.md")},
        headers=headers,
        content_type="multipart/form-data",
    )


def submission(version: str, *, age: str = "", condition: str = "", notes: str = "") -> bytes:
    return (
        f'<data xmlns:orx="http://openrosa.org/xforms" id="visit" version="{version}">'
        f"<family>F-1</family><age>{age}</age><condition>{condition}</condition>"
        f"<notes>{notes}</notes>"
        f"<orx:meta><orx:instanceID>uuid:{uuid.uuid4()}</orx:instanceID></orx:meta></data>"
    ).encode()


@pytest.fixture
def designer(api_token: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_token('designer')}"}


@pytest.fixture
def phones(app: Any, make_user: Any) -> dict[str, Collect]:
    aigerim = make_user("field_worker", username="aigerim", regions=["north"])
    bolat = make_user("field_worker", username="bolat", regions=["south"])
    return {
        "token": Collect(app, f"/collect/key/{device_for(aigerim)}"),
        "password": Collect(app, "/collect", auth=(bolat.username, TEST_PASSWORD)),
    }


@pytest.fixture
def published_v1(client: Any, designer: dict[str, str], phones: dict[str, Collect]) -> None:
    """Version 1 published, downloaded by two phones, with four submissions."""
    assert upload(client, md(V1, "1"), designer).status_code == 201
    response = client.post(
        "/api/v1/forms/visit/publish", json={"note": "First version."}, headers=designer
    )
    assert response.status_code == 200, response.json
    assert response.json["publish_note"] == "First version."
    for phone in phones.values():
        assert phone.get("/formList").status_code == 200
        assert phone.get("/forms/visit.xml", openrosa=False).status_code == 200
    token = phones["token"]
    for xml in (
        submission("1", age="7", condition="partly", notes="ok"),
        submission("1", age="9", condition="partly"),
        submission("1", condition="good"),
    ):
        assert token.submit(xml).status_code == 201
    assert phones["password"].submit(submission("1", condition="bad")).status_code == 201


def test_the_diff_of_a_new_draft_counts_what_it_touches(
    client: Any, designer: dict[str, str], published_v1: None
) -> None:
    assert upload(client, md(V2, "2"), designer).status_code == 201
    response = client.get("/api/v1/forms/visit/diff", headers=designer)
    assert response.status_code == 200, response.json
    diff = response.json
    assert diff["from"] == {"version": "1", "status": "published", "current": True}
    assert diff["to"] == {"version": "2", "status": "draft", "current": False}
    assert diff["summary"] == {"added": 1, "removed": 1, "changed": 2, "moved": 0}
    questions = {q["name"]: q for q in diff["questions"]}
    partly = next(c for c in questions["condition"]["choices"] if c["value"] == "partly")
    assert partly == {
        "change": "removed",
        "value": "partly",
        "labels": {"English (en)": "Partly", "Русский (ru)": "Частично"},
        "submissions": {"total": 2, "by_version": {"1": 2}},
    }
    age = questions["age"]
    assert {"attribute": "type", "old": "integer", "new": "text"} in age["changes"]
    assert age["submissions"] == {"total": 2, "by_version": {"1": 2}}
    assert questions["notes"]["change"] == "removed"
    assert questions["notes"]["submissions"] == {"total": 1, "by_version": {"1": 1}}
    assert questions["next_date"]["change"] == "added"
    assert diff["case_properties"] == [
        {
            "change": "no_longer_saved",
            "dataset": "households",
            "property": "age",
            "old_question": "/data/age",
            "new_question": None,
            "old_type": None,
            "new_type": None,
        }
    ]
    messages = [e["message"] for e in diff["effects"]]
    assert "Choice `partly` of `condition` removed: 2 submissions used it." in messages
    assert "Question `age` type changed from integer to text: 2 submissions have an answer." in (
        messages
    )
    assert "Property `age` of `households` is no longer updated by this form." in messages
    assert diff["submissions"] == {"total": 4, "by_version": {"1": 4}}
    # counts only: no answer of any submission is in the diff
    assert "F-1" not in response.get_data(as_text=True)
    assert '"ok"' not in response.get_data(as_text=True)


def test_a_deleted_submission_does_not_count(
    client: Any, designer: dict[str, str], published_v1: None
) -> None:
    from fieldapp.submissions.models import Submission

    first = db.session.scalars(select(Submission).order_by(Submission.id)).first()
    assert first is not None
    first.deleted_at = first.received_at
    db.session.commit()
    upload(client, md(V2, "2"), designer)
    diff = client.get("/api/v1/forms/visit/diff", headers=designer).json
    assert diff["submissions"]["total"] == 3
    condition = next(q for q in diff["questions"] if q["name"] == "condition")
    partly = next(c for c in condition["choices"] if c["value"] == "partly")
    assert partly["submissions"]["total"] == 1


def test_versions_show_their_submissions_and_the_phones_that_have_them(
    client: Any, designer: dict[str, str], published_v1: None, phones: dict[str, Collect]
) -> None:
    upload(client, md(V2, "2"), designer)
    published = client.post(
        "/api/v1/forms/visit/publish", json={"note": "Partly is gone."}, headers=designer
    )
    assert published.status_code == 200, published.json
    # the token phone updates; the password phone still has version 1
    assert phones["token"].get("/forms/visit.xml", openrosa=False).status_code == 200
    response = client.get("/api/v1/forms/visit/versions", headers=designer)
    assert response.status_code == 200, response.json
    body = response.json
    assert body["current_version"] == "2"
    by_version = {v["version"]: v for v in body["versions"]}
    assert by_version["1"]["submissions"] == 4
    assert by_version["2"]["submissions"] == 0
    assert (by_version["1"]["phones"], by_version["2"]["phones"]) == (1, 1)
    assert by_version["2"]["publish_note"] == "Partly is gone."
    assert by_version["1"]["publish_note"] == "First version."
    phones_seen = {p["worker"]: p for p in body["phones"]}
    assert phones_seen["aigerim"]["channel"] == "device"
    assert (phones_seen["aigerim"]["version"], phones_seen["aigerim"]["current"]) == ("2", True)
    assert phones_seen["bolat"]["channel"] == "password"
    assert (phones_seen["bolat"]["version"], phones_seen["bolat"]["current"]) == ("1", False)
    assert phones_seen["bolat"]["user_agent"].startswith("org.odk.collect.android")
    # never a device token
    token = phones["token"].base.rsplit("/", 1)[1]
    assert token not in response.get_data(as_text=True)
    # the publication and its note are in the audit log
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "form.published").order_by(AuditEvent.id)
    ).all()
    assert [e.details["note"] for e in events] == ["First version.", "Partly is gone."]
    # after publishing, the default diff is the current version against the one before
    diff = client.get("/api/v1/forms/visit/diff", headers=designer).json
    assert (diff["from"]["version"], diff["to"]["version"]) == ("1", "2")
    same = client.get("/api/v1/forms/visit/diff?from=2&to=1", headers=designer).json
    assert {q["name"]: q["change"] for q in same["questions"]}["notes"] == "added"


def test_manifest_and_downloads_are_noted_at_most_every_few_minutes(
    client: Any, designer: dict[str, str], published_v1: None, phones: dict[str, Collect]
) -> None:
    rows = db.session.scalars(select(FormFetch)).all()
    assert len(rows) == 2
    before = {r.id: r.last_fetched_at for r in rows}
    assert phones["token"].get("/forms/visit.xml", openrosa=False).status_code == 200
    db.session.expire_all()
    assert {r.id: r.last_fetched_at for r in db.session.scalars(select(FormFetch))} == before
    form = services.get_form("visit")
    version = form.current_version
    assert version is not None
    fetch = next(r for r in db.session.scalars(select(FormFetch)) if r.device_id is not None)
    user = fetch_user(fetch.user_id)
    later = fetch.last_fetched_at + fetches.FETCH_NOTE_EVERY + timedelta(seconds=1)
    device = db.session.get(Device, fetch.device_id)
    assert not fetches.note_fetch(
        version, user=user, device=device, user_agent="x", kind="manifest"
    )
    assert fetches.note_fetch(
        version, user=user, device=device, user_agent="x", kind="manifest", now=later
    )
    assert not fetches.note_fetch(
        version, user=user, device=device, user_agent="x", kind="xform", now=later
    )
    db.session.commit()
    db.session.expire_all()
    noted = db.session.get(FormFetch, fetch.id)
    assert noted is not None
    assert (noted.last_fetched_at, noted.last_kind) == (later, "manifest")
    assert noted.first_fetched_at == before[fetch.id]


def fetch_user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    assert user is not None
    return user


def test_diff_route_refuses_unknown_and_overlong_versions(
    client: Any, designer: dict[str, str], published_v1: None
) -> None:
    missing = client.get("/api/v1/forms/visit/diff?from=9", headers=designer)
    assert missing.status_code == 404
    assert missing.json["error"]["code"] == "form.version_not_found"
    overlong = client.get("/api/v1/forms/visit/diff?to=" + "9" * 300, headers=designer)
    assert overlong.status_code == 422
    nothing = client.get("/api/v1/forms/nope/diff", headers=designer)
    assert nothing.status_code == 404


def test_a_coordinator_cannot_read_diffs_or_phones(
    client: Any, api_token: Any, published_v1: None
) -> None:
    coordinator = {"Authorization": f"Bearer {api_token('coordinator')}"}
    assert client.get("/api/v1/forms/visit/diff", headers=coordinator).status_code == 404
    assert client.get("/api/v1/forms/visit/versions", headers=coordinator).status_code == 404


def test_publish_note_is_limited(client: Any, designer: dict[str, str], published_v1: None) -> None:
    upload(client, md(V2, "2"), designer)
    response = client.post(
        "/api/v1/forms/visit/publish", json={"note": "x" * 2001}, headers=designer
    )
    assert response.status_code == 422
    assert services.get_form("visit").current_version.version == "1"  # type: ignore[union-attr]


# -- pages -----------------------------------------------------------------------------------


def test_draft_page_shows_the_diff_and_publishing_asks_with_a_note(
    client: Any, login_as: Any, designer: dict[str, str], published_v1: None
) -> None:
    upload(client, md(V2, "2"), designer)
    browser = login_as("designer")
    page = browser.get("/forms/visit").get_data(as_text=True)
    assert "What this draft changes" in page
    assert "Choice `partly` of `condition` removed: 2 submissions used it." in page
    assert "Property `age` of `households` is no longer updated by this form." in page
    assert 'href="/forms/visit/publish"' in page
    # the versions table: submissions and phones per version
    assert 'class="version-submissions">4<' in page
    confirm = browser.get("/forms/visit/publish").get_data(as_text=True)
    assert "Publish version 2 of Home visit?" in confirm
    assert "Choice `partly` of `condition` removed" in confirm
    assert 'name="note"' in confirm
    done = browser.post(
        "/forms/visit/publish",
        {"note": "Removed <partly>.", "confirm": "1"},
        follow_redirects=True,
    )
    assert done.status_code == 200
    text = done.get_data(as_text=True)
    assert "Version 2 is published" in text
    assert "Removed &lt;partly&gt;." in text
    assert services.get_form("visit").current_version.publish_note == "Removed <partly>."  # type: ignore[union-attr]
    # with nothing left to publish, the confirmation page sends back to the form
    again = browser.get("/forms/visit/publish")
    assert again.status_code == 302
    compare = browser.get("/forms/visit/diff?from=1&to=2").get_data(as_text=True)
    assert "Changes from version <strong>1</strong>" in compare


def test_a_refused_publish_keeps_the_note_on_the_confirmation_page(
    client: Any, login_as: Any, designer: dict[str, str], published_v1: None
) -> None:
    upload(client, md(V2, "2"), designer)
    browser = login_as("designer")
    refused = browser.post("/forms/visit/publish", {"note": "x" * 2001, "confirm": "1"})
    assert refused.status_code == 422
    text = refused.get_data(as_text=True)
    assert "form.publish_note_too_long" in text
    assert "x" * 2001 in text


REPEAT = """
| survey |
|        | type                   | name    | label      |
|        | select_multiple needs  | needs   | Needs      |
|        | begin_repeat           | kids    | Children   |
|        | text                   | kname   | Name       |
|        | select_one yn          | school  | At school? |
|        | begin_repeat           | visits  | Visits     |
|        | select_one yn          | seen    | Seen?      |
|        | end_repeat             |         |            |
|        | end_repeat             |         |            |
| choices |
|         | list_name | name    | label   |
|         | yn        | yes     | Yes     |
|         | yn        | no      | No      |
|         | needs     | food    | Food    |
|         | needs     | housing | Housing |
| settings |
|          | form_id | version |
|          | family  | {v}     |
"""


def family_submission(version: str, needs: str, kids: list[tuple[str, list[str]]]) -> bytes:
    body = "".join(
        f"<kids><kname>k</kname><school>{school}</school>"
        + "".join(f"<visits><seen>{s}</seen></visits>" for s in seen)
        + "</kids>"
        for school, seen in kids
    )
    return (
        f'<data xmlns:orx="http://openrosa.org/xforms" id="family" version="{version}">'
        f"<needs>{needs}</needs>{body}"
        f"<orx:meta><orx:instanceID>uuid:{uuid.uuid4()}</orx:instanceID></orx:meta></data>"
    ).encode()


def test_choices_inside_repeats_and_multiple_choices_are_counted(
    client: Any, designer: dict[str, str], phones: dict[str, Collect]
) -> None:
    assert upload(client, md(REPEAT, "1"), designer).status_code == 201
    assert client.post("/api/v1/forms/family/publish", headers=designer).status_code == 200
    phone = phones["token"]
    for xml in (
        family_submission("1", "food housing", [("yes", ["no"]), ("no", ["yes", "no"])]),
        family_submission("1", "housing", [("yes", ["yes"])]),
        family_submission("1", "", [("no", [])]),
        family_submission("1", "food", []),
    ):
        assert phone.submit(xml).status_code == 201, xml
    # version 2 drops "no" from yn (school and seen) and "housing" from needs
    v2 = REPEAT.replace("|         | yn        | no      | No      |\n", "").replace(
        "|         | needs     | housing | Housing |\n", ""
    )
    assert upload(client, md(v2, "2"), designer).status_code == 201
    diff = client.get("/api/v1/forms/family/diff", headers=designer).json
    removed = {
        (q["name"], c["value"]): c["submissions"]["total"]
        for q in diff["questions"]
        for c in q["choices"]
        if c["change"] == "removed"
    }
    assert removed == {("needs", "housing"): 2, ("school", "no"): 2, ("seen", "no"): 1}


def test_a_workers_browser_is_noted_as_web(
    client: Any, designer: dict[str, str], login_as: Any, published_v1: None
) -> None:
    worker = login_as("field_worker", username="dana", regions=["north"])
    assert worker.get("/fill/collect/forms/visit.xml").status_code == 200
    phones = client.get("/api/v1/forms/visit/versions", headers=designer).json["phones"]
    dana = next(p for p in phones if p["worker"] == "dana")
    assert (dana["channel"], dana["device"], dana["version"]) == ("web", None, "1")
