"""Review benchmark: the coordinators' queue and the submission page over a million submissions.

On PostgreSQL (its own database, ``bench_review`` by default, dropped and made again each run)
this makes a fresh instance (migrations, the four programme forms, regions, field workers, a
coordinator of two regions), receives the JavaRosa-filled submissions of ``tests/data`` through
``receive_submission`` as templates, and clones them with ``INSERT ... SELECT`` from
``generate_series`` into the wanted number of submissions (each with its version, its XML and
answers copied from a template, its expected attachments and its review history). It measures
server time per page through the real Flask app in this process (Flask's test client, a
logged-in coordinator, ``perf_counter`` around each request: routing, login, queries, template,
audit commit; no network and no HTTP server, which are the same at any size): the queue's first
page, one page per filter kind, deep keyset pages, the page of "all states", and submission
pages. It measures first at the baseline size (10 000), then grows the same database to the full
size (1 000 000) with the same distributions and measures the same pages again: the ratios show
whether a page grows with the table. Pages are checked against direct SQL while measuring (rows
and their order, the counts per state).

Results: ``bench/results/review-<UTC timestamp>.json`` and ``bench/results/review-latest.json``.
See ``bench/README.md``.

    .venv/bin/python bench/review/run.py [--submissions 1000000] [--baseline 10000]
        [--repeat 30] [--postgres-url postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import secrets
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import common
from common import ROOT, percentile

FORMS = ("family_registration", "home_visit", "school_checkin", "wellbeing_screening")
TEMPLATES = ROOT / "tests" / "data" / "submissions"
DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
#: never dropped: CI's database
PROTECTED = frozenset({"test", "postgres", "template0", "template1"})
PASSWORD = secrets.token_urlsafe(18)
#: the period the submissions arrived over, and the "recent" part where review happens
SPAN_DAYS = 730
RECENT_DAYS = 30
URGENT_SHARE = 0.05
#: review states of submissions older than RECENT_DAYS, and of recent ones (cumulative)
OLD_STATES = (("approved", 0.92), ("rejected", 0.97), ("has_issues", 0.985), ("edited", 0.99))
NEW_STATES = (("received", 0.40), ("edited", 0.45), ("has_issues", 0.55), ("rejected", 0.60))
#: the target of issue 5, per page
TARGET_P95_MS = 50.0
#: the page kind of the framework floor
FLOOR = "floor.home"


# -- statistics --------------------------------------------------------------------------------


def stats(samples: list[float]) -> dict[str, Any]:
    ordered = sorted(samples)

    def r(value: float | None) -> float | None:
        return None if value is None else round(value, 2)

    return {
        "n": len(ordered),
        "p50": r(percentile(ordered, 50)),
        "p95": r(percentile(ordered, 95)),
        "max": r(ordered[-1] if ordered else None),
        "mean": r(sum(ordered) / len(ordered) if ordered else None),
    }


# -- the database ------------------------------------------------------------------------------


def database_url(admin_url: str, name: str) -> str:
    """The SQLAlchemy URL of database ``name`` on the server of ``admin_url``."""
    parts = urlsplit(common.plain_url(admin_url))
    url = urlunsplit(parts._replace(path=f"/{name}"))
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


@contextlib.contextmanager
def fresh_database(admin_url: str, name: str, keep: bool) -> Any:
    """Drop and create database ``name`` (never CI's ``test``); drop it afterwards unless
    ``keep``. Yields its SQLAlchemy URL."""
    import psycopg  # noqa: PLC0415

    if name in PROTECTED or not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
        raise SystemExit(f"refusing to drop and create database {name!r}")
    common.check_loopback(admin_url)
    with psycopg.connect(common.plain_url(admin_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield database_url(admin_url, name)
    finally:
        if not keep:
            with psycopg.connect(common.plain_url(admin_url), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class World:
    """Who and what the loaded instance holds (database ids)."""

    regions: list[int]
    #: field workers per region index, in id order
    workers: list[list[int]]
    worker_names: dict[int, str]
    coordinator: int
    #: the coordinator's regions (the first two)
    coordinator_regions: list[int]
    templates: int = 0
    loaded: int = 0
    timings: dict[str, float] = field(default_factory=dict)


def prepare(app: Any, args: argparse.Namespace) -> World:
    """Migrate, publish the programme forms, make regions and people, receive the templates."""
    from sqlalchemy import func, insert, select  # noqa: PLC0415

    from fieldapp import migrate  # noqa: PLC0415
    from fieldapp.auth import services as auth  # noqa: PLC0415
    from fieldapp.auth.models import Role, User, user_regions  # noqa: PLC0415
    from fieldapp.db import db, utcnow  # noqa: PLC0415
    from fieldapp.forms import services as forms  # noqa: PLC0415
    from fieldapp.submissions.services import Upload, receive_submission  # noqa: PLC0415

    with app.app_context():
        assert db.engine is not None
        migrate.upgrade(db.engine)
        store = app.extensions["fieldapp.blobs"]
        for name in FORMS:
            path = ROOT / "forms" / f"{name}.xlsx"
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
        coordinator = auth.create_user(
            "coord",
            role=Role.COORDINATOR.value,
            password=PASSWORD,
            actor=None,
            regions=regions[:2],
            display_name="Coordinator of regions 00 and 01",
        )
        first = auth.create_user(
            "worker-00-00",
            role=Role.FIELD_WORKER.value,
            password=PASSWORD,
            actor=None,
            regions=[regions[0]],
            display_name="Worker 00-00",
        )
        db.session.flush()
        per_region = args.workers // args.regions
        workers: list[list[int]] = [[] for _ in regions]
        names: dict[int, str] = {first.id: first.username}
        workers[0].append(first.id)
        now = utcnow()
        user_rows, link_rows = [], []
        next_id = (db.session.scalar(select(func.max(User.id))) or 0) + 1
        for r, region in enumerate(regions):
            for j in range(per_region):
                if r == 0 and j == 0:
                    continue
                username = f"worker-{r:02d}-{j:02d}"
                user_rows.append(
                    {
                        "id": next_id,
                        "username": username,
                        "display_name": f"Worker {r:02d}-{j:02d}",
                        "role": Role.FIELD_WORKER.value,
                        "password_hash": first.password_hash,
                        "active": True,
                        "failed_logins": 0,
                        "session_nonce": secrets.token_hex(8),
                        "created_at": now,
                    }
                )
                link_rows.append({"user_id": next_id, "region_id": region.id})
                workers[r].append(next_id)
                names[next_id] = username
                next_id += 1
        db.session.execute(insert(User), user_rows)
        db.session.execute(insert(user_regions), link_rows)
        db.session.commit()
        db.session.execute(
            _sql("SELECT setval(pg_get_serial_sequence('users', 'id'), max(id)) FROM users")
        )
        # the templates: every JavaRosa-filled submission of the programme forms, received
        # as a phone sends it (entity blocks become case work, files are stored)
        templates = 0
        for form_id in FORMS:
            for case in sorted((TEMPLATES / form_id).iterdir()):
                xml_path = case / "submission.xml"
                if not xml_path.is_file() or case.name.startswith("edit_"):
                    continue
                uploads = [
                    Upload(p.name, p.read_bytes(), "image/jpeg" if p.suffix == ".jpg" else None)
                    for p in sorted(case.iterdir())
                    if p.name not in ("submission.xml", "fill-result.json")
                ]
                receive_submission(
                    xml=xml_path.read_bytes(), uploads=uploads, actor=first, store=store
                )
                templates += 1
        db.session.commit()
        world = World(
            regions=[r.id for r in regions],
            workers=workers,
            worker_names=names,
            coordinator=coordinator.id,
            coordinator_regions=[regions[0].id, regions[1].id],
            templates=templates,
            loaded=templates,
        )
        db.session.remove()
    return world


def _sql(text: str) -> Any:
    from sqlalchemy import text as sql_text  # noqa: PLC0415

    return sql_text(text)


#: Clones rows ``lo..hi`` of the generated submissions. Every random draw comes from the row
#: number through ``hashtext`` (deterministic, the same at any size), so that growing the data
#: from the baseline to the full size keeps the distributions.
LOAD_SQL = """
CREATE TEMPORARY TABLE IF NOT EXISTS tpl AS
SELECT row_number() OVER (ORDER BY s.id) - 1 AS k, s.form_pk, v.form_version_id, s.instance_id,
       v.xml, v.data, v.instance_name, v.id AS version_id
FROM submissions s JOIN submission_versions v ON v.id = s.current_version_id
WHERE s.id <= :templates;

CREATE TEMPORARY TABLE gen AS
SELECT g,
       'uuid:' || md5('bench-review-' || g)::uuid AS iid,
       (abs(hashtext('r' || g)) % 1000000) / 1000000.0 AS r_region,
       (abs(hashtext('w' || g)) % 1000000) / 1000000.0 AS r_worker,
       (abs(hashtext('t' || g)) % 1000000) / 1000000.0 AS r_template,
       (abs(hashtext('a' || g)) % 1000000) / 1000000.0 AS r_age,
       (abs(hashtext('s' || g)) % 1000000) / 1000000.0 AS r_state,
       (abs(hashtext('u' || g)) % 1000000) / 1000000.0 AS r_urgent
FROM generate_series(:lo::int, :hi::int) AS g;

CREATE TEMPORARY TABLE rows AS
SELECT gen.g, gen.iid, tpl.k, tpl.form_pk, tpl.form_version_id, tpl.version_id AS tpl_version,
       tpl.instance_id AS tpl_iid, tpl.instance_name AS tpl_name,
       region.id AS region_id, worker.id AS worker_id,
       :now - make_interval(secs => gen.r_age * :span_days * 86400) AS at,
       CASE WHEN gen.r_age * :span_days < :recent_days THEN
            CASE WHEN gen.r_state < 0.40 THEN 'received' WHEN gen.r_state < 0.45 THEN 'edited'
                 WHEN gen.r_state < 0.55 THEN 'has_issues' WHEN gen.r_state < 0.60 THEN 'rejected'
                 ELSE 'approved' END
       ELSE
            CASE WHEN gen.r_state < 0.92 THEN 'approved' WHEN gen.r_state < 0.97 THEN 'rejected'
                 WHEN gen.r_state < 0.985 THEN 'has_issues' WHEN gen.r_state < 0.99 THEN 'edited'
                 ELSE 'received' END
       END AS state,
       gen.r_urgent < :urgent_share AS urgent
FROM gen
JOIN tpl ON tpl.k = floor(gen.r_template * :templates::int)::int
JOIN bench_regions region ON region.idx = floor(gen.r_region * :regions::int)::int
JOIN bench_workers worker ON worker.region_idx = region.idx
     AND worker.j = floor(gen.r_worker * :per_region::int)::int;

SET LOCAL session_replication_role = replica;

INSERT INTO submissions (id, form_pk, instance_id, region_id, submitted_by_id, review_state,
                         urgent, current_version_id, received_at, updated_at)
SELECT :id_offset + g, form_pk, iid, region_id, worker_id, state, urgent,
       :id_offset + g, at, at + interval '1 hour' * (state <> 'received')::int
FROM rows;

INSERT INTO submission_versions (id, submission_id, form_pk, form_version_id, instance_id,
                                 instance_name, xml, xml_sha256, encrypted, data, user_agent,
                                 submitter_id, received_at)
SELECT :id_offset + r.g, :id_offset + r.g, r.form_pk, r.form_version_id, r.iid,
       left(coalesce(r.tpl_name, 'Submission') || ' #' || r.g, 500),
       convert_to(replace(convert_from(v.xml, 'UTF8'), r.tpl_iid, r.iid), 'UTF8'),
       encode(sha256(convert_to(replace(convert_from(v.xml, 'UTF8'), r.tpl_iid, r.iid), 'UTF8')),
              'hex'),
       false, v.data, :user_agent, r.worker_id, r.at
FROM rows r JOIN submission_versions v ON v.id = r.tpl_version;

INSERT INTO submission_attachments (version_id, name, blob_sha256, content_type, received_at)
SELECT :id_offset + r.g, a.name, a.blob_sha256, a.content_type, r.at
FROM rows r JOIN submission_attachments a ON a.version_id = r.tpl_version;

INSERT INTO review_actions (submission_id, from_state, to_state, actor_id, note, take, at)
SELECT :id_offset + g, 'received',
       CASE WHEN state = 'edited' THEN 'has_issues' ELSE state END,
       :coordinator,
       CASE WHEN state = 'approved' THEN '' ELSE 'Please check the household size.' END,
       '{}'::jsonb, at + interval '1 day'
FROM rows WHERE state <> 'received';

DROP TABLE gen;
DROP TABLE rows;
"""

#: what the migration that made ``submission_state_counts`` does to fill it
RECOUNT_SQL = """
INSERT INTO submission_state_counts (region_id, form_pk, review_state, urgent, n)
SELECT region_id, form_pk, review_state, urgent, count(*) FROM submissions
WHERE deleted_at IS NULL AND review_state IN ('approved', 'rejected')
GROUP BY region_id, form_pk, review_state, urgent
"""

HELPERS_SQL = """
CREATE TEMPORARY TABLE bench_regions AS
SELECT row_number() OVER (ORDER BY id) - 1 AS idx, id FROM regions;
CREATE TEMPORARY TABLE bench_workers AS
SELECT r.idx AS region_idx, row_number() OVER (PARTITION BY r.idx ORDER BY u.id) - 1 AS j, u.id
FROM users u JOIN user_regions ur ON ur.user_id = u.id JOIN bench_regions r ON r.id = ur.region_id
WHERE u.role = 'field_worker';
"""


def load(database: str, world: World, args: argparse.Namespace, upto: int) -> float:
    """Generate submissions ``world.loaded + 1 .. upto`` (in batches); returns the seconds."""
    import psycopg  # noqa: PLC0415

    started = time.perf_counter()
    now = datetime.now(UTC).replace(microsecond=0)
    with psycopg.connect(common.plain_url(database), autocommit=False) as conn:
        conn.execute("SET synchronous_commit = off")
        for statement in _statements(HELPERS_SQL):
            conn.execute(statement)
        with conn.cursor() as cur:
            cur.execute("SELECT coalesce(max(id), 0) FROM submissions")
            row = cur.fetchone()
            assert row is not None
        # generated row g gets submission id (and version id) id_offset + g
        id_offset = max(int(row[0]), world.templates) + 1000
        id_offset = args.id_offset if args.id_offset else id_offset
        args.id_offset = id_offset
        lo = world.loaded - world.templates + 1
        last = upto - world.templates
        while lo <= last:
            hi = min(last, lo + args.batch - 1)
            params = {
                "templates": world.templates,
                "lo": lo,
                "hi": hi,
                "now": now,
                "span_days": SPAN_DAYS,
                "recent_days": RECENT_DAYS,
                "urgent_share": URGENT_SHARE,
                "regions": len(world.regions),
                "per_region": min(len(w) for w in world.workers),
                "id_offset": id_offset,
                "coordinator": world.coordinator,
                "user_agent": common.USER_AGENT,
            }
            for statement in _statements(LOAD_SQL):
                conn.execute(_psycopg_sql(statement), _used(statement, params))
            conn.commit()
            print(f"  {world.templates + hi} submissions", flush=True)
            lo = hi + 1
        for table in ("submissions", "submission_versions", "review_actions"):
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table}"
            )
        # the load ran with triggers off: the kept counts per settled state, counted again
        conn.execute("DELETE FROM submission_state_counts")
        conn.execute(RECOUNT_SQL)
        conn.execute(
            "SELECT setval(pg_get_serial_sequence('submission_attachments', 'id'), max(id)) "
            "FROM submission_attachments"
        )
        conn.commit()
        # what autovacuum does after a bulk load: statistics and the visibility map
        conn.autocommit = True
        for table in (
            "submissions",
            "submission_versions",
            "submission_attachments",
            "review_actions",
            "submission_state_counts",
        ):
            conn.execute(f"VACUUM (ANALYZE) {table}")
    world.loaded = upto
    return time.perf_counter() - started


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";\n") if s.strip()]


def _used(statement: str, params: dict[str, Any]) -> dict[str, Any]:
    """The named parameters one statement uses, in psycopg's ``%(name)s`` style."""
    return {k: v for k, v in params.items() if f":{k}" in statement}


def _psycopg_sql(statement: str) -> str:
    return re.sub(r"(?<![:\w]):([a-z_]+)", r"%(\1)s", statement.replace("%", "%%"))


# -- measuring through the Flask app ------------------------------------------------------------


class SqlClock:
    """Statements and their time, per request (SQLAlchemy cursor events on the app's engine)."""

    def __init__(self, engine: Any) -> None:
        from sqlalchemy import event  # noqa: PLC0415

        self.count = 0
        self.seconds = 0.0
        self._started: list[float] = []
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, *args: Any) -> None:
        self._started.append(time.perf_counter())

    def _after(self, *args: Any) -> None:
        self.count += 1
        self.seconds += time.perf_counter() - self._started.pop()

    def reset(self) -> None:
        self.count, self.seconds = 0, 0.0


