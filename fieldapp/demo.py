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
