"""The whole case loop with real engines: JavaRosa (the engine inside ODK Collect) fills the
registration, a coordinator approves it, the case reaches the worker's phone list, JavaRosa
fills a home visit from that list, and its approval makes version 2 with exactly the taken
properties changed."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest

from tests.cases.support import instance_of
from tests.conftest import need
from tests.javarosa import fill, javarosa_available
from tests.openrosa.helpers import download_form

pytestmark = pytest.mark.java


def test_registration_to_case_to_phone_list_to_follow_up(programme, tmp_path: Path):
    need(javarosa_available(), "Java, javac and pyxform's ODK_Validate.jar are needed")
    worker, coord = programme["worker"], programme["coord"]

    # 1. JavaRosa fills the registration as downloaded by the worker's phone
    form_xml, media = download_form(worker.phone, "family_registration")
    registration = fill(
        form_xml,
        media,
        {
            "/data/household/settlement": "Talgar",
            "/data/household/household_size": "4",
            "/data/mother/mother_surname": "Omarova",
            "/data/mother/mother_given_name": "Aigul",
        },
        workdir=tmp_path,
    )
    household_id = (
        re.search(rb'<entity dataset="households" create="1" id="([^"]+)"', registration)
        .group(1)
        .decode()
    )
    first = worker.submit(registration)
    assert coord.api.cases("?dataset=households") == []  # approval comes first

    # 2. the coordinator approves; the household is a case of the worker
    coord.api.review(first)
    case = coord.api.case(household_id)
    assert case["version"] == 1
    assert case["properties"]["household_size"] == 4
    assert case["assigned_to"] == worker.username

    # 3. it reaches the worker's phone list under its code, and JavaRosa fills a visit from it
    form_xml, media = download_form(worker.phone, "home_visit")
    rows = list(csv.DictReader(io.StringIO(media["households.csv"].decode())))
    assert [(r["name"], r["__version"]) for r in rows] == [(household_id, "1")]
    # the code, then the words the list's designer chose (no name): settlement, size, due date
    label = rows[0]["label"]
    assert label.startswith(f"{case['code']} · ") and " · 4 · " in label
    assert f"due {case['next_due']}" in label or "overdue since" in label
    visit = fill(
        form_xml,
        media,
        {
            "/data/household": household_id,
            "/data/visit_outcome": "met",
        },
        workdir=tmp_path,
    )
    assert f'id="{household_id}"'.encode() in visit
    assert b'baseVersion="1"' in visit
    second = worker.submit(visit)

    # 4. approval taking all but one proposed property: version 2 with exactly those changed
    proposed = {c["property"]: c["proposed"] for c in coord.api.submission(second)["case_changes"]}
    assert proposed, "the visit proposes changes to the household"
    left = sorted(proposed)[0]
    coord.api.review(second, take={left: False})
    case = coord.api.case(household_id)
    assert case["version"] == 2
    changed = {c["property"] for c in case["versions"][1]["changes"]}
    before = {c["property"]: c["new"] for c in case["versions"][0]["changes"]}  # version 1
    taken_and_different = {p for p, v in proposed.items() if p != left and before.get(p) != v}
    assert changed == taken_and_different
    assert left not in changed
    assert instance_of(visit) == second