class Desk:
    """A coordinator's browser: Flask's test client, logged in, timing each request."""

    def __init__(self, app: Any, username: str, clock: SqlClock) -> None:
        self.client = app.test_client()
        self.clock = clock
        page = self.client.get("/login")
        match = re.search(rb'name="csrf_token" value="([^"]+)"', page.data)
        assert match is not None, "no CSRF token on /login"
        reply = self.client.post(
            "/login",
            data={"username": username, "password": PASSWORD, "csrf_token": match.group(1)},
        )
        if reply.status_code != 302:
            raise RuntimeError(f"login as {username} answered {reply.status_code}")

    def get(self, url: str) -> tuple[int, bytes, float, float, int]:
        """``(status, body, ms, sql ms, statements)`` of one GET."""
        self.clock.reset()
        started = time.perf_counter()
        reply = self.client.get(url)
        body = reply.data
        ms = (time.perf_counter() - started) * 1000
        return reply.status_code, body, ms, self.clock.seconds * 1000, self.clock.count


def listed(html: bytes) -> list[str]:
    text = html.decode()
    return [unquote(m) for m in re.findall(r'class="row-link" href="/submissions/([^"]+)"', text)]


def shown_counts(html: bytes) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(r'data-state="(\w+)">(\d+)<', html.decode())}


