"""Answers that choose a case from a case list show the case's code and label with a link to
its page, not its UUID, but only when the reader may see the case; otherwise the raw answer."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from fieldapp.auth import services as auth
from fieldapp.cases import care
from fieldapp.cases import services as cases
from fieldapp.cases.models import Case
from fieldapp.db import db, utcnow
from tests.cases.support import SEED1_HOUSEHOLD, home_visit, registration

SCRIPT = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def household_answer(html: str) -> str:
    """The value cell of the home visit's ``household`` question (labelled "Family")."""
    value = re.search(
        r'<div class="answer-label" dir="auto">Family</div>\s*'
        r'<div class="answer-value" dir="auto">(.*?)</div>',
        html,
        re.S,
    )
    assert value is not None
    return value.group(1).strip()


def approved_household(programme) -> None:
    programme["coord"].api.review(programme["worker"].submit(*registration("seed1")), "approved")


def household() -> Case:
    """Seed1's household, loaded now (requests end the session, detaching older objects)."""
    return db.session.scalars(select(Case).where(Case.uuid == SEED1_HOUSEHOLD)).one()


def test_chosen_case_shows_its_code_and_label_with_a_link(programme, desk):
    approved_household(programme)
    visit = programme["worker"].submit(home_visit(SEED1_HOUSEHOLD, 1))
    case = household()
    cell = household_answer(desk("coord").get(f"/submissions/{visit}").data.decode())
    assert f'href="/cases/{SEED1_HOUSEHOLD}"' in cell
    assert f"<code>{case.code}</code>" in cell
    assert case.label in cell
    assert SEED1_HOUSEHOLD not in re.sub(r'href="[^"]*"', "", cell)


def test_a_case_of_another_region_stays_a_raw_answer(programme, desk):
    approved_household(programme)
    visit = programme["worker"].submit(home_visit(SEED1_HOUSEHOLD, 1))
    case = household()
    code = case.code
    care.transfer(case, auth.get_region("south"), actor=auth.get_user_by_username("coord"))
    db.session.commit()

    cell = household_answer(desk("coord").get(f"/submissions/{visit}").data.decode())
    assert cell == SEED1_HOUSEHOLD
    html = desk("coord").get(f"/submissions/{visit}").data.decode()
    assert code not in html  # not in the answers, nor in the case changes
    assert "/cases/" not in html.split('<div class="answers"', 1)[1].split("</section>", 1)[0]

    admin_cell = household_answer(desk("admin").get(f"/submissions/{visit}").data.decode())
    assert f"<code>{code}</code>" in admin_cell


def test_an_unknown_case_is_a_raw_answer(programme, desk):
    unknown = "00000000-0000-4000-8000-000000000001"
    visit = programme["worker"].submit(home_visit(unknown, 1))
    cell = household_answer(desk("coord").get(f"/submissions/{visit}").data.decode())
    assert cell == unknown


def test_the_case_label_is_escaped(programme, desk):
    households = cases.get_case_list("households")
    north = auth.get_region("north")
    assert households is not None and north is not None
    case = cases.create_case(
        households,
        label=f"{SCRIPT} family",
        properties={},
        region_id=north.id,
        assigned_to=auth.get_user_by_username("worker"),
        actor=None,
        next_due=utcnow().date() + timedelta(days=3),
    )
    db.session.commit()
    visit = programme["worker"].submit(home_visit(case.uuid, 1))
    cell = household_answer(desk("coord").get(f"/submissions/{visit}").data.decode())
    assert f"{ESCAPED} family" in cell
    assert "<script" not in cell
