"""Two coordinators approving conflicting updates of one case at the same moment, on a real
gunicorn server: both are applied, one after the other, and nothing is lost."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.cases.support import (
    ROOT,
    VISIT_MET,
    home_visit,
    household_of,
    instance_of,
    registration,
)
from tests.live import LiveServer, post_submission

pytestmark = pytest.mark.committed

ROUNDS = 4


class Live:
    def __init__(self, server: LiveServer, tokens: dict[str, str], collect: str) -> None:
        self.server = server
        self.tokens = tokens
        self.collect = collect

    def api(self, who: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=60)
        try:
            conn.request(
                method,
                path,
                body=None if body is None else json.dumps(body),
                headers={
                    "Authorization": f"Bearer {self.tokens[who]}",
                    "Content-Type": "application/json",
                },
            )
            response = conn.getresponse()
            return response.status, json.loads(response.read() or b"null")
        finally:
            conn.close()

    def submit(self, xml: bytes, files: list[tuple[str, bytes]] | None = None) -> str:
        assert post_submission(self.server.port, self.collect, xml, files or []) == 201
        return instance_of(xml)

    def approve(self, who: str, instance: str) -> tuple[int, Any]:
        return self.api(
            who, "POST", f"/api/v1/submissions/{instance}/review", {"state": "approved"}
        )


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    server = LiveServer(tmp_path_factory.mktemp("live-cases"))
    try:
        server.cli("db", "upgrade")
        server.cli(
            "forms",
            "publish",
            str(ROOT / "forms" / "family_registration.xlsx"),
            str(ROOT / "forms" / "home_visit.xlsx"),
        )
        for username, role in (
            ("coord_a", "coordinator"),
            ("coord_b", "coordinator"),
            ("worker", "field_worker"),
        ):
            server.cli(
                "users",
                "create",
                username,
                "--role",
                role,
                "--region",
                "north",
                stdin="a long password\n",
            )
        tokens = {name: server.cli("users", "token", name) for name in ("coord_a", "coord_b")}
        device = server.cli("devices", "create", "--user", "worker").rsplit("/", 1)[1]
        server.start()
        yield Live(server, tokens, f"/collect/key/{device}/submission")
    finally:
        server.close()


def _proposed(live: Live, instance: str) -> dict[str, Any]:
    status, body = live.api("coord_a", "GET", f"/api/v1/submissions/{instance}")
    assert status == 200
    return {c["property"]: c["proposed"] for c in body["case_changes"]}


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_simultaneous_conflicting_approvals_lose_nothing(live, round_):
    xml, files = registration("seed1", fresh=True)
    household = household_of(xml)
    status, _ = live.approve("coord_a", live.submit(xml, files))
    assert status == 200

    # two visits made on the version-1 copy, with different answers
    visits = {
        "coord_a": live.submit(home_visit(household, 1, template=VISIT_MET)),
        "coord_b": live.submit(home_visit(household, 1)),
    }
    proposed = {instance: _proposed(live, instance) for instance in visits.values()}
    barrier = threading.Barrier(2)

    def approve(who: str) -> tuple[int, Any]:
        barrier.wait()
        return live.approve(who, visits[who])

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(approve, visits))
    assert [status for status, _ in results] == [200, 200], results

    status, case = live.api("coord_a", "GET", f"/api/v1/cases/{household}")
    assert status == 200
    assert case["version"] == 3
    assert [v["version"] for v in case["versions"]] == [1, 2, 3]
    first, second = (v["submission"] for v in case["versions"][1:])
    assert {first, second} == set(visits.values())
    approvers = {v["approved_by"] for v in case["versions"][1:]}
    assert approvers == {"coord_a", "coord_b"}
    # the second was applied on top of the first: every value of both is there, the later
    # one winning where both gave one
    expected = {**proposed[first], **proposed[second]}
    for prop, value in expected.items():
        assert case["properties"][prop] == value, prop
    later = case["versions"][2]
    assert later["base_version"] == 1
    assert later["conflict"] == "hard"
    assert case["conflict"] == "hard"
    changed_by_later = {c["property"] for c in later["changes"]}
    assert changed_by_later == {
        p for p, v in proposed[second].items() if proposed[first].get(p) != v
    }
