"""The Monday screens' rules on cases and submissions made for each one, through the real
ingest (``receive_submission`` with XML in the programme forms' shape) and review: a screening
worse by exactly 5 points and one by 4, a band change, WHO-5 at exactly 50 %, a child's safety
answer; a child with a check-in last term only; an urgent submission reviewed and one not;
another region's rows absent, an administrator's across regions."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from fieldapp.auth.models import User
from fieldapp.care import queries
from fieldapp.cases import services as cases
from fieldapp.cases.models import Case, CaseList
from fieldapp.db import db
from fieldapp.forms.models import Form, FormVersion
from fieldapp.review.services import review_submission
from fieldapp.simulation.instance import FormShape
from fieldapp.submissions.models import Submission
from fieldapp.submissions.services import receive_submission
from tests.cases.conftest import _cheap_password_hashes, _helpers_app  # noqa: F401
from tests.cases.support import publish
from tests.openrosa import helpers

TODAY = date(2026, 11, 16)  # term November-December; school year from 2026-09-01


class World:
    def __init__(self, make_user: Callable[..., User]) -> None:
        publish("family_registration", "wellbeing_screening", "school_checkin", "home_visit")
        self.worker = make_user("field_worker", regions=["north"])
        self.south_worker = make_user("field_worker", regions=["south"])
        self.coordinator = make_user("coordinator", regions=["north"])
        self.south = make_user("coordinator", regions=["south"])
        self.admin = make_user("admin")
        self.shapes: dict[str, FormShape] = {}

    def shape(self, form_id: str) -> FormShape:
        if form_id not in self.shapes:
            form = db.session.scalars(select(Form).where(Form.form_id == form_id)).one()
            version = db.session.get_one(FormVersion, form.current_version_id)
            self.shapes[form_id] = FormShape(version.xform, version.fields)
        return self.shapes[form_id]

    def case(self, list_name: str, *, worker: User | None = None, **props: Any) -> Case:
        worker = worker or self.worker
        case_list = db.session.scalars(select(CaseList).where(CaseList.name == list_name)).one()
        made = cases.create_case(
            case_list,
            label=f"{list_name} {len(props)}",
            properties=props,
            region_id=worker.regions[0].id,
            assigned_to=worker,
            actor=None,
        )
        db.session.commit()
        return made

    def send(self, form_id: str, answers: dict[str, Any], worker: User | None = None) -> Submission:
        answers["meta"] = {**answers.get("meta", {}), "instanceID": f"uuid:{uuid.uuid4()}"}
        result = receive_submission(
            xml=self.shape(form_id).render(answers),
            uploads=(),
            actor=worker or self.worker,
            store=helpers._store(),
        )
        db.session.commit()
        return result.submission

    def adult_screening(
        self, case: Case, day: str, phq: int, gad: int, who5: int, worker: User | None = None
    ) -> Submission:
        block = {
            "adult": case.uuid,
            "adult_phq_total": str(phq),
            "adult_gad_total": str(gad),
            "adult_who5_raw": str(who5 // 4),
            "adult_who5_percent": str(who5),
            "adult_results": {
                "adult_phq_band": "x",
                "adult_gad_band": "x",
                "adult_who5_band": "poor" if who5 <= 50 else "adequate",
            },
            "adult_last_screening": day,
            "meta": {"entity": _update(case)},
        }
        block["adult_results"]["adult_phq_band"] = _phq_band(phq)
        block["adult_results"]["adult_gad_band"] = _gad_band(gad)
        return self.send(
            "wellbeing_screening",
            {
                "subject_type": "adult",
                "screening_date": day,
                "adult_screening": block,
                "urgent": "yes" if phq >= 20 or gad >= 15 else "no",
                "referral_section": {"refer": "no", "next_screening_date": "2027-01-10"},
            },
            worker,
        )

    def child_screening(
        self, case: Case, day: str, phq: int, *, thoughts: str = "no", urgent: bool = False
    ) -> Submission:
        return self.send(
            "wellbeing_screening",
            {
                "subject_type": "child",
                "screening_date": day,
                "child_screening": {
                    "child": case.uuid,
                    "child_assent": "yes",
                    "phqa_items": {f"phqa{i}": "0" for i in range(1, 10)},
                    "child_safety": {"child_serious_thoughts": thoughts, "child_attempt": "no"},
                    "child_self_harm": "yes" if thoughts == "yes" else "no",
                    "child_phq_total": str(phq),
                    "child_results": {"child_phq_band": _phq_band(phq)},
                    "child_last_screening": day,
                    "meta": {"entity": _update(case)},
                },
                "urgent": "yes" if urgent else "no",
                "referral_section": {"refer": "no", "next_screening_date": "2027-01-10"},
            },
        )

    def checkin(self, case: Case, day: str, absent: int, bullying: str = "no") -> Submission:
        return self.send(
            "school_checkin",
            {
                "child": case.uuid,
                "checkin_date": day,
                "enrolment": {"school_status": "school"},
                "attendance": {"days_absent": str(absent)},
                "bullying": {
                    "bullying_types": "verbal" if bullying == "yes" else "none",
                    "bullying_reported": bullying,
                },
                "urgent": "no",
                "closing": {"next_checkin_date": "2026-12-20"},
                "meta": {"entity": _update(case)},
            },
        )


def _update(case: Case) -> dict[str, str]:
    return {
        "@update": "1",
        "@baseVersion": str(case.version),
        "@trunkVersion": "",
        "@branchId": "",
        "@id": case.uuid,
    }


def _phq_band(total: int) -> str:
    return next(b for limit, b in ((20, "severe"), (15, "mod_severe"), (10, "moderate"),
                                   (5, "mild"), (0, "minimal")) if total >= limit)  # fmt: skip


def _gad_band(total: int) -> str:
    return next(b for limit, b in ((15, "severe"), (10, "moderate"), (5, "mild"),
                                   (0, "minimal")) if total >= limit)  # fmt: skip


@pytest.fixture
def world(app: Flask, make_user: Callable[..., User]) -> World:
    return World(make_user)


def _worsened(world: World, actor: User | None = None) -> dict[str, queries.Worsened]:
    rows = queries.worsened_screenings(queries.scope_for(actor or world.coordinator)).rows
    return {r.case.code: r for r in rows}


def test_screening_thresholds(world: World):
    by_five = world.case("adults")
    world.adult_screening(by_five, "2026-10-01", phq=5, gad=2, who5=80)
    world.adult_screening(by_five, "2026-11-01", phq=10, gad=2, who5=80)  # +5: mild -> moderate
    by_four = world.case("adults")
    world.adult_screening(by_four, "2026-10-01", phq=10, gad=2, who5=80)
    world.adult_screening(by_four, "2026-11-01", phq=14, gad=2, who5=80)  # +4, still moderate
    band = world.case("adults")
    world.adult_screening(band, "2026-10-01", phq=3, gad=3, who5=80)
    world.adult_screening(band, "2026-11-01", phq=3, gad=6, who5=80)  # GAD +3: minimal -> mild
    who_fifty = world.case("adults")
    world.adult_screening(who_fifty, "2026-10-01", phq=3, gad=2, who5=60)
    world.adult_screening(who_fifty, "2026-11-01", phq=3, gad=2, who5=50)  # WHO-5 60 -> 50
    already_poor = world.case("adults")
    world.adult_screening(already_poor, "2026-10-01", phq=3, gad=2, who5=48)
    world.adult_screening(already_poor, "2026-11-01", phq=3, gad=2, who5=40)  # was poor already
    improved = world.case("adults")
    world.adult_screening(improved, "2026-10-01", phq=12, gad=9, who5=40)
    world.adult_screening(improved, "2026-11-01", phq=4, gad=3, who5=72)
    # a later-dated screening received first: the order is the screening's date
    late = world.case("adults")
    world.adult_screening(late, "2026-11-02", phq=2, gad=1, who5=90)
    world.adult_screening(late, "2026-10-02", phq=15, gad=15, who5=20)
    only_one = world.case("adults")
    world.adult_screening(only_one, "2026-11-01", phq=22, gad=18, who5=8)

    found = _worsened(world)
    assert set(found) == {by_five.code, band.code, who_fifty.code}
    assert found[by_five.code].reasons == ("PHQ-9 up 5 points (5 → 10)",)
    assert found[band.code].reasons == ("GAD-7 into a worse band: minimal → mild",)
    assert found[who_fifty.code].reasons == ("WHO-5 down to 50% (60% before)",)
    assert found[by_five.code].latest.review_state == "received"  # waiting for review counts


def test_a_rejected_or_deleted_screening_does_not_count(world: World):
    person = world.case("adults")
    world.adult_screening(person, "2026-10-01", phq=3, gad=2, who5=80)
    worse = world.adult_screening(person, "2026-11-01", phq=12, gad=2, who5=80)
    assert set(_worsened(world)) == {person.code}
    review_submission(worse, state="rejected", actor=world.coordinator, note="entered twice")
    db.session.commit()
    assert _worsened(world) == {}


def test_a_childs_safety_answer_comes_first_whatever_the_scores(world: World):
    adult = world.case("adults")
    world.adult_screening(adult, "2026-10-01", phq=3, gad=2, who5=80)
    world.adult_screening(adult, "2026-11-10", phq=12, gad=2, who5=80)
    child = world.case("children", birth_date="2012-03-01")
    world.child_screening(child, "2026-10-01", phq=8)
    world.child_screening(child, "2026-11-01", phq=7, thoughts="yes", urgent=True)
    steady = world.case("children", birth_date="2012-05-01")
    world.child_screening(steady, "2026-10-01", phq=8)
    world.child_screening(steady, "2026-11-01", phq=7)
    rows = queries.worsened_screenings(queries.scope_for(world.coordinator)).rows
    assert [r.case.code for r in rows] == [child.code, adult.code]
    assert rows[0].safety_first and rows[0].reasons == ()
    assert rows[0].safety is not None
    assert rows[0].safety.words() == ["serious thoughts of ending their life in the past month"]


def test_school_terms_and_ages(world: World):
    last_term = world.case("children", birth_date="2014-02-01")
    world.checkin(last_term, "2026-10-05", absent=1)
    this_term = world.case("children", birth_date="2014-02-01")
    world.checkin(this_term, "2026-11-03", absent=1)
    never = world.case("children", birth_date="2020-08-31")  # 6 on 1 September: school age
    world.case("children", birth_date="2020-09-02")  # 5 on 1 September: not yet
    world.case("children", birth_date="2008-09-01")  # 18 on 1 September: no longer
    absent_more = world.case("children", birth_date="2013-01-01")
    world.checkin(absent_more, "2026-10-20", absent=2)
    world.checkin(absent_more, "2026-11-05", absent=5)  # +3 days
    absent_two = world.case("children", birth_date="2013-01-01")
    world.checkin(absent_two, "2026-10-20", absent=2)
    world.checkin(absent_two, "2026-11-05", absent=4)  # +2 only
    bullied = world.case("children", birth_date="2013-01-01")
    world.checkin(bullied, "2026-10-20", absent=0)
    world.checkin(bullied, "2026-11-05", absent=0, bullying="yes")

    result = queries.school(queries.scope_for(world.coordinator), TODAY)
    assert result.term == queries.Term("November-December", date(2026, 11, 1), date(2026, 12, 31))
    assert {r.case.code: (r.last.on if r.last else None) for r in result.missing} == {
        last_term.code: date(2026, 10, 5),
        never.code: None,
    }
    assert {r.case.code: r.reasons for r in result.worse} == {
        absent_more.code: ("days absent up 3 (2 → 5 in the month)",),
        bullied.code: ("bullying reported (none at the previous check-in)",),
    }
    assert result.count == 4


@pytest.mark.parametrize(
    ("day", "name", "school_year"),
    [
        (date(2026, 9, 1), "September-October", date(2026, 9, 1)),
        (date(2026, 12, 31), "November-December", date(2026, 9, 1)),
        (date(2027, 3, 31), "January-March", date(2026, 9, 1)),
        (date(2027, 4, 1), "April-May", date(2026, 9, 1)),
        (date(2027, 7, 15), "April-May", date(2026, 9, 1)),  # summer: the term that ended
    ],
)
def test_terms(day: date, name: str, school_year: date):
    term = queries.term_of(day)
    assert (term.name, term.school_year_start) == (name, school_year)
    assert term.start <= day or day.month in (6, 7, 8)


def test_urgent_reviewed_or_not_and_regions(world: World):
    child = world.case("children", birth_date="2012-03-01")
    waiting = world.child_screening(child, "2026-11-01", phq=21, urgent=True)
    decided = world.child_screening(child, "2026-11-02", phq=22, urgent=True)
    review_submission(decided, state="approved", actor=world.coordinator)
    db.session.commit()
    south_case = world.case("adults", worker=world.south_worker)
    world.adult_screening(
        south_case, "2026-10-01", phq=3, gad=2, who5=80, worker=world.south_worker
    )
    world.adult_screening(
        south_case, "2026-11-01", phq=20, gad=16, who5=20, worker=world.south_worker
    )
    south_urgent = db.session.scalars(
        select(Submission).where(
            Submission.urgent.is_(True), Submission.region_id != child.region_id
        )
    ).all()
    assert len(south_urgent) == 1

    mine = queries.urgent_unreviewed(queries.scope_for(world.coordinator), waiting.received_at)
    assert [r.instance_id for r in mine.rows] == [waiting.instance_id]
    assert [c.code for c in mine.rows[0].cases] == [child.code]
    theirs = queries.urgent_unreviewed(queries.scope_for(world.south), waiting.received_at)
    assert [r.instance_id for r in theirs.rows] == [south_urgent[0].instance_id]
    every = queries.urgent_unreviewed(queries.scope_for(world.admin), waiting.received_at)
    assert {r.instance_id for r in every.rows} == {waiting.instance_id, south_urgent[0].instance_id}
    assert set(_worsened(world, world.south)) == {south_case.code}
    assert south_case.code not in _worsened(world)
    assert south_case.code in _worsened(world, world.admin)
    with pytest.raises(Exception, match="No such region"):
        queries.scope_for(world.coordinator, "south")
    north_only = queries.scope_for(world.admin, "north")
    assert south_case.code not in {
        r.case.code for r in queries.worsened_screenings(north_only).rows
    }


def test_overloaded_workers(world: World, make_user: Callable[..., User]):
    for i in range(4):
        case = world.case("households")
        case.next_due = date(2026, 11, 1) if i < 3 else date(2026, 12, 1)
    busy = make_user("field_worker", regions=["north"])
    for _ in range(61):
        world.case("households", worker=busy).next_due = date(2026, 12, 1)
    db.session.commit()
    result = queries.overdue(queries.scope_for(world.coordinator), TODAY)
    loads = {w.username: w for w in result.workers}
    assert (loads[world.worker.username].open_cases, loads[world.worker.username].overdue) == (4, 3)
    assert loads[world.worker.username].overloaded  # 3 overdue of 4
    assert loads[busy.username].overloaded  # 61 open cases
    assert [r.days for r in result.cases] == [15, 15, 15]
    assert all(r.worker is loads[world.worker.username] for r in result.cases)


def test_pages_escape_labels_and_link_rows_to_cases(
    world: World, login_as: Callable[..., Any], app: Flask
):
    household = world.case("households")
    household.label = '<script>alert("x")</script> - Есик'
    household.next_due = date(2020, 1, 1)
    db.session.commit()
    browser = login_as("coordinator", regions=["north"])
    page = browser.get("/care/overdue")
    assert page.status_code == 200
    assert b"<script>alert" not in page.data
    assert b"&lt;script&gt;alert" in page.data
    assert f'href="/cases/{household.uuid}"'.encode() in page.data
    south = login_as("coordinator", regions=["south"])
    assert household.uuid.encode() not in south.get("/care/overdue").data
    assert south.get("/care/overdue?region=north").status_code == 404


def test_the_overdue_screen_names_a_case_list_by_its_title(
    world: World, login_as: Callable[..., Any]
):
    household = world.case("households")
    household.next_due = date(2020, 1, 1)
    case_list = db.session.scalars(select(CaseList).where(CaseList.name == "households")).one()
    case_list.title = "Семьи <района>"
    db.session.commit()
    browser = login_as("coordinator", regions=["north"])
    page = browser.get("/care/overdue")
    assert page.status_code == 200
    body = page.data.decode()
    row = body[body.index(f'data-case="{household.uuid}"') :].split("</tr>", 1)[0]
    assert '<td data-label="List">Семьи &lt;района&gt;</td>' in row
    assert ">households<" not in row
