"""The demo programme: regions and users of CONTRACT.md, and the password they share."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from fieldapp.auth import services as auth
from fieldapp.auth.models import Role

#: (code, name) of the demo regions
DEMO_REGIONS = (
    ("almaty", "Almaty region"),
    ("turkistan", "Turkistan region"),
    ("mangystau", "Mangystau region"),
)


@dataclass(frozen=True, slots=True)
class DemoUser:
    username: str
    role: Role
    regions: tuple[str, ...]
    display_name: str


DEMO_USERS = (
    DemoUser("admin", Role.ADMIN, (), "National office administrator"),
    DemoUser("designer", Role.DESIGNER, (), "Programme designer"),
    DemoUser("coord1", Role.COORDINATOR, ("almaty",), "Almaty coordinator"),
    DemoUser("coord2", Role.COORDINATOR, ("turkistan",), "Turkistan coordinator"),
    DemoUser("worker1", Role.FIELD_WORKER, ("almaty",), "Almaty social worker"),
    DemoUser("worker2", Role.FIELD_WORKER, ("turkistan",), "Turkistan social worker"),
    DemoUser("worker3", Role.FIELD_WORKER, ("almaty",), "Almaty social worker 2"),
)


def demo_password(data_dir: Path) -> str:
    """``FIELDAPP_DEMO_PASSWORD``, else the one generated on the first run and kept (0600)."""
    given = os.environ.get("FIELDAPP_DEMO_PASSWORD")
    if given:
        return given
    path = data_dir / "demo_password"
    if path.exists():
        return path.read_text().strip()
    password = secrets.token_urlsafe(12)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(password)
    return password


def ensure_demo_data(password: str) -> list[str]:
    """Create whatever demo regions and users are missing; never change existing ones.

    :return: what was created, for the console.
    """
    created: list[str] = []
    for code, name in DEMO_REGIONS:
        if auth.get_region(code) is None:
            auth.create_region(code, name, actor=None)
            created.append(f"region {code}")
    for demo in DEMO_USERS:
        if auth.get_user_by_username(demo.username) is None:
            auth.create_user(
                demo.username,
                role=demo.role.value,
                password=password,
                actor=None,
                regions=auth.regions_by_codes(demo.regions),
                display_name=demo.display_name,
            )
            created.append(f"user {demo.username}")
    return created


def seed_demo_cases() -> int:
    """Give the demo workers a small caseload (only when no case exists yet).

    The people are invented. Some follow-ups are overdue, so lists have something to show.
    """
    from datetime import timedelta  # noqa: PLC0415

    from sqlalchemy import func, select  # noqa: PLC0415

    from fieldapp.cases.models import Case  # noqa: PLC0415
    from fieldapp.cases.services import create_case, get_case_list  # noqa: PLC0415
    from fieldapp.db import db, utcnow  # noqa: PLC0415

    if (db.session.scalar(select(func.count()).select_from(Case)) or 0) > 0:
        return 0
    found = {name: get_case_list(name) for name in ("households", "adults", "children")}
    lists = {name: case_list for name, case_list in found.items() if case_list is not None}
    if len(lists) != len(found):
        return 0
    today = utcnow().date()
    families = [
        (
            "worker1",
            "Omarova",
            "Aigul",
            "Kaskelen",
            "Karasai",
            [("Amina", "female", "2016-03-02"), ("Yusuf", "male", "2019-11-20")],
        ),
        ("worker1", "Nurlanova", "Saule", "Talgar", "Talgar", [("Maryam", "female", "2014-07-15")]),
        ("worker3", "Seitova", "Dana", "Esik", "Enbekshikazakh", [("Ali", "male", "2018-01-09")]),
        (
            "worker2",
            "Bekova",
            "Zhanar",
            "Shymkent",
            "Abay",
            [("Aisha", "female", "2015-05-30"), ("Ibrahim", "male", "2020-02-14")],
        ),
    ]
    created = 0
    for index, (username, surname, given, settlement, district, children) in enumerate(families):
        worker = auth.get_user_by_username(username)
        if worker is None or not worker.regions:
            continue
        region_id = worker.regions[0].id
        due = today + timedelta(days=(-5 if index % 2 == 0 else 12))
        household = create_case(
            lists["households"],
            label=f"{surname} - {settlement}",
            properties={
                "settlement": settlement,
                "district": district,
                "household_size": 1 + len(children),
                "next_visit": due.isoformat(),
            },
            region_id=region_id,
            assigned_to=worker,
            actor=None,
            next_due=due,
        )
        mother = create_case(
            lists["adults"],
            label=f"{surname} {given} - {settlement}",
            properties={
                "full_name": f"{surname} {given}",
                "birth_year": 1990 + index,
                "passport_status": "received",
                "household_id": household.uuid,
            },
            region_id=region_id,
            assigned_to=worker,
            actor=None,
            next_due=today + timedelta(days=20 - 10 * index),
        )
        created += 2
        for name, sex, born in children:
            create_case(
                lists["children"],
                label=f"{name} {surname} ({born[:4]})",
                properties={
                    "full_name": f"{name} {surname}",
                    "sex": sex,
                    "birth_date": born,
                    "school_status": "enrolled",
                    "household_id": household.uuid,
                    "mother_id": mother.uuid,
                },
                region_id=region_id,
                assigned_to=worker,
                actor=None,
                next_due=today + timedelta(days=30 - 15 * index),
            )
            created += 1
    return created
