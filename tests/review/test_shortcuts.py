"""The keyboard shortcuts' plumbing on the server side: the review pages load one same-origin,
deferred script that the CSP allows, and carry the instance ids it moves through. (The keys
themselves are exercised in a real browser in ``tests/browser/test_review_flow.py``.)"""

from __future__ import annotations

import re

from tests.cases.support import registration

#: the script, by its content-hashed name (fieldapp.web.assets)
TAG = re.compile(r'<script src="/static/review\.[0-9a-f]+\.js" defer></script>')


def test_queue_and_submission_page_load_the_shortcuts_script(programme, desk):
    north = programme["worker"].submit(*registration("seed1"))
    browser = desk("coord")

    queue = browser.get("/review")
    html = queue.data.decode()
    assert len(TAG.findall(html)) == 1
    assert re.findall(r"<script(?![^>]*\bsrc=)", html) == []  # no inline script
    assert re.findall(r'<tr class="[^"]*" data-instance-id="([^"]+)">', html) == [north]
    csp = queue.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1]

    page = browser.get(f"/submissions/{north}")
    html = page.data.decode()
    assert len(TAG.findall(html)) == 1
    assert f'class="panel submission-head" data-instance-id="{north}"' in html

    script = browser.get("/static/review.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["Content-Type"]
    body = script.data.decode()
    script.close()  # the file response holds the file open until closed
    assert ".style" not in body and "innerHTML" not in body  # nothing the CSP or escaping forbids
