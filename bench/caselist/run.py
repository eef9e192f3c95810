"""Case-list benchmark: a worker's households.csv built from 100 000 cases, and the 304 path.

For each backend (SQLite in a temporary data dir, PostgreSQL in a throwaway schema) this makes a
fresh instance (migrations, the registration and home-visit forms, regions, workers), bulk-loads
the cases, starts fieldapp under gunicorn on a loopback port and measures, as a phone does over
one keep-alive connection: the home-visit manifest (cold and warm), the full ``households.csv``
download, and the ``If-None-Match`` revalidation (304) — for one field worker and for the
coordinator of the worker's region. In the same run: a bare SELECT of the same cases with the
database driver (the floor) and ``GET /login`` (the framework floor). Correctness is checked
while measuring.

Results: ``bench/results/caselist-<UTC timestamp>.json`` and ``bench/results/caselist-latest.json``.
See ``bench/caselist/README.md``.

    .venv/bin/python bench/caselist/run.py [--cases 100000] [--repeat 40]
        [--backends sqlite,postgres]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import http.client
import io
import json
import os
import random
import re
import secrets
import sqlite3
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import common
from common import ROOT, USER_AGENT, percentile

FORMS = (ROOT / "forms" / "family_registration.xlsx", ROOT / "forms" / "home_visit.xlsx")
FORM_ID = "home_visit"
DATASET = "households"
CSV_NAME = f"{DATASET}.csv"

BACKENDS = ("sqlite", "postgres")
#: one process: the MD5 of a list is remembered per process, so with one process "warm" and
#: "cold" mean what they say (with W processes each learns every list once, see the README)
GUNICORN_OPTIONS: dict[str, Any] = {"workers": 1, "worker-class": "gthread", "threads": 4}
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
BATCH = 5000
#: cases assigned to the target worker but lying in another region (must never reach the phone)
STRAY_CASES = 20


# -- statistics --------------------------------------------------------------------------------


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def stats(samples: list[float]) -> dict[str, Any]:
    ordered = sorted(samples)
    return {
        "n": len(ordered),
        "p50": _round(percentile(ordered, 50)),
        "p95": _round(percentile(ordered, 95)),
        "mean": _round(sum(ordered) / len(ordered) if ordered else None),
        "min": _round(ordered[0] if ordered else None),
        "max": _round(ordered[-1] if ordered else None),
    }


# -- the instance and its 100 000 cases --------------------------------------------------------


@dataclass
class People:
    """Who is who in the loaded instance (database ids)."""

    regions: list[int]  # region ids; regions[0] is the target's
    target: int  # the measured field worker
    coordinator: int  # the coordinator of regions[0]
    workers_by_region: dict[int, list[int]]  # field workers other than the target
    target_token: str = ""
    coordinator_token: str = ""


@dataclass
class Loaded:
    people: People
    case_list_id: int
    cases: int
    case_versions: int
    prepare_s: float
    load_s: float
    #: case ids for the update checks
    samples: dict[str, list[int]] = field(default_factory=dict)


FAMILY_NAMES = (
    "Omarova", "Bekova", "Seitova", "Nurlanova", "Akhmetova", "Zhaksylykova", "Ibraimova",
    "Tokayeva", "Sultanova", "Abenova", "Karimova", "Dzhumabaeva", "Iskakova", "Mukhametova",
    "Rakhimova", "Sadykova", "Tulegenova", "Yusupova",
)  # fmt: skip
SETTLEMENTS = (
    ("Kaskelen", "Karasai"),
    ("Talgar", "Talgar"),
    ("Esik", "Enbekshikazakh"),
    ("Shymkent", "Abay"),
    ("Turkestan", "Turkestan"),
    ("Taraz", "Baizak"),
    ("Kentau", "Kentau"),
    ("Saryagash", "Saryagash"),
)
OUTCOMES = ("met", "met", "met", "not_home", "moved", "refused")
HOUSING = ("apartment", "house", "room", "dormitory", "other")
CONDITION = ("good", "fair", "poor")
ATTITUDE = ("supportive", "neutral", "hostile", "unknown")
RISK = ("low", "low", "medium", "medium", "high")


def _code(index: int) -> str:
    """``HH-`` and five characters of the code alphabet: distinct for every index < 31**5."""
    chars = []
    for _ in range(5):
        index, digit = divmod(index, len(CODE_ALPHABET))
        chars.append(CODE_ALPHABET[digit])
    return "HH-" + "".join(reversed(chars))


def _properties(rng: random.Random, next_due: date | None, today: date) -> dict[str, Any]:
    settlement, district = rng.choice(SETTLEMENTS)
    size = rng.randint(1, 9)
    last = today - timedelta(days=rng.randint(1, 200))
    return {
        "settlement": settlement,
        "district": district,
        "hosting_relatives": rng.random() < 0.3,
        "household_size": size,
        "arrival_date": (today - timedelta(days=rng.randint(100, 2500))).isoformat(),
        "children_count": rng.randint(0, max(0, size - 1)),
        "next_visit": next_due.isoformat() if next_due else None,
        "last_visit": last.isoformat(),
        "last_visit_outcome": rng.choice(OUTCOMES),
        "housing_type": rng.choice(HOUSING),
        "housing_condition": rng.choice(CONDITION),
        "secure_tenancy": rng.random() < 0.6,
        "income_sufficient": rng.random() < 0.4,
        "relatives_attitude": rng.choice(ATTITUDE),
        "risk_level": rng.choice(RISK),
    }


def prepare(app: Any, args: argparse.Namespace) -> Loaded:
    """Migrate, publish, make people and device tokens, and bulk-load the cases."""
    from sqlalchemy import func, insert, select, text  # noqa: PLC0415

    from fieldapp import migrate  # noqa: PLC0415
    from fieldapp.auth import devices  # noqa: PLC0415
    from fieldapp.auth import services as auth  # noqa: PLC0415
    from fieldapp.auth.models import Role, User, user_regions  # noqa: PLC0415
    from fieldapp.cases.models import Case, CaseList, CaseVersion  # noqa: PLC0415
    from fieldapp.db import db, utcnow  # noqa: PLC0415
    from fieldapp.forms import services as forms  # noqa: PLC0415

    rng = random.Random(args.seed)
    started = time.perf_counter()
    with app.app_context():
        assert db.engine is not None
        migrate.upgrade(db.engine)
        store = app.extensions["fieldapp.blobs"]
        for path in FORMS:
            forms.publish_file(
                path.read_bytes(),
                filename=path.name,
                actor=None,
                store=store,
                policy=forms.ValidationPolicy(mode="never"),
            )
        regions = [
            auth.create_region(f"region-{i:02d}", f"Region {i:02d}", actor=None)
            for i in range(args.regions)
        ]
        password = secrets.token_urlsafe(18)
        target = auth.create_user(
            "target", role=Role.FIELD_WORKER.value, password=password, actor=None,
            regions=[regions[0]], display_name="Target worker",
        )  # fmt: skip
        coordinator = auth.create_user(
            "coord", role=Role.COORDINATOR.value, password=password, actor=None,
            regions=[regions[0]], display_name="Coordinator of region 00",
        )  # fmt: skip
        db.session.flush()
        # the other field workers: bulk rows (nobody signs in with their passwords)
        workers_by_region: dict[int, list[int]] = {r.id: [] for r in regions}
        now = utcnow()
        user_rows, link_rows = [], []
        next_id = (db.session.scalar(select(func.max(User.id))) or 0) + 1
        for i in range(args.workers - 1):
            region = regions[(i + 1) % len(regions)]
            user_rows.append(
                {
                    "id": next_id,
                    "username": f"worker-{i + 1:03d}",
                    "display_name": f"Worker {i + 1:03d}",
                    "role": Role.FIELD_WORKER.value,
                    "password_hash": target.password_hash,
                    "active": True,
                    "failed_logins": 0,
                    "session_nonce": secrets.token_hex(8),
                    "created_at": now,
                }
            )
            link_rows.append({"user_id": next_id, "region_id": region.id})
            workers_by_region[region.id].append(next_id)
            next_id += 1
        if user_rows:
            db.session.execute(insert(User), user_rows)
            db.session.execute(insert(user_regions), link_rows)
        people = People(
            regions=[r.id for r in regions],
            target=target.id,
            coordinator=coordinator.id,
            workers_by_region=workers_by_region,
        )
        people.target_token, _ = devices.create_device(target, actor=None, label="bench")
        people.coordinator_token, _ = devices.create_device(coordinator, actor=None, label="bench")
        case_list = db.session.scalars(select(CaseList).where(CaseList.name == DATASET)).one()
        case_list_id = case_list.id
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            db.session.execute(
                text("SELECT setval(pg_get_serial_sequence('users', 'id'), max(id)) FROM users")
            )
            db.session.commit()
        prepare_s = time.perf_counter() - started

        # -- the cases --
        started = time.perf_counter()
        today = now.date()
        plan = _assignments(rng, args, people)
        case_rows: list[dict[str, Any]] = []
        version_rows: list[dict[str, Any]] = []
        samples: dict[str, list[int]] = {"target_open": [], "stray": [], "other_region": []}
        samples["colleague"] = []
        version_id = 0
        cases_table, versions_table = Case.__table__, CaseVersion.__table__
        total_versions = 0
        with db.engine.begin() as conn:
            for case_id, (region_id, assignee, status) in enumerate(plan, start=1):
                roll = rng.random()
                due: date | None = None
                if roll > 0.02:
                    due = today + timedelta(days=rng.randint(-30, 90))
                props = _properties(rng, due, today)
                version = 1 if roll < 0.6 else (2 if roll < 0.85 else 3)
                created = now - timedelta(days=rng.randint(30, 900), seconds=rng.randint(0, 86399))
                updated = created + timedelta(days=rng.randint(0, 29))
                label = f"{rng.choice(FAMILY_NAMES)} - {props['settlement']}"
                case_rows.append(
                    {
                        "id": case_id,
                        "uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                        "code": _code(case_id * 7919 % (31**5)),
                        "case_list_id": case_list_id,
                        "label": label,
                        "properties": props,
                        "region_id": region_id,
                        "assigned_to_id": assignee,
                        "status": status,
                        "version": version,
                        "next_due": due,
                        "created_at": created,
                        "updated_at": updated,
                    }
                )
                for v in range(1, version + 1):
                    version_id += 1
                    version_rows.append(
                        {
                            "id": version_id,
                            "case_id": case_id,
                            "version": v,
                            "label": label,
                            "properties": props,
                            "changes": [{"property": "label", "old": None, "new": label}]
                            if v == 1
                            else [{"property": "last_visit", "old": None, "new": "2026-01-01"}],
                            "source": "staff" if v == 1 else "submission",
                            "conflicting_properties": [],
                            "created_at": created if v == 1 else updated,
                        }
                    )
                _remember(samples, people, case_id, region_id, assignee, status)
                if len(case_rows) >= BATCH:
                    conn.execute(insert(cases_table), case_rows)
                    conn.execute(insert(versions_table), version_rows)
                    total_versions += len(version_rows)
                    case_rows, version_rows = [], []
            if case_rows:
                conn.execute(insert(cases_table), case_rows)
                conn.execute(insert(versions_table), version_rows)
                total_versions += len(version_rows)
            if conn.dialect.name == "postgresql":
                for table in ("cases", "case_versions"):
                    conn.execute(
                        text(
                            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) "
                            f"FROM {table}"
                        )
                    )
                # what autovacuum does soon after a bulk load; SQLite gets no ANALYZE (fieldapp
                # does not run one)
                conn.execute(text("ANALYZE cases"))
                conn.execute(text("ANALYZE case_versions"))
        load_s = time.perf_counter() - started
        db.session.remove()
    return Loaded(people, case_list_id, len(plan), total_versions, prepare_s, load_s, samples)


def _assignments(
    rng: random.Random, args: argparse.Namespace, people: People
) -> list[tuple[int, int | None, str]]:
    """``(region, assignee, status)`` of every case, shuffled (ids say nothing about owners)."""
    target_region = people.regions[0]
    plan: list[tuple[int, int | None, str]] = [
        (target_region, people.target, _status(rng)) for _ in range(args.target_cases)
    ]
    # assigned to the target, but in another region
    plan += [(rng.choice(people.regions[1:]), people.target, "open") for _ in range(STRAY_CASES)]
    for _ in range(args.cases - len(plan)):
        region = rng.choice(people.regions)
        workers = people.workers_by_region[region]
        assignee = rng.choice(workers) if workers and rng.random() > 0.02 else None
        plan.append((region, assignee, _status(rng)))
    rng.shuffle(plan)
    return plan


def _status(rng: random.Random) -> str:
    roll = rng.random()
    return "open" if roll < 0.95 else ("closed" if roll < 0.99 else "merged")


def _remember(
    samples: dict[str, list[int]],
    people: People,
    case_id: int,
    region_id: int,
    assignee: int | None,
    status: str,
) -> None:
    if status != "open":
        return
    if region_id == people.regions[0] and assignee == people.target:
        samples["target_open"].append(case_id)
    elif assignee == people.target:
        samples["stray"].append(case_id)
    elif region_id == people.regions[0] and assignee is not None:
        samples["colleague"].append(case_id)
    elif region_id != people.regions[0] and len(samples["other_region"]) < 50:
        samples["other_region"].append(case_id)


# -- the database, directly (floors, expected rows, updates) -----------------------------------


class Direct:
    """The instance's database through the bare driver (sqlite3 or psycopg)."""

    def __init__(self, backend: str, database_url: str, data_dir: Path) -> None:
        self.backend = backend
        if backend == "sqlite":
            self.conn: Any = sqlite3.connect(data_dir / common.SQLITE_FILE, isolation_level=None)
            self.conn.execute("PRAGMA busy_timeout=30000")
            self.mark = "?"
        else:
            import psycopg  # noqa: PLC0415

            self.conn = psycopg.connect(common.plain_url(database_url), autocommit=True)
            self.mark = "%s"

    def close(self) -> None:
        self.conn.close()

    def json(self, value: Any) -> Any:
        if self.backend == "sqlite":
            return json.dumps(value)
        from psycopg.types.json import Jsonb  # noqa: PLC0415

        return Jsonb(value)

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        cursor = self.conn.execute(sql.replace("?", self.mark), params)
        return list(cursor.fetchall()) if cursor.description else []

    def visible_sql(self, worker: bool) -> str:
        sql = (
            "SELECT uuid, code, version, properties, next_due FROM cases "
            "WHERE case_list_id = ? AND status = 'open' AND region_id IN (?)"
        )
        return sql + (" AND assigned_to_id = ?" if worker else "")

    def visible(self, case_list_id: int, region_id: int, worker_id: int | None) -> list[Any]:
        params: tuple[Any, ...] = (case_list_id, region_id)
        if worker_id is not None:
            params += (worker_id,)
        return self.rows(self.visible_sql(worker_id is not None), params)

    def touch(self, case_id: int, *, close: bool = False) -> None:
        """Change a case as a follow-up does: new version, ``updated_at``, a property (and,
        with ``close``, close it as a coordinator does)."""
        now = datetime.now(UTC)
        stamp: Any = now.strftime("%Y-%m-%d %H:%M:%S.%f") if self.backend == "sqlite" else now
        row = self.rows("SELECT version, properties FROM cases WHERE id = ?", (case_id,))[0]
        props = row[1] if isinstance(row[1], dict) else json.loads(row[1])
        props = {**props, "last_visit": now.date().isoformat(), "last_visit_outcome": "met"}
        status = "closed" if close else "open"
        version = row[0] + (0 if close else 1)
        self.rows(
            "UPDATE cases SET version = ?, properties = ?, updated_at = ?, status = ? WHERE id = ?",
            (version, self.json(props), stamp, status, case_id),
        )
        if not close:
            self.rows(
                "INSERT INTO case_versions (case_id, version, label, properties, changes, "
                "source, conflicting_properties, created_at) "
                "SELECT id, version, label, properties, ?, 'staff', ?, ? FROM cases WHERE id = ?",
                (self.json([{"property": "last_visit"}]), self.json([]), stamp, case_id),
            )


