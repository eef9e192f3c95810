"""A regional office against a live gunicorn: the demo programme, a coordinator in the browser,
an API client, and phones syncing with a device token and with a password.

Everything goes over real HTTP (``http.client``, one connection per request, as many phones
do); every answer is checked against what that request must get.
"""

from __future__ import annotations

import hashlib
import http.client
import itertools
import json
import os
import random
import re
import statistics
import threading
import time
import uuid
from base64 import b64encode
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import text

from tests.live import LiveServer, multipart

PASSWORD = "office load password"
PHOTO_FORM = """
| survey   |         |         |       |
|          | type    | name    | label |
|          | text    | name    | Name  |
|          | image   | photo   | Photo |
| settings |         |         |       |
|          | form_id | version |       |
|          | office_photo | 1  |       |
"""
#: the follow-up form whose manifest holds a case list (households.csv)
CASE_LIST_FORM = "home_visit"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


class Http:
    """A client of the live server: cookies kept, credentials added to every request."""

    def __init__(
        self, port: int, *, basic: tuple[str, str] | None = None, bearer: str = ""
    ) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}
        self.auth = ""
        if basic:
            self.auth = "Basic " + b64encode(f"{basic[0]}:{basic[1]}".encode()).decode()
        elif bearer:
            self.auth = f"Bearer {bearer}"

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 60,
    ) -> Answer:
        sent = {"User-Agent": "org.odk.collect.android/office-load", "X-OpenRosa-Version": "1.0"}
        if self.auth:
            sent["Authorization"] = self.auth
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        sent.update(headers or {})
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=sent)
            response = conn.getresponse()
            data = response.read()
            for raw in response.msg.get_all("Set-Cookie") or []:
                cookie = SimpleCookie()
                cookie.load(raw)
                for name, morsel in cookie.items():
                    self.cookies[name] = morsel.value
            return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
        finally:
            conn.close()

    def login(self, username: str, password: str) -> None:
        page = self.request("GET", "/login")
        match = re.search(rb'name="csrf_token" value="([^"]+)"', page.body)
        assert match is not None, page.status
        body = (
            f"username={username}&password={password.replace(' ', '+')}"
            f"&csrf_token={match.group(1).decode()}"
        ).encode()
        answer = self.request(
            "POST", "/login", body, {"Content-Type": "application/x-www-form-urlencoded"}
        )
        assert answer.status == 302, answer.status


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def submission_xml(instance_id: str) -> bytes:
    return (
        f'<data id="office_photo" version="1"><name>n</name><photo>p.jpg</photo>'
        f"<meta><instanceID>{instance_id}</instanceID></meta></data>"
    ).encode()


@dataclass
class Office:
    """A prepared instance: who is who, and the addresses a phone learns from its sync."""

    server: LiveServer
    device_token: str
    api_token: str
    case_ids: list[str] = field(default_factory=list)
    #: per prefix ("/collect/key/<token>", "/collect"): formList, manifest and case-list paths
    sync_paths: dict[str, list[str]] = field(default_factory=dict)
    #: instanceID -> SHA-256 of its photo, for every submission acknowledged with 201
    acknowledged: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def token_prefix(self) -> str:
        return f"/collect/key/{self.device_token}"

    def secrets(self) -> list[str]:
        """What must never appear in a log."""
        basic = b64encode(f"worker1:{PASSWORD}".encode()).decode()
        return [self.device_token, self.api_token, PASSWORD, basic]

    def discover(self) -> None:
        """Learn case ids and the sync addresses, as the clients would (server running)."""
        api = Http(self.server.port, bearer=self.api_token)
        cases = api.request("GET", "/api/v1/cases?limit=50")
        assert cases.status == 200, cases.status
        self.case_ids = [c["id"] for c in json.loads(cases.body)["items"]]
        assert self.case_ids
        for prefix, client in (
            (self.token_prefix, Http(self.server.port)),
            ("/collect", Http(self.server.port, basic=("worker1", PASSWORD))),
        ):
            listing = client.request("GET", f"{prefix}/formList")
            assert listing.status == 200, listing.status
            manifests = re.findall(rb"<manifestUrl>([^<]+)</manifestUrl>", listing.body)
            manifest = next(_path(m.decode()) for m in manifests if CASE_LIST_FORM.encode() in m)
            media = client.request("GET", manifest)
            assert media.status == 200, media.status
            csv = next(
                _path(u.decode())
                for u in re.findall(rb"<downloadUrl>([^<]+)</downloadUrl>", media.body)
                if u.endswith(b".csv")
            )
            self.sync_paths[prefix] = [f"{prefix}/formList", manifest, csv]

    def submit(self, client: Http, prefix: str) -> Answer:
        instance = f"uuid:{uuid.uuid4()}"
        photo = os.urandom(20_000)
        body, content_type = multipart(
            [
                ("xml_submission_file", "submission.xml", submission_xml(instance), "text/xml"),
                ("p.jpg", "p.jpg", photo, "image/jpeg"),
            ]
        )
        answer = client.request(
            "POST", f"{prefix}/submission", body, {"Content-Type": content_type}
        )
        if answer.status == 201:
            with self.lock:
                self.acknowledged[instance] = hashlib.sha256(photo).hexdigest()
        return answer

    def some_submission(self) -> str:
        with self.lock:
            return random.choice(list(self.acknowledged))


