"""The interface in Russian and in Kazakh, in Debian's chromium against a real gunicorn, on a phone
(390x844) and a laptop (1280x800): a coordinator, a field worker, a designer and an
administrator each walk every page their menus and pages link to. Each page must show no English
string of the catalogue (``tests/i18n/untranslated.py``, the same check as the test client's),
no run of English words the catalogue does not know (data values aside), and no horizontal
scroll (Russian and Kazakh words are longer). Screenshots: ``test-artifacts/i18n-<language>-
<role>-<page>-<size>.png``.

Russian comes from the browser (``Accept-Language`` of a ``ru-RU`` browser); Kazakh is chosen on
the account page by each person (the setting, which then wins over the browser's English). The
web form page opens the form in the page's language and its date picker reads day.month.year.
"""

from __future__ import annotations

import http.client
import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.browser.conftest import ARTIFACTS, no_horizontal_scroll
from tests.cases.support import DATA, SEED1_INSTANCE, attachments_of
from tests.i18n.untranslated import english_runs, untranslated
from tests.live import ROOT, LiveServer, post_submission

pytestmark = pytest.mark.committed
PASSWORD = "a long password"
SIZES = {"390x844": {"width": 390, "height": 844}, "1280x800": {"width": 1280, "height": 800}}
PEOPLE = {
    "coordinator": "coord",
    "worker": "aigerim",
    "designer": "maria",
    "admin": "boss",
}
#: the most pages one person's walk opens (the menus and what they link to)
MOST = 45
#: links a walk does not follow: leaving, downloads, files, programs' addresses
SKIP = re.compile(
    r"^/(logout|api/|v1/|collect|static/|fill/collect|fill/sw\.js)|\.(xml|csv|xlsx|zip|md|xls)$"
    r"|/download|/files/|/source|/xform|/attachments/"
)
#: made-up names of the stored test submissions, and words the demo data writes in English
DATA_WORDS = (
    "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november "
    "oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu Registration "
    "North Households Adults Children Family registration Home visit"
).split()
DATA_PATTERN = re.compile("|".join(rf"\b{re.escape(w)}\b" for w in DATA_WORDS))


def _api(port: int, token: str, method: str, path: str, body: Any = None) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        conn.request(
            method, path, body=json.dumps(body).encode() if body else None, headers=headers
        )
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path_factory.mktemp("browser-languages"))
    try:
        server.cli("db", "upgrade")
        for form in ("family_registration", "home_visit"):
            server.cli("forms", "publish", str(ROOT / "forms" / f"{form}.xlsx"))
        for role, username in PEOPLE.items():
            kind = {"worker": "field_worker", "admin": "admin"}.get(role, role)
            where = ["--region", "north"] if kind in ("coordinator", "field_worker") else []
            server.cli("users", "create", username, "--role", kind, *where, stdin=PASSWORD + "\n")
        device = server.cli("devices", "create", "--user", "aigerim").strip().rsplit("/", 1)[1]
        token = server.cli("users", "token", "coord").strip().split()[-1]
        server.start(workers=1, threads=4)
        for seed in ("seed1", "seed2"):
            case = DATA / "family_registration" / seed
            xml = (case / "submission.xml").read_bytes()
            path = f"/collect/key/{device}/submission"
            assert post_submission(server.port, path, xml, attachments_of(case)) == 201
        review = f"/api/v1/submissions/{SEED1_INSTANCE}/review"
        assert _api(server.port, token, "POST", review, {"state": "approved"}) == 200
        yield server
    finally:
        server.close()


def _base(live: LiveServer) -> str:
    return f"http://127.0.0.1:{live.port}"


