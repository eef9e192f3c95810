"""Export benchmark: a form with a repeat, N submissions on PostgreSQL, the CSV zip and the XLSX
downloaded from a separate gunicorn process: submissions per second, time to first byte, and
the serving worker's peak RSS (sampled from /proc every 20 ms).

Submissions are generated in SQL (``generate_series`` + ``jsonb_build_object``: 0-4 household
members each, a select_multiple, a geopoint, a group), not through HTTP. ODK Central's figure
on this machine kind: 69,610 submissions as CSV in 21.5 s (about 3,200 rows/s, 428 MiB peak).

    python bench/export/run.py --sizes 10000,100000 [--postgres-url URL] [--port 7401]
"""

from __future__ import annotations

import argparse
import http.client
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import common

DATABASE = "bench_exports"
CENTRAL_ROWS_PER_S = 69_610 / 21.5

FORM = """
| survey   |                      |           |                  |
|          | type                 | name      | label            |
|          | text                 | family    | Family name      |
|          | integer              | size      | Household size   |
|          | date                 | visit     | Visit date       |
|          | begin_group          | home      | Home             |
|          | select_one own       | housing   | Housing          |
|          | select_multiple need | needs     | Needs            |
|          | geopoint             | loc       | Location         |
|          | end_group            |           |                  |
|          | begin_repeat         | member    | Member           |
|          | text                 | mname     | Name             |
|          | integer              | mage      | Age              |
|          | select_one yn        | school    | At school        |
|          | end_repeat           |           |                  |
|          | text                 | notes     | Notes            |
| choices  |                      |           |                  |
|          | list_name            | name      | label            |
|          | own                  | owned     | Owned            |
|          | own                  | rented    | Rented           |
|          | own                  | relatives | With relatives   |
|          | need                 | food      | Food             |
|          | need                 | documents | Documents        |
|          | need                 | school    | School           |
|          | need                 | health    | Health           |
|          | yn                   | yes       | Yes              |
|          | yn                   | no        | No               |
| settings |                      |           |                  |
|          | form_id              | version   |                  |
|          | bench_export         | 1         |                  |
"""

LOAD_SQL = """
INSERT INTO submissions (id, form_pk, instance_id, region_id, submitted_by_id, review_state,
                         urgent, current_version_id, received_at, updated_at)
SELECT g, %(form_pk)s, 'uuid:' || md5('bench-export-' || g)::uuid,
       CASE WHEN g %% 2 = 0 THEN %(region_a)s ELSE %(region_b)s END, %(worker)s,
       (ARRAY['received','approved','approved','has_issues'])[1 + g %% 4], g %% 17 = 0, g,
       now() - make_interval(secs => g), now() - make_interval(secs => g)
FROM generate_series(%(lo)s::int, %(hi)s::int) AS g;

INSERT INTO submission_versions (id, submission_id, form_pk, form_version_id, instance_id,
                                 xml, xml_sha256, encrypted, data, submitter_id, received_at)
SELECT g, g, %(form_pk)s, %(version_pk)s, 'uuid:' || md5('bench-export-' || g)::uuid,
       '\\x3c646174612f3e'::bytea, md5(g::text) || md5(g::text), false,
       jsonb_build_object(
         'family', 'Family ' || g,
         'size', 1 + g %% 5,
         'visit', to_char(date '2026-01-01' + (g %% 300), 'YYYY-MM-DD'),
         'home', jsonb_build_object(
            'housing', (ARRAY['owned','rented','relatives'])[1 + g %% 3],
            'needs', CASE WHEN g %% 3 = 0 THEN '["food","school"]'::jsonb
                          ELSE '["documents"]'::jsonb END,
            'loc', jsonb_build_object('latitude', 43.2 + (g %% 1000) / 10000.0,
                                      'longitude', 76.9, 'altitude', 800.0, 'accuracy', 5.0)),
         'member', coalesce((SELECT jsonb_agg(jsonb_build_object(
                        'mname', 'Member ' || m, 'mage', 3 + (g + m) %% 40,
                        'school', CASE WHEN m %% 2 = 0 THEN 'yes' ELSE 'no' END))
                      FROM generate_series(1, g %% 5) AS m), '[]'::jsonb),
         'notes', CASE WHEN g %% 10 = 0 THEN 'Needs a follow-up, see the school' ELSE NULL END,
         'meta', jsonb_build_object('instanceID', 'uuid:' || md5('bench-export-' || g)::uuid)),
       %(worker)s, now() - make_interval(secs => g)
FROM generate_series(%(lo)s::int, %(hi)s::int) AS g
"""


