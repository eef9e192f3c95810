"""A real fieldapp under gunicorn, for tests that need processes, crashes and concurrency.

The server gets its own data dir and database: a SQLite file, or — when the suite runs on
PostgreSQL (``FIELDAPP_TEST_DATABASE_URL``) — its own schema in that database.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import text

from fieldapp.db import make_engine

ROOT = Path(__file__).resolve().parent.parent
#: the gzip/brotli variants of static/ the live servers make, kept between runs
STATIC_CACHE = Path(tempfile.gettempdir()) / "fieldapp-test-static-cache"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """Prepare an instance with the CLI, then start, kill and restart gunicorn on it."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.schema: str | None = None
        self.application_name: str | None = None
        self.log_dir: Path | None = None
        base_url = os.environ.get("FIELDAPP_TEST_DATABASE_URL")
        if base_url and "postgresql" in base_url:
            self.schema = f"live_{uuid.uuid4().hex[:8]}"
            engine = make_engine(base_url)
            with engine.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{self.schema}"'))
            engine.dispose()
            sep = "&" if "?" in base_url else "?"
            # the application name lets a test find (and terminate) this server's backends only
            self.application_name = f"fieldapp_{self.schema}"
            self.database_url = (
                f"{base_url}{sep}options=-csearch_path%3D{self.schema}"
                f"&application_name={self.application_name}"
            )
            self._admin_url = base_url
        else:
            self.database_url = f"sqlite:///{data_dir / 'live.sqlite3'}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDAPP_")}
        self.env.update(
            {
                "FIELDAPP_DATA_DIR": str(data_dir),
                "FIELDAPP_DATABASE_URL": self.database_url,
                "FIELDAPP_ODK_VALIDATE": "never",
                "FIELDAPP_SECRET_KEY": "live-test",
                # compressed static files are named by their content: every server may share
                "FIELDAPP_STATIC_CACHE_DIR": str(STATIC_CACHE),
            }
        )

    def cli(self, *args: str, stdin: str = "") -> str:
        result = subprocess.run(
            [sys.executable, "-m", "fieldapp.cli", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env,
            cwd=ROOT,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            raise AssertionError(f"fieldapp {' '.join(args)} failed: {result.stderr}")
        return result.stdout.strip()

    def start(self, *, workers: int = 2, threads: int = 4, log_dir: Path | None = None) -> None:
        """Start gunicorn as production runs it (``gunicorn 'fieldapp:create_app()'``, gthread).

        :param log_dir: keep everything the server writes there: ``access.log`` (gunicorn's
            default format, which shows the request line and Basic username), ``error.log``,
            ``stdout.log`` and ``stderr.log``; otherwise it is discarded.
        """
        args = [
            sys.executable,
            "-m",
            "gunicorn",
            "fieldapp:create_app()",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(workers),
            "--worker-class",
            "gthread",
            "--threads",
            str(threads),
            "--timeout",
            "60",
        ]
        stdout: Any = subprocess.DEVNULL
        stderr: Any = subprocess.DEVNULL
        self.log_dir = log_dir
        if log_dir is not None:
            log_dir.mkdir(parents=True, exist_ok=True)
            args += [
                "--access-logfile",
                str(log_dir / "access.log"),
                "--error-logfile",
                str(log_dir / "error.log"),
            ]
            stdout = (log_dir / "stdout.log").open("ab")
            stderr = (log_dir / "stderr.log").open("ab")
        try:
            self.proc = subprocess.Popen(
                args,
                env=self.env,
                cwd=ROOT,
                stdout=stdout,
                stderr=stderr,
                start_new_session=True,
            )
        finally:
            for stream in (stdout, stderr):
                if stream is not subprocess.DEVNULL:
                    stream.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            try:
                conn.request("GET", "/login")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                time.sleep(0.2)
            finally:
                conn.close()
        raise AssertionError("the live server did not start")

    def kill(self) -> None:
        """SIGKILL the whole server (master and workers), as a power cut or OOM kill would."""
        if self.proc is not None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
            self.proc = None

    def logs(self) -> str:
        """Everything the server wrote to its logs so far (``start(log_dir=...)``)."""
        if self.log_dir is None:
            return ""
        return "".join(
            path.read_text(errors="replace") for path in sorted(self.log_dir.glob("*.log"))
        )

    def engine(self):  # type: ignore[no-untyped-def]
        """An engine on the server's own database (its schema is in the URL)."""
        return make_engine(self.database_url)

    def close(self) -> None:
        self.stop()
        if self.schema:
            engine = make_engine(self._admin_url)
            with engine.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{self.schema}" CASCADE'))
            engine.dispose()


def multipart(fields: list[tuple[str, str, bytes, str]]) -> tuple[bytes, str]:
    """Encode ``(name, filename, data, content_type)`` parts; returns body and content type."""
    boundary = uuid.uuid4().hex
    chunks: list[bytes] = []
    for name, filename, data, content_type in fields:
        chunks.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\nContent-Type: {content_type}\r\n\r\n'.encode()
        )
        chunks.append(data)
        chunks.append(b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


def post_submission(
    port: int, path: str, xml: bytes, files: list[tuple[str, bytes]], timeout: float = 30
) -> int:
    body, content_type = multipart(
        [("xml_submission_file", "submission.xml", xml, "text/xml")]
        + [(name, name, data, "application/octet-stream") for name, data in files]
    )
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(
            "POST",
            path,
            body=body,
            headers={
                "Content-Type": content_type,
                "X-OpenRosa-Version": "1.0",
                "User-Agent": "org.odk.collect.android/test",
            },
        )
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()
