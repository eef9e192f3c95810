"""The live server the export tests share: family_registration published, an administrator
(``boss``), a field worker of north whose phone sent one registration with its photo."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.cases.support import DATA, attachments_of
from tests.live import ROOT, LiveServer, post_submission

PASSWORD = "a long password"


def family_registration_server(data_dir: Path, **start: Any) -> tuple[LiveServer, str]:
    """Set up and start the server (``start``: :meth:`LiveServer.start`'s options).

    :return: the server and the administrator's API token. The caller closes the server.
    """
    server = LiveServer(data_dir)
    try:
        server.cli("db", "upgrade")
        server.cli("forms", "publish", str(ROOT / "forms" / "family_registration.xlsx"))
        server.cli("users", "create", "boss", "--role", "admin", stdin=PASSWORD + "\n")
        server.cli(
            "users", "create", "aigerim", "--role", "field_worker", "--region", "north",
            stdin=PASSWORD + "\n",
        )  # fmt: skip
        device = server.cli("devices", "create", "--user", "aigerim").rsplit("/", 1)[1]
        api_token = server.cli("users", "token", "boss").strip().split()[-1]
        server.start(**start)
        case = DATA / "family_registration" / "seed1"
        xml = (case / "submission.xml").read_bytes()
        path = f"/collect/key/{device}/submission"
        assert post_submission(server.port, path, xml, attachments_of(case)) == 201
    except BaseException:
        server.close()
        raise
    return server, api_token
