"""A designer uploads an XLSForm with several independent errors in chromium, at phone width
(390 px) and desktop width: the page lists every one of them with its sheet, row and column."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import ARTIFACTS, no_horizontal_scroll
from tests.forms.several_problems import EXPECTED, SEVERAL_PROBLEMS
from tests.live import LiveServer

pytestmark = pytest.mark.committed
PASSWORD = "a long password"


def _port_in_range(first: int = 7150, last: int = 7199) -> int:
    for port in range(first, last + 1):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path_factory.mktemp("upload-problems"))
    server.port = _port_in_range()
    try:
        server.cli("db", "upgrade")
        server.cli("users", "create", "dana", "--role", "designer", stdin=PASSWORD + "\n")
        server.start(workers=1, threads=2)
        yield server
    finally:
        server.close()


@pytest.mark.parametrize(
    "viewport",
    [{"width": 390, "height": 844}, {"width": 1280, "height": 900}],
    ids=["phone", "desktop"],
)
def test_the_upload_page_lists_every_problem(
    browser: Any, live: LiveServer, tmp_path: Path, viewport: dict[str, int]
):
    form = tmp_path / "several.md"
    form.write_bytes(SEVERAL_PROBLEMS)
    page = browser.new_page(viewport=viewport)
    try:
        page.goto(f"http://127.0.0.1:{live.port}/login")
        page.fill("input[name=username]", "dana")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_load_state("load")
        page.goto(f"http://127.0.0.1:{live.port}/forms")
        page.set_input_files("input[name=file]", str(form))
        page.click("form[action$='/forms/upload'] button[type=submit]")
        page.wait_for_selector("table.problems")
        rows = page.eval_on_selector_all(
            "table.problems tbody tr",
            "rows => rows.map(r => Array.from(r.querySelectorAll('td')).map(td => td.innerText.trim()))",
        )
        shown = [(sheet, row, column) for sheet, row, column, _message in rows]
        assert shown == [(sheet, str(row), column) for _code, sheet, row, column in EXPECTED]
        assert all(message for *_, message in rows)
        if viewport["width"] < 500:
            no_horizontal_scroll(page)
            # each row stacks with its own labels, so sheet, row and column stay readable
            labels = page.eval_on_selector_all(
                "table.problems tbody tr:first-child td", "tds => tds.map(td => td.dataset.label)"
            )
            assert labels == ["Sheet", "Row", "Column", "What to change"]
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(
            path=str(ARTIFACTS / f"upload-problems-{viewport['width']}.png"), full_page=True
        )
    finally:
        page.close()
