"""What every browser test shares: Debian's chromium driven by Playwright (never a downloaded
browser), where screenshots go, and the no-horizontal-scroll check."""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import need
from tests.live import ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless chromium, one per test module."""
    need(Path(CHROMIUM).exists(), "Debian's chromium is needed (apt-get install chromium)")
    need(
        importlib.util.find_spec("playwright") is not None,
        "the playwright package is needed (pip install -e '.[dev]')",
    )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield chromium
        chromium.close()


def no_horizontal_scroll(page: Any) -> None:
    """The page fits its viewport's width, measured once the page and its stylesheet have
    loaded (a click that navigates does not wait for that; a page laid out before its
    stylesheet arrives is as wide as its widest table)."""
    page.wait_for_load_state("load")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"page is {width}px wide"
