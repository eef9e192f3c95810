"""Finding English left on a page: the catalogue's English msgids, matched against the page's
visible text (the test client's pages and the browser walks use the same check).

A msgid counts when its Russian translation differs from it (names such as "ODK Collect" or
"CSV" are the same in every language on purpose). Placeholders match any text, so
"Welcome, %(name)s" is found as "Welcome, Aigerim". Data values are skipped: text inside
``dir="auto"`` elements (answers, names, labels), ``<code>`` and ``<pre>``.
"""

from __future__ import annotations

import html as html_lib
import re
from functools import cache
from pathlib import Path

from babel.messages.pofile import read_po
from lxml import html as lxml_html

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "fieldapp" / "translations"
PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sd]")
TAG = re.compile(r"<[^>]+>")
#: elements whose whole text is one message (their children are inline markup)
BLOCKS = (
    "title h1 h2 h3 h4 p li td th dt dd label button a summary legend option caption "
    "strong em span small q div"
).split()
ATTRIBUTES = ("title", "placeholder", "aria-label", "alt", "data-label")
SKIPPED = ("script", "style", "code", "pre", "textarea")


def _normal(text: str) -> str:
    return " ".join(text.split())


@cache
def english_patterns() -> tuple[tuple[str, re.Pattern[str]], ...]:
    """(msgid, anchored pattern) for every English string a translated page must not show."""
    with (TRANSLATIONS / "ru" / "LC_MESSAGES" / "messages.po").open("rb") as f:
        russian = read_po(f, locale="ru")
    found: dict[str, re.Pattern[str]] = {}
    for message in russian:
        if not message.id:
            continue
        ids = [message.id] if isinstance(message.id, str) else list(message.id)
        strings = [message.string] if isinstance(message.string, str) else list(message.string)
        for msgid in ids:
            if msgid in strings:  # the same in Russian: a name, not English to translate
                continue
            visible = _normal(html_lib.unescape(TAG.sub("", msgid.replace("%%", "%"))))
            if not re.search(r"[A-Za-z]{2}", PLACEHOLDER.sub("", visible)):
                continue
            parts = [re.escape(p) for p in PLACEHOLDER.split(visible)]
            found[msgid] = re.compile("^" + r"\s*.+?\s*".join(parts) + "$", re.DOTALL)
    return tuple(found.items())


def _own_text(element: lxml_html.HtmlElement) -> str:
    """The element's text without what its data-value descendants hold."""
    parts: list[str] = []

    def walk(node: lxml_html.HtmlElement) -> None:
        if node.text:
            parts.append(node.text)
        for child in node:
            if isinstance(child.tag, str) and not (
                child.tag in SKIPPED or child.get("dir") == "auto"
            ):
                walk(child)
            else:
                parts.append(" ")
            if child.tail:
                parts.append(child.tail)

    walk(element)
    return "".join(parts)


def _data_value(element: lxml_html.HtmlElement) -> bool:
    for node in element.iterancestors():
        if node.tag in SKIPPED or node.get("dir") == "auto":
            return True
    return element.tag in SKIPPED or element.get("dir") == "auto"


def visible_texts(page: str) -> list[str]:
    """Every visible text run and every block's whole text, and the readable attributes."""
    tree = lxml_html.fromstring(page)
    texts: list[str] = []
    for element in tree.iter():
        if not isinstance(element.tag, str) or _data_value(element):
            continue
        if element.get("hidden") is not None or element.get("type") == "hidden":
            continue
        for attribute in ATTRIBUTES:
            value = element.get(attribute)
            if value:
                texts.append(_normal(value))
        if element.text and element.text.strip():
            texts.append(_normal(element.text))
        for child in element:
            if child.tail and child.tail.strip():
                texts.append(_normal(child.tail))
        if element.tag in BLOCKS:
            whole = _normal(_own_text(element))
            if whole:
                texts.append(whole)
    return texts


def untranslated(page: str) -> list[tuple[str, str]]:
    """(text on the page, the English msgid it is) for each English string left."""
    patterns = english_patterns()
    left = []
    seen = set()
    for text in visible_texts(page):
        if text in seen:
            continue
        seen.add(text)
        for msgid, pattern in patterns:
            if pattern.match(text):
                left.append((text, msgid))
                break
    return left


#: names that stay as they are in every language
NAMES = re.compile(
    r"ODK Collect|ODK Validate|ODK Web Forms|XLSForms?|XForm|FreeOTP|Aegis|Google Authenticator|"
    r"Microsoft Authenticator|Standard Webhooks|Samsung A14|Excel|Markdown|CSV|WHO-5|GAD-7|"
    r"PHQ-\d|API|QR|URL|UTC|JSON|fieldapp|zip"
)
ENGLISH_RUN = re.compile(r"\b[A-Za-z][a-z]+(?:[ ,;:'’-]+[A-Za-z][a-z]+){2,}\b")


def english_runs(page: str) -> list[str]:
    """Visible text with three or more English words in a row outside data values and names:
    a string the catalogue does not know at all (never wrapped) shows up here."""
    found = []
    for text in set(visible_texts(page)):
        rest = NAMES.sub(" ", text)
        match = ENGLISH_RUN.search(rest)
        if match:
            found.append(text)
    return sorted(found)
