"""Case and submission pages speak the form's words: question and choice labels in the reader's
language, linked cases by code and label, the value an approved change replaced, and computed
fields (property references, start/end, calculations) folded away as system fields."""

from __future__ import annotations

import re

from sqlalchemy import select

from fieldapp.cases.models import Case
from fieldapp.db import db
from tests.cases.support import SEED1_HOUSEHOLD, VISIT_MET, home_visit, registration

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)


def shown(html: str) -> str:
    """The text a person reads without opening "System fields" (tags and attributes removed)."""
    body = html.split("<main", 1)[1]
    body = re.sub(r'<details class="system-fields">.*?</details>', "", body, flags=re.S)
    return re.sub(r"<[^>]+>", " ", body)


def approve_family(programme) -> None:
    programme["coord"].api.review(programme["worker"].submit(*registration("seed1")), "approved")


def test_a_case_page_shows_questions_choices_and_linked_cases(programme, desk):
    approve_family(programme)
    programme["coord"].api.review(programme["worker"].submit(home_visit(SEED1_HOUSEHOLD, 1)))
    household = db.session.scalars(select(Case).where(Case.uuid == SEED1_HOUSEHOLD)).one()
    child = db.session.scalars(
        select(Case).where(Case.properties["household_id"].as_string() == SEED1_HOUSEHOLD)
    ).first()
    assert child is not None
    coord = desk("coord")

    html = coord.get(f"/cases/{household.code}").data.decode()
    text = shown(html)
    for name, value in household.properties.items():
        if name not in {"children_count"}:
            assert f">{name}<" not in text, name  # no property name as a row's heading
    assert "housing_type" not in text and "last_visit_outcome" not in text
    assert "Did the visit take place?" in text  # the question...
    assert "The family has moved" in text  # ...and the choice, in words
    assert ">moved<" not in html
    assert not UUID.search(text)
    # the timeline's changes are in words too, with the value before
    timeline = html.split("<h2>Timeline</h2>", 1)[1]
    assert "Did the visit take place?" in timeline
    assert "last_visit_outcome" not in timeline

    # in Russian when asked (or when the browser prefers it)
    russian = shown(coord.get(f"/cases/{household.code}?lang=ru").data.decode())
    assert "Семья переехала" in russian
    preferred = coord.client.get(
        f"/cases/{household.code}", headers={"Accept-Language": "kk, ru;q=0.8"}
    ).data.decode()
    assert "Отбасы көшіп кеткен" in shown(preferred)

    # a child's household and mother appear as linked cases, by code and label
    page = coord.get(f"/cases/{child.code}").data.decode()
    text = shown(page)
    assert household.code in text and household.label in text
    m = UUID.search(text)
    assert not m, text[m.start() - 300 : m.end() + 50]
    assert f'href="/cases/{household.code}"' in page
    reference = re.search(r'<tr data-property="household_id">.*?</tr>', page, re.S)
    assert reference is not None and household.code in reference.group(0)
    # the UUIDs are still there for whoever needs them, folded
    system = re.search(r'<details class="system-fields">.*?</details>', page, re.S)
    assert system is not None and child.uuid in system.group(0)


def test_an_approved_submission_shows_the_value_it_replaced(programme, desk):
    approve_family(programme)
    coord = programme["coord"]
    coord.api.review(programme["worker"].submit(home_visit(SEED1_HOUSEHOLD, 1)))  # "moved"
    met = programme["worker"].submit(home_visit(SEED1_HOUSEHOLD, 1, template=VISIT_MET))
    coord.api.review(met, "approved")

    html = desk("coord").get(f"/submissions/{met}").data.decode()
    row = re.search(
        r'<tr[^>]*>(?:(?!</tr>).)*data-property="last_visit_outcome".*?</tr>', html, re.S
    )
    assert row is not None
    assert "Before → after" in html
    assert re.search(
        r'<span class="old" dir="auto">The family has moved</span>.*?'
        r'<span class="new" dir="auto">Yes, I met the family</span>',
        row.group(0),
        re.S,
    ), row.group(0)
    text = shown(html)
    assert "last_visit_outcome" not in text and "housing_type" not in text
    # start, end and calculations are folded away; the title is not an instanceID
    system = re.search(r'<details class="system-fields">.*?</details>', html, re.S)
    assert system is not None
    for name in ("start", "end"):
        assert f"<code>{name}</code>" in system.group(0)
        assert f">{name}<" not in text
    title = re.search(r"<h1[^>]*>(.*?)</h1>", html, re.S)
    assert title is not None and "uuid:" not in title.group(1)