def _sign_in(browser: Any, live: LiveServer, username: str, language: str, size: str) -> Any:
    # a Russian browser; for Kazakh an English one, whose person then chooses Kazakh
    locale = "ru-RU" if language == "ru" else "en-US"
    context = browser.new_context(viewport=SIZES[size], locale=locale)
    page = context.new_page()
    page.goto(f"{_base(live)}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    # the account page's control: Kazakh, or back to "as the browser asks" for Russian
    page.goto(f"{_base(live)}/account")
    page.select_option("#language", "kk" if language == "kk" else "")
    page.click("#language-form button[type=submit]")
    page.wait_for_load_state()
    assert page.get_attribute("html", "lang") == language
    return context, page


def _name(path: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-")
    return (slug or "home")[:60]


#: the page without ODK Web Forms' own widgets: their words ("Send", "Condition not satisfied:
#: required") are the bundle's, in English (see docs/i18n.md); the form's words in them are
#: checked by the web form test below
PAGE_WITHOUT_WEB_FORMS = """() => {
  const copy = document.documentElement.cloneNode(true);
  const form = copy.querySelector('#webform');
  if (form) form.replaceChildren();
  return '<!doctype html>' + copy.outerHTML;
}"""


def _check(page: Any, where: str) -> list[str]:
    html = page.evaluate(PAGE_WITHOUT_WEB_FORMS)
    problems = [f"{where}: English {text!r} ({msgid!r})" for text, msgid in untranslated(html)]
    problems += [
        f"{where}: unknown English {text!r}" for text in english_runs(DATA_PATTERN.sub(" ", html))
    ]
    return problems


def _walk(page: Any, live: LiveServer, language: str, role: str, size: str) -> list[str]:
    base = _base(live)
    queue, seen, problems = ["/"], set(), []
    while queue and len(seen) < MOST:
        path = queue.pop(0)
        # one page of each list is enough: not every filter, page and sort order
        if path in seen or ("?" in path and path.split("?")[0] in seen):
            continue
        seen.add(path)
        response = page.goto(base + path)
        assert response is not None and response.status < 500, (path, response and response.status)
        if "text/html" not in (response.headers.get("content-type") or ""):
            continue
        page.wait_for_load_state("load")
        assert page.get_attribute("html", "lang") == language, path
        try:
            no_horizontal_scroll(page)
        except AssertionError as exc:
            problems.append(f"{path}: {exc}")
        problems += _check(page, path)
        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / f"i18n-{language}-{role}-{_name(path)}-{size}.png"
        page.screenshot(path=str(shot), full_page=True)
        for href in page.eval_on_selector_all("a[href]", "as => as.map(a => a.href)"):
            parts = urlsplit(href)
            if parts.netloc != urlsplit(base).netloc:
                continue
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            if SKIP.search(parts.path) or target in seen or "lang=" in parts.query:
                continue
            queue.append(target)
    assert len(seen) >= 4, seen
    return problems


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("language", ["ru", "kk"])
@pytest.mark.parametrize("role", PEOPLE)
def test_every_page_of_each_role_speaks_the_language(browser, live, role, language, size):
    context, page = _sign_in(browser, live, PEOPLE[role], language, size)
    try:
        problems = _walk(page, live, language, role, size)
    finally:
        context.close()
    assert not problems, "\n".join(problems[:30])


@pytest.mark.parametrize("language", ["ru", "kk"])
def test_the_web_form_opens_in_the_language_with_day_month_year_dates(browser, live, language):
    context, page = _sign_in(browser, live, "aigerim", language, "390x844")
    try:
        page.goto(f"{_base(live)}/fill/family_registration")
        page.wait_for_selector("#webform[data-form-language]", timeout=60000)
        wanted = {"ru": "Русский (ru)", "kk": "Қазақша (kk)"}[language]
        assert page.get_attribute("#webform", "data-form-language") == wanted
        # the questions are the form's own words in that language
        first = {"ru": "Регистрация семьи.", "kk": "Отбасын тіркеу."}[language]
        page.wait_for_function(
            "t => document.getElementById('webform').innerText.includes(t)", arg=first
        )
        assert "Family registration. Use this form" not in page.locator("#webform").inner_text()
        # the date picker's locale: Monday first, day.month.year, the language's month names
        locale = page.evaluate(
            "() => JSON.parse(document.getElementById('fill-page').dataset.datepicker)"
        )
        assert locale["dateFormat"] == "dd.mm.yy" and locale["firstDayOfWeek"] == 1
        assert locale["monthNames"][11].lower() == {"ru": "декабрь", "kk": "желтоқсан"}[language]
        no_horizontal_scroll(page)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(
            path=str(ARTIFACTS / f"i18n-{language}-worker-fill-family-registration-390x844.png"),
            full_page=True,
        )
        assert not _check(page, "/fill/family_registration")
    finally:
        context.close()
