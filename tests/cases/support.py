"""Building blocks of the case tests: real forms, phones, the JSON API.

``programme`` publishes the real registration and home-visit XLSForms and makes a region
``north`` with a coordinator (``coord``) and a field worker (``worker``) whose phone holds a
device token; more people are added with :meth:`Programme.person`. Submissions are the stored
JavaRosa ones under ``tests/data/submissions``, with ids rewritten where a test needs them.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from fieldapp.auth import services as auth
from fieldapp.auth.models import User
from fieldapp.cases.models import Case
from fieldapp.db import db
from fieldapp.forms import services as forms
from tests.openrosa import helpers
from tests.openrosa.helpers import Collect, device_for

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "submissions"

#: the stored registration ``seed1``: its instance, its household, adult and children
SEED1 = DATA / "family_registration" / "seed1"
SEED1_INSTANCE = "uuid:4f78e703-ecbc-45b1-9392-0ee0bf942788"
SEED1_HOUSEHOLD = "3bc05d68-abbb-4c59-9bd1-cb4ddb5f1f94"
SEED1_ADULT = "db5392cd-e8a4-4de8-b850-79ca2da0296d"
SEED1_CHILDREN = ("3ca33074-6913-451c-b3ba-9f33efc1e74b", "19057b7c-74e1-4942-8c1f-fae8785eb7b3")
#: names in seed1 (the mother's surname, a child's name, the settlement)
SEED1_NAMES = ("oscar mike", "charlie quebec", "mike november", "oscar foxtrot", "hotel november")
#: the settlement of ``seed1`` (in its households' label and their phone label)
SEED1_SETTLEMENT = "hotel november"

#: the home-visit ``seed1`` (outcome "moved") and ``met`` submissions
VISIT_MOVED = DATA / "home_visit" / "seed1"
VISIT_MET = DATA / "home_visit" / "met"


# -- submissions -----------------------------------------------------------------------------


def attachments_of(case: Path) -> list[tuple[str, bytes]]:
    return [
        (p.name, p.read_bytes())
        for p in sorted(case.iterdir())
        if p.is_file() and p.name not in ("submission.xml", "fill-result.json")
    ]


def instance_of(xml: bytes) -> str:
    match = re.search(rb"<instanceID>([^<]+)</instanceID>", xml)
    assert match is not None
    return match.group(1).decode()


def set_element(xml: bytes, name: str, value: str | None) -> bytes:
    """Set the text of the (first) element ``name``; ``None`` removes the element."""
    pattern = re.compile(rb"<" + name.encode() + rb"(?: */>|>[^<]*</" + name.encode() + rb">)")
    assert pattern.search(xml), name
    replacement = b"" if value is None else f"<{name}>{value}</{name}>".encode()
    return pattern.sub(lambda _m: replacement, xml, count=1)


def new_instance(xml: bytes) -> bytes:
    """The same submission under a fresh instanceID (another visit, another registration)."""
    return xml.replace(instance_of(xml).encode(), f"uuid:{uuid.uuid4()}".encode())


def registration(case: str = "seed1", *, fresh: bool = False) -> tuple[bytes, list[Any]]:
    """A stored registration; ``fresh`` gives it new instance and entity ids."""
    path = DATA / "family_registration" / case
    xml = (path / "submission.xml").read_bytes()
    if fresh:
        xml = new_instance(xml)
        for old in set(re.findall(rb'<entity [^>]*\bid="([^"]+)"', xml)):
            xml = xml.replace(old, str(uuid.uuid4()).encode())
    return xml, attachments_of(path)


def household_of(registration_xml: bytes) -> str:
    """The id of the household a registration creates."""
    match = re.search(rb'<entity dataset="households" create="1" id="([^"]+)"', registration_xml)
    assert match is not None
    return match.group(1).decode()


def home_visit(
    case_uuid: str,
    base_version: int | str,
    *,
    template: Path = VISIT_MOVED,
    **answers: str | None,
) -> bytes:
    """A stored JavaRosa home visit pointed at ``case_uuid`` as of ``base_version``.

    ``answers`` set (or, with ``None``, remove) answer elements, e.g. ``next_visit_date``.
    """
    xml = new_instance((template / "submission.xml").read_bytes())
    old_id = re.search(rb"<household>([^<]+)</household>", xml)
    assert old_id is not None
    xml = xml.replace(old_id.group(1), case_uuid.encode())
    xml = re.sub(rb'baseVersion="[^"]*"', f'baseVersion="{base_version}"'.encode(), xml)
    for name, value in answers.items():
        xml = set_element(xml, name, value)
    return xml


# -- people and HTTP ---------------------------------------------------------------------------


class Api:
    """A JSON API client with a bearer token."""

    def __init__(self, app: Flask, token: str) -> None:
        self.client: FlaskClient = app.test_client()
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, url: str, **kwargs: Any) -> Any:
        return self.client.get(url, headers=self.headers, **kwargs)

    def post(self, url: str, body: dict[str, Any]) -> Any:
        return self.client.post(url, json=body, headers=self.headers)

    def patch(self, url: str, body: dict[str, Any]) -> Any:
        return self.client.patch(url, json=body, headers=self.headers)

    # the calls every test makes

    def submission(self, instance_id: str) -> dict[str, Any]:
        response = self.get(f"/api/v1/submissions/{instance_id}")
        assert response.status_code == 200, response.json
        return dict(response.json)

    def review(
        self, instance_id: str, state: str = "approved", *, status: int = 200, **body: Any
    ) -> dict[str, Any]:
        response = self.post(f"/api/v1/submissions/{instance_id}/review", {"state": state, **body})
        assert response.status_code == status, response.json
        return dict(response.json)

    def case(self, case_id: str) -> dict[str, Any]:
        response = self.get(f"/api/v1/cases/{case_id}")
        assert response.status_code == 200, response.json
        return dict(response.json)

    def cases(self, query: str = "") -> list[dict[str, Any]]:
        status = "" if "status=" in query else "status=all&"
        response = self.get(f"/api/v1/cases?{status}{query}")
        assert response.status_code == 200, response.json
        return list(response.json["items"])


@dataclass
class Person:
    username: str
    user_id: int
    api: Api
    phone: Collect | None = None

    def submit(self, xml: bytes, files: list[Any] | None = None) -> str:
        """Send a submission from this person's phone; 201 expected; returns its instanceID."""
        assert self.phone is not None
        response = self.phone.submit(xml, files or [])
        assert response.status_code == 201, response.data
        return instance_of(xml)

    def case_list(self, dataset: str = "households", form_id: str = "home_visit") -> Any:
        assert self.phone is not None
        return self.phone.get(f"/forms/{form_id}/attachments/{dataset}.csv", openrosa=False)

    def manifest_hash(self, dataset: str = "households", form_id: str = "home_visit") -> str:
        assert self.phone is not None
        response = self.phone.get(f"/forms/{form_id}/manifest")
        assert response.status_code == 200
        match = re.search(
            rf'<mediaFile type="(?:approvalE|e)ntityList">\s*<filename>{dataset}\.csv</filename>\s*'
            r"<hash>md5:([0-9a-f]{32})</hash>",
            response.data.decode(),
        )
        assert match is not None, response.data
        return match.group(1)

    def rows(
        self, dataset: str = "households", form_id: str = "home_visit"
    ) -> list[dict[str, str]]:
        response = self.case_list(dataset, form_id)
        assert response.status_code == 200
        return list(csv.DictReader(io.StringIO(response.data.decode())))