def prepare(url: str, data_dir: Path) -> dict[str, Any]:
    """Migrate, publish the form, make two regions, a worker and an admin with a token."""
    from fieldapp.app import create_app  # noqa: PLC0415
    from fieldapp.auth import services as auth  # noqa: PLC0415
    from fieldapp.db import db  # noqa: PLC0415
    from fieldapp.forms import services as forms  # noqa: PLC0415
    from fieldapp.migrate import upgrade  # noqa: PLC0415

    app = create_app({"DATA_DIR": str(data_dir), "DATABASE_URL": url, "SECRET_KEY": "bench"})
    assert db.engine is not None
    upgrade(db.engine)
    with app.app_context():
        version, _ = forms.publish_file(
            textwrap.dedent(FORM).encode(),
            filename="bench_export.md",
            actor=None,
            store=app.extensions["fieldapp.blobs"],
            policy=forms.ValidationPolicy(mode="never"),
        )
        a = auth.create_region("north", "North", actor=None)
        b = auth.create_region("south", "South", actor=None)
        worker = auth.create_user(
            "worker1", role="field_worker", password="bench password 1", actor=None, regions=[a]
        )
        admin = auth.create_user("admin", role="admin", password="bench password 1", actor=None)
        db.session.flush()
        token, _ = auth.issue_api_token(admin, actor=None)
        facts = {
            "form_pk": version.form_pk,
            "version_pk": version.id,
            "region_a": a.id,
            "region_b": b.id,
            "worker": worker.id,
            "token": token,
        }
        db.session.commit()
    db.session.remove()
    db.engine.dispose()
    return facts


def load(url: str, facts: dict[str, Any], lo: int, hi: int) -> float:
    """Generate submissions ``lo..hi`` in SQL; returns the seconds."""
    import psycopg  # noqa: PLC0415

    started = time.perf_counter()
    with psycopg.connect(common.plain_url(url)) as conn:
        conn.execute("SET synchronous_commit = off")
        step = 50_000
        for start in range(lo, hi + 1, step):
            end = min(hi, start + step - 1)
            params = {**facts, "lo": start, "hi": end}
            conn.execute("SET LOCAL session_replication_role = replica")  # no count triggers
            for statement in LOAD_SQL.split(";\n\n"):
                conn.execute(statement, params)  # type: ignore[call-overload]
            conn.commit()
        conn.execute(
            "SELECT setval(pg_get_serial_sequence('submissions', 'id'), max(id)) FROM submissions"
        )
        conn.execute(
            "SELECT setval(pg_get_serial_sequence('submission_versions', 'id'), max(id)) "
            "FROM submission_versions"
        )
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM (ANALYZE) submissions")
        conn.execute("VACUUM (ANALYZE) submission_versions")
    return time.perf_counter() - started


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


class RssSampler(threading.Thread):
    """Samples the RSS of the gunicorn workers (children of the master) every 20 ms."""

    def __init__(self, master: int) -> None:
        super().__init__(daemon=True)
        self.master = master
        self.peak_kib = 0
        self.before_kib = 0
        self.stop = threading.Event()

    def current(self) -> int:
        return max((_rss_kib(p) for p in _children(self.master)), default=0)

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak_kib = max(self.peak_kib, self.current())
            time.sleep(0.02)


def download(port: int, path: str, token: str, master: int) -> dict[str, Any]:
    """GET ``path``, reading the body in 256 KiB pieces; times and the worker's peak RSS."""
    sampler = RssSampler(master)
    sampler.before_kib = sampler.current()
    sampler.start()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    started = time.perf_counter()
    conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    response = conn.getresponse()
    first = None
    size = 0
    while chunk := response.read1(256 * 1024):
        if first is None:
            first = time.perf_counter() - started
        size += len(chunk)
    total = time.perf_counter() - started
    conn.close()
    sampler.stop.set()
    sampler.join()
    assert response.status == 200, response.status
    return {
        "status": response.status,
        "seconds": round(total, 3),
        "ttfb_s": round(first or total, 4),
        "bytes": size,
        "rss_before_mib": round(sampler.before_kib / 1024, 1),
        "rss_peak_mib": round(sampler.peak_kib / 1024, 1),
    }


