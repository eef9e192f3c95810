"""Where the CPU of one acknowledged submission goes, stage by stage (issue 16's profile).

The same ``met`` home-visit submission with its 200 KB photo as ``run.py`` sends, POSTed
``--count`` times to ``/collect/key/<token>/submission`` through the WSGI app in this process
(Flask's test client: no socket, no gunicorn), on SQLite and on PostgreSQL. Three figures per
backend:

- **CPU per submission without a profiler**: this process's CPU (``time.process_time``: the app,
  and on SQLite the database too, since SQLite runs inside it) over the loop, divided by the count;
  on PostgreSQL also the CPU of this process's backend (``/proc/<pid>/stat``).
- **inclusive CPU by stage**, measured under ``cProfile`` with a CPU clock: the cumulative time of
  each stage's entry point (authentication, reading the multipart body, parsing the XML, the form
  lookup, blob writes, ORM flushes, the commit, case work, the audit row...). Stages nest (a flush
  inside case work is counted in both), so these do not add up; they say what each step costs.
- **exclusive CPU by package**: ``cProfile``'s own time of every function, summed by the package it
  belongs to (fieldapp's subpackages, SQLAlchemy, werkzeug, lxml, the database driver, hashing,
  fsync...). These add up to the profiled total.

cProfile slows Python calls down more than C code, so the profiled total is larger than the
unprofiled one; both are reported, and shares are what to read. Results:
``bench/results/ingest-stages-<UTC>.json`` and ``ingest-stages-latest.md``.

    .venv/bin/python bench/ingest/stages.py [--count 300] [--backends sqlite,postgres]
"""

from __future__ import annotations

import contextlib
import cProfile
import os
import pstats
import secrets
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import common
from common import USER_AGENT
from run import DEVICE_ID, FORM, Payload, cli

SERVICES = "fieldapp/submissions/services.py"

#: stage -> (file path suffix, function name) of its entry points; the first is what is timed
STAGES: list[tuple[str, list[tuple[str, str]]]] = [
    ("whole request (Flask wsgi_app)", [("flask/app.py", "wsgi_app")]),
    ("authentication (device token)", [("fieldapp/openrosa/views.py", "_authenticate")]),
    ("multipart body read", [("fieldapp/openrosa/views.py", "_read_parts")]),
    (
        "receive_submission (all of it)",
        [("fieldapp/submissions/services.py", "receive_submission")],
    ),
    ("XML parse (hardened lxml)", [("fieldapp/submissions/parsing.py", "parse_tree")]),
    ("XML identity", [("fieldapp/submissions/parsing.py", "read_identity")]),
    ("form and version lookup", [(SERVICES, "_form_version")]),
    ("expected attachments", [("fieldapp/submissions/parsing.py", "expected_attachments")]),
    ("answers to JSON (typed)", [("fieldapp/submissions/parsing.py", "submission_data")]),
    ("blob writes (hash, fsync)", [("fieldapp/blobs.py", "write")]),
    ("events published (case work, outbox)", [("fieldapp/events.py", "publish")]),
    ("audit row", [("fieldapp/audit/services.py", "record")]),
    ("ORM flushes", [("sqlalchemy/orm/session.py", "flush")]),
    ("commit", [("sqlalchemy/orm/session.py", "commit")]),
    ("SQL statements executed", [("sqlalchemy/engine/base.py", "_execute_context")]),
    ("response (OpenRosa XML)", [("fieldapp/openrosa/responses.py", "message_xml")]),
]

#: package of a profiled function, by the first matching fragment of its file path
PACKAGES: list[tuple[str, str]] = [
    ("/fieldapp/", "fieldapp"),
    ("/sqlalchemy/", "SQLAlchemy"),
    ("/werkzeug/", "werkzeug"),
    ("/flask/", "Flask"),
    ("/flask_login/", "flask-login"),
    ("/psycopg/", "psycopg (driver)"),
    ("/lxml/", "lxml"),
    ("/marshmallow/", "marshmallow"),
    ("/json/", "json"),
    ("/bench/", "this benchmark's client"),
]
BUILTINS: dict[str, str] = {
    "fsync": "fsync",
    "execute": "database driver calls (C)",
    "commit": "database driver calls (C)",
    "fetchall": "database driver calls (C)",
    "fetchone": "database driver calls (C)",
    "sha256": "hashing",
    "update": "hashing",
    "hexdigest": "hashing",
    "write": "file writes",
    "open": "file writes",
}


