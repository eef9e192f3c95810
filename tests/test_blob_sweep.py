"""Temporary files of interrupted attachment writes are removed at start and periodically, once
they are old enough that no write in progress (in any process) can own them."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.live import ROOT

HOUR = 3600

# Runs in its own process, so that its app (and its database binding) stays out of the suite's.
SCRIPT = """
import os, sys, time
from pathlib import Path
from fieldapp import create_app

interval = float(sys.argv[1])
app = create_app({"BLOB_SWEEP_INTERVAL_SECONDS": interval, "BLOB_TMP_MAX_AGE_SECONDS": 600})
sweeper = app.extensions["fieldapp.blob_sweeper"]
assert sweeper.wait_for_passes(1, 60), "no first pass"
print("after start:", " ".join(sorted(p.name for p in Path(sys.argv[2]).rglob(".tmp-*"))))
if len(sys.argv) > 3:
    # another interrupted write, found abandoned after the start
    late = Path(sys.argv[3])
    late.write_bytes(b"partial")
    old = time.time() - 7200
    os.utime(late, (old, old))
    done = sweeper.passes
    assert sweeper.wait_for_passes(done + 2, 60), "no periodic pass"
    print("after a period:", " ".join(sorted(p.name for p in Path(sys.argv[2]).rglob(".tmp-*"))))
"""


def _plant(path: Path, age: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"half an attachment")
    then = time.time() - age
    os.utime(path, (then, then))
    return path


def _run(data_dir: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDAPP_")}
    env.update(
        {
            "FIELDAPP_DATA_DIR": str(data_dir),
            "FIELDAPP_SECRET_KEY": "sweep-test",
            "FIELDAPP_DATABASE_URL": f"sqlite:///{data_dir / 'db.sqlite3'}",
        }
    )
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_abandoned_temporary_files_are_removed_at_start_and_fresh_ones_kept(tmp_path: Path):
    blobs = tmp_path / "blobs"
    stored = _plant(blobs / "ab" / "cd" / ("abcd" + "0" * 60), 2 * HOUR)  # a real blob, old
    _plant(blobs / "ab" / "cd" / ".tmp-abandoned", 2 * HOUR)
    _plant(blobs / "12" / "34" / ".tmp-abandoned2", HOUR)
    _plant(blobs / "ab" / "cd" / ".tmp-in-progress", 1)  # another process is writing it

    out = _run(tmp_path, "3600", str(blobs))

    assert out.splitlines() == ["after start: .tmp-in-progress"]
    assert stored.exists()


def test_temporary_files_abandoned_later_are_removed_by_a_periodic_pass(tmp_path: Path):
    blobs = tmp_path / "blobs"
    _plant(blobs / "ef" / "01" / ".tmp-in-progress", 1)
    late = blobs / "ef" / "01" / ".tmp-later"

    out = _run(tmp_path, "0.2", str(blobs), str(late))

    assert out.splitlines() == [
        "after start: .tmp-in-progress",
        "after a period: .tmp-in-progress",
    ]