def odata_pages(port: int, token: str, size: int) -> list[dict[str, Any]]:
    """OData pages of 1,000 submissions with the repeat expanded (``$expand=*``), as pyODK
    and Power BI ask: the first page, the next three by ``@odata.nextLink``, and one at
    ``$skip`` = half the submissions; each timed from request to last byte."""
    import json  # noqa: PLC0415
    from urllib.parse import urlsplit  # noqa: PLC0415

    base = "/v1/projects/1/forms/bench_export.svc/Submissions"
    first = f"{base}?%24top=1000&%24expand=*&%24count=true"
    pages: list[dict[str, Any]] = []
    path: str | None = first
    for n in range(4):
        assert path is not None
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        started = time.perf_counter()
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        response = conn.getresponse()
        body = response.read()
        seconds = time.perf_counter() - started
        conn.close()
        assert response.status == 200, (response.status, body[:300])
        doc = json.loads(body)
        pages.append(
            {"size": size, "page": "first" if n == 0 else f"next {n}", "seconds": round(seconds, 4),
             "rows": len(doc["value"]), "bytes": len(body)}
        )  # fmt: skip
        link = doc.get("@odata.nextLink")
        if link is None:
            break
        parts = urlsplit(link)
        path = f"{parts.path}?{parts.query}"
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    started = time.perf_counter()
    conn.request(
        "GET", f"{base}?%24top=1000&%24expand=*&%24skip={size // 2}",
        headers={"Authorization": f"Bearer {token}"},
    )  # fmt: skip
    response = conn.getresponse()
    body = response.read()
    seconds = time.perf_counter() - started
    conn.close()
    assert response.status == 200, (response.status, body[:300])
    pages.append(
        {"size": size, "page": f"$skip={size // 2}", "seconds": round(seconds, 4),
         "rows": len(json.loads(body)["value"]), "bytes": len(body)}
    )  # fmt: skip
    return pages


def wait_up(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(log.read_text()[-2000:])
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/login")
            conn.getresponse().read()
            conn.close()
        except OSError:
            time.sleep(0.3)
        else:
            return
    raise RuntimeError("the server did not start")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--port", type=int, default=7401, help="in this checkout's port range")
    parser.add_argument("--repeat", type=int, default=2, help="downloads per format and size")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args(argv)
    sizes = sorted(int(s) for s in common.comma_list(args.sizes))
    common.check_loopback(args.postgres_url)
    import psycopg  # noqa: PLC0415

    admin_url = common.plain_url(args.postgres_url)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DATABASE}"')
    url = admin_url.rsplit("/", 1)[0] + f"/{DATABASE}"
    sa_url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    results: list[dict[str, Any]] = []
    odata: list[dict[str, Any]] = []
    gunicorn_options = {"workers": 1, "threads": 4, "worker-class": "gthread", "timeout": 600}
    try:
        with common.temp_root("export") as tmp:
            data_dir = common.make_data_dir(tmp)
            facts = prepare(sa_url, data_dir)
            loaded = 0
            for size in sizes:
                seconds = load(sa_url, facts, loaded + 1, size)
                print(f"loaded {size} submissions ({seconds:.1f} s)", flush=True)
                loaded = size
                env = {
                    **os.environ,
                    "FIELDAPP_DATABASE_URL": sa_url,
                    "FIELDAPP_DATA_DIR": str(data_dir),
                    "FIELDAPP_SECRET_KEY": "bench",
                }
                log = tmp / f"gunicorn-{size}.log"
                flags = [f"--{k}={v}" for k, v in gunicorn_options.items()]
                with log.open("wb") as out:
                    proc = subprocess.Popen(
                        [sys.executable, "-m", "gunicorn", *flags,
                         "--bind", f"127.0.0.1:{args.port}", "fieldapp:create_app()"],
                        env=env, cwd=tmp, stdin=subprocess.DEVNULL, stdout=out,
                        stderr=subprocess.STDOUT, start_new_session=True,
                    )  # fmt: skip
                try:
                    wait_up(args.port, proc, log)
                    for fmt, path in (
                        ("csv.zip", "/api/v1/forms/bench_export/submissions.csv.zip"),
                        ("xlsx", "/api/v1/forms/bench_export/submissions.xlsx"),
                    ):
                        for attempt in range(args.repeat):
                            measured = download(args.port, path, facts["token"], proc.pid)
                            measured.update(
                                size=size,
                                format=fmt,
                                attempt=attempt + 1,
                                rows_per_s=round(size / measured["seconds"]),
                                x_central=round(size / measured["seconds"] / CENTRAL_ROWS_PER_S, 1),
                            )
                            print(measured, flush=True)
                            results.append(measured)
                    for _ in range(args.repeat):
                        for page in odata_pages(args.port, facts["token"], size):
                            print(page, flush=True)
                            odata.append(page)
                finally:
                    common.stop_process(proc)
    finally:
        if not args.keep:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    report = {
        "benchmark": "export",
        "started_at": common.utc_now(),
        "machine": common.machine_facts(gunicorn_options, {}, None, ()),
        "central_rows_per_s": round(CENTRAL_ROWS_PER_S),
        "results": results,
        "odata": odata,
    }
    path = common.write_report("export", report)
    print(f"results in {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
