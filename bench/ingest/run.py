"""Ingest benchmark: Collect-like submissions per second and latency, fieldapp against a ceiling.

For each backend (fieldapp on SQLite, fieldapp on PostgreSQL, and the ceiling: a bare Flask app
that only parses the multipart body) this starts a fresh instance under gunicorn with the same
options, then runs 1, 4 and 16 concurrent clients. Each client is one thread with one keep-alive
connection (like OkHttp in ODK Collect): one ``HEAD /submission``, then POSTs of the ``met``
home-visit submission (a fresh instanceID each time) with a 200 KB JPEG for a fixed time.

Results: ``bench/results/ingest-<UTC timestamp>.json`` and ``bench/results/ingest-latest.json``.
See ``bench/ingest/README.md``.

    .venv/bin/python bench/ingest/run.py [--duration 10] [--clients 1,4,16]
        [--backends sqlite,postgres,ceiling]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
import secrets
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import common
from common import ROOT, USER_AGENT, Server, percentile

HERE = Path(__file__).resolve().parent
FORM = ROOT / "forms" / "home_visit.xlsx"
CASE = ROOT / "tests" / "data" / "submissions" / "home_visit" / "met"

FIELDAPP_BACKENDS = ("sqlite", "postgres")
ALL_BACKENDS = (*FIELDAPP_BACKENDS, "ceiling")
GUNICORN_OPTIONS = {"workers": 4, "worker-class": "gthread", "threads": 4}
PHOTO_BYTES = 200 * 1024
DEVICE_ID = "collect:bench"
TARGET_RATIO = 0.5


# -- the submission a phone sends --------------------------------------------------------------


class Payload:
    """The ``met`` home-visit submission and its photo, made unique for every POST.

    The XML is the JavaRosa output of a real Collect fill (``tests/data/submissions/home_visit/
    met``) with a fresh ``uuid:`` instanceID per POST. The photo is what that XML names
    (``closing/photo``): a JPEG header, a comment segment with 16 unique bytes (so that every
    photo is a new blob, as real photos are), random bytes and the end-of-image marker.
    """

    def __init__(self, photo_bytes: int = PHOTO_BYTES) -> None:
        xml = (CASE / "submission.xml").read_bytes()
        fill = json.loads((CASE / "fill-result.json").read_text())
        attachments = fill["attachments"]
        if len(attachments) != 1:
            raise SystemExit(f"expected one attachment in the met case, found {attachments}")
        self.photo_name: str = attachments[0]
        if f"<photo>{self.photo_name}</photo>".encode() not in xml:
            raise SystemExit(f"the met submission does not name {self.photo_name} as its photo")
        found = re.search(rb"<instanceID>(uuid:[^<]+)</instanceID>", xml)
        if found is None:
            raise SystemExit("the met submission has no instanceID")
        self.form_id: str = fill["form_id"]
        self.xml_before = xml[: found.start(1)]
        self.xml_after = xml[found.end(1) :]
        self.xml_filename = f"{self.form_id}_2026-03-01_12-17-15.xml"
        head = (
            b"\xff\xd8"  # SOI
            b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"  # APP0 JFIF
            b"\xff\xfe\x00\x12"  # COM segment: 2 length bytes + 16 unique bytes
        )
        self.photo_head = head
        filler = photo_bytes - len(head) - 16 - 2
        self.photo_rest = os.urandom(filler) + b"\xff\xd9"  # ... EOI
        self.photo_size = photo_bytes

    def photo(self) -> bytes:
        return self.photo_head + uuid.uuid4().bytes + self.photo_rest

    def body(self) -> tuple[bytes, str, str]:
        """One multipart body as OkHttp builds it: ``(body, content type, instanceID)``."""
        instance_id = f"uuid:{uuid.uuid4()}"
        xml = self.xml_before + instance_id.encode() + self.xml_after
        photo = self.photo()
        boundary = str(uuid.uuid4())
        parts = []
        for name, filename, content_type, data in (
            ("xml_submission_file", self.xml_filename, "text/xml", xml),
            (self.photo_name, self.photo_name, "image/jpeg", photo),
        ):
            parts.append(
                (
                    f"--{boundary}\r\n"
                    f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                    f"Content-Type: {content_type}\r\n"
                    f"Content-Length: {len(data)}\r\n\r\n"
                ).encode()
                + data
                + b"\r\n"
            )
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        return body, f"multipart/form-data; boundary={boundary}", instance_id


# -- one client --------------------------------------------------------------------------------


@dataclass
class Sample:
    started: float
    finished: float
    status: int  # 0: no HTTP response (connection error)
    detail: str = ""


@dataclass
class ClientResult:
    head_status: int | None = None
    samples: list[Sample] = field(default_factory=list)
    acknowledged: set[str] = field(default_factory=set)
    sent: int = 0
    reconnects: int = 0
    failure: str | None = None


def _message(body: bytes) -> str:
    found = re.search(rb"<message[^>]*>(.*?)</message>", body, re.DOTALL)
    text = (found.group(1) if found else body[:200]).decode("utf-8", errors="replace")
    return " ".join(text.split())


class Client:
    """A phone: one keep-alive connection, requests one after the other."""

    def __init__(self, port: int, path: str, payload: Payload, timeout: float) -> None:
        self.port = port
        self.path = path
        self.payload = payload
        self.timeout = timeout
        self.conn: http.client.HTTPConnection | None = None
        self.used = False

    def _connection(self) -> http.client.HTTPConnection:
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            self.used = False
        return self.conn

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def _headers(self) -> dict[str, str]:
        return {
            "X-OpenRosa-Version": "1.0",
            "User-Agent": USER_AGENT,
            "Connection": "Keep-Alive",
        }

    def request(self, method: str, body: bytes | None, content_type: str | None) -> tuple[int, str]:
        """Send one request; return ``(status, message)``.

        :raises _Reconnect: a reused connection was found closed (the caller sends again on a new
            one, as OkHttp's retryOnConnectionFailure does).
        """
        headers = self._headers()
        if content_type:
            headers["Content-Type"] = content_type
        conn = self._connection()
        reused = self.used
        try:
            conn.request(method, f"{self.path}?deviceID={DEVICE_ID}", body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
        except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected):
            self.close()
            if reused:
                raise _Reconnect from None
            raise
        self.used = True
        if response.will_close:
            self.close()
        status = response.status
        return status, "" if status in (201, 204) else _message(data)


class _Reconnect(Exception):
    """The server closed a kept-alive connection before this request: send it again."""


def client_thread(
    client: Client,
    result: ClientResult,
    ready: threading.Barrier,
    clock: dict[str, float],
    stop: threading.Event,
    max_requests: int,
) -> None:
    try:
        try:
            result.head_status, _ = client.request("HEAD", None, None)
        finally:
            ready.wait()
        end = clock["end"]
        while not stop.is_set() and result.sent < max_requests:
            started = time.perf_counter()
            if started >= end:
                break
            body, content_type, instance_id = client.payload.body()
            result.sent += 1
            try:
                try:
                    status, detail = client.request("POST", body, content_type)
                except _Reconnect:
                    result.reconnects += 1
                    status, detail = client.request("POST", body, content_type)
            except (OSError, http.client.HTTPException) as exc:
                client.close()
                status, detail = 0, type(exc).__name__
            result.samples.append(Sample(started, time.perf_counter(), status, detail))
            if status == 201:
                result.acknowledged.add(instance_id)
    except threading.BrokenBarrierError:
        result.failure = "aborted"
    except Exception as exc:  # reported, never silent
        result.failure = f"{type(exc).__name__}: {exc}"
    finally:
        client.close()


def _join(threads: list[threading.Thread], deadline: float) -> None:
    for thread in threads:
        while thread.is_alive():
            thread.join(0.2)
            if time.monotonic() > deadline:
                raise RuntimeError("clients did not finish in time")


def run_step(
    port: int,
    path: str,
    payload: Payload,
    clients: int,
    warmup: float,
    duration: float,
    max_requests: int,
    stop: threading.Event,
    cpu_probe: Callable[[], dict[str, float]] | None = None,
) -> tuple[dict[str, Any], set[str]]:
    """Run ``clients`` concurrent clients; return the figures and the acknowledged instanceIDs.

    ``cpu_probe`` returns CPU seconds used so far by the server's processes (``server``, and
    ``database`` for PostgreSQL backends); it is read when the measured window opens and after
    the last client has finished, with this process's own CPU time (the clients).
    """
    results = [ClientResult() for _ in range(clients)]
    clock: dict[str, float] = {}
    cpu_at: dict[str, dict[str, float]] = {}

    def _cpu_now() -> dict[str, float]:
        return {**(cpu_probe() if cpu_probe else {}), "client": time.process_time()}

    def _start() -> None:  # runs once, when every client has sent its HEAD
        now = time.perf_counter()
        clock["window"] = now + warmup
        clock["end"] = now + warmup + duration
        timer = threading.Timer(warmup, lambda: cpu_at.setdefault("start", _cpu_now()))
        timer.daemon = True
        timer.start()

    ready = threading.Barrier(clients, action=_start)
    threads = [
        threading.Thread(
            target=client_thread,
            args=(Client(port, path, payload, 60.0), result, ready, clock, stop, max_requests),
            name=f"client-{i}",
            daemon=True,
        )
        for i, result in enumerate(results)
    ]
    deadline = time.monotonic() + warmup + duration + 120
    try:
        for thread in threads:
            thread.start()
        _join(threads, deadline)
    except BaseException:
        stop.set()
        ready.abort()
        raise
    if stop.is_set():
        raise KeyboardInterrupt
    cpu_at["end"] = _cpu_now()
    failures = [r.failure for r in results if r.failure]
    if failures:
        raise RuntimeError(f"client failed: {failures[0]}")

    window = clock["window"]
    measured = [s for r in results for s in r.samples if s.started >= window]
    ok = sorted((s.finished - s.started) * 1000 for s in measured if s.status == 201)
    last = max((s.finished for s in measured), default=clock["end"])
    elapsed = max(last - window, 1e-9)
    errors: Counter[str] = Counter(
        f"{s.status or 'no response'} {s.detail}".strip()
        for r in results
        for s in r.samples
        if s.status != 201
    )
    acknowledged = set().union(*(r.acknowledged for r in results))
    figures = {
        "clients": clients,
        "requests": len(measured),
        "successes": len(ok),
        "throughput_per_s": round(len(ok) / elapsed, 2),
        "latency_ms": {
            "p50": _round(percentile(ok, 50)),
            "p95": _round(percentile(ok, 95)),
            "p99": _round(percentile(ok, 99)),
            "mean": _round(sum(ok) / len(ok) if ok else None),
            "max": _round(ok[-1] if ok else None),
        },
        "measured_seconds": round(elapsed, 3),
        "errors": sum(errors.values()),
        "error_kinds": dict(errors.most_common()),
        "posted_including_warmup": sum(r.sent for r in results),
        "acknowledged_including_warmup": len(acknowledged),
        "reconnects": sum(r.reconnects for r in results),
        "head_statuses": dict(Counter(str(r.head_status) for r in results)),
    }
    if "start" in cpu_at and measured:
        used = {k: cpu_at["end"][k] - cpu_at["start"][k] for k in cpu_at["end"]}
        per_request = {k: round(v / len(measured) * 1000, 2) for k, v in used.items()}
        total = sum(per_request.values())
        figures["cpu_ms_per_request"] = {**per_request, "total": round(total, 2)}
        # what this machine could do if CPU were the only limit: every core busy on this path
        cores = os.cpu_count() or 1
        figures["cpu_bound_per_s"] = round(cores * 1000 / total, 1) if total else None
    return figures, acknowledged


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


# -- instances ---------------------------------------------------------------------------------


def cli(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "fieldapp.cli", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"fieldapp {' '.join(args[:2])} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


@dataclass
class Instance:
    backend: str
    server: Server
    path: str  # the submission path, device token included
    data_dir: Path | None = None
    database_url: str | None = None
    application_name: str | None = None  # PostgreSQL connections of this instance carry it

    def cpu(self) -> dict[str, float]:
        """CPU seconds used so far by the server (and its PostgreSQL backends)."""
        out = {"server": common.process_group_cpu(self.server.proc.pid)}
        if self.application_name and self.database_url:
            pids = common.postgres_backend_pids(self.database_url, self.application_name)
            out["database"] = common.pids_cpu(pids)
        return out


@contextlib.contextmanager
def fieldapp_instance(backend: str, workdir: Path, postgres_url: str) -> Iterator[Instance]:
    data_dir = common.make_data_dir(workdir)
    env = {
        **os.environ,
        "FIELDAPP_DATA_DIR": str(data_dir),
        "FIELDAPP_ODK_VALIDATE": "never",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("FIELDAPP_DATABASE_URL", None)
    with contextlib.ExitStack() as stack:
        database_url, schema = stack.enter_context(
            common.database(backend, data_dir, postgres_url, "bench_ingest_")
        )
        application_name = None
        if backend == "postgres":
            application_name = schema  # to find this instance's backends for CPU accounting
            database_url = f"{database_url}&application_name={application_name}"
            env["FIELDAPP_DATABASE_URL"] = database_url
        cli(env, "db", "upgrade")
        cli(env, "forms", "publish", str(FORM))
        cli(env, "users", "create", "bench", "--role", "field_worker", "--region", "bench",
            stdin=f"{secrets.token_urlsafe(18)}\n")  # fmt: skip
        collect_url = cli(env, "devices", "create", "--user", "bench", "--site", "http://bench")
        token = collect_url.strip().rsplit("/collect/key/", 1)[1]
        path = f"/collect/key/{token}/submission"
        server = stack.enter_context(
            common.gunicorn("fieldapp:create_app()", env, workdir, GUNICORN_OPTIONS)
        )
        common.wait_ready(server, path)
        yield Instance(backend, server, path, data_dir, database_url, application_name)


@contextlib.contextmanager
def ceiling_instance(workdir: Path) -> Iterator[Instance]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    path = f"/collect/key/{secrets.token_urlsafe(48)}/submission"
    extra = ["--pythonpath", str(HERE)]
    with common.gunicorn("ceiling:create_app()", env, workdir, GUNICORN_OPTIONS, extra) as server:
        common.wait_ready(server, path)
        yield Instance("ceiling", server, path)


def stored_submissions(instance: Instance) -> tuple[set[str], int]:
    """Instance IDs of the stored submissions, and how many of them have their photo stored."""
    query_ids = "SELECT instance_id FROM submissions"
    query_photos = (
        "SELECT count(*) FROM submission_attachments a "
        "JOIN submission_versions v ON v.id = a.version_id "
        "JOIN submissions s ON s.current_version_id = v.id "
        "WHERE a.blob_sha256 IS NOT NULL"
    )
    if instance.backend == "sqlite":
        assert instance.data_dir is not None
        with contextlib.closing(sqlite3.connect(instance.data_dir / common.SQLITE_FILE)) as conn:
            ids = {row[0] for row in conn.execute(query_ids)}
            photos = conn.execute(query_photos).fetchone()[0]
        return ids, int(photos)
    import psycopg  # noqa: PLC0415

    assert instance.database_url is not None
    with psycopg.connect(common.plain_url(instance.database_url)) as conn:
        ids = {row[0] for row in conn.execute(query_ids)}
        row = conn.execute(query_photos).fetchone()
        assert row is not None
        return ids, int(row[0])


# -- facts and report --------------------------------------------------------------------------


def machine_facts(args: argparse.Namespace, payload: Payload, tmp: Path) -> dict[str, Any]:
    specific = {
        "sqlite": sqlite3.sqlite_version,
        "photo_bytes": payload.photo_size,
        "photo_name": payload.photo_name,
        "submission": str(CASE.relative_to(ROOT) / "submission.xml"),
        "form": str(FORM.relative_to(ROOT)),
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "client": "http.client, one thread and one keep-alive connection per client",
        "temp_dir_filesystem": common.filesystem(tmp),
    }
    return common.machine_facts(
        GUNICORN_OPTIONS,
        specific,
        args.postgres_url if "postgres" in args.backends else None,
        ("server_version", "fsync", "synchronous_commit", "max_connections"),
    )


def print_table(report: dict[str, Any]) -> None:
    ceiling = report["backends"].get("ceiling", {}).get("steps", {})
    print()
    print(f"{'backend':<9} {'clients':>7} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} "
          f"{'p99 ms':>8} {'errors':>6} {'x ceiling':>9} {'CPU ms/req':>10}")  # fmt: skip
    for backend, result in report["backends"].items():
        for clients, step in result["steps"].items():
            lat = step["latency_ms"]
            ratio = ""
            if backend != "ceiling" and clients in ceiling:
                value = report["ratios"].get(backend, {}).get(clients)
                ratio = f"{value:.2f}" if value is not None else ""
            cpu = step.get("cpu_ms_per_request", {}).get("total", "")
            print(
                f"{backend:<9} {clients:>7} {step['throughput_per_s']:>8.1f} "
                f"{_fmt(lat['p50'])} {_fmt(lat['p95'])} {_fmt(lat['p99'])} "
                f"{step['errors']:>6} {ratio:>9} {cpu:>10}"
            )
    target = report.get("target")
    if target:
        print(f"\ntarget: {target['description']}: {target['status']}")


def _fmt(value: float | None) -> str:
    return f"{value:>8.1f}" if value is not None else f"{'-':>8}"


def ratios(backends: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    ceiling = backends.get("ceiling", {}).get("steps", {})
    out: dict[str, dict[str, float | None]] = {}
    for backend in FIELDAPP_BACKENDS:
        if backend not in backends or not ceiling:
            continue
        out[backend] = {}
        for clients, step in backends[backend]["steps"].items():
            top = ceiling.get(clients, {}).get("throughput_per_s")
            out[backend][clients] = round(step["throughput_per_s"] / top, 3) if top else None
    return out


def target(backends: dict[str, Any], ratio_table: dict[str, Any]) -> dict[str, Any]:
    description = f"PostgreSQL at 16 clients >= {TARGET_RATIO} x the ceiling's throughput"
    value = ratio_table.get("postgres", {}).get("16")
    if value is None:
        return {"description": description, "status": "not measured", "met": None}
    met = value >= TARGET_RATIO
    return {
        "description": description,
        "ratio": value,
        "met": met,
        "status": f"{'met' if met else 'NOT met'} ({value:.2f})",
    }


# -- main --------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured per step")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring")
    parser.add_argument("--clients", default="1,4,16", help="client counts, comma-separated")
    parser.add_argument("--backends", default="sqlite,postgres,ceiling")
    parser.add_argument(
        "--max-requests", type=int, default=100_000, help="per client and step (a bound)"
    )
    common.add_postgres_url(parser)
    args = parser.parse_args(argv)
    args.clients = [int(c) for c in common.comma_list(args.clients)]
    args.backends = common.comma_list(args.backends)
    unknown = set(args.backends) - set(ALL_BACKENDS)
    if unknown or not args.backends:
        parser.error(f"backends are {', '.join(ALL_BACKENDS)}")
    if not args.clients or min(args.clients) < 1 or args.duration <= 0 or args.warmup < 0:
        parser.error("clients must be >= 1, duration > 0, warmup >= 0")
    return args


def run_backend(
    backend: str, args: argparse.Namespace, payload: Payload, tmp: Path, stop: threading.Event
) -> dict[str, Any]:
    workdir = tmp / backend
    workdir.mkdir()
    with contextlib.ExitStack() as stack:
        if backend == "ceiling":
            instance = stack.enter_context(ceiling_instance(workdir))
        else:
            instance = stack.enter_context(fieldapp_instance(backend, workdir, args.postgres_url))
        steps: dict[str, Any] = {}
        acknowledged: set[str] = set()
        for clients in args.clients:
            print(f"{backend}: {clients} client(s) ...", flush=True)
            figures, acked = run_step(
                instance.server.port,
                instance.path,
                payload,
                clients,
                args.warmup,
                args.duration,
                args.max_requests,
                stop,
                instance.cpu,
            )
            acknowledged |= acked
            steps[str(clients)] = figures
            lat = figures["latency_ms"]
            print(
                f"  {figures['throughput_per_s']:.1f}/s  p50 {lat['p50']} ms  p95 {lat['p95']} ms"
                f"  errors {figures['errors']}",
                flush=True,
            )
            if "cpu_ms_per_request" in figures:
                print(f"  CPU ms per request: {figures['cpu_ms_per_request']}", flush=True)
        result: dict[str, Any] = {"steps": steps}
        if backend != "ceiling":
            stored, photos = stored_submissions(instance)
            lost = acknowledged - stored
            result["verification"] = {
                "acknowledged_201": len(acknowledged),
                "stored_submissions": len(stored),
                "stored_with_photo": photos,
                "acknowledged_but_missing": len(lost),
                "stored_not_acknowledged": len(stored - acknowledged),
                "ok": not lost and len(stored) == len(acknowledged) and photos == len(stored),
            }
            print(f"  verification: {result['verification']}", flush=True)
        if any(step["errors"] for step in steps.values()):
            result["server_log_tail"] = instance.server.log_tail(60).splitlines()
        return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    payload = Payload()
    stop = threading.Event()
    common.raise_on_sigterm(stop.set)
    started_at = common.utc_now()
    with common.temp_root("ingest") as tmp:
        report: dict[str, Any] = {
            "benchmark": "ingest",
            "started_at": started_at,
            "machine": machine_facts(args, payload, tmp),
            "backends": {},
        }
        try:
            for backend in args.backends:
                report["backends"][backend] = run_backend(backend, args, payload, tmp, stop)
        except KeyboardInterrupt:
            stop.set()
            print("\ninterrupted: stopped the servers and removed the temporary files")
            return 130
    report["finished_at"] = common.utc_now()
    report["ratios"] = ratios(report["backends"])
    report["target"] = target(report["backends"], report["ratios"])
    fieldapp_errors = {
        backend: sum(step["errors"] for step in result["steps"].values())
        for backend, result in report["backends"].items()
    }
    unverified = [
        backend
        for backend, result in report["backends"].items()
        if not result.get("verification", {"ok": True})["ok"]
    ]
    report["errors"] = fieldapp_errors
    path = common.write_report("ingest", report)
    print_table(report)
    print(f"\nresults: {path.relative_to(ROOT)} (and ingest-latest.json)")
    failed = False
    for backend, count in fieldapp_errors.items():
        if count:
            failed = True
            kinds = Counter[str]()
            for step in report["backends"][backend]["steps"].values():
                kinds.update(step["error_kinds"])
            print(f"ERROR: {backend}: {count} request(s) not answered 201: {dict(kinds)}")
    for backend in unverified:
        failed = True
        print(f"ERROR: {backend}: stored submissions do not match the 201s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
