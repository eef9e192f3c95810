"""CPU per formList and manifest request with 100 published forms (issue 16's second target).

formList is what every phone asks on every sync, so its cost is paid by the whole field force
many times a day. The database is prepared as ``stages.py`` prepares it (the home-visit form,
a field worker, a device token), then the form is cloned in SQL into 100 published forms
(forms, their current versions and their attachments: the home visit has a case list and a
photo), so the list is a realistic 100 entries long. Then, through the WSGI app in this process
(Flask's test client; no socket, no gunicorn), for ``--count`` requests each:

- ``formList`` answered in full (200, no ``If-None-Match``);
- ``formList`` the phone already has (``If-None-Match`` with the list's ETag: 304);
- one form's ``manifest`` (200) and the same answered 304.

Figures: this process's CPU per request (``time.process_time``; on SQLite that includes the
database, which runs in this process) and, on PostgreSQL, the CPU of this process's backend
(``/proc/<pid>/stat``). The test client's own work (building the request) is in the app figure.
Target (issue 16): ≤ 1.5 ms of CPU per request. Results: ``bench/results/formlist-<UTC>.json``
and ``formlist-latest.md``.

    .venv/bin/python bench/ingest/formlist.py [--count 300] [--backends sqlite,postgres]
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import common
from common import USER_AGENT
from stages import _backend_cpu, prepared

FORMS = 100
TARGET_MS = 1.5


def _q(name: str) -> str:
    return f'"{name}"'


def clone_forms(engine: Any, total: int) -> int:
    """Copies of the one published form (and its current version and attachments) until there
    are ``total`` forms; the number of forms after."""
    from sqlalchemy import text  # noqa: PLC0415

    from fieldapp.db import Base  # noqa: PLC0415

    tables = Base.metadata.tables
    with engine.begin() as conn:
        form_pk, version_id = conn.execute(
            text("SELECT id, current_version_id FROM forms ORDER BY id LIMIT 1")
        ).one()
        for k in range(1, total):
            form_columns = [c.name for c in tables["forms"].columns if c.name != "id"]
            overrides = {
                "form_id": "form_id || :suffix",
                "title": "title || :title",
                "current_version_id": "NULL",
            }
            exprs = [overrides.get(c, _q(c)) for c in form_columns]
            new_form = conn.execute(
                text(
                    f"INSERT INTO forms ({', '.join(map(_q, form_columns))}) "
                    f"SELECT {', '.join(exprs)} FROM forms WHERE id = :pk RETURNING id"
                ),
                {"suffix": f"_{k:03d}", "title": f" {k:03d}", "pk": form_pk},
            ).scalar_one()
            version_columns = [c.name for c in tables["form_versions"].columns if c.name != "id"]
            exprs = [":new_form" if c == "form_pk" else _q(c) for c in version_columns]
            new_version = conn.execute(
                text(
                    f"INSERT INTO form_versions ({', '.join(map(_q, version_columns))}) "
                    f"SELECT {', '.join(exprs)} FROM form_versions WHERE id = :vid RETURNING id"
                ),
                {"new_form": new_form, "vid": version_id},
            ).scalar_one()
            attachment_columns = [
                c.name for c in tables["form_attachments"].columns if c.name != "id"
            ]
            exprs = [
                ":new_version" if c == "form_version_id" else _q(c) for c in attachment_columns
            ]
            conn.execute(
                text(
                    f"INSERT INTO form_attachments ({', '.join(map(_q, attachment_columns))}) "
                    f"SELECT {', '.join(exprs)} FROM form_attachments "
                    "WHERE form_version_id = :vid"
                ),
                {"new_version": new_version, "vid": version_id},
            )
            conn.execute(
                text("UPDATE forms SET current_version_id = :v WHERE id = :f"),
                {"v": new_version, "f": new_form},
            )
        return int(conn.execute(text("SELECT count(*) FROM forms")).scalar_one())


def measure(backend: str, count: int, workdir: Path, postgres_url: str) -> dict[str, Any]:
    with prepared(backend, workdir, postgres_url) as (submission_path, _url):
        for name in ("WEBHOOKS_WORKER", "RETENTION_WORKER", "EXPORT_JOBS_THREAD"):
            os.environ[f"FIELDAPP_{name}"] = "0"
        from fieldapp.app import create_app  # noqa: PLC0415
        from fieldapp.db import db  # noqa: PLC0415

        app = create_app()
        with app.app_context():
            assert db.engine is not None
            forms = clone_forms(db.engine, FORMS)
        prefix = submission_path.split("/submission", 1)[0]
        client = app.test_client()
        headers = {"X-OpenRosa-Version": "1.0", "User-Agent": USER_AGENT}
        listed = client.get(f"{prefix}/formList", headers=headers)
        if listed.status_code != 200:
            raise SystemExit(f"formList answered {listed.status_code}")
        entries = listed.data.count(b"<xform>")
        manifest_url = f"{prefix}/forms/home_visit/manifest"
        manifest = client.get(manifest_url, headers=headers)
        if manifest.status_code != 200:
            raise SystemExit(f"manifest answered {manifest.status_code}")
        cases = {
            "formList (200)": (f"{prefix}/formList", None, 200),
            "formList unchanged (304)": (f"{prefix}/formList", listed.headers["ETag"], 304),
            "manifest (200)": (manifest_url, None, 200),
            "manifest unchanged (304)": (manifest_url, manifest.headers["ETag"], 304),
        }
        out: dict[str, Any] = {"forms": forms, "entries_listed": entries,
                               "formlist_bytes": len(listed.data)}  # fmt: skip
        for label, (url, etag, status) in cases.items():
            sent = dict(headers)
            if etag:
                sent["If-None-Match"] = etag
            for _ in range(20):  # warm
                client.get(url, headers=sent)
            db_before, _pid = _backend_cpu(app)
            began = time.process_time()
            for _ in range(count):
                reply = client.get(url, headers=sent)
                if reply.status_code != status:
                    raise SystemExit(f"{label}: {reply.status_code}, expected {status}")
            app_ms = 1000 * (time.process_time() - began) / count
            db_after, _pid = _backend_cpu(app)
            db_ms = None if db_before is None else 1000 * (db_after - db_before) / count
            out[label] = {
                "app_cpu_ms": round(app_ms, 3),
                "database_cpu_ms": None if db_ms is None else round(db_ms, 3),
                "total_cpu_ms": round(app_ms + (db_ms or 0.0), 3),
            }
            print(f"  {backend:8} {label:26} {out[label]}", flush=True)
        return out


def markdown(report: dict[str, Any]) -> str:
    backends = report["backends"]
    names = list(backends)
    first = backends[names[0]]
    lines = [
        f"# formList and manifest CPU ({report['started_at'][:10]}, commit {report['git_commit']})",
        "",
        f"{first['forms']} published forms ({first['entries_listed']} listed, "
        f"{first['formlist_bytes']:,} bytes), {report['count']} requests per row after 20 to warm "
        "up, in process (Flask test client). CPU milliseconds per request: the app process "
        "(on SQLite with the database in it) plus, on PostgreSQL, its backend. Target: "
        f"≤ {TARGET_MS} ms. Load average before: {report['loadavg_before']}.",
        "",
        "| request | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for label in ("formList (200)", "formList unchanged (304)", "manifest (200)",
                  "manifest unchanged (304)"):  # fmt: skip
        cells = []
        for n in names:
            item = backends[n][label]
            db_part = (
                f" + {item['database_cpu_ms']} db" if item["database_cpu_ms"] is not None else ""
            )
            cells.append(f"{item['total_cpu_ms']} ({item['app_cpu_ms']} app{db_part})")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    return common.per_backend_main(
        __file__,
        "formlist",
        __doc__.split("\n\n")[0],
        measure,
        markdown,
        count_help="requests measured per row",
        extra={"target_cpu_ms": TARGET_MS},
        argv=argv,
    )


if __name__ == "__main__":
    raise SystemExit(main())