@dataclass
class Programme:
    """The published programme forms and the people of a test."""

    app: Flask
    make_user: Callable[..., User]
    people: dict[str, Person] = field(default_factory=dict)

    def person(self, username: str, role: str, regions: list[str] | None = None) -> Person:
        user = self.make_user(role, username=username, regions=regions)
        token, _ = auth.issue_api_token(user, actor=None)
        db.session.commit()
        phone = None
        if role in ("field_worker", "coordinator") and regions != []:
            phone = Collect(self.app, f"/collect/key/{device_for(user)}")
        person = Person(username, user.id, Api(self.app, token), phone)
        self.people[username] = person
        return person

    def __getitem__(self, username: str) -> Person:
        return self.people[username]

    def set_list(self, name: str, **settings: Any) -> None:
        """Change a case list's settings as a designer, through the API."""
        designer = self.people.get("designer") or self.person("designer", "designer")
        response = designer.api.patch(f"/api/v1/case-lists/{name}", settings)
        assert response.status_code == 200, response.json


def publish(*form_ids: str) -> None:
    for form_id in form_ids:
        path = ROOT / "forms" / f"{form_id}.xlsx"
        forms.publish_file(
            path.read_bytes(),
            filename=path.name,
            actor=None,
            store=helpers._store(),
            policy=forms.ValidationPolicy(mode="never"),
        )
    db.session.commit()


def user_id(username: str) -> int:
    return db.session.scalars(select(User.id).where(User.username == username)).one()


def registered(programme: Programme) -> None:
    """The seed1 family registered by the worker and approved by the coordinator."""
    xml, files = registration("seed1")
    programme["worker"].submit(xml, files)
    programme["coord"].api.review(SEED1_INSTANCE)


def fresh_case(uuid: str) -> Case:
    """The case with this id, read again from the database."""
    db.session.expire_all()
    return db.session.scalars(select(Case).where(Case.uuid == uuid)).one()


def signed_in(app: Flask, username: str = "coord") -> Any:
    """A browser (``tests.conftest.Browser``) signed in as ``username``."""
    from tests.conftest import Browser

    browser = Browser(app.test_client())
    assert browser.login(username).status_code == 302
    return browser
