"""pyODK, the acceptance client of the OData feed, against a live gunicorn fieldapp."""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cases.support import instance_of, registration
from tests.live import LiveServer, post_submission

pyodk_client = pytest.importorskip("pyodk.client")

PASSWORD = "a long password"
ROOT = Path(__file__).resolve().parents[2]


def _port() -> int:
    """A free port in this suite's range (7500-7599)."""
    for port in range(7540, 7600):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port in 7540-7599")


class Live:
    def __init__(self, server: LiveServer, token: str, instances: list[str]) -> None:
        self.server = server
        self.token = token
        self.instances = instances

    def api(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=30)
        try:
            headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
            conn.request(method, path, None if body is None else json.dumps(body), headers)
            response = conn.getresponse()
            data = response.read()
            return response.status, json.loads(data) if data else None
        finally:
            conn.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    server = LiveServer(tmp_path_factory.mktemp("odata-live"))
    server.port = _port()
    try:
        server.cli("db", "upgrade")
        server.cli(
            "forms",
            "publish",
            str(ROOT / "forms" / "family_registration.xlsx"),
            str(ROOT / "forms" / "home_visit.xlsx"),
        )
        for username, role, region in (
            ("coord", "coordinator", "north"),
            ("worker", "field_worker", "north"),
            ("coord_s", "coordinator", "south"),
        ):
            server.cli(
                "users",
                "create",
                username,
                "--role",
                role,
                "--region",
                region,
                stdin=f"{PASSWORD}\n",
            )
        token = server.cli("users", "token", "coord").strip()
        device = server.cli("devices", "create", "--user", "worker").strip().rsplit("/", 1)[1]
        server.start(workers=1, threads=4)
        instances = []
        for case in ("seed1", "children3"):
            xml, files = registration(case)
            status = post_submission(server.port, f"/collect/key/{device}/submission", xml, files)
            assert status == 201, status
            instances.append(instance_of(xml))
        live = Live(server, token, instances)
        for instance in instances:
            status, body = live.api(
                "POST", f"/api/v1/submissions/{instance}/review", {"state": "approved"}
            )
            assert status == 200, body
        yield live
    finally:
        server.close()


def _client(live: Live, tmp_path: Path, username: str = "coord") -> Any:
    config = tmp_path / "pyodk_config.toml"
    config.write_text(
        "[central]\n"
        f'base_url = "http://127.0.0.1:{live.server.port}"\n'
        f'username = "{username}"\n'
        f'password = "{PASSWORD}"\n'
        "default_project_id = 1\n"
    )
    return pyodk_client.Client(config_path=config, cache_path=tmp_path / "pyodk_cache.toml")


def test_pyodk_reads_submissions(live: Live, tmp_path: Path):
    with _client(live, tmp_path) as client:
        assert [p.id for p in client.projects.list()] == [1]
        assert {f.xmlFormId for f in client.forms.list()} >= {"family_registration", "home_visit"}
        table = client.submissions.get_table(form_id="family_registration")
        assert sorted(r["__id"] for r in table["value"]) == sorted(live.instances)
        expanded = client.submissions.get_table(
            form_id="family_registration", expand="*", count=True
        )
        assert expanded["@odata.count"] == 2
        for row in expanded["value"]:
            status, detail = live.api("GET", f"/api/v1/submissions/{row['__id']}")
            assert status == 200
            data = detail["data"]
            assert row["meta"]["instanceID"] == data["meta"]["instanceID"] == row["__id"]
            assert row["__system"]["reviewState"] == "approved"
            for key, value in data.items():
                if isinstance(value, list) and value and isinstance(value[0], dict):
                    assert len(row[key]) == len(value)
        approved = client.submissions.get_table(
            form_id="family_registration", filter="__system/reviewState eq 'approved'"
        )
        assert len(approved["value"]) == 2
        none = client.submissions.get_table(
            form_id="family_registration", filter="__system/submissionDate lt 2001-01-01"
        )
        assert none["value"] == []
        one = client.submissions.get_table(form_id="family_registration", top=1, skip=1)
        assert len(one["value"]) == 1
        assert one["value"][0]["__id"] in live.instances
        picked = client.submissions.get_table(form_id="family_registration", select="__id,__system")
        assert all(set(r) == {"__id", "__system"} for r in picked["value"])


def test_pyodk_reads_repeat_tables(live: Live, tmp_path: Path):
    with _client(live, tmp_path) as client:
        service = client.get("projects/1/forms/family_registration.svc").json()
        repeats = [s["name"] for s in service["value"] if s["name"] != "Submissions"]
        assert repeats
        for name in repeats:
            rows = client.submissions.get_table(form_id="family_registration", table_name=name)
            for row in rows["value"]:
                assert row["__id"]


def test_pyodk_reads_entities(live: Live, tmp_path: Path):
    with _client(live, tmp_path) as client:
        lists = client.entity_lists.list()
        assert "households" in {e.name for e in lists}
        table = client.entities.get_table(entity_list_name="households", count=True)
        status, cases = live.api("GET", "/api/v1/cases?dataset=households")
        assert status == 200
        by_id = {c["id"]: c for c in cases["items"]}
        assert table["@odata.count"] == len(table["value"]) == len(by_id) > 0
        for row in table["value"]:
            case = by_id[row["__id"]]
            assert row["label"] == case["label"]
            assert row["__system"]["version"] == case["version"]
            for key, value in case["properties"].items():
                if key in row and value is not None:
                    assert row[key] == str(value)


def test_pyodk_other_region_sees_nothing(live: Live, tmp_path: Path):
    with _client(live, tmp_path, "coord_s") as client:
        assert client.submissions.get_table(form_id="family_registration")["value"] == []
        assert client.entities.get_table(entity_list_name="households")["value"] == []
