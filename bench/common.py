"""The plumbing the benchmarks share (``bench/ingest``, ``bench/caselist``).

Servers: gunicorn started as a subprocess in its own session with its output in a log file,
polled until it answers, and stopped with its whole process group. Databases: a SQLite file in a
temporary data dir, or a throwaway PostgreSQL schema on a loopback host chosen through the URL's
``search_path`` and dropped afterwards. Around them: free ports, the temporary directory of a run,
SIGTERM turned into ``KeyboardInterrupt`` (so that every ``with`` block cleans up), the machine
facts of the results JSON, percentiles, and the results files
``bench/results/<name>-<UTC timestamp>.json`` and ``<name>-latest.json``.

A benchmark's ``run.py`` is started as a script (``python bench/<name>/run.py``), so it puts
``bench/`` on ``sys.path`` and imports this module as ``common``.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import ipaddress
import json
import os
import platform
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
LOOPBACK_NAMES = frozenset({"localhost"})
#: the ``User-Agent`` of ODK Collect's OkHttp client
USER_AGENT = (
    "Dalvik/2.1.0 (Linux; U; Android 13; SM-A145F Build/TP1A.220624.014) "
    "org.odk.collect.android/v2025.2.3"
)
#: the SQLite database's file name in fieldapp's data dir
SQLITE_FILE = "fieldapp.sqlite3"


# -- statistics --------------------------------------------------------------------------------


def percentile(values: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile of sorted ``values``; ``None`` when there are none."""
    if not values:
        return None
    rank = max(1, min(len(values), round(pct / 100 * len(values) + 0.5)))
    return values[rank - 1]


# -- the command line --------------------------------------------------------------------------


def comma_list(text: str) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``."""
    return [item.strip() for item in text.split(",") if item.strip()]


def add_postgres_url(parser: argparse.ArgumentParser) -> None:
    """Add ``--postgres-url`` (default ``$FIELDAPP_BENCH_POSTGRES_URL`` or the local ``test``)."""
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("FIELDAPP_BENCH_POSTGRES_URL", DEFAULT_POSTGRES),
        help="loopback PostgreSQL database in which a throwaway schema is made "
        "(default $FIELDAPP_BENCH_POSTGRES_URL or %(default)s)",
    )


# -- the run: temporary files, signals, times --------------------------------------------------


@contextlib.contextmanager
def temp_root(name: str) -> Iterator[Path]:
    """A temporary directory ``fieldapp-bench-<name>-*`` for the run, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix=f"fieldapp-bench-{name}-") as tmp_name:
        yield Path(tmp_name)


def make_data_dir(workdir: Path) -> Path:
    """Create ``workdir/data`` (and ``workdir`` if needed): a fresh fieldapp data dir."""
    data_dir = workdir / "data"
    data_dir.mkdir(parents=True)
    return data_dir


def raise_on_sigterm(before: Callable[[], None] | None = None) -> None:
    """Make SIGTERM raise ``KeyboardInterrupt`` (as Ctrl-C does), after calling ``before``.

    The ``with`` blocks holding servers, schemas and temporary directories then clean up on
    either signal.
    """

    def _terminate(signum: int, frame: FrameType | None) -> None:
        if before is not None:
            before()
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)


