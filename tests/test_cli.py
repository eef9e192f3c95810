"""The fieldapp command as an operator runs it (real processes, a fresh data dir each time)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(data_dir: Path, *args: str, stdin: str = "", extra_env: dict[str, str] | None = None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDAPP_")}
    env.update({"FIELDAPP_DATA_DIR": str(data_dir), "FIELDAPP_ODK_VALIDATE": "never"})
    env.update(extra_env or {})
    return subprocess.run(
        [sys.executable, "-m", "fieldapp.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    result = run(tmp_path, "db", "upgrade")
    assert result.returncode == 0, result.stderr
    return tmp_path


def test_db_upgrade_makes_the_database_and_a_private_secret_key(data_dir: Path):
    assert (data_dir / "fieldapp.sqlite3").exists()
    key = data_dir / "secret_key"
    assert key.exists()
    assert oct(key.stat().st_mode & 0o777) == "0o600"


def test_users_create_reads_the_password_and_token_prints_one(data_dir: Path):
    created = run(
        data_dir,
        "users",
        "create",
        "amina",
        "--role",
        "coordinator",
        "--region",
        "north",
        stdin="a long password\n",
    )
    assert created.returncode == 0, created.stderr
    assert "created coordinator amina" in created.stdout
    token = run(data_dir, "users", "token", "amina")
    assert token.returncode == 0, token.stderr
    assert token.stdout.strip().startswith("fa_")
    missing = run(data_dir, "users", "token", "nobody")
    assert missing.returncode == 1
    assert "no user" in missing.stderr


def test_users_create_refuses_a_weak_password(data_dir: Path):
    result = run(data_dir, "users", "create", "bob", "--role", "designer", stdin="short\n")
    assert result.returncode == 1
    assert "at least 8 characters" in result.stderr


def test_forms_publish_reports_sheet_and_row_and_fails(data_dir: Path, tmp_path: Path):
    bad = tmp_path / "bad.md"
    bad.write_text(
        textwrap.dedent("""
        | survey   |         |        |        |
        |          | type    | name   | label  |
        |          | txet    | family | Family |
        | settings |         |        |        |
        |          | form_id | version |       |
        |          | bad     | 1      |        |
    """)
    )
    result = run(data_dir, "forms", "publish", str(bad))
    assert result.returncode == 1
    assert "sheet survey" in result.stderr
    assert "row 2" in result.stderr


def test_forms_publish_publishes(data_dir: Path):
    result = run(data_dir, "forms", "publish", str(ROOT / "forms" / "home_visit.xlsx"))
    assert result.returncode == 0, result.stderr
    assert "published home_visit version" in result.stdout


def test_forms_publish_keeps_the_note_on_the_version_and_in_the_audit_log(data_dir: Path):
    form = str(ROOT / "forms" / "home_visit.xlsx")
    result = run(data_dir, "forms", "publish", "--note", "Asks about school meals now", form)
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(data_dir / "fieldapp.sqlite3") as conn:
        notes = conn.execute("SELECT publish_note FROM form_versions").fetchall()
        audited = conn.execute(
            "SELECT details FROM audit_events WHERE action = 'form.published'"
        ).fetchall()
    assert notes == [("Asks about school meals now",)]
    assert [json.loads(d)["note"] for (d,) in audited] == ["Asks about school meals now"]


def test_forms_publish_refuses_a_note_too_long_and_publishes_nothing(data_dir: Path):
    form = str(ROOT / "forms" / "home_visit.xlsx")
    result = run(data_dir, "forms", "publish", "--note", "x" * 2001, form)
    assert result.returncode == 1
    assert "longer than 2000 characters" in result.stderr
    with sqlite3.connect(data_dir / "fieldapp.sqlite3") as conn:
        assert conn.execute("SELECT count(*) FROM form_versions").fetchone() == (0,)


def test_demo_sets_up_everything_and_a_second_run_changes_nothing(tmp_path: Path):
    env = {"FIELDAPP_DEMO_PASSWORD": "demo password 1"}
    first = run(
        tmp_path,
        "demo",
        "--data-dir",
        str(tmp_path),
        "--no-serve",
        "--no-sample-data",
        extra_env=env,
    )
    assert first.returncode == 0, first.stderr
    for name in ("admin", "designer", "coord1", "coord2", "worker1", "worker2"):
        assert f"created user {name}" in first.stdout
    assert first.stdout.count("published ") == 4
    second = run(
        tmp_path,
        "demo",
        "--data-dir",
        str(tmp_path),
        "--no-serve",
        "--no-sample-data",
        extra_env=env,
    )
    assert second.returncode == 0, second.stderr
    assert "created" not in second.stdout
    assert second.stdout.count("already published") == 4


def test_demo_generates_and_keeps_a_password_when_none_is_given(tmp_path: Path):
    first = run(tmp_path, "demo", "--data-dir", str(tmp_path), "--no-serve", "--no-sample-data")
    second = run(tmp_path, "demo", "--data-dir", str(tmp_path), "--no-serve", "--no-sample-data")
    password = [line for line in first.stdout.splitlines() if line.startswith("demo password")]
    assert password
    assert password == [
        line for line in second.stdout.splitlines() if line.startswith("demo password")
    ]
