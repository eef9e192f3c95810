"""Monday screens benchmark: each care screen's server time on the simulated year and at 10x.

Input: a database holding the simulated year at scale 1 (``fieldapp demo --scale 1`` for
SQLite in a data dir, ``fieldapp simulate --scale 1`` for PostgreSQL: about 900 cases and
16 000 submissions made through the real ingest and review, ~5 minutes each). The SQLite file
is copied into a temporary directory first; the PostgreSQL database is grown in place (clones
from an earlier run are deleted first, so a run can be repeated).

It measures the pages in this process through Flask's test client (a logged-in coordinator of
one region, ``coord1``, and the administrator across every region; ``perf_counter`` around each
request: routing, login, queries, template, audit commit; no network) — ``/care``, the four
screens and ``/review/dashboard`` (which carries the screens' counts) — first on the year as
made, then after growing it tenfold.

**10x by cloning in SQL** (generating ten years of ingest would take an hour): for k = 1..9,
``INSERT ... SELECT`` copies every region (code ``<code>~k``), user (``<username>~k``, with their
regions), case (id + k·10⁷, UUID with its first character replaced by a letter that is not a
hex digit, code ``<code>~k``), submission and submission version (ids + k·10⁷, instanceIDs
``<id>~k``, XML and answers copied as they are) and case work row (pointing at the cloned
submission, version and case) of the original year, in new regions with new workers: ~9 000
cases, ~160 000 submissions. Case versions, reviews, attachments, devices and audit rows are not
copied (no screen reads them); a clone's answers still name the original case's UUID (the
screens read a screening's safety answers by version id, never by the UUID in the answers).
The coordinator's region is the same size at both scales; the administrator's "all regions" is
ten times larger.

Results: ``bench/results/care-<UTC timestamp>.json``, ``care-latest.json`` and
``care-latest.md``. Target (issue 14): p95 ≤ 1 s per page at 10x.

    .venv/bin/python bench/care/run.py --sqlite-data-dir DIR [--postgres-url URL]
        [--repeat 15] [--no-grow]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import common
from common import percentile

PASSWORD = os.environ.get("FIELDAPP_DEMO_PASSWORD", "demo password 1")
#: ids of the k-th copy start at k times this (originals are below it)
ROW_OFFSET = 10_000_000
PEOPLE_OFFSET = 100_000
COPIES = 9
TARGET_P95_MS = 1000.0
PAGES = (
    "/care",
    "/care/overdue",
    "/care/screenings",
    "/care/school",
    "/care/urgent",
    "/review/dashboard",
)
#: the tables cloned, parents first (deleted in the reverse order)
TABLES = ("regions", "users", "user_regions", "cases", "submissions", "submission_versions",
          "case_work")  # fmt: skip


def _q(name: str) -> str:
    return f'"{name}"'


def _overrides(table: str) -> dict[str, str]:
    """Column -> SQL expression of the k-th copy (parameters :off, :poff, :suffix, :letter)."""
    if table == "regions":
        return {"id": "id + :poff", "code": "code || :suffix", "name": "name || :suffix"}
    if table == "users":
        return {"id": "id + :poff", "username": "username || :suffix"}
    if table == "user_regions":
        return {"user_id": "user_id + :poff", "region_id": "region_id + :poff"}
    if table == "cases":
        return {
            "id": "id + :off",
            "uuid": ":letter || substr(uuid, 2)",
            "code": "code || :suffix",
            "region_id": "region_id + :poff",
            "assigned_to_id": "assigned_to_id + :poff",
            "merged_into_id": "merged_into_id + :off",
        }
    if table == "submissions":
        return {
            "id": "id + :off",
            "instance_id": "instance_id || :suffix",
            "region_id": "region_id + :poff",
            "submitted_by_id": "submitted_by_id + :poff",
            "deleted_by_id": "deleted_by_id + :poff",
            "current_version_id": "NULL",
        }
    if table == "submission_versions":
        return {
            "id": "id + :off",
            "submission_id": "submission_id + :off",
            "instance_id": "instance_id || :suffix",
            "deprecated_id": "deprecated_id || :suffix",
            "device_pk": "NULL",
            "submitter_id": "submitter_id + :poff",
        }
    if table == "case_work":
        return {
            "id": "id + :off",
            "submission_id": "submission_id + :off",
            "version_id": "version_id + :off",
            "case_uuid": ":letter || substr(case_uuid, 2)",
            "approved_by_id": "approved_by_id + :poff",
            "case_version_id": "NULL",
        }
    raise KeyError(table)


def _originals(table: str) -> str:
    if table in ("regions", "users"):
        return f"id < {PEOPLE_OFFSET}"
    if table == "user_regions":
        return f"user_id < {PEOPLE_OFFSET}"
    return f"id < {ROW_OFFSET}"


def shrink(engine: Any) -> None:
    """Delete the clones of an earlier run (back to the year as simulated)."""
    from sqlalchemy import text  # noqa: PLC0415

    with engine.begin() as conn:
        conn.execute(text("UPDATE submissions SET current_version_id = NULL WHERE id >= :o"),
                     {"o": ROW_OFFSET})  # fmt: skip
        # each deleted version looks up the submissions pointing at it (ON DELETE SET NULL):
        # without an index on that column, one scan of all submissions per version
        conn.execute(text("CREATE INDEX bench_care_current_version ON submissions"
                          " (current_version_id)"))  # fmt: skip
        for table in reversed(TABLES):
            conn.execute(text(f"DELETE FROM {_q(table)} WHERE NOT ({_originals(table)})"))
        conn.execute(text("DROP INDEX bench_care_current_version"))


def grow(engine: Any) -> dict[str, Any]:
    """Add :data:`COPIES` clones of the year; row counts after."""
    from sqlalchemy import text  # noqa: PLC0415

    from fieldapp.db import Base  # noqa: PLC0415

    began = time.perf_counter()
    with engine.begin() as conn:
        for k in range(1, COPIES + 1):
            params = {
                "off": k * ROW_OFFSET,
                "poff": k * PEOPLE_OFFSET,
                "suffix": f"~{k}",
                "letter": "ghijklmnopqrstuvwxyz"[k],
            }
            for table in TABLES:
                columns = [c.name for c in Base.metadata.tables[table].columns]
                overrides = _overrides(table)
                exprs = [overrides.get(c, _q(c)) for c in columns]
                used = {p: v for p, v in params.items() if any(f":{p}" in e for e in exprs)}
                conn.execute(
                    text(
                        f"INSERT INTO {_q(table)} ({', '.join(map(_q, columns))}) "
                        f"SELECT {', '.join(exprs)} FROM {_q(table)} WHERE {_originals(table)}"
                    ),
                    used,
                )
            conn.execute(
                text(
                    "UPDATE submissions SET current_version_id = (SELECT o.current_version_id"
                    " + :off FROM submissions o WHERE o.id = submissions.id - :off)"
                    " WHERE id >= :off AND id < :off + :span"
                ),
                {"off": k * ROW_OFFSET, "span": ROW_OFFSET},
            )
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("ANALYZE"))
        counts = {
            t: conn.execute(text(f"SELECT count(*) FROM {_q(t)}")).scalar_one()
            for t in ("regions", "users", "cases", "submissions", "case_work")
        }
    return {"seconds": round(time.perf_counter() - began, 1), "rows": counts}


class Desk:
    """A logged-in test client."""

    def __init__(self, app: Any, username: str) -> None:
        self.client = app.test_client()
        page = self.client.get("/login")
        match = re.search(rb'name="csrf_token" value="([^"]+)"', page.data)
        assert match is not None, "no CSRF token on /login"
        reply = self.client.post(
            "/login",
            data={"username": username, "password": PASSWORD, "csrf_token": match.group(1)},
        )
        if reply.status_code != 302:
            raise RuntimeError(f"login as {username} answered {reply.status_code}")


def stats(samples: list[float], cpu: list[float]) -> dict[str, Any]:
    ordered = sorted(samples)
    return {
        "n": len(ordered),
        "p50_ms": round((percentile(ordered, 50) or 0) * 1000, 1),
        "p95_ms": round((percentile(ordered, 95) or 0) * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
        # this process's CPU (Python, and SQLite's work; not PostgreSQL's server processes):
        # on a shared machine the wall time also holds the wait for a core
        "cpu_p50_ms": round((percentile(sorted(cpu), 50) or 0) * 1000, 1),
    }


def measure(app: Any, repeat: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for username in ("coord1", "admin"):
        desk = Desk(app, username)
        for url in PAGES:
            for _ in range(2):  # warm: caches, first statements
                desk.client.get(url)
            samples: list[float] = []
            cpu: list[float] = []
            body = b""
            for _ in range(repeat):
                began, began_cpu = time.perf_counter(), time.process_time()
                reply = desk.client.get(url)
                samples.append(time.perf_counter() - began)
                cpu.append(time.process_time() - began_cpu)
                if reply.status_code != 200:
                    raise RuntimeError(f"{url} as {username}: {reply.status_code}")
                body = reply.data
            rows = {k.decode(): int(v) for k, v in re.findall(rb'data-total="(\w+)">(\d+)<', body)}
            out[f"{username} {url}"] = {**stats(samples, cpu), "rows": rows}
            print(f"  {username:7} {url:20} {out[f'{username} {url}']}", flush=True)
    return out


def run_backend(name: str, url: str, data_dir: Path, repeat: int, do_grow: bool) -> dict[str, Any]:
    from sqlalchemy import text  # noqa: PLC0415

    from fieldapp import create_app  # noqa: PLC0415
    from fieldapp.db import db  # noqa: PLC0415

    app = create_app(
        {
            "DATA_DIR": str(data_dir),
            "DATABASE_URL": url,
            "WEBHOOKS_WORKER": False,
            "EXPORT_JOBS_THREAD": False,
            "RETENTION_WORKER": False,
        }
    )
    assert db.engine is not None
    engine = db.engine
    with engine.connect() as conn:
        originals = conn.execute(
            text("SELECT count(*) FROM submissions WHERE id < :o"), {"o": ROW_OFFSET}
        ).scalar_one()
    shrink(engine)  # the year as made first: drop the clones of an earlier run
    if engine.dialect.name == "postgresql":
        # the planner's statistics, as autovacuum keeps them (a year just loaded has none yet)
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    print(f"{name}: {originals} submissions in the year", flush=True)
    report: dict[str, Any] = {"submissions_1x": originals, "1x": measure(app, repeat)}
    if do_grow:
        print(f"{name}: growing tenfold", flush=True)
        db.session.remove()
        grow_report = grow(engine)
        print(f"{name}: grown in {grow_report['seconds']} s: {grow_report['rows']}", flush=True)
        report["grow"] = grow_report
        report["10x"] = measure(app, repeat)
    db.session.remove()
    engine.dispose()
    return report


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Monday screens (`bench/care`)",
        "",
        *(
            f"{name}: measured in an earlier run started {run['started_at']} "
            f"(load average before it: {run['machine'].get('loadavg_before')})."
            for name, run in report.get("earlier_runs", {}).items()
        ),
        f"Run {report['started_at']} to {report['finished_at']} on {report['machine']['nproc']} "
        f"CPUs ({report['machine']['platform']}); commit {report['machine'].get('git_commit')}.",
        f"Server time per page in process (Flask test client), {report['repeat']} requests per "
        f"page after 2 warm-ups; target p95 ≤ {TARGET_P95_MS:.0f} ms at 10x. CPU: this "
        "process's CPU time (Python and SQLite; PostgreSQL's own processes are not in it). "
        f"Load average before the run: {report['machine'].get('loadavg_before')} (a shared "
        "machine: wall times include waiting for a core).",
        "",
    ]
    for backend, result in report["backends"].items():
        sizes = [s for s in ("1x", "10x") if s in result]
        lines.append(f"## {backend}")
        lines.append("")
        lines.append(f"Year as simulated: {result['submissions_1x']} submissions.")
        if "grow" in result:
            grown = ", ".join(f"{v} {k}" for k, v in result["grow"]["rows"].items())
            lines.append(f"10x by cloning in SQL ({result['grow']['seconds']} s): {grown}.")
        lines.append("")
        columns = " | ".join(f"{s} p50 | {s} p95" for s in sizes)
        lines.append(f"| who | page | {columns} | rows ({sizes[-1]}) |")
        lines.append("|" + " --- |" * (3 + 2 * len(sizes)))
        for key in result["1x"]:
            who, page = key.split(" ", 1)
            cells = []
            for size in sizes:
                row = result[size][key]
                cells += [
                    f"{row['p50_ms']:.0f} ms (CPU {row['cpu_p50_ms']:.0f})",
                    f"{row['p95_ms']:.0f} ms",
                ]
            rows = result[sizes[-1]][key]["rows"]
            shown = ", ".join(f"{k} {v}" for k, v in rows.items()) or "—"
            lines.append(f"| {who} | `{page}` | " + " | ".join(cells) + f" | {shown} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sqlite-data-dir", type=Path, help="data dir of a scale-1 demo year")
    parser.add_argument("--postgres-url", help="SQLAlchemy URL of a database with a scale-1 year")
    parser.add_argument("--postgres-data-dir", type=Path, help="its data dir (secret key)")
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--no-grow", action="store_true", help="measure the year as made only")
    parser.add_argument(
        "--merge",
        action="store_true",
        help="keep the other backends of care-latest.json (one backend per run)",
    )
    args = parser.parse_args()
    common.raise_on_sigterm()
    report: dict[str, Any] = {"started_at": common.utc_now(), "repeat": args.repeat}
    backends: dict[str, Any] = {}
    with common.temp_root("care") as tmp:
        if args.sqlite_data_dir:
            copy = tmp / "sqlite"
            shutil.copytree(args.sqlite_data_dir, copy, ignore=shutil.ignore_patterns("blobs"))
            (copy / "blobs").mkdir()
            backends["SQLite"] = run_backend(
                "SQLite", common.sqlite_url(copy), copy, args.repeat, not args.no_grow
            )
        if args.postgres_url:
            common.check_loopback(args.postgres_url)
            data_dir = args.postgres_data_dir or tmp / "pg"
            data_dir.mkdir(parents=True, exist_ok=True)
            backends["PostgreSQL"] = run_backend(
                "PostgreSQL", args.postgres_url, data_dir, args.repeat, not args.no_grow
            )
    latest = common.RESULTS / "care-latest.json"
    if args.merge and latest.exists():
        earlier = json.loads(latest.read_text())
        report["earlier_runs"] = {
            name: {"started_at": earlier["started_at"], "machine": earlier["machine"]}
            for name in earlier.get("backends", {})
            if name not in backends
        }
        backends = {**earlier.get("backends", {}), **backends}
    report["backends"] = backends
    report["finished_at"] = common.utc_now()
    report["machine"] = common.machine_facts(
        {}, {"in_process": True}, args.postgres_url, ("shared_buffers", "work_mem", "jit")
    )
    path = common.write_report("care", report)
    (common.RESULTS / "care-latest.md").write_text(markdown(report))
    print(f"results: {path}")


if __name__ == "__main__":
    main()
