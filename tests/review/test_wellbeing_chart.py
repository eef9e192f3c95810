"""Wellbeing totals over time on the case page: the totals approved screenings put into the
record, as SVG line charts with a table; left properties and pending screenings are not shown;
another region's case stays a 404."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.cases.support import DATA, SEED1_ADULT, new_instance, registration, set_element
from tests.cases.support import publish as publish_forms

ADULT = DATA / "wellbeing_screening" / "adult"
STORED_ADULT = "11111111-1111-4111-8111-111111122201"


def screening(base: int, **answers: str) -> bytes:
    """The stored JavaRosa adult screening, pointed at seed1's mother as of ``base``."""
    xml = new_instance((Path(ADULT) / "submission.xml").read_bytes())
    xml = xml.replace(STORED_ADULT.encode(), SEED1_ADULT.encode())
    xml = re.sub(rb'baseVersion="[^"]*"', f'baseVersion="{base}"'.encode(), xml)
    for name, value in answers.items():
        xml = set_element(xml, name, value)
    return xml


def scores(html: str) -> list[dict[str, str]]:
    rows = re.findall(r'<tr data-version="(\d+)"><td>([\d-]+)</td>(.*?)</tr>', html, re.S)
    return [
        {"version": v, "on": on} | dict(re.findall(r'data-score="(\w+)">([^<]*)<', cells))
        for v, on, cells in rows
    ]


@pytest.fixture
def screened(programme):
    publish_forms("wellbeing_screening")
    worker, coord = programme["worker"], programme["coord"]
    coord.api.review(worker.submit(*registration("seed1")), "approved")
    first = worker.submit(screening(1))  # PHQ-9 9, GAD-7 12, WHO-5 68 on 2026-04-09
    coord.api.review(first, "approved")
    second = worker.submit(
        screening(
            2,
            adult_phq_total="16",
            adult_gad_total="6",
            adult_who5_percent="40",
            adult_last_screening="2026-06-01",
        )
    )
    coord.api.review(second, "approved", take={"gad_total": False})  # GAD-7 left
    worker.submit(screening(3, adult_phq_total="27", adult_last_screening="2026-07-01"))  # pending
    return first, second


def test_case_page_shows_approved_totals_over_time(screened, desk):
    first, _second = screened
    page = desk("coord").get(f"/cases/{SEED1_ADULT}")
    assert page.status_code == 200
    html = page.data.decode()
    assert scores(html) == [
        {
            "version": "2",
            "on": "2026-04-09",
            "phq_total": "9",
            "gad_total": "12",
            "who5_percent": "68",
        },
        {
            "version": "3",
            "on": "2026-06-01",
            "phq_total": "16",
            "gad_total": "—",
            "who5_percent": "40",
        },
    ]
    assert f'href="/submissions/{first}"' in html

    chart = re.search(r'<svg[^>]*id="chart-scores".*?</svg>', html, re.S)
    assert chart is not None
    svg = chart.group(0)
    assert 'role="img"' in svg and "<title" in svg and "<desc" in svg
    assert "PHQ-9 total, 2026-04-09: 9<" in svg
    assert "PHQ-9 total, 2026-06-01: 16<" in svg
    assert "GAD-7 total, 2026-04-09: 12<" in svg
    assert "2026-07-01" not in html  # the pending screening is not in the record
    assert svg.count("<polyline") == 1  # PHQ has two points, GAD-7 only one
    assert " style=" not in svg
    who = re.search(r'<svg[^>]*id="chart-who5".*?</svg>', html, re.S)
    assert who is not None
    assert "WHO-5 (%), 2026-06-01: 40<" in who.group(0)


def test_higher_totals_are_drawn_higher(screened, desk):
    html = desk("coord").get(f"/cases/{SEED1_ADULT}").data.decode()
    svg = re.search(r'<svg[^>]*id="chart-scores".*?</svg>', html, re.S)
    assert svg is not None
    phq = re.findall(
        r'<circle class="chart-marker" cx="([\d.]+)" cy="([\d.]+)" r="4"><title>PHQ-9',
        svg.group(0),
    )
    (x1, y1), (x2, y2) = ((float(x), float(y)) for x, y in phq)
    assert x2 > x1  # later screening further right
    assert y2 < y1  # 16 is above 9


def test_another_regions_case_stays_hidden(screened, desk):
    assert desk("coord_s").get(f"/cases/{SEED1_ADULT}").status_code == 404


def test_no_screening_no_section(programme, desk):
    programme["coord"].api.review(programme["worker"].submit(*registration("seed1")), "approved")
    html = desk("coord").get(f"/cases/{SEED1_ADULT}").data.decode()
    assert "Wellbeing screenings" not in html
