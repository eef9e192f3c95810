"""The live server the export tests share: family_registration published, an administrator
(``boss``), a field worker of north whose phone sent one registration with its photo."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.cases.support import DATA, attachments_of
from tests.live import ROOT, LiveServer, post_submission

PASSWORD = "a long password"


def set_up_family_registration(server: LiveServer) -> tuple[str, str]:
    """Before the server starts: the database, the form, ``boss`` and ``aigerim``'s phone.

    :return: the phone's device token and the administrator's API token.
    """
    server.cli("db", "upgrade")
    server.cli("forms", "publish", str(ROOT / "forms" / "family_registration.xlsx"))
    server.cli("users", "create", "boss", "--role", "admin", stdin=PASSWORD + "\n")
    server.cli(
        "users", "create", "aigerim", "--role", "field_worker", "--region", "north",
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    device = server.cli("devices", "create", "--user", "aigerim").rsplit("/", 1)[1]
    api_token = server.cli("users", "token", "boss").strip().split()[-1]
    return device, api_token


def family_registration_server(data_dir: Path, **start: Any) -> tuple[LiveServer, str]:
    """Set up and start the server (``start``: :meth:`LiveServer.start`'s options), and send
    one registration with its photo from the phone.

    :return: the server and the administrator's API token. The caller closes the server.
    """
    server = LiveServer(data_dir)
    try:
        device, api_token = set_up_family_registration(server)
        server.start(**start)
        case = DATA / "family_registration" / "seed1"
        xml = (case / "submission.xml").read_bytes()
        path = f"/collect/key/{device}/submission"
        assert post_submission(server.port, path, xml, attachments_of(case)) == 201
    except BaseException:
        server.close()
        raise
    return server, api_token