def csv_floor(rows: list[Any], today: date) -> bytes:
    """The CSV of ``rows`` in plain Python: decode, sort, write, encode (no ORM, no HTTP)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        ["name", "label", "__version", "next_visit", "last_visit", "next_due", "overdue"]
    )
    decoded = []
    for uid, code, version, raw_props, raw_due in rows:
        props = raw_props if isinstance(raw_props, dict) else json.loads(raw_props)
        due = date.fromisoformat(raw_due) if isinstance(raw_due, str) else raw_due
        decoded.append((uid, code, version, props, due))
    decoded.sort(key=lambda r: (not (r[4] and r[4] < today), r[4] or date.max, r[1]))
    for uid, code, version, props, due in decoded:
        writer.writerow(
            [uid, code, version, props.get("next_visit") or "", props.get("last_visit") or "",
             due.isoformat() if due else "", "yes" if due and due < today else "no"]
        )  # fmt: skip
    content = buffer.getvalue().encode()
    hashlib.md5(content, usedforsecurity=False).hexdigest()
    return content


# -- a phone -----------------------------------------------------------------------------------


@dataclass
class Reply:
    ms: float
    status: int
    headers: dict[str, str]
    body: bytes


class Phone:
    """One keep-alive connection, requests one after the other (as OkHttp in Collect)."""

    def __init__(self, port: int, token: str | None) -> None:
        self.port = port
        self.base = f"/collect/key/{token}" if token else ""
        self.conn: http.client.HTTPConnection | None = None
        self.used = False
        self.reconnects = 0

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def get(self, path: str, headers: dict[str, str] | None = None) -> Reply:
        sent = {
            "X-OpenRosa-Version": "1.0",
            "User-Agent": USER_AGENT,
            "Connection": "Keep-Alive",
            **(headers or {}),
        }
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
                self.used = False
            reused = self.used
            started = time.perf_counter()
            try:
                self.conn.request("GET", self.base + path, headers=sent)
                response = self.conn.getresponse()
                body = response.read()
            except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected):
                self.close()
                if reused and attempt == 0:
                    self.reconnects += 1
                    continue
                raise
            ms = (time.perf_counter() - started) * 1000
            self.used = True
            if response.will_close:
                self.close()
            return Reply(
                ms, response.status, {k.lower(): v for k, v in response.getheaders()}, body
            )
        raise AssertionError("unreachable")

    # the calls Collect makes

    def manifest(self) -> tuple[Reply, str | None]:
        reply = self.get(f"/forms/{FORM_ID}/manifest")
        # ``entityList``, or ``approvalEntityList`` when the list requires approval
        found = re.search(
            r'<mediaFile type="\w*[eE]ntityList"[^>]*>\s*'
            rf"<filename>{re.escape(CSV_NAME)}</filename>\s*"
            r"<hash>md5:([0-9a-f]{32})</hash>",
            reply.body.decode(errors="replace"),
        )
        return reply, found.group(1) if found else None

    def case_list(self, etag: str | None = None) -> Reply:
        headers = {"If-None-Match": f'"{etag}"'} if etag else None
        return self.get(f"/forms/{FORM_ID}/attachments/{CSV_NAME}", headers)


def etag_of(reply: Reply) -> str | None:
    value = reply.headers.get("etag")
    return value.strip('"') if value else None


# -- measuring ---------------------------------------------------------------------------------


class Checks:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def add(self, name: str, ok: bool, detail: Any = None) -> bool:
        self.items.append({"check": name, "ok": bool(ok), "detail": detail})
        if not ok:
            print(f"  CHECK FAILED: {name}: {detail}", flush=True)
        return bool(ok)

    @property
    def ok(self) -> bool:
        return all(item["ok"] for item in self.items)


def repeat(
    args: argparse.Namespace, call: Callable[[], float], count: int | None = None
) -> list[float]:
    """Call ``count`` (default ``--repeat``) times, stopping early after ``--series-seconds``."""
    samples: list[float] = []
    deadline = time.monotonic() + args.series_seconds
    for _ in range(count if count is not None else args.repeat):
        samples.append(call())
        if time.monotonic() > deadline:
            break
    return samples


def csv_rows(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode())))


def measure_actor(
    who: str,
    phone: Phone,
    expected: list[Any],
    args: argparse.Namespace,
    checks: Checks,
    today: date,
) -> tuple[dict[str, Any], str]:
    """Manifest (first, warm), CSV, 304 for one phone; returns the series and the hash."""
    series: dict[str, Any] = {}
    first, token = phone.manifest()
    if not checks.add(f"{who}: manifest answers 200 with the {CSV_NAME} hash",
                      first.status == 200 and token is not None,
                      [first.status, first.body[:300].decode(errors="replace")]):  # fmt: skip
        raise RuntimeError(f"{who}: no {CSV_NAME} in the manifest; cannot measure")
    assert token is not None
    series["manifest_first_ms"] = _round(first.ms)

    def manifest_warm() -> float:
        reply, again = phone.manifest()
        if reply.status != 200 or again != token:
            bad.append(f"manifest {reply.status} {again}")
        return reply.ms

    bad: list[str] = []
    series["manifest_warm"] = stats(repeat(args, manifest_warm))
    checks.add(f"{who}: warm manifests all 200 with the same hash", not bad, bad[:3])

    # the full download, first checked row by row against the database
    reply = phone.case_list()
    rows = csv_rows(reply.body) if reply.status == 200 else []
    names = [r["name"] for r in rows]
    want = {r[0] for r in expected}
    overdue_db = sum(1 for r in expected if r[4] is not None and _as_date(r[4]) < today)
    overdue_csv = [r["overdue"] == "yes" for r in rows]
    md5 = hashlib.md5(reply.body, usedforsecurity=False).hexdigest()
    checks.add(f"{who}: CSV has exactly the visible cases (count and ids)",
               reply.status == 200 and len(rows) == len(want) and set(names) == want
               and len(names) == len(set(names)),
               {"csv_rows": len(rows), "db_rows": len(want),
                "missing": len(want - set(names)), "extra": len(set(names) - want)})  # fmt: skip
    checks.add(f"{who}: manifest hash = MD5 of the CSV = its ETag",
               md5 == token and etag_of(reply) == token,
               {"manifest": token, "md5": md5, "etag": etag_of(reply)})  # fmt: skip
    checks.add(f"{who}: overdue rows come first and match the database",
               sum(overdue_csv) == overdue_db and overdue_csv == sorted(overdue_csv, reverse=True),
               {"csv_overdue": sum(overdue_csv), "db_overdue": overdue_db})  # fmt: skip
    checks.add(f"{who}: labels are pseudonymous codes",
               all(re.fullmatch(r"HH-[0-9A-Z]{5}", r["label"]) for r in rows))  # fmt: skip
    series["csv_bytes"] = len(reply.body)
    series["csv_rows"] = len(rows)
    series["csv_columns"] = list(rows[0].keys()) if rows else []

    def download() -> float:
        got = phone.case_list()
        if got.status != 200 or hashlib.md5(got.body, usedforsecurity=False).hexdigest() != token:
            bad.append(f"csv {got.status} {len(got.body)} bytes")
        return got.ms

    bad = []
    series["csv"] = stats(repeat(args, download))
    checks.add(f"{who}: every CSV download is 200 and the same file", not bad, bad[:3])

    def revalidate() -> float:
        got = phone.case_list(token)
        if got.status != 304 or got.body or etag_of(got) != token:
            bad.append(f"{got.status} body={len(got.body)} etag={etag_of(got)}")
        return got.ms

    bad = []
    series["not_modified_304"] = stats(repeat(args, revalidate))
    checks.add(f"{who}: If-None-Match with the manifest hash: 304, no body, same ETag",
               not bad, bad[:3])  # fmt: skip
    return series, token


def _as_date(value: Any) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value


def measure_changes(
    worker: Phone,
    coord: Phone,
    direct: Direct,
    loaded: Loaded,
    hashes: dict[str, str],
    args: argparse.Namespace,
    checks: Checks,
) -> dict[str, Any]:
    """Cold manifests and cold downloads (after a visible change), and the hash rules."""
    series: dict[str, Any] = {}
    visible = list(loaded.samples["target_open"])
    random.Random(args.seed + 1).shuffle(visible)
    cold_manifest, cold_csv, problems = [], [], []
    token = hashes["worker"]
    for i in range(min(args.cold, len(visible) // 2)):
        direct.touch(visible[2 * i])
        reply, new = worker.manifest()
        cold_manifest.append(reply.ms)
        if reply.status != 200 or new is None or new == token:
            problems.append(f"manifest after a visible change: {reply.status} {new}")
        got = worker.case_list(new)
        if got.status != 304:
            problems.append(f"304 after the cold manifest: {got.status}")
        token = new or token
        # a phone that asks for the file without the manifest (or another server process)
        direct.touch(visible[2 * i + 1])
        got = worker.case_list()
        cold_csv.append(got.ms)
        md5 = hashlib.md5(got.body, usedforsecurity=False).hexdigest()
        _reply, listed = worker.manifest()
        if got.status != 200 or md5 == token or etag_of(got) != md5 or listed != md5:
            problems.append(f"cold download: {got.status} md5={md5} etag={etag_of(got)} "
                            f"manifest={listed}")  # fmt: skip
        token = listed or token
    series["manifest_cold"] = stats(cold_manifest)
    series["csv_cold"] = stats(cold_csv)
    checks.add("worker: a visible change gives a new hash, the new file's MD5, at once",
               not problems, problems[:3])  # fmt: skip

    # the hash rules, one change at a time
    people = loaded.people
    coord_token = coord.manifest()[1]

    def after(change: Callable[[], None]) -> tuple[str | None, str | None]:
        change()
        return worker.manifest()[1], coord.manifest()[1]

    samples = loaded.samples
    w, c = after(lambda: direct.touch(samples["other_region"][0]))
    checks.add("a case of another region changes: neither hash changes",
               w == token and c == coord_token,
               {"worker": [token, w], "coord": [coord_token, c]})  # fmt: skip
    if samples["stray"]:
        w, c = after(lambda: direct.touch(samples["stray"][0]))
        checks.add("the worker's own case lying in another region changes: no hash changes",
                   w == token and c == coord_token, {"worker": [token, w]})  # fmt: skip
    if samples["colleague"]:
        w, c = after(lambda: direct.touch(samples["colleague"][0]))
        checks.add("a colleague's case in the region changes: worker same, coordinator new",
                   w == token and c not in (None, coord_token),
                   {"worker": [token, w], "coord": [coord_token, c]})  # fmt: skip
        coord_token = c or coord_token
    stale = worker.case_list(hashes["worker"])
    checks.add("If-None-Match with an old hash: 200 and the file",
               stale.status == 200 and bool(stale.body), stale.status)  # fmt: skip
    closing = visible[-1]
    w, c = after(lambda: direct.touch(closing, close=True))
    got = worker.case_list()
    rows = csv_rows(got.body)
    expected = direct.visible(loaded.case_list_id, people.regions[0], people.target)
    closed_uuid = direct.rows("SELECT uuid FROM cases WHERE id = ?", (closing,))[0][0]
    checks.add("a visible case is closed: new hashes, one row fewer, the case gone",
               w != token and c != coord_token and len(rows) == len(expected)
               and closed_uuid not in {r["name"] for r in rows}
               and hashlib.md5(got.body, usedforsecurity=False).hexdigest() == w,
               {"rows": len(rows), "db_rows": len(expected)})  # fmt: skip
    return series


def measure_floors(
    direct: Direct, loaded: Loaded, args: argparse.Namespace, today: date
) -> dict[str, Any]:
    people = loaded.people
    series: dict[str, Any] = {}
    for who, worker in (("worker", people.target), ("coordinator", None)):

        def select_only(worker: int | None = worker) -> float:
            started = time.perf_counter()
            direct.visible(loaded.case_list_id, people.regions[0], worker)
            return (time.perf_counter() - started) * 1000

        def select_csv(worker: int | None = worker) -> float:
            started = time.perf_counter()
            csv_floor(direct.visible(loaded.case_list_id, people.regions[0], worker), today)
            return (time.perf_counter() - started) * 1000

        series[f"{who}_select"] = stats(repeat(args, select_only))
        series[f"{who}_select_csv"] = stats(repeat(args, select_csv))
    return series


def run_backend(backend: str, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    from fieldapp.app import create_app  # noqa: PLC0415
    from fieldapp.db import db  # noqa: PLC0415

    workdir = tmp / backend
    data_dir = common.make_data_dir(workdir)
    checks = Checks()
    result: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        database_url, schema = stack.enter_context(
            common.database(backend, data_dir, args.postgres_url, "bench_caselist_")
        )
        if schema is not None:
            result["schema"] = schema
        app = create_app(
            {"DATA_DIR": str(data_dir), "DATABASE_URL": database_url, "ODK_VALIDATE": "never"}
        )
        stack.callback(lambda: db.engine.dispose() if db.engine is not None else None)
        print(f"{backend}: preparing the instance and loading {args.cases} cases ...", flush=True)
        loaded = prepare(app, args)
        people = loaded.people
        print(f"  prepared in {loaded.prepare_s:.1f} s, loaded in {loaded.load_s:.1f} s "
              f"({loaded.cases} cases, {loaded.case_versions} versions)", flush=True)  # fmt: skip
        result["load"] = {
            "prepare_s": round(loaded.prepare_s, 2),
            "load_s": round(loaded.load_s, 2),
            "cases": loaded.cases,
            "case_versions": loaded.case_versions,
            "cases_per_s": round(loaded.cases / loaded.load_s),
        }
        direct = Direct(backend, database_url, data_dir)
        stack.callback(direct.close)
        today = datetime.now(UTC).date()
        result["dataset"] = {
            "worker_visible_cases": len(
                direct.visible(loaded.case_list_id, people.regions[0], people.target)
            ),
            "coordinator_visible_cases": len(
                direct.visible(loaded.case_list_id, people.regions[0], None)
            ),
            "worker_assigned_any_region_or_status": direct.rows(
                "SELECT count(*) FROM cases WHERE assigned_to_id = ?", (people.target,)
            )[0][0],
        }

        env = {
            **os.environ,
            "FIELDAPP_DATA_DIR": str(data_dir),
            "FIELDAPP_DATABASE_URL": database_url,
            "FIELDAPP_ODK_VALIDATE": "never",
            "PYTHONUNBUFFERED": "1",
        }
        server = stack.enter_context(
            common.gunicorn("fieldapp:create_app()", env, workdir, args.gunicorn_options)
        )
        common.wait_ready(server, f"/collect/key/{people.target_token}/submission")
        worker = Phone(server.port, people.target_token)
        coord = Phone(server.port, people.coordinator_token)
        browser = Phone(server.port, None)
        stack.callback(worker.close)
        stack.callback(coord.close)
        stack.callback(browser.close)

        print(f"{backend}: measuring ...", flush=True)
        try:
            result.update(measure(args, checks, loaded, direct, (worker, coord, browser), today))
        except (RuntimeError, AssertionError, OSError, http.client.HTTPException) as exc:
            tail = server.log_tail(60)
            raise RuntimeError(f"{type(exc).__name__}: {exc}\n{tail}") from exc
        result["reconnects"] = worker.reconnects + coord.reconnects + browser.reconnects
        if not checks.ok:
            result["server_log_tail"] = server.log_tail(60).splitlines()
        with contextlib.suppress(OSError):
            result["loadavg_after"] = os.getloadavg()
        print(f"  checks: {sum(c['ok'] for c in checks.items)}/{len(checks.items)} ok",
              flush=True)  # fmt: skip
    return result


def measure(
    args: argparse.Namespace,
    checks: Checks,
    loaded: Loaded,
    direct: Direct,
    phones: tuple[Phone, Phone, Phone],
    today: date,
) -> dict[str, Any]:
    """Every series of one backend, and the checks made along the way."""
    worker, coord, browser = phones
    people = loaded.people
    expected_worker = direct.visible(loaded.case_list_id, people.regions[0], people.target)
    expected_coord = direct.visible(loaded.case_list_id, people.regions[0], None)
    series: dict[str, Any] = {}
    bad: list[int] = []

    def login() -> float:
        reply = browser.get("/login")
        if reply.status != 200:
            bad.append(reply.status)
        return reply.ms

    series["login"] = stats(repeat(args, login))
    checks.add("GET /login answers 200", not bad, bad[:3])
    hashes: dict[str, str] = {}
    series["worker"], hashes["worker"] = measure_actor(
        "worker", worker, expected_worker, args, checks, today
    )
    series["coordinator"], hashes["coordinator"] = measure_actor(
        "coordinator", coord, expected_coord, args, checks, today
    )
    checks.add("worker and coordinator files differ",
               hashes["worker"] != hashes["coordinator"])  # fmt: skip
    series["floor"] = measure_floors(direct, loaded, args, today)
    series["worker"].update(measure_changes(worker, coord, direct, loaded, hashes, args, checks))
    return {"series": series, "ratios": ratios(series), "checks": checks.items, "ok": checks.ok}


def ratios(series: dict[str, Any]) -> dict[str, float | None]:
    def ratio(a: dict[str, Any], b: dict[str, Any]) -> float | None:
        top, bottom = a.get("p50"), b.get("p50")
        return round(top / bottom, 2) if top is not None and bottom else None

    floor = series["floor"]
    out: dict[str, float | None] = {}
    for who in ("worker", "coordinator"):
        s = series[who]
        out[f"{who}.csv_over_select"] = ratio(s["csv"], floor[f"{who}_select"])
        out[f"{who}.csv_over_select_csv"] = ratio(s["csv"], floor[f"{who}_select_csv"])
        out[f"{who}.304_over_csv"] = ratio(s["not_modified_304"], s["csv"])
        out[f"{who}.304_over_login"] = ratio(s["not_modified_304"], series["login"])
        out[f"{who}.manifest_warm_over_login"] = ratio(s["manifest_warm"], series["login"])
    out["worker.csv_cold_over_csv"] = ratio(series["worker"]["csv_cold"], series["worker"]["csv"])
    out["worker.manifest_cold_over_warm"] = ratio(
        series["worker"]["manifest_cold"], series["worker"]["manifest_warm"]
    )
    return out


# -- facts and report --------------------------------------------------------------------------


def machine_facts(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    import sqlalchemy  # noqa: PLC0415

    specific = {
        "sqlalchemy": sqlalchemy.__version__,
        "sqlite": sqlite3.sqlite_version,
        "client": "http.client, one keep-alive connection per phone, requests in sequence",
        "temp_dir_filesystem": common.filesystem(tmp),
        "repeat": args.repeat,
        "cold_repeat": args.cold,
        "series_seconds_bound": args.series_seconds,
        "seed": args.seed,
        "dataset": {
            "cases": args.cases,
            "regions": args.regions,
            "field_workers": args.workers,
            "target_cases": args.target_cases,
            "stray_cases_of_target_in_other_regions": STRAY_CASES,
            "status_mix": "95% open, 4% closed, 1% merged",
            "next_due": "today-30 .. today+90 days (about 25% overdue), 2% none",
            "versions": "60% v1, 25% v2, 15% v3 (a case_versions row each)",
            "unassigned": "2% of the other workers' cases",
        },
    }
    return common.machine_facts(
        args.gunicorn_options,
        specific,
        args.postgres_url if "postgres" in args.backends else None,
        ("server_version", "shared_buffers", "work_mem", "synchronous_commit"),
    )


TABLE = (
    ("GET /login (framework floor)", ("login",)),
    ("worker manifest, first", ("worker", "manifest_first_ms")),
    ("worker manifest, cold", ("worker", "manifest_cold")),
    ("worker manifest, warm", ("worker", "manifest_warm")),
    ("worker CSV", ("worker", "csv")),
    ("worker CSV, cold (no manifest)", ("worker", "csv_cold")),
    ("worker 304", ("worker", "not_modified_304")),
    ("worker SELECT (floor)", ("floor", "worker_select")),
    ("worker SELECT+CSV in Python", ("floor", "worker_select_csv")),
    ("coordinator manifest, first", ("coordinator", "manifest_first_ms")),
    ("coordinator manifest, warm", ("coordinator", "manifest_warm")),
    ("coordinator CSV", ("coordinator", "csv")),
    ("coordinator 304", ("coordinator", "not_modified_304")),
    ("coordinator SELECT (floor)", ("floor", "coordinator_select")),
    ("coordinator SELECT+CSV in Python", ("floor", "coordinator_select_csv")),
)


def print_table(report: dict[str, Any]) -> None:
    backends = {name: r for name, r in report["backends"].items() if "series" in r}
    if not backends:
        return
    print()
    header = f"{'ms (p50 / p95)':<34}" + "".join(f"{b:>20}" for b in backends)
    print(header)
    for title, keys in TABLE:
        cells = []
        for result in backends.values():
            value: Any = result["series"]
            for key in keys:
                value = value.get(key, {}) if isinstance(value, dict) else None
            if isinstance(value, dict) and value.get("p50") is not None:
                cells.append(f"{value['p50']:>9.1f} / {value['p95']:<8.1f}")
            elif isinstance(value, (int, float)):
                cells.append(f"{value:>9.1f}{'':11}")
            else:
                cells.append(f"{'-':>20}")
        print(f"{title:<34}" + "".join(f"{c:>20}" for c in cells))
    for who in ("worker", "coordinator"):
        cells = [
            f"{r['series'][who]['csv_rows']} rows, {r['series'][who]['csv_bytes'] // 1024} KB"
            for r in backends.values()
        ]
        print(f"{who + ' CSV size':<34}" + "".join(f"{c:>20}" for c in cells))
    print()
    names = list(next(iter(backends.values()))["ratios"])
    for name in names:
        cells = [f"{r['ratios'].get(name) or '-'!s:>20}" for r in backends.values()]
        print(f"{name:<34}" + "".join(cells))
    for backend, result in backends.items():
        load = result["load"]
        checks = result["checks"]
        passed = sum(c["ok"] for c in checks)
        print(f"\n{backend}: load {load['cases']} cases + {load['case_versions']} versions in "
              f"{load['load_s']} s; checks {passed}/{len(checks)} ok")  # fmt: skip


# -- main --------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=100_000, help="cases in the households list")
    parser.add_argument("--regions", type=int, default=20)
    parser.add_argument("--workers", type=int, default=200, help="field workers, target included")
    parser.add_argument("--target-cases", type=int, default=2000, help="the target's cases")
    parser.add_argument("--repeat", type=int, default=40, help="requests per measured series")
    parser.add_argument("--cold", type=int, default=8, help="cold manifests and cold downloads")
    parser.add_argument(
        "--series-seconds", type=float, default=60.0, help="a series stops after this (a bound)"
    )
    parser.add_argument("--gunicorn-workers", type=int, default=GUNICORN_OPTIONS["workers"])
    parser.add_argument("--seed", type=int, default=20261121)
    parser.add_argument("--backends", default=",".join(BACKENDS))
    common.add_postgres_url(parser)
    args = parser.parse_args(argv)
    args.backends = common.comma_list(args.backends)
    if set(args.backends) - set(BACKENDS) or not args.backends:
        parser.error(f"backends are {', '.join(BACKENDS)}")
    if args.regions < 2 or args.workers < args.regions:
        parser.error("at least 2 regions, and at least as many workers as regions")
    if args.cases < args.target_cases + STRAY_CASES + 100 or args.target_cases < 20:
        parser.error("--cases must exceed --target-cases by 120 or more; --target-cases >= 20")
    if not 1 <= args.repeat <= 10_000 or not 1 <= args.cold <= 1000 or args.cases > 10**7:
        parser.error("--repeat 1..10000, --cold 1..1000, --cases up to 10 million")
    args.gunicorn_options = {**GUNICORN_OPTIONS, "workers": args.gunicorn_workers}
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    common.raise_on_sigterm()
    started_at = common.utc_now()
    with common.temp_root("caselist") as tmp:
        report: dict[str, Any] = {
            "benchmark": "caselist",
            "started_at": started_at,
            "machine": machine_facts(args, tmp),
            "backends": {},
        }
        try:
            for backend in args.backends:
                try:
                    report["backends"][backend] = run_backend(backend, args, tmp)
                except RuntimeError as exc:
                    print(f"ERROR: {backend}: {exc}", flush=True)
                    report["backends"][backend] = {"ok": False, "error": str(exc).splitlines()}
        except KeyboardInterrupt:
            print("\ninterrupted: stopped the server, removed the temporary files and schema")
            return 130
    report["finished_at"] = common.utc_now()
    report["ok"] = all(result["ok"] for result in report["backends"].values())
    path = common.write_report("caselist", report)
    print_table(report)
    print(f"\nresults: {path.relative_to(ROOT)} (and caselist-latest.json)")
    for backend, result in report["backends"].items():
        for item in result.get("checks", []):
            if not item["ok"]:
                print(f"ERROR: {backend}: {item['check']}: {item['detail']}")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