def prepare_office(data_dir: Path) -> Office:
    """The demo programme (regions, users, forms, cases), a photo form, tokens; not started."""
    server = LiveServer(data_dir)
    server.env["FIELDAPP_DEMO_PASSWORD"] = PASSWORD
    form = data_dir / "office_photo.md"
    form.write_text(PHOTO_FORM)
    server.cli("demo", "--no-serve", "--no-sample-data", "--data-dir", str(data_dir))
    server.cli("forms", "publish", str(form))
    token = server.cli("devices", "create", "--user", "worker1").rsplit("/", 1)[1]
    api_token = server.cli("users", "token", "coord1")
    return Office(server=server, device_token=token, api_token=api_token)


#: an operation: a name, and what it does with a client's state; returns the answer
Operation = Callable[["Phone"], Answer]


class Phone:
    """One client thread's connections: a coordinator's browser, an API client, two phones."""

    def __init__(self, office: Office) -> None:
        port = office.server.port
        self.office = office
        self.browser = Http(port)
        self.browser.login("coord1", PASSWORD)
        self.api = Http(port, bearer=office.api_token)
        self.token_phone = Http(port)
        self.password_phone = Http(port, basic=("worker1", PASSWORD))


def _sync(prefix_of: Callable[[Office], str], index: int, password: bool) -> Operation:
    def run(phone: Phone) -> Answer:
        client = phone.password_phone if password else phone.token_phone
        return client.request("GET", phone.office.sync_paths[prefix_of(phone.office)][index])

    return run


def _token(office: Office) -> str:
    return office.token_prefix


def _password(office: Office) -> str:
    return "/collect"


#: the mix: (name, expected status, operation); each client cycles through it in its own order
MIX: list[tuple[str, int, Operation]] = [
    (
        "page: case",
        200,
        lambda p: p.browser.request("GET", f"/cases/{random.choice(p.office.case_ids)}"),
    ),
    (
        "page: case",
        200,
        lambda p: p.browser.request("GET", f"/cases/{random.choice(p.office.case_ids)}"),
    ),
    (
        "page: submission",
        200,
        lambda p: p.browser.request("GET", f"/submissions/{p.office.some_submission()}"),
    ),
    (
        "page: submission",
        200,
        lambda p: p.browser.request("GET", f"/submissions/{p.office.some_submission()}"),
    ),
    ("page: review queue", 200, lambda p: p.browser.request("GET", "/review")),
    ("api: submissions", 200, lambda p: p.api.request("GET", "/api/v1/submissions")),
    ("api: cases", 200, lambda p: p.api.request("GET", "/api/v1/cases")),
    ("collect token: formList", 200, _sync(_token, 0, password=False)),
    ("collect token: manifest", 200, _sync(_token, 1, password=False)),
    ("collect token: case list", 200, _sync(_token, 2, password=False)),
    ("collect password: formList", 200, _sync(_password, 0, password=True)),
    ("collect password: manifest", 200, _sync(_password, 1, password=True)),
    ("collect password: case list", 200, _sync(_password, 2, password=True)),
    (
        "collect token: submission",
        201,
        lambda p: p.office.submit(p.token_phone, p.office.token_prefix),
    ),
    ("collect password: submission", 201, lambda p: p.office.submit(p.password_phone, "/collect")),
    (
        "collect token: HEAD submission",
        204,
        lambda p: p.token_phone.request("HEAD", f"{p.office.token_prefix}/submission"),
    ),
]