def utc_now() -> str:
    """The current UTC time, ISO 8601 to the second (``started_at``, ``finished_at``)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


# -- servers -----------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redact(text: str) -> str:
    """Hide device tokens (``/key/<token>``) in ``text``."""
    return re.sub(r"/key/[^/\s\"']+", "/key/***", text)


@dataclass
class Server:
    """A gunicorn started by :func:`gunicorn`: its process, port and log file."""

    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    def log_tail(self, lines: int = 40) -> str:
        """The log's last ``lines`` lines, device tokens redacted (``""`` if unreadable)."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return redact("\n".join(text.splitlines()[-lines:]))


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """Stop a process started in its own session, and its children (the gunicorn workers)."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@contextlib.contextmanager
def gunicorn(
    app: str,
    env: Mapping[str, str],
    workdir: Path,
    options: Mapping[str, Any],
    extra: Sequence[str] = (),
) -> Iterator[Server]:
    """Run ``python -m gunicorn [extra] app`` on a free loopback port with ``--<key> value``
    for every ``options`` item, in ``workdir`` with its output in ``workdir/gunicorn.log``.

    The server is in its own session and is stopped (the whole process group) on leaving.
    """
    port = free_port()
    log = workdir / "gunicorn.log"
    flags: list[str] = []
    for key, value in options.items():
        flags += [f"--{key}", str(value)]
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        *extra,
        app,
        "--bind",
        f"127.0.0.1:{port}",
        *flags,
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command,
            env=env,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield Server(proc, port, log)
    finally:
        stop_process(proc)


def wait_ready(server: Server, path: str, timeout: float = 60.0) -> None:
    """Poll ``HEAD path`` (a submission endpoint) until it answers 204 (bounded).

    :raises RuntimeError: gunicorn exited, or did not answer 204 within ``timeout`` seconds
        (the message ends with the log's tail).
    """
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(
                f"gunicorn exited with {server.proc.returncode}:\n{server.log_tail()}"
            )
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        try:
            conn.request("HEAD", path, headers={"X-OpenRosa-Version": "1.0"})
            status = conn.getresponse().status
            if status == 204:
                return
            last = f"HTTP {status}"
        except OSError as exc:
            last = type(exc).__name__
        finally:
            conn.close()
        time.sleep(0.2)
    raise RuntimeError(
        f"gunicorn did not answer within {timeout:.0f} s ({last}):\n{server.log_tail()}"
    )


# -- databases ---------------------------------------------------------------------------------


def check_loopback(url: str) -> None:
    """Refuse (exit) unless ``url``'s host is a loopback address: the benchmarks are local."""
    host = urlsplit(url).hostname or ""
    if host in LOOPBACK_NAMES:
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise SystemExit(f"refusing a non-loopback database host {host!r}: this benchmark is local")


def plain_url(url: str) -> str:
    """A PostgreSQL URL as psycopg takes it: ``postgresql://``, without a SQLAlchemy driver."""
    return re.sub(r"^postgres(?:ql)?(?:\+\w+)?://", "postgresql://", url)


def sqlite_url(data_dir: Path) -> str:
    """The SQLAlchemy URL of fieldapp's SQLite database in ``data_dir``."""
    return f"sqlite:///{data_dir / SQLITE_FILE}"


@contextlib.contextmanager
def postgres_schema(base_url: str, prefix: str) -> Iterator[tuple[str, str]]:
    """A fresh schema ``<prefix><random>``; yields ``(SQLAlchemy URL using it, schema)``.

    The URL selects the schema with ``options=-csearch_path=<schema>``. The schema is dropped
    (``CASCADE``) on leaving. Only loopback hosts are accepted.
    """
    import psycopg  # noqa: PLC0415

    check_loopback(base_url)
    plain = plain_url(base_url)
    schema = f"{prefix}{secrets.token_hex(4)}"
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in plain else "?"
    url = plain.replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield f"{url}{separator}options=-csearch_path%3D{schema}", schema
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@contextlib.contextmanager
def database(
    backend: str, data_dir: Path, postgres_url: str, schema_prefix: str
) -> Iterator[tuple[str, str | None]]:
    """Yield ``(SQLAlchemy URL, schema or None)`` of a fresh database for ``backend``.

    ``"sqlite"``: the file in ``data_dir`` (removed with it). ``"postgres"``: a throwaway
    schema, see :func:`postgres_schema`.
    """
    if backend == "postgres":
        with postgres_schema(postgres_url, schema_prefix) as (url, schema):
            yield url, schema
    else:
        yield sqlite_url(data_dir), None


# -- CPU accounting ----------------------------------------------------------------------------

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of ``/proc/<pid>/stat`` after the command name (index 0 is the state)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rpartition(")")[2].split()


def process_group_cpu(pgid: int) -> float:
    """CPU seconds (user + system) used so far by the live processes of a process group.

    The servers are started in their own session, so their group is the master and its
    workers. Linux only (``/proc``); 0.0 elsewhere.
    """
    total = 0
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if not entry.name.isdigit():
            continue
        fields = _proc_stat(int(entry.name))
        # after the name: state ppid pgrp session ... utime(11) stime(12)
        if fields and int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / _CLOCK_TICKS


def pids_cpu(pids: Sequence[int]) -> float:
    """CPU seconds used so far by these processes (PostgreSQL backends, say)."""
    total = 0
    for pid in pids:
        fields = _proc_stat(pid)
        if fields:
            total += int(fields[11]) + int(fields[12])
    return total / _CLOCK_TICKS


def postgres_backend_pids(url: str, application_name: str) -> list[int]:
    """Server processes of the connections that carry ``application_name``."""
    import psycopg  # noqa: PLC0415

    with psycopg.connect(plain_url(url), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (application_name,)
        ).fetchall()
    return [int(row[0]) for row in rows]


# -- facts and results -------------------------------------------------------------------------


def machine_facts(
    gunicorn_options: Mapping[str, Any],
    specific: Mapping[str, Any],
    postgres_url: str | None,
    postgres_settings: Sequence[str],
) -> dict[str, Any]:
    """The ``machine`` of a results file.

    CPUs, platform, Python, gunicorn and its options, then the benchmark's ``specific`` facts,
    then the load average before the run, the git commit (``-dirty`` with uncommitted changes
    to tracked files) and, with a ``postgres_url``, the PostgreSQL ``postgres_settings``.
    """
    import gunicorn as gunicorn_module  # noqa: PLC0415

    facts: dict[str, Any] = {
        "nproc": os.cpu_count(),
        "nproc_available": len(os.sched_getaffinity(0)),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "gunicorn": gunicorn_module.__version__,
        "gunicorn_options": gunicorn_options,
        **specific,
    }
    with contextlib.suppress(OSError, ValueError):
        facts["loadavg_before"] = os.getloadavg()
    commit = git_commit()
    if commit is not None:
        facts["git_commit"] = commit
    if postgres_url is not None:
        facts["postgres"] = postgres_facts(postgres_url, postgres_settings)
    return facts


def git_commit() -> str | None:
    """``HEAD``'s commit, with ``-dirty`` if tracked files changed; ``None`` if git failed."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "HEAD"],
            capture_output=True, text=True, check=False, timeout=10,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, check=False, timeout=10,
        ).stdout.strip()  # fmt: skip
        return commit + ("-dirty" if dirty else "")
    return None


def filesystem(path: Path) -> str | None:
    """The file system type (``ext4``, ``tmpfs``...) ``path`` lies on, from ``/proc/mounts``."""
    best, kind = "", None
    with contextlib.suppress(OSError):
        for line in Path("/proc/mounts").read_text().splitlines():
            fields = line.split()
            mount = fields[1]
            if str(path).startswith(mount.rstrip("/") + "/") and len(mount) > len(best):
                best, kind = mount, fields[2]
    return kind


def postgres_facts(base_url: str, settings: Sequence[str]) -> dict[str, Any]:
    """``SHOW <setting>`` for every one of ``settings`` (loopback hosts only)."""
    import psycopg  # noqa: PLC0415

    check_loopback(base_url)
    facts: dict[str, Any] = {}
    with psycopg.connect(plain_url(base_url)) as conn:
        for setting in settings:
            row = conn.execute(f"SHOW {setting}").fetchone()
            facts[setting] = row[0] if row else None
    return facts


def write_report(name: str, report: Mapping[str, Any]) -> Path:
    """Write ``bench/results/<name>-<UTC timestamp>.json`` and ``<name>-latest.json``.

    Returns the timestamped file's path.
    """
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    text = json.dumps(report, indent=2, ensure_ascii=False, default=str) + "\n"
    path = RESULTS / f"{name}-{stamp}.json"
    path.write_text(text)
    (RESULTS / f"{name}-latest.json").write_text(text)
    return path


def per_backend_main(
    script: str,
    name: str,
    description: str,
    measure: Callable[[str, int, Path, str], dict[str, Any]],
    markdown: Callable[[dict[str, Any]], str],
    *,
    count_help: str,
    extra: Mapping[str, Any] | None = None,
    argv: list[str] | None = None,
) -> int:
    """The command line of an in-process benchmark run once per backend: ``--count``,
    ``--backends``, ``--postgres-url``. Each backend runs in a process of its own (an app binds
    the process's one database session) that writes its figures as JSON; the report goes to
    ``bench/results/<name>-<UTC>.json`` and ``<name>-latest.md``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--count", type=int, default=300, help=count_help)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--one-into", help=argparse.SUPPRESS)  # internal: one backend, JSON here
    add_postgres_url(parser)
    args = parser.parse_args(argv)
    backends = comma_list(args.backends)
    if args.one_into:
        with temp_root(name) as workdir:
            result = measure(backends[0], args.count, workdir, args.postgres_url)
        Path(args.one_into).write_text(json.dumps(result))
        return 0
    report: dict[str, Any] = {
        "benchmark": name,
        "started_at": utc_now(),
        "git_commit": git_commit(),
        "loadavg_before": [round(x, 2) for x in os.getloadavg()],
        "count": args.count,
        **(extra or {}),
        "backends": {},
    }
    with temp_root(f"{name}-out") as out:
        for backend in backends:
            target = out / f"{backend}.json"
            command = [sys.executable, script, "--backends", backend, "--count", str(args.count),
                       "--postgres-url", args.postgres_url, "--one-into", str(target)]  # fmt: skip
            env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDAPP_")}
            subprocess.run(command, check=True, env=env)
            report["backends"][backend] = json.loads(target.read_text())
    write_report(name, report)
    (RESULTS / f"{name}-latest.md").write_text(markdown(report))
    print(markdown(report))
    return 0