def _package(filename: str, function: str) -> str:
    if filename == "~":  # a builtin (C) function: "<method 'execute' of 'sqlite3.Cursor'...>"
        text = function
        for name, label in BUILTINS.items():
            if f"'{name}'" in text or f".{name}" in text or text.endswith(name + "}"):
                if "sqlite3" in text and label == "database driver calls (C)":
                    return "SQLite (C, in process)"
                return label
        if "lxml" in text or "etree" in text:
            return "lxml"
        return "other builtins"
    path = filename.replace(os.sep, "/")
    for fragment, label in PACKAGES:
        if fragment in path:
            if label == "fieldapp":
                rest = path.split("/fieldapp/", 1)[1]
                return "fieldapp/" + (rest.split("/", 1)[0] if "/" in rest else rest)
            return label
    if "/lib/python" in path and "site-packages" not in path:
        return "Python standard library"
    return "other"


@contextlib.contextmanager
def prepared(backend: str, workdir: Path, postgres_url: str) -> Iterator[tuple[str, str | None]]:
    """A fresh database with the form, a field worker and a device; ``(token path, url)``."""
    data_dir = common.make_data_dir(workdir)
    env = {**os.environ, "FIELDAPP_DATA_DIR": str(data_dir), "FIELDAPP_ODK_VALIDATE": "never"}
    env.pop("FIELDAPP_DATABASE_URL", None)
    with common.database(backend, data_dir, postgres_url, "bench_stages_") as (url, _schema):
        if backend == "postgres":
            env["FIELDAPP_DATABASE_URL"] = url
        cli(env, "db", "upgrade")
        cli(env, "forms", "publish", str(FORM))
        cli(env, "users", "create", "bench", "--role", "field_worker", "--region", "bench",
            stdin=f"{secrets.token_urlsafe(18)}\n")  # fmt: skip
        collect_url = cli(env, "devices", "create", "--user", "bench", "--site", "http://bench")
        token = collect_url.strip().rsplit("/collect/key/", 1)[1]
        os.environ["FIELDAPP_DATA_DIR"] = str(data_dir)
        os.environ["FIELDAPP_DATABASE_URL"] = url
        yield f"/collect/key/{token}/submission?deviceID={DEVICE_ID}", url


def _backend_cpu(app: Any) -> tuple[float | None, Any]:
    """CPU seconds of this thread's PostgreSQL backend so far (None on SQLite)."""
    from sqlalchemy import text  # noqa: PLC0415

    from fieldapp.db import db  # noqa: PLC0415

    with app.app_context():
        if db.engine is None or db.engine.dialect.name != "postgresql":
            return None, None
        pid = db.session.execute(text("SELECT pg_backend_pid()")).scalar_one()
        db.session.rollback()
    return common.pids_cpu([int(pid)]), pid


