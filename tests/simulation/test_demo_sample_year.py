"""``fieldapp demo`` on a fresh data dir loads the simulated year once, with progress lines;
the next start reuses it; ``--no-sample-data`` skips it."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _demo(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDAPP_")}
    env.update(
        {
            "FIELDAPP_DATA_DIR": str(data_dir),
            "FIELDAPP_ODK_VALIDATE": "never",
            "FIELDAPP_DEMO_PASSWORD": "demo password 1",
        }
    )
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "fieldapp.cli",
            "demo",
            "--data-dir",
            str(data_dir),
            "--no-serve",
            *args,
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=600,
    )


def test_demo_loads_a_small_year_once_and_reuses_it(tmp_path: Path):
    first = _demo(tmp_path, "--scale", "0.02")
    assert first.returncode == 0, first.stderr
    assert "sample data: month 6/12" in first.stdout
    assert "sample data: month 12/12" in first.stdout
    assert "created user worker1" in first.stdout
    with sqlite3.connect(tmp_path / "fieldapp.sqlite3") as conn:
        (submissions,) = conn.execute("SELECT count(*) FROM submissions").fetchone()
        (cases,) = conn.execute("SELECT count(*) FROM cases").fetchone()
        (regions,) = conn.execute("SELECT count(*) FROM regions").fetchone()
        staff = {u for (u,) in conn.execute("SELECT username FROM users")}
    assert submissions > 50
    assert cases > 10
    assert regions == 17
    assert {"coord1", "coord2", "worker1", "worker2", "worker3", "coord-abai"} <= staff
    summary = next(line for line in first.stdout.splitlines() if " submissions (" in line)
    assert summary.startswith("sample data: ")

    second = _demo(tmp_path, "--scale", "0.02")
    assert second.returncode == 0, second.stderr
    assert "sample data: already loaded" in second.stdout
    assert "created" not in second.stdout
    with sqlite3.connect(tmp_path / "fieldapp.sqlite3") as conn:
        assert conn.execute("SELECT count(*) FROM submissions").fetchone() == (submissions,)


def test_demo_without_sample_data_loads_none(tmp_path: Path):
    result = _demo(tmp_path, "--no-sample-data")
    assert result.returncode == 0, result.stderr
    assert "sample data" not in result.stdout
    with sqlite3.connect(tmp_path / "fieldapp.sqlite3") as conn:
        assert conn.execute("SELECT count(*) FROM submissions").fetchone() == (0,)
