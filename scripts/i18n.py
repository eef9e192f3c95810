"""The interface's translation catalogues: extract, update, fill, compile, check.

    python scripts/i18n.py extract     # fieldapp/translations/messages.pot from templates + Python
    python scripts/i18n.py update      # merge the template into each language's .po
    python scripts/i18n.py fill ru F   # set translations from a JSON file {msgid: msgstr}
    python scripts/i18n.py compile     # write each .mo from its .po
    python scripts/i18n.py check       # list msgids without a translation (exit 1 if any)

The template is written without line numbers or dates, so it changes only when a string does.
A new string: wrap it (``_()``, ``ngettext``, ``{% trans %}``), run ``extract`` and ``update``,
translate it in ``ru`` and ``kk`` (``en`` stays empty: the msgid is the English), ``compile``.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "fieldapp"
TRANSLATIONS = PACKAGE / "translations"
TEMPLATE = TRANSLATIONS / "messages.pot"
LANGUAGES = ("ru", "kk", "en")
#: languages that must have every string translated (English is the msgids themselves)
TRANSLATED = ("ru", "kk")
KEYWORDS = {
    "_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "lazy_gettext": None,
    "lazy_ngettext": (1, 2),
    "_l": None,
    "N_": None,
    "pgettext": ((1, "c"), 2),
    "lazy_pgettext": ((1, "c"), 2),
}
#: the domain errors' constructors (every subclass of ``fieldapp.errors.DomainError``, checked by
#: ``tests/i18n/test_error_messages.py``): their first argument, a constant message or a %-style
#: template whose ``params`` are inserted after translation, is shown on pages in the reader's
#: language (``fieldapp.web.i18n.translated_error``)
ERROR_CLASSES = (
    "DomainError",
    "BadRequest",
    "Unauthorized",
    "Forbidden",
    "NotFound",
    "Conflict",
    "PayloadTooLarge",
    "UnsupportedMediaType",
    "Invalid",
    "LoginFailed",
    "AccountLocked",
    "TokenRejected",
    "TooManyAttempts",
    "WrongCode",
    "SubmissionInvalid",
    "FormNotAccepting",
    "SubmissionDeleted",
    "InstanceIdTaken",
    "BackupError",
    "XmlError",
    "XmlTooLarge",
    "XmlDoctypeForbidden",
    "XmlTooDeep",
    "XmlTooManyElements",
    "SubmissionXmlInvalid",
    "FilterInvalid",
    "TokenInvalid",
    "UnreadableFormFile",
    "FormCompileError",
    "XFormInvalid",
    "CompilerUnavailable",
    "BlobStoreUnavailable",
)
KEYWORDS.update(dict.fromkeys(ERROR_CLASSES))
#: the XLSForm checks' refusals (``fieldapp.forms.xlsform``): ``_unreadable(code, message)``, and
#: the pieces of wording their messages quote (``_words(text, **params)``)
KEYWORDS.update({"_unreadable": (2,), "_words": None})
FIXED_DATE = datetime(2026, 12, 6, tzinfo=UTC)


def _method_map() -> tuple[list[tuple[str, str]], dict[str, dict[str, str]]]:
    """babel.cfg's sections as the method map and options Babel's extractor takes."""
    method_map: list[tuple[str, str]] = []
    options: dict[str, dict[str, str]] = {}
    section: str | None = None
    for raw in (PACKAGE / "babel.cfg").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            method, _, pattern = line[1:-1].partition(":")
            section = pattern.strip()
            method_map.append((section, method.strip()))
            options[section] = {}
        elif section is not None and "=" in line:
            key, _, value = line.partition("=")
            options[section][key.strip()] = value.strip()
    return method_map, options


def extract() -> Catalog:
    """Every marked string of the package's templates and Python modules, as a catalogue."""
    method_map, options = _method_map()
    catalog = Catalog(project="fieldapp", creation_date=FIXED_DATE, fuzzy=False)
    with contextlib.redirect_stderr(io.StringIO()):  # Babel notes every f-string it skips
        found = list(
            extract_from_dir(
                str(PACKAGE), method_map, options, keywords=KEYWORDS, strip_comment_tags=True
            )
        )
    for filename, lineno, message, comments, context in found:
        catalog.add(
            message,
            None,
            [(filename, lineno)],
            auto_comments=comments,
            context=context,
        )
    return catalog


