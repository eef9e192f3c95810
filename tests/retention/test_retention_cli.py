"""``fieldapp erase-case`` and ``fieldapp purge`` as an operator runs them (real processes on
the demo's SQLite database)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.test_cli import run


def _query(data_dir: Path, sql: str, *args: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(data_dir / "fieldapp.sqlite3") as connection:
        return list(connection.execute(sql, args))


def test_erase_case_and_purge_from_the_command_line(tmp_path: Path):
    env = {"FIELDAPP_DEMO_PASSWORD": "demo password 1"}
    demo = run(
        tmp_path,
        "demo",
        "--data-dir",
        str(tmp_path),
        "--no-serve",
        "--no-sample-data",
        extra_env=env,
    )
    assert demo.returncode == 0, demo.stderr
    (uuid, code), *_ = _query(tmp_path, "SELECT uuid, code FROM cases ORDER BY id")
    cases_before = _query(tmp_path, "SELECT count(*) FROM cases")[0][0]

    dry = run(tmp_path, "erase-case", str(code), "--reason", "the person asked", "--by", "admin",
              "--dry-run")  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    assert f"erasing case {code} takes: 1 cases" in dry.stdout
    assert _query(tmp_path, "SELECT count(*) FROM cases")[0][0] == cases_before

    # not an administrator; a reason that quotes the case
    refused = run(tmp_path, "erase-case", str(code), "--reason", "asked", "--by", "coord1",
                  "--yes")  # fmt: skip
    assert refused.returncode == 1
    quoting = run(tmp_path, "erase-case", str(uuid), "--reason", f"case {code}", "--by", "admin",
                  "--yes")  # fmt: skip
    assert quoting.returncode == 1
    assert "quotes the case" in quoting.stderr

    done = run(tmp_path, "erase-case", str(uuid), "--reason", "the person asked", "--by", "admin",
               "--yes")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"erased case {code}" in done.stdout
    assert _query(tmp_path, "SELECT count(*) FROM cases WHERE uuid = ?", uuid) == [(0,)]
    assert _query(tmp_path, "SELECT count(*) FROM cases")[0][0] == cases_before - 1
    erased = _query(tmp_path, "SELECT details FROM audit_events WHERE action = 'case.erased'")
    assert len(erased) == 1
    assert str(uuid) not in str(erased[0][0])
    assert str(code) not in str(erased[0][0])

    purge_dry = run(tmp_path, "purge", "--dry-run")
    assert purge_dry.returncode == 0, purge_dry.stderr
    assert "nothing past its retention" in purge_dry.stdout
    purge = run(tmp_path, "purge")
    assert purge.returncode == 0, purge.stderr
    assert "removed 0 unreferenced file(s)" in purge.stdout
    assert _query(tmp_path, "SELECT holder, last_tick_at IS NOT NULL FROM worker_leases "
                  "WHERE name = 'retention'") == [(None, 1)]  # fmt: skip