def next_link(html: bytes) -> str | None:
    match = re.search(r'rel="next" href="([^"]+)"', html.decode())
    return match.group(1).replace("&amp;", "&") if match else None


@dataclass
class Checks:
    items: list[dict[str, Any]] = field(default_factory=list)

    def add(self, name: str, ok: bool, detail: Any = None) -> None:
        self.items.append({"check": name, "ok": bool(ok), "detail": None if ok else detail})

    @property
    def ok(self) -> bool:
        return all(item["ok"] for item in self.items)


class Expected:
    """What the queue should show, by direct SQL written apart from the app's query."""

    STATES = ("received", "has_issues", "edited", "approved", "rejected")

    def __init__(self, database: str, world: World) -> None:
        import psycopg  # noqa: PLC0415

        self.conn = psycopg.connect(common.plain_url(database), autocommit=True)
        self.world = world

    def close(self) -> None:
        self.conn.close()

    def _where(self, query: dict[str, str]) -> tuple[str, dict[str, Any]]:
        sql = ["s.region_id = ANY(%(regions)s)"]
        params: dict[str, Any] = {"regions": self.world.coordinator_regions}
        if query.get("form"):
            sql.append("f.form_id = %(form)s")
            params["form"] = query["form"]
        if query.get("worker"):
            sql.append("u.username = %(worker)s")
            params["worker"] = query["worker"]
        if query.get("from"):
            sql.append("s.received_at >= %(from)s::date::timestamp AT TIME ZONE 'UTC'")
            params["from"] = query["from"]
        if query.get("to"):
            sql.append("s.received_at < (%(to)s::date + 1)::timestamp AT TIME ZONE 'UTC'")
            params["to"] = query["to"]
        if query.get("urgent"):
            sql.append("s.urgent")
        return " AND ".join(sql), params

    def counts(self, query: dict[str, str]) -> dict[str, int]:
        where, params = self._where(query)
        rows = self.conn.execute(
            "SELECT s.review_state, count(*) FROM submissions s JOIN forms f ON f.id = s.form_pk "
            f"LEFT JOIN users u ON u.id = s.submitted_by_id WHERE {where} GROUP BY 1",
            params,
        ).fetchall()
        found = dict(rows)
        return {state: int(found.get(state, 0)) for state in self.STATES}

    def ordered(self, query: dict[str, str], offset: int, limit: int) -> list[Any]:
        """``(instance_id, urgent, received_at, id)`` of the queue's rows ``offset..``."""
        where, params = self._where(query)
        state = query.get("state", "")
        if not state:
            where += " AND s.review_state IN ('received', 'edited')"
        elif state != "all":
            where += " AND s.review_state = %(state)s"
            params["state"] = state
        params.update(offset=offset, limit=limit)
        return list(
            self.conn.execute(
                "SELECT s.instance_id, s.urgent, s.received_at, s.id FROM submissions s "
                "JOIN forms f ON f.id = s.form_pk LEFT JOIN users u ON u.id = s.submitted_by_id "
                f"WHERE {where} ORDER BY s.urgent DESC, s.received_at, s.id "
                "OFFSET %(offset)s LIMIT %(limit)s",
                params,
            ).fetchall()
        )

    def visible(self) -> int:
        row = self.conn.execute(
            "SELECT count(*) FROM submissions WHERE region_id = ANY(%s)",
            (self.world.coordinator_regions,),
        ).fetchone()
        return int(row[0]) if row else 0

    def total(self) -> int:
        row = self.conn.execute("SELECT count(*) FROM submissions").fetchone()
        return int(row[0]) if row else 0