def _write_po(path: Path, catalog: Catalog) -> None:
    buffer = io.BytesIO()
    write_po(buffer, catalog, width=100, omit_header=False, include_lineno=False, sort_output=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())


def read(language: str) -> Catalog:
    """A language's catalogue as it is in its ``.po`` file."""
    with (TRANSLATIONS / language / "LC_MESSAGES" / "messages.po").open("rb") as f:
        return read_po(f, locale=language)


def mo_bytes(catalog: Catalog) -> bytes:
    """The compiled form of ``catalog`` (no fuzzy entries), byte for byte as ``compile`` writes."""
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    return buffer.getvalue()


def untranslated(catalog: Catalog, template: Catalog) -> list[str]:
    """The template's msgids that ``catalog`` leaves empty or fuzzy."""
    missing = []
    for message in template:
        if not message.id:
            continue
        found = catalog.get(message.id, message.context)
        strings: Iterable[str] = (
            [] if found is None else (found.string if found.pluralizable else [found.string])
        )
        strings = list(strings)
        if found is None or found.fuzzy or not strings or not all(strings):
            missing.append(message.id if isinstance(message.id, str) else message.id[0])
    return missing


def cmd_extract() -> None:
    _write_po(TEMPLATE, extract())


def cmd_update() -> None:
    with TEMPLATE.open("rb") as f:
        template = read_po(f)
    for language in LANGUAGES:
        path = TRANSLATIONS / language / "LC_MESSAGES" / "messages.po"
        if path.exists():
            catalog = read(language)
        else:
            catalog = Catalog(
                locale=language, project="fieldapp", creation_date=FIXED_DATE, fuzzy=False
            )
        catalog.update(template, no_fuzzy_matching=True, update_creation_date=False)
        catalog.obsolete.clear()
        catalog.fuzzy = False
        catalog.revision_date = FIXED_DATE
        _write_po(path, catalog)


def cmd_fill(language: str, source: str) -> None:
    """Set translations from a JSON object: msgid (its first form for plurals; prefixed by the
    context and "\\x04" when it has one) -> the translation (a list of forms for plurals)."""
    catalog = read(language)
    given: dict[str, str | list[str]] = json.loads(Path(source).read_text(encoding="utf-8"))
    known = set()
    for message in catalog:
        if not message.id:
            continue
        key = message.id if isinstance(message.id, str) else message.id[0]
        if message.context:
            key = f"{message.context}\x04{key}"
        known.add(key)
        if key in given:
            value = given[key]
            message.string = tuple(value) if isinstance(value, list) else value
            message.flags.discard("fuzzy")
    _write_po(TRANSLATIONS / language / "LC_MESSAGES" / "messages.po", catalog)
    for msgid in sorted(set(given) - known):
        print(f"not in the catalogue: {msgid!r}", file=sys.stderr)


def cmd_compile() -> None:
    for language in LANGUAGES:
        target = TRANSLATIONS / language / "LC_MESSAGES" / "messages.mo"
        target.write_bytes(mo_bytes(read(language)))


def cmd_check() -> int:
    template = extract()
    failed = 0
    for language in TRANSLATED:
        for msgid in untranslated(read(language), template):
            print(f"{language}: {msgid!r}")
            failed = 1
    return failed


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    command, *rest = argv
    if command == "extract":
        cmd_extract()
    elif command == "update":
        cmd_update()
    elif command == "fill":
        cmd_fill(rest[0], rest[1])
    elif command == "compile":
        cmd_compile()
    elif command == "check":
        return cmd_check()
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