@dataclass
class Result:
    """What one run of the load saw."""

    seconds: float
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    #: (operation, status or exception type, detail) of every answer that was not the expected one
    unexpected: list[tuple[str, str, str]] = field(default_factory=list)
    #: 503 answers, with the headers and body they came with
    unavailable: list[tuple[str, Answer]] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    def report(self, title: str) -> str:
        lines = [
            f"{title}: {self.requests} requests in {self.seconds:.1f} s = "
            f"{self.requests / self.seconds:.1f}/s; unexpected {len(self.unexpected)}, "
            f"503 {len(self.unavailable)}"
        ]
        for name in sorted(self.latencies):
            values = sorted(self.latencies[name])
            p95 = values[min(len(values) - 1, int(len(values) * 0.95))]
            lines.append(
                f"  {name:34} n={len(values):5}  p50 {statistics.median(values) * 1000:7.1f} ms"
                f"  p95 {p95 * 1000:7.1f} ms  max {values[-1] * 1000:7.1f} ms"
            )
        return "\n".join(lines)


def run_load(
    office: Office,
    *,
    clients: int | list[Phone],
    seconds: float,
    allow_unavailable: bool = False,
) -> Result:
    """Client threads cycling through :data:`MIX` for ``seconds``.

    :param clients: how many (each logs in first), or the already logged-in clients.
    :param allow_unavailable: count a 503 as an expected answer (it is checked by the caller)
        instead of an error.
    """
    phones = clients if isinstance(clients, list) else [Phone(office) for _ in range(clients)]
    result = Result(seconds=seconds)
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(number: int, phone: Phone) -> None:
        order = list(MIX)
        random.Random(number).shuffle(order)
        for name, expected, operation in itertools.cycle(order):
            if time.monotonic() >= deadline:
                return
            began = time.monotonic()
            try:
                answer = operation(phone)
            except (OSError, http.client.HTTPException) as exc:
                with lock:
                    result.statuses[(name, -1)] += 1
                    result.unexpected.append((name, type(exc).__name__, str(exc)[:200]))
                continue
            took = time.monotonic() - began
            with lock:
                result.statuses[(name, answer.status)] += 1
                result.latencies[name].append(took)
                if answer.status == 503 and allow_unavailable:
                    result.unavailable.append((name, answer))
                elif answer.status != expected:
                    result.unexpected.append(
                        (name, str(answer.status), answer.body[:200].decode(errors="replace"))
                    )

    threads = [threading.Thread(target=client, args=(n, p)) for n, p in enumerate(phones)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 120)
    result.seconds = time.monotonic() - began
    assert not any(t.is_alive() for t in threads), "a client hung"
    return result


def check_every_acknowledged_submission_stored(office: Office) -> int:
    """Each 201 has its submission, its one version and its photo (file and hash); returns the
    number of stored submissions of the photo form."""
    server = office.server
    engine = server.engine()
    try:
        with engine.connect() as conn:
            rows = {
                instance: sha
                for instance, sha in conn.execute(
                    text(
                        "SELECT v.instance_id, a.blob_sha256 FROM submission_versions v "
                        "JOIN submission_attachments a ON a.version_id = v.id "
                        "JOIN submissions s ON s.id = v.submission_id "
                        "JOIN forms f ON f.id = s.form_pk WHERE f.form_id = 'office_photo'"
                    )
                )
            }
    finally:
        engine.dispose()
    with office.lock:
        acknowledged = dict(office.acknowledged)
    missing = [i for i in acknowledged if i not in rows]
    assert not missing, f"{len(missing)} acknowledged submissions are not stored"
    for instance, sha in acknowledged.items():
        assert rows[instance] == sha, f"{instance}: stored photo differs from the one sent"
        path = server.data_dir / "blobs" / sha[:2] / sha[2:4] / sha
        assert hashlib.sha256(path.read_bytes()).hexdigest() == sha, f"{instance}: photo file"
    return len(rows)
