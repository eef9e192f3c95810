"""Answers and XLSForm labels are untrusted: script and markup in them render as text."""

# ruff: noqa: RUF001

from __future__ import annotations

import re
import uuid

from tests.openrosa.helpers import publish_md

SCRIPT = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
#: the one script the review pages load (same origin, deferred): not from any answer or label
OWN_SCRIPT = re.compile(r'<script src="/static/review\.[0-9a-f]+\.js" defer></script>')


def without_own_script(html: str) -> str:
    assert len(OWN_SCRIPT.findall(html)) <= 1
    return OWN_SCRIPT.sub("", html)


HOSTILE_FORM = """
| survey   |              |        |                                       |                              |
|          | type         | name   | label::English (en)                   | label::Русский (ru)          |
|          | begin_group  | grp    | <b>Group</b><script>alert(1)</script> | Группа<script>alert(1)</script> |
|          | text         | story  | <script>alert(1)</script> Story       | <script>alert(1)</script> Рассказ |
|          | select_one c | pick   | <img src=x onerror=alert(1)> Pick     | Выбор                        |
|          | end_group    |        |                                       |                              |
| choices  |              |        |                                       |                              |
|          | list_name    | name   | label::English (en)                   | label::Русский (ru)          |
|          | c            | a      | <script>alert(1)</script> A           | <script>alert(1)</script> А  |
| settings |              |        |                                       |                              |
|          | form_id      | version | form_title                           | default_language             |
|          | hostile      | 1       | Hostile <script>alert(1)</script> form | English (en)                |
"""


def test_script_in_answers_labels_and_titles_renders_inert(programme, desk):
    publish_md(HOSTILE_FORM)
    instance = f"uuid:{uuid.uuid4()}"
    xml = (
        '<data xmlns:orx="http://openrosa.org/xforms" id="hostile" version="1">'
        "<grp><story>&lt;script&gt;alert(1)&lt;/script&gt; and &lt;img src=x onerror=alert(2)&gt;"
        "</story><pick>a</pick></grp>"
        f"<meta><instanceID>{instance}</instanceID>"
        "<instanceName>&lt;script&gt;alert(1)&lt;/script&gt; name</instanceName>"
        "</meta></data>"
    ).encode()
    programme["worker"].submit(xml)
    browser = desk("coord")

    for url in (f"/submissions/{instance}", f"/submissions/{instance}?lang=ru", "/review"):
        page = browser.get(url)
        assert page.status_code == 200, url
        html = without_own_script(page.data.decode())
        assert "<script" not in html.lower(), url
        assert "<img src=x" not in html and "<b>Group" not in html, url
        assert ESCAPED in html, url

    html = browser.get(f"/submissions/{instance}").data.decode()
    assert f"{ESCAPED} and &lt;img src=x onerror=alert(2)&gt;" in html  # the answer
    assert f"{ESCAPED} Story" in html  # the question label
    assert f"{ESCAPED} A" in html  # the choice label
    assert f"&lt;b&gt;Group&lt;/b&gt;{ESCAPED}" in html  # the group label
    assert f"Hostile {ESCAPED} form" in html  # the form title
    assert f"{ESCAPED} Рассказ" in browser.get(f"/submissions/{instance}?lang=ru").data.decode()

    # a review note and a comment are untrusted too
    browser.post(f"/submissions/{instance}/comment", {"note": SCRIPT})
    browser.post(f"/submissions/{instance}/review", {"state": "has_issues", "note": SCRIPT})
    html = without_own_script(browser.get(f"/submissions/{instance}").data.decode())
    assert "<script" not in html.lower()
    assert html.count(ESCAPED) >= 2 + 5
