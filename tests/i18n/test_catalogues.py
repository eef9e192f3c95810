"""The translation catalogues: every string the code and templates mark is translated in Russian
and Kazakh, the committed template and compiled files match, and translations keep their
placeholders and markup.

The extraction runs here (``scripts/i18n.py``'s own code), so a newly wrapped string without a
translation fails this test until ``extract``, ``update``, a translation and ``compile`` are done.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "fieldapp" / "translations"
PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sd]|%%|\{[a-z]+\}")
TAG = re.compile(r"</?[a-z]+\b[^>]*>")


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "fieldapp_i18n_tool", ROOT / "scripts" / "i18n.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


tool = _tool()


@pytest.fixture(scope="module")
def extracted() -> Catalog:
    return tool.extract()


def _ids(catalog: Catalog) -> set[tuple[str | None, str]]:
    return {(m.context, m.id if isinstance(m.id, str) else m.id[0]) for m in catalog if m.id}


def test_the_extraction_finds_the_pages_strings(extracted):
    """A sanity check of the extractor itself: templates, flashes, error classes, labels."""
    ids = {msgid for _, msgid in _ids(extracted)}
    assert "Review queue" in ids  # a template
    assert "Password changed. Your other sessions have ended." in ids  # a flash
    assert "No such case." in ids  # a domain error's constant message
    assert "Regional coordinator" in ids  # a role's name
    assert (("form state", "open")) in _ids(extracted)  # a word with its context
    assert len(ids) > 800


def test_the_committed_template_is_up_to_date(extracted):
    with (TRANSLATIONS / "messages.pot").open("rb") as f:
        committed = read_po(f)
    missing = sorted(_ids(extracted) - _ids(committed))
    stale = sorted(_ids(committed) - _ids(extracted))
    assert not missing, f"run scripts/i18n.py extract: not in messages.pot: {missing[:10]}"
    assert not stale, f"run scripts/i18n.py extract: no longer used: {stale[:10]}"


@pytest.mark.parametrize("language", tool.TRANSLATED)
def test_every_string_is_translated(extracted, language):
    """Non-empty, not fuzzy, every plural form: nothing of the interface is left English."""
    missing = tool.untranslated(tool.read(language), extracted)
    assert not missing, f"{len(missing)} untranslated in {language}: {missing[:10]}"


def _forms(message: Message) -> list[str]:
    return list(message.string) if message.pluralizable else [message.string]


@pytest.mark.parametrize("language", tool.TRANSLATED)
def test_translations_keep_placeholders_and_markup(language):
    """A translation that dropped ``%(name)s`` or a tag would raise or break the page."""
    problems = []
    for message in tool.read(language):
        if not message.id or not message.string:
            continue
        sources = [message.id] if isinstance(message.id, str) else list(message.id)
        wanted = set(PLACEHOLDER.findall(" ".join(sources)))
        tags = sorted(TAG.findall(sources[-1]))
        for form in _forms(message):
            found = set(PLACEHOLDER.findall(form))
            # a singular form may say "one" in words instead of %(num)d
            if found - wanted or wanted - found - {"%(num)d"}:
                problems.append((sources[0], form))
            if sorted(TAG.findall(form)) != tags:
                problems.append((sources[0], form))
    assert not problems, problems[:5]


@pytest.mark.parametrize("language", tool.TRANSLATED)
def test_plural_forms_follow_the_language(language):
    catalog = tool.read(language)
    expected = {"ru": 3, "kk": 2}[language]
    assert catalog.num_plurals == expected
    for message in catalog:
        if message.id and message.pluralizable:
            assert len(message.string) == expected, message.id


@pytest.mark.parametrize("language", tool.LANGUAGES)
def test_the_committed_mo_files_are_the_compiled_po_files(language):
    """The server reads ``.mo`` files; they are committed, so they must be the ``.po`` compiled
    (``scripts/i18n.py compile``), byte for byte."""
    mo = TRANSLATIONS / language / "LC_MESSAGES" / "messages.mo"
    assert mo.exists(), f"run scripts/i18n.py compile ({mo} is missing)"
    assert mo.read_bytes() == tool.mo_bytes(tool.read(language))
    with mo.open("rb") as f:
        compiled = read_mo(f)
    if language in tool.TRANSLATED:
        assert len([m for m in compiled if m.id]) == len([m for m in tool.read(language) if m.id])


def test_the_untranslated_check_notices_a_missing_and_a_fuzzy_translation(extracted):
    """The check above can fail: an emptied and a fuzzy entry are both reported."""
    catalog = tool.read("ru")
    catalog["Review queue"].string = ""
    catalog["Save"].flags.add("fuzzy")
    missing = tool.untranslated(catalog, extracted)
    assert "Review queue" in missing and "Save" in missing
