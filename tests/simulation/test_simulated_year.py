"""The simulated year (fieldapp.simulation): deterministic, shaped like the programme, and made
only through the real ingest and review — on the test database (SQLite or PostgreSQL)."""

from __future__ import annotations

import os
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from flask import Flask
from sqlalchemy import Engine, func, select, text

from fieldapp.audit.models import AuditEvent
from fieldapp.auth import services as auth_services
from fieldapp.auth.models import Region, Role, User
from fieldapp.cases.models import Case, CaseVersion, CaseWork
from fieldapp.db import db, make_engine
from fieldapp.demo import ensure_demo_data
from fieldapp.forms import services as forms
from fieldapp.forms.models import Form
from fieldapp.migrate import upgrade
from fieldapp.review.models import ReviewAction
from fieldapp.simulation import Simulation
from fieldapp.simulation.engine import FORMS
from fieldapp.submissions.models import Submission, SubmissionVersion

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
PASSWORD = "demo password 1"


@pytest.fixture(autouse=True)
def _cheap_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        auth_services, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    )


def _programme(app: Flask) -> None:
    store = app.extensions["fieldapp.blobs"]
    for form_id in FORMS:
        path = ROOT / "forms" / f"{form_id}.xlsx"
        forms.publish_file(
            path.read_bytes(),
            filename=path.name,
            actor=None,
            store=store,
            policy=forms.ValidationPolicy(mode="never"),
        )
    ensure_demo_data(PASSWORD)
    db.session.commit()


def _simulate(app: Flask, scale: float, seed: int = 1) -> Simulation:
    _programme(app)
    simulation = Simulation(
        seed=seed,
        scale=scale,
        now=NOW,
        password=PASSWORD,
        store=app.extensions["fieldapp.blobs"],
        batch_size=200,
    )
    simulation.run()
    return simulation


def _snapshot() -> dict[str, Any]:
    """Counts and sampled rows, case codes included."""
    by_form = Counter(
        dict(
            db.session.execute(
                select(Form.form_id, func.count())
                .select_from(Submission)
                .join(Form, Form.id == Submission.form_pk)
                .group_by(Form.form_id)
            ).all()
        )
    )
    by_state = Counter(
        dict(
            db.session.execute(
                select(Submission.review_state, func.count()).group_by(Submission.review_state)
            ).all()
        )
    )
    versions = db.session.execute(
        select(
            SubmissionVersion.instance_id,
            SubmissionVersion.xml_sha256,
            SubmissionVersion.received_at,
        ).order_by(SubmissionVersion.instance_id)
    ).all()
    cases = db.session.execute(
        select(
            Case.uuid,
            Case.code,
            Case.label,
            Case.properties,
            Case.version,
            Case.status,
            Case.next_due,
        ).order_by(Case.uuid)
    ).all()
    return {
        "by_form": by_form,
        "by_state": by_state,
        "versions": [tuple(v) for v in versions[::7]],
        "cases": [tuple(c) for c in cases[::3]],
        "counts": (len(versions), len(cases)),
    }


def _fresh_database(database_url: str, tmp_path: Path, name: str) -> tuple[Engine, Any]:
    """A new empty database beside the test one (a file, or a PostgreSQL schema), migrated;
    and how to drop it."""
    if not database_url.startswith("postgresql"):
        engine = make_engine(f"sqlite:///{tmp_path / name}.sqlite3")
        upgrade(engine)
        return engine, lambda: None
    schema = f"sim_{name}_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
    base = database_url.split("?", 1)[0]
    admin = make_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(f"{base}?options=-csearch_path%3D{schema}")
    upgrade(engine)

    def drop() -> None:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()

    return engine, drop


def test_the_same_seed_gives_the_same_year(app: Flask, database_url: str, tmp_path: Path):
    snapshots = []
    for name in ("first", "second"):
        engine, drop = _fresh_database(database_url, tmp_path, name)
        db.session.remove()
        db.session.configure(bind=engine)
        try:
            _simulate(app, 0.03)
            snapshots.append(_snapshot())
        finally:
            db.session.remove()
            engine.dispose()
            drop()
    first, second = snapshots
    assert first["counts"][0] > 100
    assert second == first