def measure(backend: str, count: int, workdir: Path, postgres_url: str) -> dict[str, Any]:
    payload = Payload()
    with prepared(backend, workdir, postgres_url) as (path, _url):
        for name in ("WEBHOOKS_WORKER", "RETENTION_WORKER", "EXPORT_JOBS_THREAD"):
            os.environ[f"FIELDAPP_{name}"] = "0"
        from fieldapp.app import create_app  # noqa: PLC0415

        app = create_app()
        client = app.test_client()
        headers = {"X-OpenRosa-Version": "1.0", "User-Agent": USER_AGENT}
        bodies = [payload.body() for _ in range(2 * count + 20)]

        def post(i: int) -> None:
            body, content_type, _instance = bodies[i]
            response = client.post(path, data=body, content_type=content_type, headers=headers)
            if response.status_code != 201:
                raise SystemExit(f"submission {i} answered {response.status_code}")

        for i in range(20):  # warm: the form's cached version, the pool, imports
            post(i)
        db_before, _pid = _backend_cpu(app)
        cpu_before = time.process_time()
        for i in range(20, 20 + count):
            post(i)
        plain_cpu = (time.process_time() - cpu_before) / count
        db_after, _pid = _backend_cpu(app)
        database_cpu = (db_after - db_before) / count if db_before is not None else None

        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
        for i in range(20 + count, 20 + 2 * count):
            post(i)
        profiler.disable()
    stats = pstats.Stats(profiler)
    entries: dict[tuple[str, str], tuple[float, float, int]] = {}
    by_package: dict[str, float] = defaultdict(float)
    total = 0.0
    for (filename, _line, function), (_cc, calls, tottime, cumtime, _callers) in (
        stats.stats.items()  # type: ignore[attr-defined]
    ):
        by_package[_package(filename, function)] += tottime
        total += tottime
        key = (filename.replace(os.sep, "/"), function)
        old = entries.get(key, (0.0, 0.0, 0))
        entries[key] = (old[0] + cumtime, old[1] + tottime, old[2] + calls)
    stages: dict[str, dict[str, float]] = {}
    for stage, points in STAGES:
        cum = 0.0
        calls = 0
        for suffix, function in points:
            for (filename, name), (cumtime, _tottime, n) in entries.items():
                if name == function and filename.endswith(suffix):
                    cum += cumtime
                    calls += n
        stages[stage] = {
            "ms_per_submission": round(1000 * cum / count, 3),
            "calls_per_submission": round(calls / count, 2),
        }
    client_share = by_package.pop("this benchmark's client", 0.0)
    total -= client_share
    return {
        "count": count,
        "cpu_ms_per_submission_unprofiled": {
            "app_process": round(1000 * plain_cpu, 2),
            "database_backend": None if database_cpu is None else round(1000 * database_cpu, 2),
            "note": "app_process includes the test client's own work (building each request)"
            + ("" if backend == "postgres" else " and SQLite, which runs in this process"),
        },
        "profiled_total_ms_per_submission": round(1000 * total / count, 2),
        "inclusive_ms_by_stage": stages,
        "exclusive_ms_by_package": {
            name: round(1000 * seconds / count, 3)
            for name, seconds in sorted(by_package.items(), key=lambda kv: -kv[1])
        },
    }


def _plain(backend: dict[str, Any]) -> dict[str, Any]:
    return dict(backend["cpu_ms_per_submission_unprofiled"])


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# bench/ingest stages ({report['started_at'][:10]}, commit {report['git_commit']})",
        "",
        "One `met` home-visit submission with a 200 KB photo, through the WSGI app in process "
        f"({report['count']} measured, after 20 to warm up). CPU milliseconds per acknowledged "
        "submission. Machine load average before: "
        f"{report['loadavg_before']}.",
        "",
    ]
    backends = report["backends"]
    names = list(backends)
    lines += ["| | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    lines.append(
        "| CPU, app process, no profiler | "
        + " | ".join(
            str(backends[n]["cpu_ms_per_submission_unprofiled"]["app_process"]) for n in names
        )
        + " |"
    )
    lines.append(
        "| CPU, database backend | "
        + " | ".join(
            str(
                backends[n]["cpu_ms_per_submission_unprofiled"]["database_backend"]
                or "(in process)"
            )
            for n in names
        )
        + " |"
    )
    lines.append(
        "| profiled total | "
        + " | ".join(str(backends[n]["profiled_total_ms_per_submission"]) for n in names)
        + " |"
    )
    lines += ["", "## Inclusive CPU by stage (profiled; stages nest, so they do not add up)", ""]
    lines += ["| stage | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for stage, _points in STAGES:
        cells = []
        for n in names:
            item = backends[n]["inclusive_ms_by_stage"][stage]
            cells.append(f"{item['ms_per_submission']} ({item['calls_per_submission']} calls)")
        lines.append(f"| {stage} | " + " | ".join(cells) + " |")
    lines += ["", "## Exclusive CPU by package (profiled; adds up to the profiled total)", ""]
    packages: list[str] = []
    for n in names:
        for package in backends[n]["exclusive_ms_by_package"]:
            if package not in packages:
                packages.append(package)
    lines += ["| package | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for package in packages:
        cells = [str(backends[n]["exclusive_ms_by_package"].get(package, 0)) for n in names]
        lines.append(f"| {package} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    return common.per_backend_main(
        __file__,
        "ingest-stages",
        __doc__.split("\n\n")[0],
        measure,
        markdown,
        count_help="submissions measured per backend",
        argv=argv,
    )


if __name__ == "__main__":
    raise SystemExit(main())