@dataclass
class Page:
    """One page kind: its URL, and the query and offset its rows should have."""

    kind: str
    url: str
    query: dict[str, str]
    offset: int = 0
    instance_ids: list[str] = field(default_factory=list)  # submission pages: cycled through


def pages(world: World, expected: Expected, desk: Desk, checks: Checks) -> list[Page]:
    """The page kinds measured, with the deep pages' cursors found by walking the queue."""
    from fieldapp.submissions.services import encode_cursor  # noqa: PLC0415

    today = datetime.now(UTC).date()
    region0_worker = world.worker_names[world.workers[0][3]]
    queries: list[tuple[str, dict[str, str]]] = [
        ("queue.first", {}),
        ("queue.form", {"form": "home_visit"}),
        ("queue.worker", {"worker": region0_worker}),
        ("queue.state_has_issues", {"state": "has_issues"}),
        ("queue.state_approved", {"state": "approved"}),
        ("queue.state_all", {"state": "all"}),
        (
            "queue.dates_recent",
            {"from": (today - timedelta(days=14)).isoformat(), "to": today.isoformat()},
        ),
        (
            "queue.dates_old_all",
            {
                "from": (today - timedelta(days=214)).isoformat(),
                "to": (today - timedelta(days=200)).isoformat(),
                "state": "all",
            },
        ),
        ("queue.urgent", {"urgent": "1"}),
    ]
    out = [Page(kind, "/review?" + urlencode(q) if q else "/review", q) for kind, q in queries]
    # the framework floor: the home page (session, login, a template; no submission read)
    out.insert(0, Page(FLOOR, "/", {}))
    # deep keyset pages: page 40 of the default queue by following "Next" (the walk checks that
    # pages neither repeat nor skip rows), and the middle of "all states" by a cursor
    url: str | None = "/review"
    seen: list[str] = []
    pages_walked = 0
    while url is not None and pages_walked < 40:
        status, body, *_ = desk.get(url)
        if status != 200:
            raise RuntimeError(f"GET {url} answered {status}")
        seen += listed(body)
        pages_walked += 1
        url = next_link(body)
    walk = [r[0] for r in expected.ordered({}, 0, len(seen))]
    checks.add(
        "walking 40 pages of the default queue follows the order",
        seen == walk,
        {"walked": len(seen), "first_difference": _first_difference(seen, walk)},
    )
    if url is not None:
        out.append(
            Page(
                "queue.deep_40",
                url.split("?", 1)[0] + "?" + url.split("?", 1)[1],
                {},
                offset=len(seen),
            )
        )
    middle = max(0, expected.visible() // 2)
    rows = expected.ordered({"state": "all"}, middle - 1, 1)
    if rows:
        _, urgent, at, ident = rows[0]
        cursor = encode_cursor("1" if urgent else "0", at.astimezone(UTC).isoformat(), ident)
        out.append(
            Page(
                "queue.deep_all_middle",
                "/review?" + urlencode({"state": "all", "cursor": cursor}),
                {"state": "all"},
                offset=middle,
            )
        )
    # submission pages: what the coordinator opens from the first pages of the queue
    opened = [r[0] for r in expected.ordered({}, 0, 60)][::2]
    out.append(Page("submission", "", {}, instance_ids=opened))
    return out


def _first_difference(a: list[str], b: list[str]) -> int | None:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


def check_page(page: Page, body: bytes, expected: Expected, checks: Checks) -> None:
    """The rows and counts a queue page shows are those direct SQL finds."""
    if page.kind == FLOOR:
        return
    if page.kind == "submission":
        checks.add(f"{page.kind}: shows answers", b"<dl" in body or b"answers" in body.lower())
        return
    want = [r[0] for r in expected.ordered(page.query, page.offset, 50)]
    got = listed(body)
    checks.add(
        f"{page.kind}: rows and order",
        got == want,
        {"got": len(got), "want": len(want), "first_difference": _first_difference(got, want)},
    )
    counts = shown_counts(body)
    want_counts = expected.counts(page.query)
    checks.add(
        f"{page.kind}: counts per state",
        all(counts.get(s) == n for s, n in want_counts.items()),
        {"shown": counts, "want": want_counts},
    )


def measure(
    app: Any,
    world: World,
    expected: Expected,
    clock: SqlClock,
    args: argparse.Namespace,
    checks: Checks,
) -> dict[str, Any]:
    """Every page kind, ``args.repeat`` times, round-robin (noise falls on all kinds alike)."""
    desk = Desk(app, "coord", clock)
    kinds = pages(world, expected, desk, checks)
    samples: dict[str, list[float]] = {p.kind: [] for p in kinds}
    sql_ms: dict[str, list[float]] = {p.kind: [] for p in kinds}
    statements: dict[str, int] = {}
    rows_shown: dict[str, int] = {}
    for round_ in range(args.warmup + args.repeat):
        for page in kinds:
            url = page.url
            if page.kind == "submission":
                url = "/submissions/" + page.instance_ids[round_ % len(page.instance_ids)]
            status, body, ms, sql, count = desk.get(url)
            if status != 200:
                raise RuntimeError(f"GET {url} answered {status}")
            if round_ == 0:
                check_page(page, body, expected, checks)
                rows_shown[page.kind] = len(listed(body))
            if round_ >= args.warmup:
                samples[page.kind].append(ms)
                sql_ms[page.kind].append(sql)
                statements[page.kind] = count
    return {
        kind: {
            **stats(values),
            "sql_ms": stats(sql_ms[kind]),
            "statements": statements.get(kind),
            "rows_on_page": rows_shown.get(kind),
            "url": next(p.url for p in kinds if p.kind == kind) or "/submissions/<instance_id>",
        }
        for kind, values in samples.items()
    }


# -- the run -----------------------------------------------------------------------------------


def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    from fieldapp.app import create_app  # noqa: PLC0415
    from fieldapp.db import db  # noqa: PLC0415

    result: dict[str, Any] = {"sizes": {}}
    checks = Checks()
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(fresh_database(args.postgres_url, args.database, args.keep))
        data_dir = common.make_data_dir(tmp)
        app = create_app({"DATA_DIR": str(data_dir), "DATABASE_URL": url, "ODK_VALIDATE": "never"})
        stack.callback(lambda: db.engine.dispose() if db.engine is not None else None)
        started = time.perf_counter()
        world = prepare(app, args)
        result["prepare_s"] = round(time.perf_counter() - started, 1)
        print(f"prepared in {result['prepare_s']} s ({world.templates} templates)", flush=True)
        expected = Expected(url, world)
        stack.callback(expected.close)
        with app.app_context():
            assert db.engine is not None
            clock = SqlClock(db.engine)
        for size in (args.baseline, args.submissions):
            print(f"loading up to {size} submissions ...", flush=True)
            load_s = load(url, world, args, size)
            print(f"  loaded in {load_s:.1f} s; measuring ...", flush=True)
            with contextlib.suppress(OSError):
                loadavg = os.getloadavg()
            series = measure(app, world, expected, clock, args, checks)
            result["sizes"][str(size)] = {
                "submissions": expected.total(),
                "coordinator_visible": expected.visible(),
                "load_s": round(load_s, 1),
                "loadavg_before_measuring": loadavg,
                "pages": series,
            }
            print_size(size, result["sizes"][str(size)])
    base = result["sizes"][str(args.baseline)]["pages"]
    full = result["sizes"][str(args.submissions)]["pages"]
    result["ratios_full_over_baseline"] = {
        kind: {
            "p50": round(full[kind]["p50"] / base[kind]["p50"], 2) if base[kind]["p50"] else None,
            "p95": round(full[kind]["p95"] / base[kind]["p95"], 2) if base[kind]["p95"] else None,
        }
        for kind in full
        if kind in base
    }
    # the same ratio with each page's time over the floor's at its size first: the machine's
    # load may differ between the two sizes (other work on a shared machine)
    result["ratios_full_over_baseline_floor_normalised"] = {
        kind: {
            q: round(
                (full[kind][q] / full[FLOOR][q]) / (base[kind][q] / base[FLOOR][q]),
                2,
            )
            if base[kind][q] and full[FLOOR][q] and base[FLOOR][q]
            else None
            for q in ("p50", "p95")
        }
        for kind in full
        if kind in base and kind != FLOOR
    }
    # depth: keyset pages cost what the first page costs, however deep
    result["deep_over_first_at_full_size"] = {
        kind: round(full[kind]["p50"] / full["queue.first"]["p50"], 2)
        for kind in ("queue.deep_40", "queue.deep_all_middle")
        if kind in full and full["queue.first"]["p50"]
    }
    pages_only = {k: s for k, s in full.items() if k != FLOOR}
    result["target"] = {
        "p95_ms": TARGET_P95_MS,
        "met": all(s["p95"] is not None and s["p95"] <= TARGET_P95_MS for s in pages_only.values()),
        "over": sorted(k for k, s in pages_only.items() if (s["p95"] or 0) > TARGET_P95_MS),
    }
    result["checks"] = checks.items
    result["ok"] = checks.ok
    return result


def print_size(size: int, result: dict[str, Any]) -> None:
    print(
        f"\n{result['submissions']} submissions ({result['coordinator_visible']} in the "
        f"coordinator's regions):"
    )
    print(f"  {'page':<26}{'p50':>8}{'p95':>8}{'max':>8}{'sql p50':>9}{'stmts':>7}{'rows':>6}")
    for kind, s in result["pages"].items():
        print(
            f"  {kind:<26}{s['p50']:>8.1f}{s['p95']:>8.1f}{s['max']:>8.1f}"
            f"{s['sql_ms']['p50']:>9.1f}{s['statements'] or 0:>7}{s['rows_on_page'] or 0:>6}"
        )


def machine_facts(args: argparse.Namespace) -> dict[str, Any]:
    from importlib.metadata import version  # noqa: PLC0415

    import sqlalchemy  # noqa: PLC0415

    specific = {
        "sqlalchemy": sqlalchemy.__version__,
        "flask": version("flask"),
        "client": "Flask test client in the benchmark's process (server time, no network)",
        "repeat": args.repeat,
        "warmup": args.warmup,
        "dataset": {
            "submissions": args.submissions,
            "baseline": args.baseline,
            "regions": args.regions,
            "field_workers": args.workers,
            "forms": list(FORMS),
            "coordinator": "2 of the regions",
            "received_over_days": SPAN_DAYS,
            "states_older_than_30_days": "92% approved, 5% rejected, 1.5% has issues, "
            "0.5% edited, 1% received",
            "states_last_30_days": "40% received, 5% edited, 10% has issues, 5% rejected, "
            "40% approved",
            "urgent": f"{URGENT_SHARE:.0%}",
            "versions": "one per submission: XML and answers of a JavaRosa-filled template",
        },
    }
    facts = common.machine_facts(
        {},
        specific,
        args.postgres_url,
        (
            "server_version",
            "shared_buffers",
            "work_mem",
            "effective_cache_size",
            "random_page_cost",
            "synchronous_commit",
            "jit",
        ),
    )
    facts.pop("gunicorn", None)
    facts.pop("gunicorn_options", None)
    return facts


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--submissions", type=int, default=1_000_000)
    parser.add_argument("--baseline", type=int, default=10_000, help="the size measured first")
    parser.add_argument("--regions", type=int, default=20)
    parser.add_argument("--workers", type=int, default=400, help="field workers (all regions)")
    parser.add_argument("--repeat", type=int, default=30, help="requests per page kind")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured rounds first")
    parser.add_argument("--batch", type=int, default=250_000, help="rows per load statement")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("FIELDAPP_BENCH_POSTGRES_ADMIN_URL", DEFAULT_ADMIN_URL),
        help="a loopback PostgreSQL server's maintenance database (default %(default)s)",
    )
    parser.add_argument("--database", default="bench_review", help="dropped and made again")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args(argv)
    args.id_offset = 0
    if args.regions < 2 or args.workers < 4 * args.regions:
        parser.error("at least 2 regions, and at least 4 workers per region")
    if not 1_000 <= args.baseline < args.submissions <= 10**8:
        parser.error("1000 <= --baseline < --submissions <= 10**8")
    if not 1 <= args.repeat <= 10_000:
        parser.error("--repeat 1..10000")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    common.raise_on_sigterm()
    report: dict[str, Any] = {
        "benchmark": "review",
        "started_at": common.utc_now(),
        "machine": machine_facts(args),
    }
    with common.temp_root("review") as tmp:
        try:
            report.update(run(args, tmp))
        except KeyboardInterrupt:
            print("\ninterrupted: dropped the database, removed the temporary files")
            return 130
    report["finished_at"] = common.utc_now()
    with contextlib.suppress(OSError):
        report["machine"]["loadavg_after"] = os.getloadavg()
    path = common.write_report("review", report)
    print("\nfull size over baseline (p50, p95; then each over the floor first):")
    normalised = report["ratios_full_over_baseline_floor_normalised"]
    for kind, ratio in report["ratios_full_over_baseline"].items():
        again = normalised.get(kind, {})
        print(
            f"  {kind:<26}{ratio['p50']!s:>8}{ratio['p95']!s:>8}"
            f"{again.get('p50', '')!s:>10}{again.get('p95', '')!s:>8}"
        )
    target = report["target"]
    print(
        f"\ntarget p95 <= {TARGET_P95_MS:.0f} ms: {'met' if target['met'] else 'NOT met'}"
        + (f" (over: {', '.join(target['over'])})" if target["over"] else "")
    )
    print(f"results: {path.relative_to(ROOT)} (and review-latest.json)")
    for item in report["checks"]:
        if not item["ok"]:
            print(f"ERROR: {item['check']}: {item['detail']}")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
