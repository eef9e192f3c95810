"""The two Monday screens — "No consent on record or withdrawn" and "Late referrals" — show
exactly the rows a separate SQL query finds, region by region, linked to the case pages."""

from __future__ import annotations

import re
from datetime import date, timedelta

from sqlalchemy import select, text

from fieldapp.auth.models import User
from fieldapp.cases import referrals, services
from fieldapp.cases.models import Case
from fieldapp.db import db, utcnow
from tests.cases.support import Programme, signed_in


def _world(programme: Programme, make_region) -> dict[str, list[str]]:
    """Cases in north and south with every consent state, and referrals late and not."""
    programme.person("coord_s", "coordinator", ["south"])
    programme.person("admin", "admin", [])
    admin = db.session.scalars(select(User).where(User.username == "admin")).one()
    households = services.get_case_list("households")
    children = services.get_case_list("children")
    assert households is not None and children is not None
    north, south = make_region("north"), make_region("south")
    made: dict[str, list[str]] = {"north": [], "south": []}
    for region in (north, south):
        for n, (case_list, cons, assent) in enumerate(
            [
                (households, None, None),
                (households, "given", None),
                (households, "refused", None),
                (households, "withdrawn", None),
                (children, "given", None),
                (children, "given", "withdrawn"),
                (children, "given", "given"),
                (children, None, "given"),
            ]
        ):
            case = services.create_case(
                case_list,
                label=f"family {region.code} {n}",
                properties={},
                region_id=region.id,
                assigned_to=None,
                actor=None,
            )
            case.consent, case.assent = cons, assent
            made[region.code].append(case.code)
            for urgency, age, step in (
                ("today", 3, None),  # late
                ("week", 1, None),  # due in 6 days: not late
                ("today", 10, "seen"),  # seen: not late
                ("month", 40, "accepted"),  # accepted, past due: late
            ):
                ref = referrals.add(case, service="doctor", urgency=urgency, note=None, actor=admin)
                ref.made_at -= timedelta(days=age)
                ref.due = referrals.due_date(urgency, ref.made_at.date())
                if step == "accepted":
                    referrals.move(ref, case, to="accepted", note=None, actor=admin)
                if step == "seen":
                    referrals.move(ref, case, to="accepted", note=None, actor=admin)
                    referrals.move(ref, case, to="seen", note=None, actor=admin)
    # a closed case lacking consent is not on the consent screen
    closed = db.session.scalars(select(Case).where(Case.code == made["north"][0])).one()
    closed.status = "closed"
    closed.closed_at = utcnow()
    db.session.commit()
    return made


def _codes(page: str) -> list[str]:
    return re.findall(r'<tr data-(?:referral="\d+" data-)?case="([^"]+)"', page)


def _expected_missing(region: str | None) -> list[str]:
    where = "" if region is None else "AND r.code = :region"
    rows = db.session.execute(
        text(
            f"""SELECT c.code FROM cases c JOIN regions r ON r.id = c.region_id
            WHERE c.sandbox = false AND c.status = 'open'
              AND (c.consent IS NULL OR c.consent <> 'given'
                   OR c.assent IN ('refused', 'withdrawn')) {where}
            ORDER BY CASE WHEN c.consent = 'withdrawn' OR c.assent = 'withdrawn' THEN 0
                          WHEN c.consent = 'refused' OR c.assent = 'refused' THEN 1 ELSE 2 END,
                     c.code"""
        ),
        {"region": region} if region else {},
    ).scalars()
    return list(rows)


def _expected_late(region: str | None, today: date) -> list[str]:
    where = "" if region is None else "AND r.code = :region"
    rows = db.session.execute(
        text(
            f"""SELECT c.code FROM case_referrals f JOIN cases c ON c.id = f.case_id
            JOIN regions r ON r.id = c.region_id
            WHERE c.sandbox = false AND f.status IN ('made', 'accepted') AND f.due < :today
            {where} ORDER BY f.due, f.id"""
        ),
        {"today": today, **({"region": region} if region else {})},
    ).scalars()
    return list(rows)


def test_the_consent_screen_shows_what_sql_finds_in_the_readers_regions(
    app, programme: Programme, make_region
) -> None:
    made = _world(programme, make_region)
    north = signed_in(app, "coord")
    page = north.get("/consent/missing")
    assert page.status_code == 200
    shown = _codes(page.data.decode())
    assert shown == _expected_missing("north")
    # refused, withdrawn, a withdrawn assent, a child with none (the closed one is left out)
    assert len(shown) == 4
    assert set(shown) <= set(made["north"])
    assert 'href="/cases/' in page.data.decode()
    # the other region's coordinator sees only theirs
    south = _codes(signed_in(app, "coord_s").get("/consent/missing").data.decode())
    assert south == _expected_missing("south") and not set(south) & set(made["north"])
    # an administrator sees every region, or one
    admin = signed_in(app, "admin")
    assert _codes(admin.get("/consent/missing").data.decode()) == _expected_missing(None)
    assert _codes(admin.get("/consent/missing?region=south").data.decode()) == south
    # a coordinator cannot filter on a region not theirs
    assert north.get("/consent/missing?region=south").status_code == 404


def test_the_late_referrals_screen_shows_what_sql_finds(
    app, programme: Programme, make_region
) -> None:
    _world(programme, make_region)
    today = utcnow().date()
    page = signed_in(app, "coord").get("/referrals/late")
    assert page.status_code == 200
    shown = _codes(page.data.decode())
    assert shown == _expected_late("north", today)
    assert len(shown) == 16  # two late referrals on each of north's eight cases
    assert "days late" in page.data.decode()
    admin = signed_in(app, "admin")
    assert _codes(admin.get("/referrals/late").data.decode()) == _expected_late(None, today)
    assert _codes(admin.get("/referrals/late?region=south").data.decode()) == _expected_late(
        "south", today
    )
    assert signed_in(app, "coord").get("/referrals/late?region=south").status_code == 404