def test_a_small_year_has_the_programme_shape_and_went_through_ingest(app: Flask):
    simulation = _simulate(app, 0.05)
    result = simulation.result
    sizes = simulation.sizes
    # people: 17 regions (the demo's three among them), ~1 coordinator each, the demo staff kept
    regions = db.session.scalars(select(Region.code)).all()
    assert len(regions) == 17
    assert {"almaty", "turkistan", "mangystau"} <= set(regions)
    coordinators = db.session.scalars(select(User).where(User.role == Role.COORDINATOR)).all()
    assert len(coordinators) == 17
    assert auth_services.authenticate("coord1", PASSWORD, address="127.0.0.1") is not None
    assert [r.code for r in auth_services.get_user_by_username("worker2").regions] == ["turkistan"]
    # cases: one household, one mother per registration, the children in it
    per_list = Counter(
        dict(
            db.session.execute(
                select(Case.case_list_id, func.count()).group_by(Case.case_list_id)
            ).all()
        )
    )
    assert sorted(per_list.values()) == sorted([sizes.households, sizes.households, sizes.children])
    # submissions: every form, every month after the first, most approved
    subs = db.session.scalars(select(Submission)).all()
    assert len(subs) == result.total_submissions - result.submissions["edits"]
    assert Counter(s.form.form_id for s in subs).keys() == set(FORMS)
    months = Counter((s.received_at.year, s.received_at.month) for s in subs)
    start = NOW - timedelta(days=365)
    for offset in range(1, 12):
        month = (start + timedelta(days=31 * offset)).replace(day=1)
        assert months[(month.year, month.month)] > 0, month
    states = Counter(s.review_state for s in subs)
    assert states["approved"] > 0.8 * len(subs)
    assert states["rejected"] > 0
    assert states["received"] > 0  # the last days wait in the queue
    assert all(s.received_at <= NOW for s in subs)
    # sent back and corrected: an edit with its deprecatedID, approved after has_issues
    edits = db.session.scalars(
        select(SubmissionVersion).where(SubmissionVersion.deprecated_id.is_not(None))
    ).all()
    assert edits
    sent_back = db.session.scalars(
        select(ReviewAction.submission_id).where(ReviewAction.to_state == "has_issues")
    ).all()
    assert {e.submission_id for e in edits} <= set(sent_back)
    # through ingest: each one its version, its audit entry; no answer flagged as invalid
    created = Counter(
        db.session.scalars(
            select(AuditEvent.subject_id).where(AuditEvent.action == "submission.created")
        ).all()
    )
    assert set(created) == {s.instance_id for s in subs}
    for submission in subs:
        assert submission.current_version is not None
        assert submission.current_version.invalid_answers == []
    # case work like a real follow-up: every approved follow-up applied to its case
    work = Counter(db.session.scalars(select(CaseWork.state)).all())
    assert work["applied"] > 0.8 * sum(work.values())
    assert work.get("error", 0) == 0
    made_by = db.session.scalars(
        select(func.count()).select_from(CaseVersion).where(CaseVersion.submission_id.is_not(None))
    ).one()
    assert made_by >= states["approved"]
    # the care screens' material: overdue families, a worsening screening, a transfer or
    # closure in a larger year, a conflict from an offline phone
    today = NOW.date()
    overdue = db.session.scalars(
        select(Case).where(Case.status == "open", Case.next_due < today)
    ).all()
    assert overdue
    assert any(_worsened(case) for case in db.session.scalars(select(Case)).all())


def _worsened(case: Case) -> bool:
    totals = [
        int(v.properties["phq_total"])
        for v in sorted(case.versions, key=lambda v: v.version)
        if "phq_total" in {c["property"] for c in v.changes}
    ]
    return len(totals) >= 2 and totals[-1] > totals[0]


def test_a_year_leaves_urgent_ones_unreviewed_and_has_transfers_closures_and_conflicts(
    app: Flask,
):
    _simulate(app, 0.1)
    waiting_urgent = db.session.scalar(
        select(func.count())
        .select_from(Submission)
        .where(Submission.urgent.is_(True), Submission.review_state == "received")
    )
    assert waiting_urgent
    reviewed_urgent = db.session.scalar(
        select(func.count())
        .select_from(Submission)
        .where(Submission.urgent.is_(True), Submission.review_state == "approved")
    )
    assert reviewed_urgent
    actions = Counter(db.session.scalars(select(AuditEvent.action)).all())
    assert actions["case.transferred"] > 0
    assert actions["case.closed"] > 0
    conflicts = db.session.scalar(
        select(func.count()).select_from(CaseVersion).where(CaseVersion.conflict.is_not(None))
    )
    assert conflicts
    assert date.today() >= NOW.date()
