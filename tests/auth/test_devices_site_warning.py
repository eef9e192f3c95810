"""The Phones page warns when the address in its QR code is loopback (issue 13, item 7)."""

from __future__ import annotations

import pytest

from fieldapp.auth.views import loopback_site


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:5000", True),
        ("http://127.1.2.3", True),
        ("http://localhost:5000/", True),
        ("http://app.localhost", True),
        ("http://[::1]:5000", True),
        ("http://192.168.1.20:5000", False),
        ("https://field.example.org", False),
        ("http://0.0.0.0:5000", False),
        ("not a url", False),
    ],
)
def test_loopback_site(url, loopback):
    assert loopback_site(url) is loopback


def test_warning_only_for_a_loopback_site(app, login_as, monkeypatch):
    browser = login_as("coordinator")
    page = browser.get("/admin/devices")  # the test client is "localhost"
    assert page.status_code == 200
    assert b'id="site-warning"' in page.data
    assert b"FIELDAPP_SITE_URL" in page.data
    assert b'<option value="" selected disabled>' in page.data
    monkeypatch.setitem(app.config, "SITE_URL", "https://field.example.org")
    page = browser.get("/admin/devices")  # the test client is "localhost"
    assert b'id="site-warning"' not in page.data
