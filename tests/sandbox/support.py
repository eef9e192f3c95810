"""Test data made the way a designer makes it, for any test that must prove it stays apart.

:func:`make_sandbox_data` publishes the programme's registration and home-visit forms (real
data has somewhere to go), uploads new drafts of both, starts a try of the two drafts through
the designer's page and sends, through the try's Collect URL, a test registration (a test
household) and a test home visit of that household. Use it in a test of any read path (an
export, OData, a webhook...) and assert that none of :attr:`SandboxData.instance_ids`,
:attr:`SandboxData.case_uuids` or :data:`TEST_MARKER` appear.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from flask import Flask

from fieldapp.db import db
from fieldapp.forms import services as forms
from tests.cases.support import (
    ROOT,
    home_visit,
    household_of,
    instance_of,
    publish,
    registration,
)
from tests.openrosa import helpers
from tests.openrosa.helpers import Collect

#: a settlement name only test registrations use (look for it in any output)
TEST_MARKER = "Sandboxville"


def upload_drafts(*form_ids: str) -> dict[str, str]:
    """New drafts of programme forms (same XLSForms: versions are generated); form id →
    draft version."""
    versions = {}
    for form_id in form_ids:
        path = ROOT / "forms" / f"{form_id}.xlsx"
        draft = forms.upload_draft(
            path.read_bytes(), filename=path.name, actor=None, store=helpers._store()
        )
        versions[form_id] = draft.version
    db.session.commit()
    return versions


def as_draft(xml: bytes, version: str) -> bytes:
    """A stored submission of a form, as filled from its draft ``version``."""
    return re.sub(
        rb'(<data\b[^>]*?\bversion=")[^"]*(")', rb"\g<1>" + version.encode() + rb"\2", xml, count=1
    )


def start_try(designer: Any, form_id: str, *with_forms: str, review: str = "skip") -> str:
    """Start a try on the draft page as ``designer`` (a logged-in Browser); its Collect URL."""
    response = designer.post(f"/forms/{form_id}/try", {"with": list(with_forms), "review": review})
    assert response.status_code == 200, response.data
    match = re.search(
        rb'<code id="try-url">http://localhost(/collect/test/[^<]+)</code>', response.data
    )
    assert match is not None, response.data
    return match.group(1).decode()


@dataclass
class SandboxData:
    collect: Collect
    base: str
    drafts: dict[str, str]
    instance_ids: list[str] = field(default_factory=list)
    #: the test household first, then the other test cases the registration made
    case_uuids: list[str] = field(default_factory=list)


def send_test_registration(phone: Collect, version: str) -> bytes:
    """A fresh test registration (settlement :data:`TEST_MARKER`) through a try's URL."""
    xml, files = registration(fresh=True)
    xml = re.sub(
        rb"<settlement>[^<]*</settlement>", f"<settlement>{TEST_MARKER}</settlement>".encode(), xml
    )
    xml = as_draft(xml, version)
    response = phone.submit(xml, files)
    assert response.status_code == 201, response.data
    return xml


def make_sandbox_data(
    app: Flask, designer: Any, *, review: str = "skip", published: bool = False
) -> SandboxData:
    """Published programme forms (``published``: the caller published them already), drafts
    of both, a try of the two and test data in it."""
    if not published:
        publish("family_registration", "home_visit")
    drafts = upload_drafts("family_registration", "home_visit")
    base = start_try(designer, "family_registration", "home_visit", review=review)
    phone = Collect(app, base)
    xml = send_test_registration(phone, drafts["family_registration"])
    household = household_of(xml)
    created = [i.decode() for i in re.findall(rb'<entity [^>]*create="1"[^>]*id="([^"]+)"', xml)]
    others = [i for i in created if i != household]
    data = SandboxData(phone, base, drafts, [instance_of(xml)], [household, *others])
    if review == "skip":
        visit = as_draft(home_visit(household, 1), drafts["home_visit"])
        response = phone.submit(visit)
        assert response.status_code == 201, response.data
        data.instance_ids.append(instance_of(visit))
    return data
