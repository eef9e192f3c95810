"""Submissions made by JavaRosa (the form engine inside ODK Collect) for every programme form are
accepted over OpenRosa, parsed into data, and shown with their labels."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from fieldapp.db import db
from fieldapp.forms import services as forms
from fieldapp.forms.xform import fields_from_json
from fieldapp.submissions.models import Submission, SubmissionVersion
from fieldapp.submissions.parsing import describe, parse_submission
from tests.openrosa.helpers import Collect, _store, device_for

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "submissions"
FORM_IDS = ["family_registration", "home_visit", "school_checkin", "wellbeing_screening"]


def cases(form_id: str) -> list[Path]:
    found = [
        p for p in (DATA / form_id).iterdir() if p.is_dir() and (p / "submission.xml").exists()
    ]
    return sorted(found, key=lambda p: (p.name.startswith("edit"), p.name))  # edits after originals


def files_of(case: Path) -> list[tuple[str, bytes]]:
    return [
        (p.name, p.read_bytes())
        for p in sorted(case.iterdir())
        if p.is_file() and p.name not in ("submission.xml", "fill-result.json")
    ]


@pytest.fixture
def phone(app, make_user) -> Collect:
    for form_id in FORM_IDS:
        path = ROOT / "forms" / f"{form_id}.xlsx"
        forms.publish_file(
            path.read_bytes(),
            filename=path.name,
            actor=None,
            store=_store(),
            policy=forms.ValidationPolicy(mode="never"),
        )
    db.session.commit()
    worker = make_user("field_worker", username="jr", regions=["north"])
    return Collect(app, f"/collect/key/{device_for(worker)}")


@pytest.mark.parametrize("form_id", FORM_IDS)
def test_javarosa_submissions_are_accepted_and_parsed(phone, form_id):
    originals = [c for c in cases(form_id) if not c.name.startswith("edit")]
    edits = [c for c in cases(form_id) if c.name.startswith("edit")]
    assert originals and edits
    for case in originals + edits:
        xml = (case / "submission.xml").read_bytes()
        response = phone.submit(xml, files_of(case))
        assert response.status_code == 201, (case.name, response.data)
        parsed = parse_submission(xml)
        db.session.expire_all()
        version = db.session.scalars(
            select(SubmissionVersion).where(SubmissionVersion.instance_id == parsed.instance_id)
        ).one()
        assert version.form_version.version == parsed.version
        received = {a.name for a in version.attachments if a.blob_sha256}
        assert received == {name for name, _ in files_of(case)}, case.name
        assert version.data, case.name
        submission = db.session.get(Submission, version.submission_id)
        if case in edits:
            assert submission.review_state == "edited"
            assert submission.instance_id == parsed.deprecated_id
        # the data reads back under Russian labels
        items = describe(version.data, fields_from_json(version.form_version.fields), "ru")
        assert any(any("\u0400" <= ch <= "\u04ff" for ch in item.label) for item in items)


def test_registration_with_three_children_keeps_every_child(phone):
    case = DATA / "family_registration" / "children3"
    xml = (case / "submission.xml").read_bytes()
    assert phone.submit(xml, files_of(case)).status_code == 201
    version = db.session.scalars(
        select(SubmissionVersion).where(
            SubmissionVersion.instance_id == parse_submission(xml).instance_id
        )
    ).one()
    assert len(version.data["children"]) == 3
    assert all(
        child["meta"]["entity"]["dataset"] == "children" for child in version.data["children"]
    )


def test_urgent_screening_is_flagged(phone):
    flagged = []
    for case in cases("wellbeing_screening"):
        xml = (case / "submission.xml").read_bytes()
        assert phone.submit(xml, files_of(case)).status_code == 201
        parsed = parse_submission(xml)
        version = db.session.scalars(
            select(SubmissionVersion).where(SubmissionVersion.instance_id == parsed.instance_id)
        ).one()
        submission = db.session.get(Submission, version.submission_id)
        flagged.append((version.data.get("urgent") == "yes", submission.urgent))
    assert all(data_says == stored for data_says, stored in flagged)
    assert any(stored for _, stored in flagged), "the screening test data has urgent cases"
